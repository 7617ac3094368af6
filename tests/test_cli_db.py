"""`showdown db upgrade` on both backends: applies once, then says it is up to date."""

from __future__ import annotations

from click.testing import CliRunner

from cli.main import showdown
from connectors.db import make_database
from connectors.db.migrations import LATEST, current_version


def _env(backend) -> dict[str, str]:
    return {**backend.env, "SHOWDOWN_HOME": str(backend.home.root)}


def test_db_upgrade_twice(fresh_backend) -> None:
    backend = fresh_backend
    runner = CliRunner()
    first = runner.invoke(showdown, ["db", "upgrade"], env=_env(backend))
    assert first.exit_code == 0, first.output
    assert f"upgraded from version 0 to {LATEST}" in first.output
    second = runner.invoke(showdown, ["db", "upgrade"], env=_env(backend))
    assert second.exit_code == 0, second.output
    assert f"already at version {LATEST}" in second.output
    db = make_database(backend.config, backend.home)
    try:
        assert current_version(db) == LATEST
        assert db.execute_sql("SELECT COUNT(*) FROM schema_version").fetchone()[0] == LATEST
    finally:
        db.close()
    if backend.name == "sqlite":
        assert (backend.home.var / "test.sqlite").exists()
