"""durable_rules and the reference evaluator agree on real cycles (a sample: 3 days of the
51-day file, every cycle; the whole file is tests/bench/bench_rules_realdata.py)."""

from __future__ import annotations

from engine.rules.runtime import evaluate
from tests.analytics_data import config
from tests.rules_realdata import differential, real_cycles
from tests.rules_support import default_rules


def test_durable_agrees_with_reference_on_real_cycles(shared_data) -> None:
    compiled, engine = default_rules()
    report = differential(compiled, engine, real_cycles(shared_data, config(), days=3))
    assert report["cycles"] == 3 * 288
    assert report["mismatches"] == 0, report["first_mismatch"]
    assert report["actions"].get("flat", 0) > 0


def test_durable_agrees_with_reference_on_real_cycles_with_position_management(shared_data) -> None:
    from pathlib import Path

    from engine.rules.compiler import compile_texts
    from engine.rules.durable_backend import DurableRules
    example = Path(__file__).resolve().parents[1] / "rules" / "examples" / "ema_cross_managed.yaml"
    compiled = compile_texts({example.name: example.read_text(encoding="utf-8")}, config())
    engine = DurableRules(compiled)
    try:
        facts = list(real_cycles(shared_data, config(), days=2))
        report = differential(compiled, engine, iter(facts))
        managed = sum(1 for f in facts if f["position"]["side"] != "flat"
                      and evaluate(compiled, f, "python")[0].get("manage"))
    finally:
        engine.close()
    assert report["cycles"] == 2 * 288
    assert report["mismatches"] == 0, report["first_mismatch"]
    assert managed > 20               # the manage stage really acted on these real fact sets
