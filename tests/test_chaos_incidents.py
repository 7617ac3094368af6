"""Short version of tests/chaos/incidents_run.py (`make chaos` repeats each from other
market moments): the exchange forgetting the account, a vanished position and a full disk
are each CRITICAL within one loop, SAFE MODE, and no entry until acknowledged."""

import pytest

from tests.chaos.incidents_run import SCENARIOS, run


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_incident_is_critical_at_once_and_blocks_entries_until_acknowledged(scenario, db, tmp_path) -> None:
    stats = run(tmp_path, scenario)
    assert stats["checks"] >= stats["loops"] >= 8 and stats["violations"] == 0
    assert stats["alerts"].get("CRITICAL", 0) >= 1
    assert stats["fills_db"] == stats["fills_exchange"] and stats["trades_db"] == stats["trades_exchange"]
