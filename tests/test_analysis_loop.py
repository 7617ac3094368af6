"""The analytics loop against a real database (both backends): one cycle stores the triplet
with one timestamp, decisions link snapshot/flow/trace, stale data gives flat with the
reason, a failing cycle is recorded and the next one runs, activations are stored,
shadow disagreements recorded, rollback by hash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connectors.db.candles import upsert_candles
from connectors.db.models import (
    BotState,
    Decision,
    DecisionTrace,
    EquityPoint,
    Flow,
    RiskEvent,
    Ruleset,
    Snapshot,
)
from connectors.loops.analysis_loop import AnalysisLoop
from connectors.stores import rules_store
from engine.candles import aggregate
from engine.config import Config
from engine.cycle import account_facts, due, floor_cycle, iso_to_ms, mark_stale
from engine.rules.render import render_trace
from tests.analytics_data import config, synthetic_1m
from tests.rules_support import RULES_DIR

DAY = 86_400_000
START = 1_765_065_600_000 - 4 * DAY          # 2025-12-03 00:00Z
T = START + 3 * DAY + 12 * 3_600_000          # 2025-12-06 12:00Z (inside the data)


@pytest.fixture()
def loop(db, tmp_path: Path):
    df = synthetic_1m(days=4, start_ms=START)
    df = df[df.index < T + 3 * 300_000]       # the data stops 3 cycles after T
    upsert_candles(df, symbol="BTCUSDT", timeframe="1m")
    for tf in ("5m", "15m", "1h"):
        upsert_candles(aggregate(df, tf), symbol="BTCUSDT", timeframe=tf)
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    lp = AnalysisLoop(config, rules, data_dir=tmp_path / "data", var_dir=tmp_path / "var",
                      clock=lambda: (T + 3600_000) / 1000)
    lp.start_rules(watch=False)
    yield lp
    lp.close()


def test_trigger_is_data_driven():
    assert due(T, True, T + 4_000, 5, 90) == "wait"      # live: candle in, settling
    assert due(T, True, T + 5_000, 5, 90) == "run"
    assert due(T, False, T + 89_000, 5, 90) == "wait"    # no candle yet
    assert due(T, False, T + 90_000, 5, 90) == "stale"
    assert due(T, True, T + 10 * DAY, 5, 90) == "run"   # replay / backtest: T long past
    assert floor_cycle(T + 299_999, 5) == T
    assert iso_to_ms("2025-12-06T12:00:00Z") == T


def test_account_defaults_and_pnl():
    a = account_facts(None, None, None, 0, False, False, 10_000)
    assert a["equity"] == 10_000 and a["daily_pnl_pct"] == 0.0
    b = account_facts(9_700, 10_000, 10_200, 2, True, False, 10_000)
    assert b["daily_pnl_pct"] == pytest.approx(-3.0) and b["weekly_pnl_pct"] == pytest.approx(-4.901961, abs=1e-5)
    assert b["trades_today"] == 2 and b["safe_mode"] is True


def test_cycle_sees_the_collected_order_book(loop):
    """A live cycle reads the book the collector stored just before T; a one-sided book is in
    the snapshot the rules see (their thin / one-sided book vetoes depend on it)."""
    from connectors.db.models import Derivative
    assert Snapshot.get_by_id(Decision.get_by_id(loop.run_cycle(T).decision_id).snapshot_id
                              ).document["orderbook"]["available"] is False  # nothing collected yet
    Derivative.create(symbol="BTCUSDT", kind="depth", time_ms=T - 20_000, value=90_000.05,
                      details={"bids": [[90_000.0, 1.0]], "asks": [[90_000.1, 9.0]]})
    snap = Snapshot.get_by_id(Decision.get_by_id(loop.run_cycle(T).decision_id).snapshot_id).document
    assert snap["orderbook"]["available"] is True and snap["orderbook"]["imbalance_pct"] == pytest.approx(-80.0)


def test_one_cycle_stores_a_linked_triplet(loop, tmp_path):
    out = loop.run_cycle(T)
    assert out.ok, out.error
    d = Decision.get_by_id(out.decision_id)
    snap, flow = Snapshot.get_by_id(d.snapshot_id), Flow.get_by_id(d.flow_id)
    assert snap.document["timestamp_iso"] == flow.document["timestamp_iso"] == d.document["timestamp_iso"]
    assert d.decided_at_ms == T == snap.as_of_ms
    assert d.ruleset_version == loop.registry.active.version
    trace = DecisionTrace.get_by_id(d.trace_id).trace
    assert trace["decision"]["trace_id"] == d.trace_id and trace["not_fired"]
    assert "[why not]" in render_trace(trace)
    on_disk = json.loads((tmp_path / "data" / "decision.json").read_text())
    assert on_disk["decision_id"] == d.id and on_disk["timestamp_iso"] == snap.document["timestamp_iso"]
    # the active version was stored with its files, activated at startup
    row = rules_store.active_version()
    files, tests = rules_store.unpack(row.yaml)
    assert row.hash == d.ruleset_version and "strategy.yaml" in files and tests and row.activated_by == "startup"
    beat = BotState.get(BotState.component == "analytics")
    assert beat.state == "RUNNING" and beat.details["last_decision_id"] == d.id
    # re-running the cycle replaces, does not duplicate
    again = loop.run_cycle(T)
    assert again.decision_id == d.id and Decision.select().count() == 1


def test_stale_cycle_is_flat_with_the_reason(loop):
    out = loop.run_cycle(T, stale=True)
    assert out.ok and out.decision["action"] == "flat"
    assert out.decision["reason"] == "market_data_stale" and out.decision["confidence"] == 0.0


def test_loop_runs_on_data_then_stale_when_it_stops(loop):
    loop.run(start_ms=T, poll_s=0, max_cycles=5)
    rows = list(Decision.select().order_by(Decision.decided_at_ms))
    assert [r.decided_at_ms for r in rows] == [T + i * 300_000 for i in range(5)]
    # T..T+15min have their candle; T+20min does not (clock far past the max wait)
    assert rows[4].reason == "market_data_stale" and rows[0].reason != "market_data_stale"


def test_failed_cycle_is_recorded_and_the_next_runs(loop, monkeypatch):
    import connectors.loops.analysis_loop as al

    calls = {"n": 0}
    real = al.load_cycle_inputs

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk hiccup")
        return real(*a, **k)

    monkeypatch.setattr(al, "load_cycle_inputs", flaky)
    bad = loop.run_cycle(T)
    assert not bad.ok and "disk hiccup" in bad.error
    assert BotState.get(BotState.component == "analytics").state == "ERROR"
    good = loop.run_cycle(T + 300_000)
    assert good.ok and BotState.get(BotState.component == "analytics").details["last_error"] is None


def test_account_from_equity_curve(loop):
    EquityPoint.insert(symbol="BTCUSDT", time_ms=T - DAY, equity="10000").execute()
    EquityPoint.insert(symbol="BTCUSDT", time_ms=T - 60_000, equity="9750").execute()
    out = loop.run_cycle(T)
    facts = DecisionTrace.get_by_id(Decision.get_by_id(out.decision_id).trace_id).trace["facts"]
    assert facts["account"]["equity"] == 9750.0 and facts["account"]["daily_pnl_pct"] == pytest.approx(-2.5)
    assert out.decision["risk_checks"]["daily_dd_ok"] is False


def test_refusal_keeps_active_and_is_in_heartbeat(loop):
    before = loop.registry.active.version
    (loop.rules_dir / "risk.yaml").write_text("ruleset: btc_default\nrules: [oops\n")
    assert not loop.registry.reload("watch").ok
    assert loop.registry.active.version == before
    ref = BotState.get(BotState.component == "analytics").details["last_refusal"]
    assert ref["active"] == before and "risk.yaml" in ref["problems"][0]


def test_refusal_is_said_on_the_console_with_the_failing_rule_tests(loop, capsys):
    """Issue 13: a refused edit on disk was only in the log file; whoever watches the
    console of `showdown run` sees it, file:line:col and the rule tests that failed."""
    strategy = loop.rules_dir / "strategy.yaml"
    strategy.write_text(strategy.read_text().replace("etp_summary.last_3d_total: {gte: 0}",
                                                     "etp_summary.last_3d_total: {gte: 999999999999}", 1))
    assert not loop.registry.reload("watch").ok
    err = capsys.readouterr().err
    assert f"RULES REFUSED (watch): version {loop.registry.refusals[-1]['version']} not activated, " \
           f"{loop.registry.active.version} stays active:" in err
    assert "  long.yaml:4:5: rule test 'clean long setup trades long with high confidence' failed: " \
           "expected these rules to fire: ['long.etf_flows']" in err


def test_shadow_disagreement_recorded(loop, tmp_path):
    files = dict(rules_store.unpack(rules_store.active_version().yaml)[0])
    files["zzz.yaml"] = ("ruleset: btc_default\nrules:\n  - id: shadow.halve_confidence\n    stage: risk\n"
                         "    when:\n      position: {side: {is_known: true}}\n    then:\n"
                         "      multiplier: {sentiment: 0.5}\n    why: test\n")
    cand = loop.rules_dir / "candidate"   # a shadow path must lie inside the rules directory
    cand.mkdir()
    for n, t in files.items():
        (cand / n).write_text(t)
    base = config()
    loop.config = Config(values={**base.values, "engine": {**base.values["engine"], "shadow_ruleset": str(cand)}})
    loop.refresh_shadow()             # engine.shadow_ruleset: a path (a stored hash works the same)
    assert loop.registry.status()["shadow"] is not None
    out = loop.run_cycle(T)
    assert out.ok and out.shadow is not None
    assert out.shadow["shadow_decision"]["confidence"] == pytest.approx(out.decision["confidence"] / 2, abs=1e-6)
    ev = RiskEvent.get(RiskEvent.kind == "shadow_disagreement")
    assert ev.details["decision_id"] == out.decision_id and ev.details["active"] == out.decision["ruleset_version"]
    assert rules_store.shadow_disagreements()[0].id == ev.id


def test_activation_attribution_and_versions(loop):
    v = loop.registry.active.version
    text = (loop.rules_dir / "risk.yaml").read_text() + "\n# tuned\n"
    (loop.rules_dir / "risk.yaml").write_text(text)
    rules_store.request_attribution(loop.var_dir, __import__("engine.rules.compiler", fromlist=["x"]).content_hash(
        {p.name: p.read_text() for p in loop.rules_dir.glob("*.yaml")}), "alice")
    assert loop.registry.reload("watch").changed
    assert Ruleset.select().count() == 2
    assert rules_store.active_version().activated_by == "alice"
    assert rules_store.find_version(v[:8]).hash == v


def test_mark_stale_counts_once():
    f = {"warnings": {"market_data_stale": None}, "warning_counts": {"high": 0, "medium": 0, "low": 0}}
    mark_stale(f, "x")
    mark_stale(f, "y")
    assert f["warnings"]["market_data_stale"] == "high" and f["warning_counts"]["high"] == 1


def test_declared_ruleset_decides_at_its_own_cycle_with_the_backtest_values(db, tmp_path):
    """A ruleset with `cycle: 1h`, declared indicators and expressions: the live loop runs at
    each 1h close, and each cycle's `indicators` / `expressions` facts (in the trace) equal
    what the backtest computes for that cycle from the same candles."""
    from engine.analytics.batch import timeframe_frame
    from engine.rules.series import batch_facts, frames_from_1m
    df = synthetic_1m(days=4, start_ms=START)
    df = df[df.index < T + 3 * 300_000]
    upsert_candles(df, symbol="BTCUSDT", timeframe="1m")
    for tf in ("5m", "15m", "1h"):
        upsert_candles(aggregate(df, tf), symbol="BTCUSDT", timeframe=tf)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(RULES_DIR / "examples" / "declared_ema_cross.yaml", rules / "strategy.yaml")
    lp = AnalysisLoop(config, rules, data_dir=tmp_path / "data", var_dir=tmp_path / "var",
                      clock=lambda: (T + 3600_000) / 1000)
    lp.start_rules(watch=False)
    try:
        lp.run(start_ms=T - 3_600_000 + 300_000, poll_s=0, max_cycles=2)   # floored to T - 1h
        rows = list(Decision.select().order_by(Decision.decided_at_ms))
        assert [r.decided_at_ms for r in rows] == [T - 3_600_000, T]       # 1h closes, not every 5 minutes
        assert BotState.get(BotState.component == "analytics").details["cycle_minutes"] == 60
        declared = lp.registry.active.compiled.declared
        batch = batch_facts(declared, frames_from_1m(declared, df, timeframe_frame),
                            [T - 3_600_000, T], 3_600_000)
        for r in rows:
            facts = DecisionTrace.get_by_id(r.trace_id).trace["facts"]
            assert facts["indicators"] == batch[r.decided_at_ms]["indicators"]
            assert facts["expressions"] == batch[r.decided_at_ms]["expressions"]
            assert isinstance(facts["indicators"]["ema_fast"], float) and "bb" in facts["indicators"]
    finally:
        lp.close()


def test_first_activation_is_logged_as_text_without_a_python_none(loop, caplog):
    """The console and the Logs page read the line: the first activation has no previous
    version — 'previous none', not a Python None (found by the replay's raw-output scan)."""
    import logging

    caplog.set_level(logging.INFO, logger="showdown.analytics")
    loop._on_rules_event("activated", {"version": "baf8c34a88ec4da9", "previous": None, "source": "startup",
                                       "tests": "0/0 cases passed"})
    [line] = [r.getMessage() for r in caplog.records if "activated by" in r.getMessage()]
    assert "(previous none);" in line and "None" not in line, line
