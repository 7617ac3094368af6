"""User-data stream: a TP1 fill on exchange-sim → the stop at break-even on the exchange,
wall time, with the stream (target < 500 ms) and by polling alone (execution.loop_seconds
of config.yaml). Real worker loop, real python-binance client and websocket manager,
replayed real data. Each run prints its figures."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import _path  # noqa: F401

from connectors.db import open_database
from connectors.db.migrations import upgrade
from engine.config import load_config
from tests.conftest import make_home
from tests.execution_support import exec_config
from tests.user_stream_support import breakeven_latency_s


def run(with_stream: bool, loop_seconds: float, n: int) -> list[float]:
    out = []
    for _ in range(n):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            upgrade(open_database(exec_config(tmp), make_home(tmp)))
            out.append(breakeven_latency_s(tmp, with_stream, loop_seconds))
    return out


def main() -> None:
    loop_s = float(load_config(make_home(Path(tempfile.gettempdir())), {})["execution"]["loop_seconds"])
    streamed = run(True, loop_s, 5)
    polled = run(False, loop_s, 5)
    ms = [x * 1000 for x in streamed]
    print(f"TP1 fill -> break-even stop on exchange-sim, {len(ms)} runs each, loop_seconds {loop_s:g}:")
    print(f"  with the user-data stream: median {statistics.median(ms):.0f} ms, max {max(ms):.0f} ms "
          f"(target < 500 ms): {'OK' if max(ms) < 500 else 'OVER'}")
    print(f"  by polling alone:          median {statistics.median(polled):.2f} s, max {max(polled):.2f} s")


if __name__ == "__main__":
    main()
