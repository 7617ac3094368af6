"""durable_rules and the reference evaluator agree on real cycles (a sample: 3 days of the
51-day file, every cycle; the whole file is tests/bench/bench_rules_realdata.py)."""

from __future__ import annotations

from tests.analytics_data import config
from tests.rules_realdata import differential, real_cycles
from tests.rules_support import default_rules


def test_durable_agrees_with_reference_on_real_cycles(shared_data) -> None:
    compiled, engine = default_rules()
    report = differential(compiled, engine, real_cycles(shared_data, config(), days=3))
    assert report["cycles"] == 3 * 288
    assert report["mismatches"] == 0, report["first_mismatch"]
    assert report["actions"].get("flat", 0) > 0
