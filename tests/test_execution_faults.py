"""Short version of tests/chaos/faults_run.py (`make chaos` runs >= 5,000 iterations)."""

from tests.chaos.faults_run import run


def test_invariants_hold_with_five_percent_faults(db, backend, tmp_path) -> None:
    loops = 300 if backend.name == "sqlite" else 120
    stats = run(loops, tmp_path, burst_every=40)
    assert stats["loops"] > loops and stats["checks"] == stats["loops"] and stats["violations"] == 0
    assert stats["trades"] >= 2  # trades really happened through the faults
    assert stats["trades_db"] == stats["trades_exchange"] and stats["fills_db"] == stats["fills_exchange"]
    assert stats["db_checks"] >= 1  # the books compared with the faults on
    # the worker's own backoff ran (not only the transport's retries), on the simulated clock
    assert stats["failed_loops"] >= 1 and stats["worker_backoffs"] == stats["failed_loops"]
    assert stats["safe_mode"] == 0
