"""durable_rules and the reference evaluator agree; traces explain; the safe-subset traps hold."""

from __future__ import annotations

import json
import random

import durable_rules_engine as dre
import pytest

from engine.rules.compiler import compile_texts
from engine.rules.durable_backend import DurableRules, RuleEngineError, dumps, ruleset_json
from engine.rules.runtime import evaluate
from engine.rules.samples import random_facts, typical_long, typical_short
from tests.rules_support import config, default_rules

DIFFERENTIAL_CYCLES = 2000   # the 20,000-cycle run is tests/bench/bench_rules_differential.py


def test_durable_and_reference_agree_on_random_facts() -> None:
    compiled, engine = default_rules()
    rng = random.Random(20250106)
    actions = set()
    for i in range(DIFFERENTIAL_CYCLES):
        base = (None, typical_long(), typical_short())[i % 3]
        facts = random_facts(rng, compiled, none_rate=0.1 if i % 4 else 0.01, base=base, keep=0.9 if i % 2 else 0.5)
        a, ta = evaluate(compiled, facts, engine)
        b, tb = evaluate(compiled, facts, "python")
        assert a == b, f"cycle {i}: durable {a} != python {b}"
        assert ta["not_fired"] == tb["not_fired"]
        assert not ta["disagreements"], ta["disagreements"]
        actions.add(a["action"])
    assert actions == {"long", "short", "flat"}      # the generator reaches every outcome


def test_trace_records_fired_values_aggregation_and_why_not() -> None:
    compiled, engine = default_rules()
    result, trace = evaluate(compiled, typical_long(), engine)
    assert result["action"] == "long"
    kinds = [s.get("stage") or s.get("step") for s in trace["stages"]]
    assert kinds == ["signal", "aggregation", "candidate", "candidate", "risk", "risk", "decision"]
    fired = {e["rule"]: e for e in trace["stages"][0]["fired"]}
    assert ("snapshot.market_structure.tf_5m in ['HH-HL', 'range']", "HH-HL") in fired["long.structure"]["conditions"]
    agg = trace["stages"][1]
    assert agg["score_long"] == result["score_long"] == 1.0 and agg["raw_long"] == pytest.approx(1.05)
    assert sum(c["weight"] for c in agg["contributions"] if c["side"] == "short") == pytest.approx(result["score_short"])
    why_not = {r: (cond, v) for r, cond, v in trace["not_fired"]}
    assert why_not["short.momentum"] == ("snapshot.momentum.tf_5m.state in ['impulse_down', 'fading']", "impulse_up")
    assert why_not["risk.daily_drawdown"] == ("account.daily_pnl_pct lte ${risk.daily_dd_limit_pct} (= -2.0)", 0.0)
    assert trace["ruleset"]["version"] == compiled.version
    json.dumps(trace)                                 # plain data


def test_unknown_values_make_every_condition_false_except_is_unknown() -> None:
    compiled, engine = default_rules()
    facts = typical_long()
    facts["flow"]["derivatives"]["cvd"]["tf_1h"]["direction"] = None
    facts["snapshot"]["momentum"]["tf_15m"]["state"] = None          # neq on unknown is false too
    result, trace = evaluate(compiled, facts, engine)
    fired = result["fired"]["signal"]
    assert "long.cvd" not in fired and "short.cvd" not in fired and "long.momentum" not in fired


def test_wrong_types_are_unknown_not_loosely_compared() -> None:
    compiled, engine = default_rules()
    facts = typical_long()
    facts["account"]["trades_today"] = "9"          # durable_rules would say "9" >= 3
    result, trace = evaluate(compiled, facts, engine)
    assert "risk.max_trades" not in result["fired"]["risk"]
    assert "inputs.trades_today_unknown" in result["fired"]["candidate"]
    assert any("account.trades_today" in p for p in trace["input_problems"])


def test_small_numbers_are_sent_without_exponent() -> None:
    assert dumps({"a": 1e-05, "b": [2.5e-07], "c": "1e-05"}) == '{"a":0.00001,"b":[0.00000025],"c":"1e-05"}'
    compiled, engine = default_rules()
    facts = typical_long()
    facts["flow"]["derivatives"]["funding"]["current"] = 1e-05     # json.dumps writes 1e-05
    a, _ = evaluate(compiled, facts, engine)
    assert "long.funding_ok" in a["fired"]["signal"]


def test_in_compiles_to_or_of_equalities_and_neq_not_ne() -> None:
    compiled, _ = default_rules()
    text = json.dumps(ruleset_json(compiled.rules))
    assert "$in" not in text and '"$ne"' not in text and "$neq" in text and "$or" in text
    assert "__sentinel" in text


def test_sessions_are_deleted_and_versions_freed() -> None:
    compiled = compile_texts({"a.yaml": "ruleset: t\nrules:\n  - id: a.b\n    stage: signal\n    when:\n"
                              "      snapshot: {price: {gt: 1}}\n    then:\n      score: {side: long, factor: f, weight: 0.5}\n"
                              "    why: x\n"}, config())
    engine = DurableRules(compiled)
    for _ in range(1500):                   # > 1,024 live sessions would fail without delete_state
        r, _t = evaluate(compiled, {"snapshot": {"price": 2.0}}, engine)
        assert r["score_long"] == 0.5
    engine.close()
    with pytest.raises(RuleEngineError):
        evaluate(compiled, {"snapshot": {"price": 2.0}}, engine)
    with pytest.raises(Exception):   # noqa: B017 - the C handle is gone
        dre.assert_fact(engine.handle, '{"_f":"signal","sid":"x","id":"y"}')


def test_nothing_fires_still_deletes_state_safely() -> None:
    """The sentinel rule: a cycle in which no rule fires must not crash delete_state."""
    compiled = compile_texts({"a.yaml": "ruleset: t\nrules:\n  - id: a.b\n    stage: risk\n    when:\n"
                              "      account: {equity: {lt: 0}}\n    then:\n      veto: {reason: x}\n    why: x\n"},
                             config())
    engine = DurableRules(compiled)
    for _ in range(50):
        r, _t = evaluate(compiled, {}, engine)
        assert r["action"] == "flat" and r["fired"]["risk"] == []
    engine.close()
