"""Short version of tests/chaos/kill_run.py (`make chaos` runs >= 100 kills)."""

import pytest

from tests.chaos.kill_run import run


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_duplicates_nothing(tmp_path) -> None:
    stats = run(10, tmp_path, min_s=0.5, max_s=2.0)
    assert stats["kills"] == 10
    # it really traded between the kills: positions open at restarts, or trades completed
    assert stats["orders"] >= 4 and stats["trades_db"] + stats["restarts_with_position"] >= 1
    # the invariant ran after every loop of every life, and the books were compared both ways
    assert stats["checks"] == stats["loops"] >= 11 and stats["violations"] == 0
    assert stats["fills_db"] == stats["fills_exchange"] > 0
