"""Benchmark: import the 73,139-row 1m file and derive 5m/15m/1h into a fresh SQLite file
and a fresh MariaDB database. Targets on the 2-core build machine: ≤ 10 s SQLite, ≤ 20 s
MariaDB. Prints one line per backend; exits 1 when a target is missed.

    python tests/bench/bench_import.py
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from connectors.db import open_database  # noqa: E402
from connectors.db.migrations import upgrade  # noqa: E402
from connectors.market.market_import import import_klines  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.paths import PROJECT_DIR, Home, shared_data_dir  # noqa: E402

FILE = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
TARGETS = {"sqlite": 10.0, "mariadb": 20.0}


def run(backend: str, path: Path) -> tuple[float, float] | str:
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    where = Home(root=tmp, config_dir=PROJECT_DIR / "config", rules_dir=PROJECT_DIR / "rules")
    env: dict[str, str] = {}
    name = f"showdown_bench_{secrets.token_hex(4)}"
    if backend == "mariadb":
        env = {"DB_HOST": "127.0.0.1", "DB_PORT": "3306", "DB_USER": "root", "DB_NAME": name}
    config = load_config(where, env)
    try:
        db = open_database(config, where, create_missing=True)
    except Exception as exc:  # noqa: BLE001 - report and go on with the other backend
        return f"skipped: {exc}"
    try:
        upgrade(db)
        started = time.perf_counter()
        report = import_klines(path, derive=["5m", "15m", "1h"])
        first = time.perf_counter() - started
        assert report.written[0].new == 73_139, report.lines()
        started = time.perf_counter()
        again = import_klines(path, derive=["5m", "15m", "1h"])
        second = time.perf_counter() - started
        assert all(w.new == 0 and w.updated == 0 for w in again.written)
        return first, second
    finally:
        if backend == "mariadb":
            db.execute_sql(f"DROP DATABASE IF EXISTS `{name}`")
        db.close()


def main() -> int:
    path = shared_data_dir() / FILE
    if not path.exists():
        print(f"bench_import: skipped, {path} absent")
        return 0
    failed = False
    for backend, target in TARGETS.items():
        result = run(backend, path)
        if isinstance(result, str):
            print(f"bench_import {backend}: {result}")
            continue
        first, second = result
        ok = first <= target
        failed |= not ok
        print(f"bench_import {backend}: import 73,139 1m + derive 5m/15m/1h {first:.2f} s "
              f"(target ≤ {target:.0f} s, {'ok' if ok else 'MISSED'}); re-import (no-op) {second:.2f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
