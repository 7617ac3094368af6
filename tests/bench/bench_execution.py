"""Execution worker: (1) CPU of one loop iteration's own work — the core step plus the
bookkeeping (orders, positions, equity, heartbeat on SQLite) — without exchange round
trips, over 2,000 loops of real 1m data with trades on the in-process SimExchange;
target <= 2 ms. (2) A new decision reaches exchange-sim (real python-binance over HTTP)
as an entry order within one loop; wall time of that loop."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import _path  # noqa: F401

from connectors.db import open_database
from connectors.db.migrations import upgrade
from connectors.loops.execution_worker import ExecutionWorker
from connectors.stores.execution_store import ExecutionStore
from engine.clock import SimClock
from engine.exchange.sim.exchange import CandleFeed, SimExchange
from tests.conftest import make_home
from tests.execution_support import FixedDecisions, decision, exec_config, make_worker
from tests.simnet import _rows, start_sim


def cpu_per_loop(tmp: Path, loops: int = 2000) -> tuple[list[float], int]:
    cfg = exec_config(tmp)
    upgrade(open_database(cfg, make_home(tmp)))
    rows, _ = _rows()
    clock = SimClock(rows[1440][0])
    ex = SimExchange(CandleFeed(rows), clock)
    w = ExecutionWorker(ex, cfg, ExecutionStore(), FixedDecisions(), tmp / "state.json", clock)
    w.start()
    cpu, trades = [], 0
    for k in range(loops):
        if k % 30 == 0:
            p = float(ex.core.last_price)
            s = 1 if (k // 30) % 2 == 0 else -1
            w.decisions.current = decision(k // 30 + 1, clock.now_ms(), "long" if s > 0 else "short",
                                           (p * 0.9995, p * 1.0005), p * (1 - s * 0.004), p * (1 + s * 0.003),
                                           p * (1 + s * 0.006), size_usdt=0.0102 * p * 1.0005)
        out = w.run_once()
        trades += sum(e.code == "trade_closed" for e in out["events"])
        cpu.append(w.last_cpu_s * 1000)
        clock.advance(60_000)
    return cpu, trades


def decision_to_entry(tmp: Path) -> tuple[float, bool]:
    upgrade(open_database(exec_config(tmp), make_home(tmp)))  # a fresh DB: no state to inherit
    sim = start_sim()
    try:
        w = make_worker(sim, tmp)
        w.start()
        w.run_once()  # the start-up reconciliation is behind us
        p = sim.venue.market.last_price()
        w.decisions.current = decision(1, sim.venue.market.now_ms, "long", (p * 0.998, p * 0.999), p * 0.99,
                                       p * 1.01, p * 1.02, size_usdt=0.0101 * p)
        t0 = time.perf_counter()
        w.run_once()
        wall = (time.perf_counter() - t0) * 1000
        ok = any(o.client_order_id == "capi_entry_1" for o in sim.venue.core.open_orders())
        return wall, ok
    finally:
        sim.stop()


P99_TARGET_MS = 2.0  # the loop's CPU at the 99th percentile (PRODUCT.md: one loop, not its median)


def loop_verdict(cpu_ms: list[float], target_ms: float = P99_TARGET_MS) -> tuple[float, float, float, str]:
    """(median, p99, max, "OK"/"MISSED"): the target is a p99 target, so the p99 is what meets it."""
    cpu = sorted(cpu_ms)
    p50, p99 = statistics.median(cpu), cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))]
    return p50, p99, cpu[-1], "OK" if p99 <= target_ms else "MISSED"


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        cpu, trades = cpu_per_loop(Path(d) / "a")
        p50, p99, worst, verdict = loop_verdict(cpu)
        print(f"loop CPU (step + books, no exchange): median {p50:.3f} ms, p99 {p99:.3f} ms, "
              f"max {worst:.3f} ms over {len(cpu)} loops, {trades} trades  [target p99 <= {P99_TARGET_MS:g} ms: "
              f"{verdict}]")
        wall, ok = decision_to_entry(Path(d) / "b")
        print(f"new decision → entry order on exchange-sim within one loop: {'YES' if ok else 'NO'} "
              f"(that loop: {wall:.1f} ms wall, python-binance over HTTP)")


if __name__ == "__main__":
    main()
