"""Many worker loops against exchange-sim with ~5 % injected faults (timeouts, 5xx,
-1003, responses lost after the order was accepted), a new decision every 30 market
minutes, and an outage burst (every request 503, for 5 to 40 requests) every 100 loops.
The worker runs its OWN loop (`ExecutionWorker.run`: its backoff after a failed
loop, the transport's retries and Retry-After waits) on a simulated clock: every sleep it
asks for is taken in full, in simulated time, and counted — nothing is patched short.

Checked after EVERY loop (tests/chaos/checks.py): the stop at the SL closing the whole
position, take-profits within it, one live order per role (also at every placement),
never more entry than planned. The database is checked against the exchange's books,
both ways, WITH the faults on: every `db_every` loops at the next loop that sent
nothing, and at the end.

Usable from pytest (short) and as a script (`make chaos`: >= 5,000 iterations)."""

from __future__ import annotations

import random
import sys
import threading
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from connectors.exchange_sim.faults import FaultPlan
from connectors.exchange_sim.server import start
from engine.clock import SimClock
from tests.chaos.checks import FaultCount, Invariant, books_agree
from tests.chaos.harness import figures, finish
from tests.execution_support import check_invariants, decision, make_worker, step_market
from tests.simnet import make_venue

FIVE_PERCENT = {"error_rates": {"-1001": 0.01, "-1003": 0.01, "503": 0.01}, "timeout_rate": 0.01,
                "lost_response_rate": 0.01, "timeout_sleep_s": 0.01}


def with_bursts(plan: FaultPlan) -> list[int]:
    """Outages of the exchange on top of the 5 %: while the returned counter is > 0 every
    request answers 503 (the transport's retries run out: the loop fails, and the worker's
    own backoff runs)."""
    left = [0]
    draw = plan.draw

    def bursty() -> object:
        if left[0] > 0:
            left[0] -= 1
            return 503
        return draw()

    plan.draw = bursty  # type: ignore[method-assign]
    return left


class CountingClock(SimClock):
    """Simulated time: each sleep advances it and is remembered."""

    def __init__(self) -> None:
        super().__init__(0)
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(max(seconds, 0.0))


def run(iterations: int, tmp: Path, seed: int = 7, every: int = 30, db_every: int = 250,
        burst_every: int = 100) -> dict[str, Any]:
    plan = FaultPlan.from_dict(FIVE_PERCENT | {"seed": seed})
    sim = start(make_venue(history_minutes=1440, faults=plan))
    burst = with_bursts(plan)
    inv, faults = Invariant(sim), FaultCount()
    faults.install(sim.venue)
    rng = random.Random(seed)
    try:
        w = make_worker(sim, tmp, request_timeout_s=None)
        worker_clock, transport_clock = CountingClock(), CountingClock()
        w.clock = worker_clock
        w.ex.t.backoff_s = 0.2  # the transport's own policy (make_worker shortens it for quick tests)
        w.ex.t.sleep = w.ex.t.governor.sleep = transport_clock.sleep
        w.ex.t.client.REQUEST_TIMEOUT = 0.5
        # Hours of market replayed in seconds would breach the per-wall-clock-minute weight
        # limits on both sides: an artefact of the compression, not what is under test here.
        sim.venue.weight_limit = w.ex.t.governor.max_per_minute = 10**9
        planned: dict[str, D] = {}
        stats = {"attempts": 0, "failed_loops": 0, "trades": 0, "decisions": 0, "db_checks": 0, "bursts": 0}
        problems: list[str] = []
        stop = threading.Event()
        settling = [False]
        next_db_check = [db_every]
        run_once = w.run_once

        def loop() -> dict[str, Any]:
            k = stats["attempts"]
            stats["attempts"] += 1
            if settling[0]:
                w.decisions.current = None
            elif k % every == 0:
                p = sim.venue.market.last_price()
                side = "long" if (k // every) % 2 == 0 else "short"
                s = 1 if side == "long" else -1
                did = str(k // every + 1)
                w.decisions.current = decision(did, sim.venue.market.now_ms, side, (p * 0.9995, p * 1.0005),
                                               p * (1 - s * 0.004), p * (1 + s * 0.003), p * (1 + s * 0.006),
                                               size_usdt=0.0102 * p * 1.0005)
                planned[did] = D("0.010")
                stats["decisions"] += 1
            if not settling[0] and k % burst_every == burst_every // 2:
                burst[0] = rng.randrange(5, 40)  # requests: from a part of one call to several loops
                stats["bursts"] += 1
            try:
                out = run_once()
            except BaseException:
                stats["failed_loops"] += 1
                problems.extend(f"loop {k}: {f}" for f in inv.after_run_once(w, None))
                if not settling[0]:
                    step_market(sim)
                if stats["attempts"] > iterations + 200:
                    stop.set()
                raise
            problems.extend(f"loop {k}: {f}" for f in inv.after_run_once(w, out) + [
                f for f in check_invariants(sim, planned) if "without SL" not in f])  # that one: the Invariant's
            stats["trades"] += sum(e.code == "trade_closed" for e in out["events"])
            quiet = not out["intents"]
            if quiet and (settling[0] or k >= next_db_check[0]):  # faults still on
                found, _ = books_agree(sim)
                problems.extend(f"loop {k}, database check: {f}" for f in found)
                stats["db_checks"] += 1
                next_db_check[0] = k + db_every
                if settling[0]:
                    stop.set()
            if not settling[0]:
                step_market(sim)
                settling[0] = stats["attempts"] >= iterations
            if stats["attempts"] > iterations + 200:
                problems.append("no quiet loop in 200 loops after the run: the database never checked at the end")
                stop.set()
            return out

        w.run_once = loop  # type: ignore[method-assign]
        w.run(stop)
        found, books = books_agree(sim)  # the faults still on
        problems += found
        backoffs = [s for s in worker_clock.sleeps if s > w.loop_s]
        stats |= {"worker_backoffs": len(backoffs), "worker_backoff_s": round(sum(backoffs), 1),
                  "transport_waits": len(transport_clock.sleeps),
                  "transport_wait_s": round(sum(transport_clock.sleeps), 1),
                  "simulated_s": round(worker_clock.now_ms() / 1000 + transport_clock.now_ms() / 1000),
                  "requests": sim.venue.requests_served, "safe_mode": int(bool(w.state.safe_mode)),
                  "soft_errors": w.soft_errors}
        if stats["failed_loops"] and not backoffs:
            problems.append(f"{stats['failed_loops']} loops failed and the worker never backed off")
        return finish(problems + inv.at_placement, figures(inv, faults, books, stats["attempts"]) | stats)
    finally:
        sim.stop()


if __name__ == "__main__":
    import tempfile

    from connectors.db import open_database
    from connectors.db.migrations import upgrade
    from tests.conftest import make_home
    from tests.execution_support import exec_config

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        upgrade(open_database(exec_config(tmp), make_home(tmp)))
        t0 = time.monotonic()
        print(run(n, tmp), f"{time.monotonic() - t0:.0f} s")
