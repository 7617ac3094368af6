"""`showdown backtest`: replay stored history through the same analytics, rules and
execution code; results in the *_backtest tables and an export directory."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from cli.config_cmd import load_or_exit
from connectors.db import database_key, open_database
from connectors.files.backtest_report import write_exports
from connectors.loops.backtest_run import (
    prepare,
    rule_texts,
    run_from_db,
    warmup_days,
    warmup_days_of,
    with_overrides,
)
from connectors.stores.backtest_inputs import inputs_at
from connectors.stores.backtest_store import load_history, recorded_cycle_times, recorded_decisions, save_run
from engine import format as fmt
from engine.analytics.batch import build_cycles
from engine.backtest import present
from engine.backtest.compare import compare_runs, parity
from engine.backtest.loop import with_declared
from engine.backtest.params import FILLS, BacktestParams, parse_fees, parse_slippage
from engine.config import Config
from engine.paths import home
from engine.rules.compiler import RulesRefused


def _ms(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _bar(total: int, label: str) -> Any:
    bar = tqdm(total=total, desc=label, unit="min", file=sys.stderr, mininterval=0.5, leave=False)
    state = {"n": 0}

    def update(done: int) -> None:
        bar.update(done - state["n"])
        state["n"] = done
    return bar, update


def export_dir_name(config: Config, run_id: int) -> str:
    """The live and the replay database both number their runs from 1: the directory names
    the database too, so one run's exports never overwrite another's."""
    return f"{database_key(config)}-{run_id}"


def register(group: click.Group) -> None:
    @group.command("backtest")
    @click.option("--from", "date_from", help="Start (UTC date or ISO time).")
    @click.option("--to", "date_to", help="End (UTC date or ISO time), inclusive of cycles up to it.")
    @click.option("--rules", "rules_spec", default=None, help="Rules directory, file, or stored version hash.")
    @click.option("--compare", "compare_spec", default=None, help="Second rules version: a diff report.")
    @click.option("--fill", type=click.Choice(FILLS), default="ideal", show_default=True)
    @click.option("--slippage", default="none", show_default=True, help="none | bps:N | atr:K")
    @click.option("--fees", default="0.0002,0.0004", show_default=True, help="maker,taker (fractions or 0.02%,0.04%)")
    @click.option("--equity", default="10000", show_default=True, help="Initial equity (USDT).")
    @click.option("--engine", "rules_engine", type=click.Choice(("fast", "durable", "python")),
                  default="fast", show_default=True,
                  help="Rules evaluator: fast (market conditions over all cycles at once; decisions equal "
                       "to durable's), durable (durable_rules, the code live runs) or python (the reference "
                       "evaluator, the differential tests' oracle).")
    @click.option("--set", "sets", multiple=True, help="Config override KEY=VALUE for this run (repeatable).")
    @click.option("--out", "out_dir", default=None,
                  help="Export directory (default <home>/var/backtests/<database>-<run id>, e.g. "
                       "sqlite-replay-showdown-3: each database numbers its runs from 1).")
    @click.option("--symbol", default=None)
    @click.option("--parity", "parity_range", nargs=2, default=None, metavar="FROM TO",
                  help="Replay the recorded live/paper decisions of FROM..TO through the backtest decision path.")
    def backtest(**kwargs: Any) -> None:
        """Backtest a rules version over stored candles (import them with `showdown import klines`)."""
        try:
            _backtest(**kwargs)
        except RulesRefused as exc:       # the rule files say what is wrong, file by file: no traceback
            raise click.ClickException(str(exc)) from None
        except FileNotFoundError as exc:  # --rules names neither a path nor a stored version
            raise click.ClickException(str(exc)) from None


def _backtest(date_from: str | None, date_to: str | None, rules_spec: str | None, compare_spec: str | None,
              fill: str, slippage: str, fees: str, equity: str, rules_engine: str, sets: tuple[str, ...],
              out_dir: str | None, symbol: str | None, parity_range: tuple[str, str] | None) -> None:
    config = load_or_exit()
    where = home()
    open_database(config, where)
    if sets:
        config = with_overrides(config, dict(s.split("=", 1) for s in sets))
    symbol = symbol or str(config.get("symbol"))
    try:
        kind, value = parse_slippage(slippage)
        maker, taker = parse_fees(fees)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    params = BacktestParams(fill=fill, slippage_kind=kind, slippage_value=value, maker_fee=maker,
                            taker_fee=taker, equity=Decimal(equity), engine=rules_engine)
    files = rule_texts(rules_spec, where.rules_dir)
    if parity_range:
        prep = prepare(files, config, params)
        recs = list(recorded_decisions(symbol, _ms(parity_range[0]), _ms(parity_range[1])))
        rebuilt = None
        if recs:  # the snapshots and flows the backtest would have built at the same times
            first, last = min(r["t_ms"] for r in recs), max(r["t_ms"] for r in recs)
            candles, derivatives, _ = load_history(symbol, first, last, config,
                                                   warmup_days(prep.compiled, config))
            etf_params = (config.get("analytics") or {}).get("etf")
            built = build_cycles(candles, first, last, config, derivatives=derivatives,
                                 inputs=inputs_at(symbol, last, etf_params), with_flow=True,
                                 cycle_minutes=prep.compiled.declared.cycle_minutes)
            if not prep.compiled.declared.empty:     # the declared indicators and expressions too
                built = with_declared(built, prep.compiled.declared, candles, config)
            rebuilt = {c["t_ms"]: c for c in built}
        # every cycle the analytics loop recorded (a snapshots row) must have its one decision
        expected = recorded_cycle_times(symbol, _ms(parity_range[0]), _ms(parity_range[1]))
        rep = parity(recs, prep.compiled, prep.engine, rebuilt, expected)
        click.echo(f"parity: {rep['cycles']} recorded decisions replayed, {rep['differences']} differ "
                   f"({rep['analytics_differences']} with a different snapshot or flow, stored rows included; "
                   f"{rep['cycle_differences']} missing or extra cycles; the order book is live-only and not "
                   "compared)")
        for item in rep["items"][:20]:
            click.echo(json.dumps(item, default=str, sort_keys=True)[:4000])
        sys.exit(1 if rep["differences"] else 0)
    if not (date_from and date_to):
        raise click.UsageError("--from and --to are required (or --parity FROM TO)")
    t_from, t_to = _ms(date_from), _ms(date_to)
    specs = [files] + ([rule_texts(compare_spec, where.rules_dir)] if compare_spec else [])
    history = load_history(symbol, t_from, t_to, config, warmup_days_of(specs, config))
    bar, update = _bar((t_to - t_from) // 60_000, "backtest")
    try:
        result, metrics, prep, cycles = run_from_db(symbol, t_from, t_to, config, files, params, update,
                                                    history=history, keep_cycles=bool(compare_spec))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    report = None
    # notes are shown as they are (Backtests page, API): read as text, never as a JSON dict
    notes = f"{len(result.trades)} trades; events " + (fmt.field("events", result.events) if result.events else "none")
    if result.open_position:
        notes += f"; position still open at the end: {fmt.field('position', result.open_position)}"
    if compare_spec:
        files_b = rule_texts(compare_spec, where.rules_dir)
        bar, update = _bar((t_to - t_from) // 60_000, "compare")
        try:
            res_b, met_b, prep_b, _ = run_from_db(symbol, t_from, t_to, config, files_b, params, update,
                                                  history=history, cycles=cycles)
        finally:
            bar.close()
        report = compare_runs(result, res_b, prep.compiled, prep_b.compiled, cycles, prep.engine,
                              prep_b.engine, metrics, met_b)
        run_b = save_run(res_b, met_b, symbol, notes=f"compare B of {result.version[:12]}")
    run_id = save_run(result, metrics, symbol, notes=notes)
    out = Path(out_dir) if out_dir else where.var / "backtests" / export_dir_name(config, run_id)
    paths = write_exports(result, metrics, out, run_id, report)
    if report is not None:
        (out / "compare.json").write_text(json.dumps(report, default=str, indent=1, sort_keys=True),
                                          encoding="utf-8")
        click.echo(f"compare: run {run_id} ({report['a'][:12]}) vs run {run_b} ({report['b'][:12]}): "
                   f"{report['decisions_differing']} of {report['decisions_compared']} decisions differ")
        for k in ("net_profit", "return_pct", "max_dd_pct", "sharpe", "win_rate", "trades"):
            click.echo(f"  {k:>12}: {present.compare_value(k, report['metrics'][k]['a'])} | "
                       f"{present.compare_value(k, report['metrics'][k]['b'])}")
    click.echo(present.summary_line(run_id, result.version, result.candles, metrics))
    fast = result.fast_rules
    if fast:   # which conditions the fast engine could not take over all cycles at once, and why
        click.echo(f"rules engine fast: {fast['conditions_numpy'] + fast['conditions_categorical']} market conditions "
                   f"over all cycles at once, {len(fast['conditions_mapped'])} tested value by value, "
                   f"{len(fast['conditions_per_cycle'])} on the account / position per cycle; "
                   f"{fast['cycles_through_decide']} of {fast['cycles']} cycles through decide()")
    for w in metrics.get("warnings") or []:
        click.echo(f"warning: {w}")
    click.echo(f"exports: {paths['html'].parent}")
