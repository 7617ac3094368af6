"""`showdown rules ...`: check, test, run and explain the YAML rules."""

from __future__ import annotations

import collections
import contextlib
import getpass
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from cli.config_cmd import load_or_exit
from connectors.db import DatabaseUnavailable, open_database
from connectors.db.migrations import upgrade
from connectors.db.models import BotState, now_ms
from connectors.files.rules_files import read_rules_dir, write_rules_dir
from connectors.stores import rules_store
from connectors.stores.market_state import market_now_ms
from engine.candles import ms_to_iso
from engine.decision import decide
from engine.format import time_iso
from engine.paths import home
from engine.rules.compiler import RulesRefused, compile_texts
from engine.rules.durable_backend import DurableRules
from engine.rules.registry import build_version
from engine.rules.render import render_trace
from engine.rules.summary import render_summary, summarize
from engine.rules.testcases import run_tests
from engine.rules.why_not import render_why_not, why_not


def _dir(path: str | None) -> Path:
    return Path(path).resolve() if path else home().rules_dir


def register(group: click.Group) -> None:
    @group.group("rules")
    def rules() -> None:
        """Check, test and explain the YAML rules."""

    @rules.command("check")
    @click.argument("path", required=False)
    def check(path: str | None) -> None:
        """Validate the rule files in PATH (default: the rules directory)."""
        files, _ = read_rules_dir(_dir(path))
        try:
            compiled = compile_texts(files, load_or_exit())
            DurableRules(compiled).close()
        except RulesRefused as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            raise click.ClickException(f"{len(exc.problems)} problem(s): the rules were refused") from exc
        for w in compiled.warnings:
            click.echo(f"warning: {w}", err=True)
        per_stage = ", ".join(f"{s} {len(r)}" for s, r in compiled.by_stage.items())
        d = compiled.declared
        if not d.empty or d.cycle_minutes:
            click.echo(f"declared: {len(d.indicators)} indicator(s), {len(d.expressions)} expression(s), "
                       f"looking back {d.history} cycle(s); cycle {d.cycle_minutes or 'engine.cycle_minutes'} min")
        click.echo(f"ok: ruleset {compiled.name} version {compiled.version}, {len(compiled.rules)} rules ({per_stage})")

    @rules.command("test")
    @click.argument("path", required=False)
    @click.option("-v", "--verbose", is_flag=True, help="List every case, not only failures.")
    def test(path: str | None, verbose: bool) -> None:
        """Run the rule test cases in PATH/tests against the rules in PATH."""
        files, test_files = read_rules_dir(_dir(path))
        try:
            compiled = compile_texts(files, load_or_exit())
        except RulesRefused as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            raise click.ClickException("the rules do not compile") from exc
        engine = DurableRules(compiled)
        try:
            report = run_tests(compiled, engine, test_files)
        finally:
            engine.close()
        for p in report.problems:
            click.echo(f"PROBLEM {p}", err=True)
        for r in report.results:
            if not r.ok:
                click.echo(f"FAIL {r.where} {r.name}")
                for f in r.failures:
                    click.echo(f"     {f}")
            elif verbose:
                click.echo(f"ok   {r.where} {r.name}")
        if report.uncovered():
            click.echo("rules that no case makes fire: " + ", ".join(report.uncovered()))
        click.echo(report.summary())
        if not report.ok:
            raise click.ClickException("rule tests failed")

    @rules.command("run")
    @click.argument("facts_file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--rules-dir", default=None, help="Rules directory (default: the project's).")
    @click.option("--json", "as_json", is_flag=True, help="Print the decision and trace as JSON.")
    def run(facts_file: str, rules_dir: str | None, as_json: bool) -> None:
        """Decide once on FACTS_FILE ({snapshot, flow, account, position}, plus `indicators` and
        `expressions` for a ruleset that declares them, as a trace's facts show them) and explain."""
        facts = json.loads(Path(facts_file).read_text(encoding="utf-8"))
        files, _ = read_rules_dir(_dir(rules_dir))
        try:
            compiled = compile_texts(files, load_or_exit())
        except RulesRefused as exc:
            raise click.ClickException(str(exc)) from exc
        engine = DurableRules(compiled)
        try:
            decision, trace = decide(compiled, facts, engine)
        finally:
            engine.close()
        if as_json:
            click.echo(json.dumps({"decision": decision, "trace": trace}, indent=2, default=str))
        else:
            click.echo(render_trace(trace))

    @rules.command("trace")
    @click.argument("decision")
    @click.option("--json", "as_json", is_flag=True, help="Print the stored trace as JSON.")
    def trace_cmd(decision: str, as_json: bool) -> None:
        """Explain a past decision: DECISION is a decision id (from the database) or a trace JSON file."""
        p = Path(decision)
        if decision.isdigit() and not p.exists():
            with _database():
                data = rules_store.load_trace(int(decision))
            if data is None:
                raise click.ClickException(f"no decision {decision} with a stored trace")
        elif p.exists():
            data = json.loads(p.read_text(encoding="utf-8"))
            data = data.get("trace", data)
        else:
            raise click.ClickException(f"{decision!r} is neither a decision id nor a trace file")
        if as_json:
            click.echo(json.dumps(data, indent=2, default=str))
            return
        if isinstance(data, dict) and isinstance(data.get("stages"), list):
            click.echo(render_summary(summarize(data)) + "\n")
        click.echo(render_trace(data))

    @rules.command("versions")
    @click.option("--limit", default=30, show_default=True)
    def versions_cmd(limit: int) -> None:
        """Every ruleset version activated (table rulesets), the active one first."""
        with _database():
            rows = rules_store.versions(limit)
            active = rules_store.active_version()
        if not rows:
            click.echo("no ruleset version stored yet (the analytics loop or `rules activate` stores them)")
            return
        for r in rows:
            files, tests = rules_store.unpack(r.yaml)
            mark = "*" if active is not None and r.id == active.id else " "
            when = ms_to_iso(r.activated_at_ms) if r.activated_at_ms else "never"
            click.echo(f"{mark} {r.hash}  activated {when} UTC by {r.activated_by or '?'}  "
                       f"({len(files)} rule file(s), {len(tests)} test file(s))")

    @rules.command("activate")
    @click.argument("version")
    @click.option("--by", default=None, help="Who activates (default: cli:$USER).")
    @click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for a running loop to take it.")
    def activate_cmd(version: str, by: str | None, wait: float) -> None:
        """Roll back (or forward) to a stored VERSION: its YAML files are written back into
        the rules directory (they stay the single source of truth); a running analytics loop
        activates them through its watcher, else they are activated and recorded here."""
        config = load_or_exit()
        where = home()
        who = by or f"cli:{getpass.getuser()}"
        with _database():
            try:
                row = rules_store.find_version(version)
            except LookupError as exc:
                raise click.ClickException(str(exc)) from exc
            files, tests = rules_store.unpack(row.yaml)
            running = loop_running(str(config.get("symbol")), config)
            try:
                compiled_version, _ = build_version(files, tests, config, who, require_tests=bool(tests))
            except RulesRefused as exc:
                for p in exc.problems:
                    click.echo(str(p), err=True)
                raise click.ClickException(f"version {row.hash} no longer compiles or passes its tests "
                                           "with today's config: nothing written") from exc
            compiled_version.engine.close()
            if running:
                rules_store.request_attribution(where.var, row.hash, who)
            write_rules_dir(where.rules_dir, files, tests)
            click.echo(f"wrote {len(files)} rule file(s) and {len(tests)} test file(s) of {row.hash} "
                       f"into {where.rules_dir}")
            if not running:
                rules_store.record_activation(row.hash, files, tests, who)
                click.echo(f"no analytics loop running: {row.hash} recorded as active (by {who})")
                return
            deadline = time.time() + wait
            while time.time() < deadline:
                active = rules_store.active_version()
                if active is not None and active.hash == row.hash:
                    click.echo(f"the running loop activated {row.hash}")
                    return
                time.sleep(0.2)
        raise click.ClickException(f"the loop did not activate {row.hash} within {wait:.0f} s: "
                                   "see `showdown status` for the last refusal")

    @rules.command("shadow-report")
    @click.option("--since", default="7d", show_default=True, help="e.g. 12h, 7d")
    @click.option("--limit", default=50, show_default=True)
    def shadow_report(since: str, limit: int) -> None:
        """Where the shadow ruleset (engine.shadow_ruleset) disagreed with the active one."""
        unit = {"h": 3_600_000, "d": 86_400_000, "m": 60_000}.get(since[-1:], 0)
        if not unit or not since[:-1].isdigit():
            raise click.UsageError("--since: a number and m, h or d (e.g. 7d)")
        with _database():
            rows = rules_store.shadow_disagreements(int(time.time() * 1000) - int(since[:-1]) * unit, limit)
        if not rows:
            click.echo(f"no shadow disagreement in the last {since}")
            return
        pairs: collections.Counter[tuple[str, str]] = collections.Counter()
        for r in rows:
            d = r.details or {}
            a, s = d.get("active_decision") or {}, d.get("shadow_decision") or {}
            pairs[(str(a.get("action")), str(s.get("action")))] += 1
            click.echo(f"{d.get('timestamp_iso')}  decision {d.get('decision_id')}: active {d.get('active')} "
                       f"{a.get('action')} ({a.get('reason')}, conf {a.get('confidence')})  |  shadow "
                       f"{d.get('shadow')} {s.get('action')} ({s.get('reason')}, conf {s.get('confidence')})")
        click.echo(f"{len(rows)} disagreement(s): " + ", ".join(f"active {a} / shadow {s}: {n}"
                                                             for (a, s), n in pairs.most_common()))

    @rules.command("why-not")
    @click.option("--since", default="24h", show_default=True,
                  help="window back from the market clock (the replay's in a replay), e.g. 6h, 24h, 7d")
    @click.option("--closest", default=10, show_default=True, help="how many near-trade cycles to list")
    def why_not_cmd(since: str, closest: int) -> None:
        """Why no trade? Counts of flat reasons, the cycles closest to a trade and what
        stopped each, the rules that blocked most often, what the shadow version would have done."""
        span = _span_ms(since, "--since")
        config = load_or_exit()
        symbol = str(config.get("symbol"))
        with _database():
            now = market_now_ms(symbol, int(time.time() * 1000))  # the replay's "now" in a replay
            until, decisions, shadow = rules_store.decisions_window(symbol, span, now)
        if until is None:
            click.echo("no decision stored yet: nothing to explain")
            return
        report = why_not(decisions, shadow, closest=closest)
        click.echo(f"window: the {since} up to the market clock, {time_iso(until)} UTC")
        click.echo(render_why_not(report, since))


def _span_ms(text: str, option: str) -> int:
    unit = {"h": 3_600_000, "d": 86_400_000, "m": 60_000}.get(text[-1:], 0)
    if not unit or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise click.UsageError(f"{option}: a positive number and m, h or d (e.g. 24h), got {text!r}")
    return int(text[:-1]) * unit


@contextlib.contextmanager
def _database() -> Iterator[None]:
    config = load_or_exit()
    try:
        database = open_database(config, home().ensure(), create_missing=True)
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    upgrade(database)
    try:
        yield
    finally:
        database.close()


def loop_running(symbol: str, config: Any) -> bool:
    """An analytics loop is alive: its heartbeat (written at least every 30 s) is fresh."""
    row = BotState.get_or_none((BotState.symbol == symbol) & (BotState.component == "analytics"))
    return row is not None and row.state in ("RUNNING", "ERROR") and now_ms() - int(row.heartbeat_ms) < 90_000
