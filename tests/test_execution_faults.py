"""Short version of tests/chaos/faults_run.py (`make chaos` runs >= 5,000 iterations)."""

from tests.chaos.faults_run import run


def test_invariants_hold_with_five_percent_faults(db, backend, tmp_path) -> None:
    loops = 300 if backend.name == "sqlite" else 120
    stats = run(loops, tmp_path)
    assert stats["loops"] == loops
    assert stats["trades"] >= 2  # trades really happened through the faults
    assert stats["safe_mode"] == 0
