"""The trace read at a glance and "why no trade?" over a window (issue 13, points 6 and 7):
pure functions over real traces of the default rules, and the two commands over a real DB."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import showdown
from engine.rules.summary import explain_miss, parse_condition, readable_condition, render_summary, summarize
from engine.rules.why_not import render_why_not, why_not

FIXTURE = Path(__file__).parent / "fixtures" / "analytics_2025-12-07T12-00Z.json"


@pytest.fixture(scope="module")
def traces():
    from tests.web.seed_replay import _decide_variants

    return _decide_variants(6)


def test_summary_of_a_real_flat_decision(traces):
    _, decision, trace = traces[0]
    s = summarize(trace)
    assert s["action"] == "flat" == decision["action"] and s["reason"] == decision["reason"]
    assert s["threshold"] == 0.55 and s["threshold_text"] == "0.55"
    assert [sc["side"] for sc in s["scores"]] == ["long", "short"]
    assert all(sc["value"] < 0.55 and not sc["reaches"] for sc in s["scores"])
    assert s["decided_by"]["rule"] == "flat.weak" and s["decided_by"]["kind"] == "veto"
    assert "score.best < 0.55 (risk.min_score) (was 0." in s["decided_by"]["conditions"][0]
    texts = [m["text"] for m in summarize(trace, misses=20)["nearest_misses"]]
    # the ETF 3-day total of the fixture (-122.2 M) misses long.etf_flows' "≥ 0", formatted by its field
    assert "long.etf_flows: flow.etp_summary.last_3d_total -122.2 M, needed ≥ 0" in texts
    gaps = [m["gap"] for m in s["nearest_misses"] if m["gap"] is not None]
    assert gaps == sorted(gaps)  # nearest first
    text = render_summary(s)
    assert text.startswith("SUMMARY  FLAT  (both_sides_weak)") and "below threshold 0.55" in text
    assert "e-0" not in text and "['" not in text


def test_nearest_misses_cover_every_family_that_decides_or_blocks(traces):
    """Not only the long/short signals and the candidates: a veto, a risk block, a mode and
    a warning that nearly fired are misses too, each formatted by its field and named by
    what it would have done; a rule that only shapes a trade, or waits on the stage gate
    (candidate.side), is none."""
    _, _, trace = traces[0]
    s = summarize(trace)
    by_rule = {m["rule"]: m for m in s["nearest_misses"]}
    assert {m["family"] for m in s["nearest_misses"]} >= {"veto", "block", "mode", "candidate", "score", "warning"}
    assert by_rule["risk.max_trades"]["text"] == "risk.max_trades: account.trades_today 0, needed ≥ 3"
    assert by_rule["risk.max_trades"]["effect"] == "block max_trades_per_day_ok"
    assert by_rule["mode.score_risk_off"]["text"] == "mode.score_risk_off: flow.risk.global_score 0.34, needed < 0.25"
    assert by_rule["flat.no_clear_side"]["effect"].startswith("veto ")
    gaps = [m["gap"] for m in s["nearest_misses"]]
    assert gaps == sorted(gaps)
    assert not [m for m in summarize(trace, misses=50)["nearest_misses"] if m["path"].startswith("candidate.side")]
    assert "[block max_trades_per_day_ok]" in render_summary(s)
    # the trace says what each rule that did not fire would have done (deciding actions only)
    assert trace["not_fired_effects"]["risk.daily_drawdown"].startswith("block ")
    assert trace["not_fired_effects"]["long.etf_flows"] == "score long +0.05"
    # a trace stored before effects were recorded: families by the rule names' prefixes
    old = {k: v for k, v in trace.items() if k != "not_fired_effects"}
    assert {m["family"] for m in summarize(old)["nearest_misses"]} >= {"risk", "mode", "flat", "long"}


def test_conditions_read_without_reprs():
    assert readable_condition("position.side in ['long', 'short']") == "position.side in long, short"
    assert readable_condition("snapshot.session.restricted eq True") == "snapshot.session.restricted = yes"
    assert (readable_condition("flow.derivatives.oi.change_24h between [0, ${risk.oi_surge_pct}] (= [0, 15])")
            == "flow.derivatives.oi.change_24h between 0.00 % and 15.00 % (risk.oi_surge_pct)")
    assert (readable_condition("flow.derivatives.funding.current lte ${risk.max_funding_8h} (= 0.0003)")
            == "flow.derivatives.funding.current ≤ 0.0300 % / 8h (risk.max_funding_8h)")
    assert parse_condition("score.long gte ${risk.min_score} (= 0.55)")["value"] == 0.55
    miss = explain_miss("long.trap_short", "flow.trap_index.score gte 0.5", 0.176010613453467)
    assert miss["text"] == "long.trap_short: flow.trap_index.score 0.18, needed ≥ 0.50"
    assert miss["gap"] == pytest.approx((0.5 - 0.176010613453467) / 0.5)


def test_why_not_counts_closest_blockers_and_shadow(traces):
    decisions = [{"id": i, "time": f"2025-12-07T11:{i:02d}:00Z", "action": d["action"], "reason": d["reason"],
                  "trace": tr} for i, (_, d, tr) in enumerate(traces)]
    decisions.append({"id": 99, "time": "2025-12-07T12:30:00Z", "action": "long", "reason": "long_setup",
                      "trace": None})
    shadow = [{"decision_id": 3, "timestamp_iso": "2025-12-07T11:03:00Z", "shadow": "0123456789abcdef",
               "active_decision": {"action": "flat", "reason": "both_sides_weak"},
               "shadow_decision": {"action": "long", "reason": "long_setup", "confidence": 0.61234}}]
    w = why_not(decisions, shadow, closest=3)
    flats = [d for d in decisions if d["action"] == "flat"]
    assert w["cycles"] == 7 and w["actions"] == {"long": 1, "short": 0, "flat": len(flats)}
    assert sum(n for _, n in w["flat_reasons"]) == len(flats)
    assert sum(n for _, n in w["blocking_rules"]) == len(flats)
    assert len(w["closest"]) == 3
    closeness = [c["closeness"] for c in w["closest"]]
    assert closeness == sorted(closeness, reverse=True)
    best = max(max(sc["value"] for sc in summarize(d["trace"])["scores"]) for d in flats)
    assert w["closest"][0]["closeness"] == pytest.approx(min(best / 0.55, 1.0))
    assert w["shadow"] == {"disagreements": 1, "would_have_traded": 1, "rows": w["shadow"]["rows"]}
    assert w["shadow"]["rows"][0]["shadow"] == "long (long_setup), confidence 0.61"
    text = render_why_not(w, "24h")
    assert text.startswith("WHY NO TRADE? last 24h: 7 cycle(s)") and "stopped by" in text
    assert "would have traded on 1 cycle(s)" in text


def test_rules_trace_and_why_not_commands(db, backend, traces):
    from connectors.db import models as m

    ids = []
    for t, decision, trace in traces:
        tr = m.DecisionTrace.create(symbol="BTCUSDT", trace=trace)
        ids.append(m.Decision.create(symbol="BTCUSDT", decided_at_ms=t, action=decision["action"],
                                     reason=decision["reason"], trace=tr, document=decision).id)
    old = m.DecisionTrace.create(symbol="BTCUSDT", trace=copy.deepcopy(traces[0][2]))
    m.Decision.create(symbol="BTCUSDT", decided_at_ms=traces[0][0] - 3 * 86_400_000, action="flat",
                      reason="old_and_outside", trace=old, document={})
    # a replay whose clock stands 2 h after the newest cycle: the 24 h window counts back from
    # that clock, not from the newest decision (nor from today's wall clock)
    from connectors.stores.market_state import record_market_source

    newest = traces[-1][0]
    record_market_source("replay", ["replaying"])
    m.BotState.create(symbol="BTCUSDT", component="execution", state="RUNNING", heartbeat_ms=newest,
                      details={"time_ms": newest + 2 * 3_600_000})
    for at, reason in ((newest - 23 * 3_600_000, "before_the_clock_window"), (newest + 5 * 3_600_000, "future")):
        tr = m.DecisionTrace.create(symbol="BTCUSDT", trace=copy.deepcopy(traces[0][2]))
        m.Decision.create(symbol="BTCUSDT", decided_at_ms=at, action="flat", reason=reason, trace=tr, document={})
    env = {**backend.env, "SHOWDOWN_HOME": str(backend.home.root)}
    run = CliRunner()
    out = run.invoke(showdown, ["rules", "trace", str(ids[-1])], env=env)
    assert out.exit_code == 0, out.output
    # every command names its database first, on stderr, so stdout stays the trace alone
    assert out.stderr.startswith("database: LIVE")
    assert out.stdout.startswith("SUMMARY  FLAT") and "nearest misses:" in out.stdout
    assert out.output.index("SUMMARY") < out.output.index("[why not]")
    raw = run.invoke(showdown, ["rules", "trace", str(ids[-1]), "--json"], env=env)
    assert json.loads(raw.stdout)["result"]["action"] == "flat"
    why = run.invoke(showdown, ["rules", "why-not", "--since", "24h"], env=env)
    assert why.exit_code == 0, why.output
    assert "window: the 24h up to the market clock, 2025-12-07T14:00:00Z UTC" in why.output
    assert f"{len(traces)} cycle(s)" in why.output and "old_and_outside" not in why.output
    assert "before_the_clock_window" not in why.output and "future" not in why.output
    assert "flat.weak" in why.output and "closest to a trade" in why.output
    bad = run.invoke(showdown, ["rules", "why-not", "--since", "soon"], env=env)
    assert bad.exit_code == 2 and "--since" in bad.output
