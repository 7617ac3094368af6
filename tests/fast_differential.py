"""The fast backtest engine against durable_rules (issue 16), shared by
tests/test_backtest_fast.py (a few days) and tests/bench/bench_fast_rules.py (every cycle).

Two checks per ruleset and file:
- the same backtest run twice, decided by `fast` and by durable_rules: every recorded
  decision document equal (with its account and position), trades.csv and equity.csv
  byte-identical;
- every cycle decided by FastDecisions and by decide(durable) on VARIED account and
  position facts (tests/rules_realdata.account_variant: drawdowns, trade counts, safe
  mode, open positions), so the account-dependent and manage stages are exercised on
  every cycle, not only on the states one run happens to go through.
And for cycles asked: the trace the fast path rebuilds (decide on that cycle's facts)
equals durable's, but for the engine's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from engine.analytics.batch import build_cycles
from engine.analytics.columns import build_columns
from engine.backtest.export import equity_csv, trades_csv
from engine.backtest.fast import FastDecisions
from engine.backtest.loop import cycle_facts, run_backtest, with_declared
from engine.backtest.params import BacktestParams
from engine.decision import decide
from engine.rules.compiler import CompiledRules, compile_texts
from engine.rules.durable_backend import DurableRules
from tests.backtest_peer import peer_config
from tests.rules_realdata import account_variant
from tests.rules_support import RULES_DIR, config, rule_files

FUNDING = "btcusdt-perp-funding-8h.csv.gz"
FILES = ("btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz", "btcusdt-perp-1m-2025-11-10_2025-12-10.csv.gz")
MINUTE, STEP, DAY = 60_000, 300_000, 86_400_000


def rulesets() -> Iterator[tuple[str, dict[str, str], Any]]:
    """(name, files, config): the default rules, then every example (with the cross-check's
    overrides, which let them trade often: more account states to compare)."""
    yield "default", rule_files(), config()
    ex = RULES_DIR / "examples"
    for p in sorted(ex.iterdir()):
        f = p if p.suffix == ".yaml" else p / "strategy.yaml"
        if f.is_file():
            yield p.stem, {f.name: f.read_text(encoding="utf-8")}, peer_config(config())


def load(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).set_index("open_time_ms")


def period(df: pd.DataFrame, days: float | None = None, skip_days: float = 0) -> tuple[int, int]:
    first, last = int(df.index[0]), int(df.index[-1])
    t_from = -(-(first + MINUTE + int(skip_days * DAY)) // STEP) * STEP
    t_to = last // STEP * STEP
    return t_from, t_to if days is None else min(t_to, t_from + int(days * DAY))


def backtests(df: pd.DataFrame, t_from: int, t_to: int, compiled: CompiledRules, cfg: Any,
              params: BacktestParams | None = None) -> dict[str, Any]:
    """The same run decided by fast and by durable_rules, each building its own analytics
    (fast: columns, durable: documents, as `showdown backtest --engine` does): what differs."""
    candles = df.loc[:t_to - MINUTE]
    durable = DurableRules(compiled)
    try:
        base = params or BacktestParams()
        runs = {name: run_backtest(candles, t_from, t_to, cfg, compiled, dataclasses.replace(base, engine=name), eng)
                for name, eng in (("fast", "fast"), ("durable", durable))}
    finally:
        durable.close()
    a, b = runs["fast"].decisions, runs["durable"].decisions
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return {"decisions": len(a), "mismatches": len(diff), "first": (a[diff[0]], b[diff[0]]) if diff else None,
            "trades": len(runs["fast"].trades), "not_flat": sum(d["decision"]["action"] != "flat" for d in a),
            "trades_csv_same": trades_csv(runs["fast"].trades) == trades_csv(runs["durable"].trades),
            "equity_csv_same": equity_csv(runs["fast"].equity) == equity_csv(runs["durable"].equity),
            "fast_rules": runs["fast"].fast_rules}


def market_cycles(df: pd.DataFrame, t_from: int, t_to: int, compiled: CompiledRules, cfg: Any,
                  columns: bool = False) -> Any:
    """The cycles as documents (build_cycles) or as columns (build_columns)."""
    build: Any = build_columns if columns else build_cycles
    cycles = build(df.loc[:t_to - MINUTE], t_from, t_to, cfg, with_flow=True,
                   cycle_minutes=compiled.declared.cycle_minutes)
    if not compiled.declared.empty and cycles:
        cycles = with_declared(cycles, compiled.declared, df.loc[:t_to - MINUTE], cfg)
    return cycles


def varied(compiled: CompiledRules, cycles: Sequence[dict[str, Any]], columns: Any,
           trace_at: Sequence[int] = ()) -> dict[str, Any]:
    """Every cycle on varied account / position facts: FastDecisions (over the columns)
    vs decide(durable) (over the documents)."""
    assert len(columns) == len(cycles)
    fast = FastDecisions(compiled, columns)
    durable = DurableRules(compiled)
    n, diff, first, traces, trace_diff = 0, 0, None, 0, 0
    try:
        for i, cyc in enumerate(cycles):
            acct, pos = account_variant(i)
            facts = cycle_facts(cyc, acct, pos)
            a = fast.decide(i, facts, lambda i=i, acct=acct, pos=pos: cycle_facts(columns[i], acct, pos))
            b, tb = decide(compiled, facts, durable)
            n += 1
            if a != b:
                diff += 1
                first = first or {"t_ms": cyc["t_ms"], "fast": a, "durable": b}
            if i in trace_at:
                traces += 1
                ta = fast.trace(i, facts)
                if {**ta, "engine": None} != {**tb, "engine": None}:
                    trace_diff += 1
    finally:
        durable.close()
    return {"cycles": n, "mismatches": diff, "first": first, "traces": traces, "trace_mismatches": trace_diff,
            "through_decide": fast.full}


def compile_ruleset(files: dict[str, str], cfg: Any) -> CompiledRules:
    return compile_texts(files, cfg)


def get_path(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def columns_equal_documents(df: pd.DataFrame, t_from: int, t_to: int, funding: Path) -> tuple[bool, int]:
    """build_columns vs build_cycles with the funding history: every document, every flow column."""
    from engine.analytics.batch import derive_timeframes
    from engine.analytics.columns import FLOW_LEAVES
    from engine.analytics.flow import prepare_derivatives
    candles = df.loc[:t_to - MINUTE]
    deriv = prepare_derivatives({"funding": pd.read_csv(funding).to_numpy(), "candles_1m": candles})
    frames = derive_timeframes(candles)
    docs = build_cycles(candles, t_from, t_to, config(), derivatives=deriv, with_flow=True, frames=frames)
    cols = build_columns(candles, t_from, t_to, config(), derivatives=deriv, frames=frames)
    same = len(cols) == len(docs) and all(cols[i] == d for i, d in enumerate(docs))
    for path in FLOW_LEAVES:
        same = same and cols.column("flow", path) == [get_path(d["flow"], path) for d in docs]
    return same, len(docs)
