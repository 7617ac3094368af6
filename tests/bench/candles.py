"""Load the shared 1m klines for benchmarks (rows of open_time_ms, o, h, l, c, v)."""

from __future__ import annotations

import csv
import gzip
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.paths import shared_data_dir  # noqa: E402

FILE_1M = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"


def shared_file(name: str = FILE_1M) -> Path | None:
    """The shared data file, or None after printing why the benchmark skips."""
    path = shared_data_dir() / name
    if not path.exists():
        print(f"SKIP: {path} absent (shared data not available)")
        return None
    return path


def load_1m(name: str = FILE_1M) -> list[tuple[int, float, float, float, float, float]] | None:
    path = shared_file(name)
    if path is None:
        return None
    with gzip.open(path, "rt") as fh:
        rows = csv.reader(fh)
        next(rows)
        return [(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in rows]
