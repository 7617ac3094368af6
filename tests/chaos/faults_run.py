"""Many worker loops against exchange-sim with ~5 % injected faults (timeouts, 5xx,
-1003, responses lost after the order was accepted), a new decision every 30 market
minutes. After every loop: at most one working order per role, an SL whenever a
position was already open at the start of the loop, never more entry than planned.
At the end, with faults off: DB and exchange agree.

Usable from pytest (short) and as a script (`make chaos`: >= 5,000 iterations)."""

from __future__ import annotations

import sys
import time
from decimal import Decimal as D
from pathlib import Path

from connectors.exchange_sim.faults import FaultPlan
from connectors.exchange_sim.server import start
from engine.exchange.errors import TransientError
from tests.execution_support import check_invariants, db_agrees, decision, make_worker, step_market
from tests.simnet import make_venue

FIVE_PERCENT = {"error_rates": {"-1001": 0.01, "-1003": 0.01, "503": 0.01}, "timeout_rate": 0.01,
                "lost_response_rate": 0.01, "timeout_sleep_s": 0.01, "retry_after_s": 0.01}


def run(iterations: int, tmp: Path, seed: int = 7, every: int = 30) -> dict[str, int]:
    plan = FaultPlan.from_dict(FIVE_PERCENT | {"seed": seed})
    sim = start(make_venue(history_minutes=1440, faults=plan))
    try:
        w = make_worker(sim, tmp, request_timeout_s=None)
        w.ex.t.client.REQUEST_TIMEOUT = 0.5
        w.ex.t.sleep = lambda s: time.sleep(min(s, 0.01))
        w.ex.t.governor.sleep = lambda s: time.sleep(min(s, 0.01))
        # Hours of market replayed in seconds would breach the per-wall-clock-minute weight
        # limits on both sides: an artefact of the compression, not what is under test here.
        sim.venue.weight_limit = w.ex.t.governor.max_per_minute = 10**9
        w.start()
        planned: dict[str, D] = {}
        stats = {"loops": 0, "soft_errors": 0, "trades": 0, "decisions": 0}
        problems: list[str] = []
        for k in range(iterations):
            if k % every == 0:
                p = sim.venue.market.last_price()
                side = "long" if (k // every) % 2 == 0 else "short"
                s = 1 if side == "long" else -1
                did = str(k // every + 1)
                w.decisions.current = decision(did, sim.venue.market.now_ms, side, (p * 0.9995, p * 1.0005),
                                               p * (1 - s * 0.004), p * (1 + s * 0.003), p * (1 + s * 0.006),
                                               size_usdt=0.0102 * p * 1.0005)
                planned[did] = D("0.010")
                stats["decisions"] += 1
            had_position = sim.venue.core.ledger.qty != 0
            try:
                out = w.run_once()
                stats["trades"] += sum(e.code == "trade_closed" for e in out["events"])
            except TransientError:
                stats["soft_errors"] += 1
            stats["loops"] += 1
            found = check_invariants(sim, planned)
            if not had_position:
                found = [f for f in found if "without SL" not in f]
            problems += [f"loop {k}: {f}" for f in found]
            step_market(sim)
        sim.venue.faults = FaultPlan()
        for _ in range(3):
            w.run_once()
        problems += check_invariants(sim, planned) + db_agrees(sim)
        stats["requests"] = sim.venue.requests_served
        stats["safe_mode"] = int(bool(w.state.safe_mode))
        if problems:
            raise AssertionError("\n".join(problems[:20]))
        return stats
    finally:
        sim.stop()


if __name__ == "__main__":
    import tempfile

    from connectors.db import open_database
    from connectors.db.migrations import upgrade
    from tests.execution_support import exec_config

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg = exec_config(tmp)
        from tests.conftest import make_home
        upgrade(open_database(cfg, make_home(tmp)))
        t0 = time.monotonic()
        print(run(n, tmp), f"{time.monotonic() - t0:.0f} s")
