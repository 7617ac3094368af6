"""Short version of tests/chaos/interleavings_run.py (`make chaos` runs thousands)."""

from tests.chaos.interleavings_run import run


def test_seeded_interleavings_keep_every_position_protected(db, backend, tmp_path) -> None:
    n = 8 if backend.name == "sqlite" else 3
    stats = run(n, 40, tmp_path)
    assert stats["interleavings"] == n and stats["loops"] == n * 40
    assert stats["trades"] >= 1 and stats["refusals"] >= 1  # trades and refusals really happened
    assert stats["checks"] >= stats["loops"] and stats["violations"] == 0
    assert stats["trades_db"] == stats["trades_exchange"] and stats["fills_db"] == stats["fills_exchange"]
