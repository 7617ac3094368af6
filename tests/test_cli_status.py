"""`showdown status` and `--help`: what the operator sees."""

from __future__ import annotations

import gzip
from pathlib import Path

from click.testing import CliRunner

from cli.main import showdown
from connectors.db.migrations import LATEST


def test_status_walks_from_empty_to_covered(fresh_backend, shared_data: Path, tmp_path: Path) -> None:
    b = fresh_backend
    env = {**b.env, "SHOWDOWN_HOME": str(b.home.root), "DB_PASSWORD": "pw-never-shown"}
    if b.name == "mariadb":
        env["DB_PASSWORD"] = ""  # root has no password here
    runner = CliRunner()
    if b.name == "mariadb":
        # Database not created yet: unreachable, said plainly, non-zero exit.
        gone = runner.invoke(showdown, ["status"], env=env)
        assert gone.exit_code == 1 and "NOT REACHABLE" in gone.output
    else:
        early = runner.invoke(showdown, ["status"], env=env)
        assert early.exit_code == 1 and "no database file yet: run `showdown db upgrade`" in early.output
        assert "pw-never-shown" not in early.output
        assert not (b.home.var / "test.sqlite").exists()
    assert runner.invoke(showdown, ["db", "upgrade"], env=env).exit_code == 0
    empty = runner.invoke(showdown, ["status"], env=env)
    assert empty.exit_code == 0, empty.output
    assert f"schema: version {LATEST} (latest)" in empty.output and "none stored" in empty.output
    with gzip.open(shared_data / "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz", "rt") as f:
        lines = f.read().splitlines()[:200]
    del lines[100:103]  # a 3-minute hole
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    assert runner.invoke(showdown, ["import", "klines", str(tmp_path / "s.csv")], env=env).exit_code == 0
    out = runner.invoke(showdown, ["status"], env=env).output
    assert "1m:      196 from 2025-05-04 15:33 to 2025-05-04 18:51 UTC, 1 gap(s), 3 missing" in out
    assert "gap 2025-05-04 17:12 → 2025-05-04 17:14 (3 missing)" in out
    assert "15m:       11 from 2025-05-04 15:45" in out and "1h:        1 from" in out and "4h" not in out
    backend_word = "SQLite sqlite:///" if b.name == "sqlite" else "MariaDB mariadb://root@127.0.0.1:3306/"
    assert backend_word in out


def test_help_lists_only_working_commands() -> None:
    runner = CliRunner()
    out = runner.invoke(showdown, ["--help"]).output
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert {"config", "db", "import", "status", "run"} <= set(listed)
    for name in listed:  # every listed command loads and answers
        result = runner.invoke(showdown, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
