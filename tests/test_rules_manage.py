"""Position management in rules (issue 11 item 3): the manage stage, entry levels, the
compiler's refusals, both engines agreeing, and the decision's priced asks."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from engine.decision import decide
from engine.rules.compiler import RulesRefused, compile_texts
from engine.rules.durable_backend import DurableRules
from engine.rules.render import render_trace
from engine.rules.runtime import evaluate
from engine.rules.samples import random_facts, typical_long
from tests.rules_support import config

EXAMPLE = Path(__file__).resolve().parents[1] / "rules" / "examples" / "ema_cross_managed.yaml"


def managed():
    compiled = compile_texts({EXAMPLE.name: EXAMPLE.read_text(encoding="utf-8")}, config())
    return compiled, DurableRules(compiled)


def ema(spread: float = 0.1):
    """typical_long's facts with the 5m EMA spread the example reads (> 0: long signal)."""
    f = typical_long()
    f["snapshot"]["indicators"] = {"tf_5m": {"ema_20_50_pct": spread}}
    return f


def long_open(spread: float = 0.1, **fields):
    f = ema(spread)
    f["position"] = {"side": "long", "quantity": 0.01, "entry_price": 59900.0, "unrealized_pnl": 1.0,
                     "age_min": 30.0, "profit_pct": 0.1, "r_now": 0.2, "r_best": 0.4, "r_worst": -0.3,
                     "tp1_done": False, "stop": 59500.0} | fields
    return f


def refused(text: str) -> list[str]:
    with pytest.raises(RulesRefused) as exc:
        compile_texts({"x.yaml": text}, config())
    return [str(p) for p in exc.value.problems]


RULE = """ruleset: t
rules:
  - id: r.one
    stage: {stage}
    when:
      position:
        r_now: {{gte: 1}}
    then:
      {then}
    why: test
"""


@pytest.mark.parametrize("stage, then, expected", [
    ("signal", "close: {reason: done}", "x.yaml:9:7: action close means nothing in stage signal"),
    ("manage", "stop: {break_even: true, trail_atr: 2}", "stop: break_even and trail_atr both given"),
    ("manage", "stop: {atr_timeframe: tf_1h}", "stop: nothing to do (expected one of break_even"),
    ("manage", "stop: {trail_percent: 1, atr_timeframe: tf_1h}", "stop.atr_timeframe means nothing without trail_atr"),
    ("manage", "stop: {field: swings.tf_5m.lo}", "stop.field: 'swings.tf_5m.lo' is not a numeric snapshot field; "
                                                 "did you mean 'swings.tf_5m.low'?"),
    ("manage", "stop: {break_even: false}", "stop.break_even: false does nothing"),
    ("manage", "reduce: {fraction: 1.5, reason: x}", "reduce.fraction: 1.5 is out of range"),
    ("manage", "levels: {stop_percent: 2}", "action levels means nothing in stage manage"),
    ("decision", "levels: {stop_percent: 2, stop_atr: 1}", "levels: stop_atr and stop_percent both given"),
    ("decision", "levels: {tp1_field: session.current}", "is not a numeric snapshot field"),
    ("manage", "target: {}", "target: nothing to do (expected one of percent, r, field)"),
])
def test_malformed_management_rules_are_refused_with_their_position(stage, then, expected) -> None:
    problems = refused(RULE.format(stage=stage, then=then))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("x.yaml:") for p in problems)


def test_manage_stage_runs_only_while_a_position_is_open_and_both_engines_agree() -> None:
    compiled, engine = managed()
    try:
        flat = ema()
        a, trace = evaluate(compiled, flat, engine)
        assert "manage" not in a and "manage" not in a["fired"]
        assert ("manage.break_even", "a position is open (stage manage runs only then)", "flat") in trace["not_fired"]
        assert not trace["disagreements"]
        f = long_open(r_now=1.3, r_best=2.5, age_min=250.0)
        a, trace = evaluate(compiled, f, engine)
        b, _ = evaluate(compiled, f, "python")
        assert a == b
        assert a["fired"]["manage"] == ["manage.break_even", "manage.trail", "manage.take_some"]
        m = a["manage"]
        assert [s["rule"] for s in m["stops"]] == ["manage.break_even", "manage.trail"]
        assert m["reduce"] == {"rule": "manage.take_some", "fraction": 0.3, "reason": "take_some"}
        assert "close" not in m
        # time stop: old and not half a R; the close makes the reduce moot
        a, trace = evaluate(compiled, long_open(r_now=0.1, age_min=241.0), engine)
        assert a["manage"]["close"] == {"rule": "manage.time_stop", "reason": "time_stop"} and "reduce" not in a["manage"]
        assert [s.get("step") for s in trace["stages"]][-1] == "manage"
        # the opposite signal closes the position
        short_signal = long_open(spread=-0.1)
        a, _ = evaluate(compiled, short_signal, engine)
        assert a["action"] == "short" and a["manage"]["close"]["reason"] == "opposite_signal"
    finally:
        engine.close()


def test_differential_random_facts_with_management_rules() -> None:
    compiled, engine = managed()
    rng = random.Random(11)
    seen_manage = 0
    try:
        for i in range(1500):
            base = (ema(), long_open(), long_open(spread=-0.1, side="short"))[i % 3]
            facts = random_facts(rng, compiled, none_rate=0.1, base=base, keep=0.7)
            a, ta = evaluate(compiled, facts, engine)
            b, tb = evaluate(compiled, facts, "python")
            assert a == b, f"cycle {i}: durable {a} != python {b}"
            assert ta["not_fired"] == tb["not_fired"] and not ta["disagreements"]
            seen_manage += bool(a.get("manage"))
    finally:
        engine.close()
    assert seen_manage > 100          # the management rules really were exercised


def test_entry_levels_replace_the_config_stop_and_targets() -> None:
    compiled, engine = managed()
    try:
        f = ema()
        snap = f["snapshot"]
        d, trace = decide(compiled, f, engine)
        atr15, price = snap["volatility"]["atr"]["tf_15m"], snap["price"]
        assert d["action"] == "long"
        assert d["sl"] == pytest.approx(price - 1.5 * atr15, abs=0.1)
        assert d["tp1"] == pytest.approx(price + 1.5 * 1.5 * atr15, abs=0.1)
        assert d["tp2"] == pytest.approx(price + 3 * 1.5 * atr15, abs=0.1)
        assert trace["sizing"]["levels"]["stop_atr"] == 1.5
        # the default rules, without levels, keep the config's stop
        default = compile_texts({"s.yaml": EXAMPLE.read_text().replace("levels: {stop_atr: 1.5, atr_timeframe: tf_15m, "
                                                                       "tp1_r: 1.5, tp2_r: 3}",
                                                                       "multiplier: {size: 1}")}, config())
        d2, _ = decide(default, f, "python")
        assert d2["sl"] != d["sl"]
    finally:
        engine.close()


@pytest.mark.parametrize("levels, check", [
    ("{stop_percent: 2, tp1_percent: 1, tp2_percent: 4}", lambda d, p: (d["sl"], d["tp1"], d["tp2"]) == pytest.approx(
        (p * 0.98, p * 1.01, p * 1.04), abs=0.1)),
    ("{stop_field: swings.tf_15m.low, tp2_field: swings.tf_1h.high}",
     lambda d, p: d["sl"] == pytest.approx(59200.0, abs=0.1) and d["tp2"] == pytest.approx(61500.0, abs=0.1)),
])
def test_entry_levels_by_percent_and_by_field(levels, check) -> None:
    text = EXAMPLE.read_text().replace("{stop_atr: 1.5, atr_timeframe: tf_15m, tp1_r: 1.5, tp2_r: 3}", levels)
    compiled = compile_texts({"s.yaml": text}, config())
    f = ema()
    d, _ = decide(compiled, f, "python")
    assert d["action"] == "long" and check(d, f["snapshot"]["price"]), d


def test_a_field_level_on_the_wrong_side_refuses_the_entry_with_its_reason() -> None:
    text = EXAMPLE.read_text().replace("{stop_atr: 1.5, atr_timeframe: tf_15m, tp1_r: 1.5, tp2_r: 3}",
                                       "{stop_field: swings.tf_15m.low}")
    compiled = compile_texts({"s.yaml": text}, config())
    f = ema()
    f["snapshot"]["swings"]["tf_15m"]["low"] = f["snapshot"]["price"] + 50
    d, trace = decide(compiled, f, "python")
    assert d["action"] == "flat" and d["reason"] == "levels_unknown"
    assert "swings.tf_15m.low" in trace["sizing"]["detail"] and "wrong side" in trace["sizing"]["detail"]


def test_decision_prices_the_trailing_stop_and_keeps_relative_asks_relative() -> None:
    compiled, engine = managed()
    try:
        f = long_open(r_now=1.3, r_best=2.5)
        d, trace = decide(compiled, f, engine)
        price, atr15 = f["snapshot"]["price"], f["snapshot"]["volatility"]["atr"]["tf_15m"]
        m = d["manage"]
        assert m["side"] == "long"
        be, trail = m["stops"]
        assert be == {"rule": "manage.break_even", "break_even": True}
        assert trail["price"] == pytest.approx(price - 2 * atr15, abs=0.05)
        text = render_trace(trace)
        assert ("[manage] asked of the open long position: reduce by 30% (take_some, manage.take_some); "
                "stop break_even=True (manage.break_even); stop trail_atr=2, atr_timeframe=tf_15m, price=59560.0 "
                "(manage.trail)") in text
        assert "-> manage the open position: reduce by 30% (take_some, manage.take_some); stop break_even=True" in text
        # an ATR the facts do not have: the trail is left out and the trace says why
        g = copy.deepcopy(f)
        g["snapshot"]["volatility"]["atr"]["tf_15m"] = None
        d2, trace2 = decide(compiled, g, engine)
        assert [s["rule"] for s in d2.get("manage", {}).get("stops", [])] == ["manage.break_even"]
        assert any("volatility.atr.tf_15m is unknown" in e for e in trace2["errors"])
    finally:
        engine.close()


DECLARED = """ruleset: t
indicators:
  bb: {function: BBANDS, timeframe: 5m, params: {timeperiod: 20}}
rules:
  - id: long.any
    stage: candidate
    when:
      snapshot:
        price: {gt: 0}
    then:
      candidate: {side: long, reason: test}
    why: test
  - id: levels.band
    stage: decision
    when:
      outcome:
        side: {eq: long}
    then:
      levels: {stop_field: STOP, tp1_r: 2, tp2_r: 2}
    why: the stop below the lower Bollinger band
"""


def test_a_declared_indicator_can_be_the_stop_level() -> None:
    compiled = compile_texts({"t.yaml": DECLARED.replace("STOP", "indicators.bb.lowerband")}, config())
    assert not compiled.warnings            # the level reads bb: not "declared but unused"
    f = typical_long()
    f["indicators"] = {"bb": {"upperband": 60400.0, "middleband": 60000.0, "lowerband": 59600.0}}
    d, _ = decide(compiled, f, "python")
    assert d["action"] == "long" and d["sl"] == 59600.0 and d["tp1"] == 60800.0
    problems = refused(DECLARED.replace("STOP", "indicators.bb.lowband"))
    assert any("x.yaml:19:28:" in p and "'indicators.bb.lowband' is not a declared numeric indicator; "
               "did you mean 'indicators.bb.lowerband'?" in p for p in problems), problems
