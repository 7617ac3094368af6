"""What used to go unnoticed (issue 15), each as a run of the REAL worker (python-binance
against exchange-sim) with a protected long open:

- `exchange_forgets`: exchange-sim is stopped and started again EMPTY on the same port (a
  paper account lost, a wiped or changed account): the position, our orders and the
  balance are gone behind the worker's back;
- `position_vanishes`: the position is closed by an order that is not ours (Binance's app,
  another key);
- `disk_full`: the state file's writes hit a full disk (ENOSPC, /dev/full) while the worker
  runs its own loop.

Checked: a CRITICAL alert within ONE loop of the fault, SAFE MODE, and no new entry (a fresh
decision standing, the market moving, past the cool-down) until the operator acknowledges
(`showdown acknowledge` writes the request; the worker clears it on its next loop), then
entries resume; disk full: degraded (heartbeat ERROR, one resource_error alert) with the
stop on the exchange at every loop, and the worker alive. The invariant after every loop
(tests/chaos/checks.py) and the books both ways, as every chaos run.

`make chaos` runs each `repeats` times from different market moments; the test suite once
(tests/test_chaos_incidents.py)."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from connectors.db import models as M  # noqa: N812
from connectors.exchange_sim.market import MINUTE
from connectors.exchange_sim.server import start
from connectors.loops.execution_worker import ExecutionWorker
from connectors.stores.execution_store import request_safe_mode_ack
from engine.exchange.types import OrderRequest
from tests.chaos.checks import Invariant, alerts_by_level, books_agree
from tests.chaos.harness import figures, finish
from tests.execution_support import decision, make_worker, step_market
from tests.simnet import _rows, make_venue

SCENARIOS = ("exchange_forgets", "position_vanishes", "disk_full")


class Run:
    """One scenario: the exchange, the worker, the invariant, the figures."""

    def __init__(self, tmp: Path, start_minutes: int):
        self.sim = start(make_venue(history_minutes=start_minutes), stream_port=None)
        self.sim.venue.weight_limit = 10**9
        self.inv = Invariant(self.sim)
        self.w: ExecutionWorker = make_worker(self.sim, tmp)
        self.w.ex.t.governor.max_per_minute = 10**9
        self.problems: list[str] = []
        self.n = 0

    def loop(self) -> dict[str, Any]:
        out = self.w.run_once()
        self.problems += [f"loop {self.n}: {p}" for p in self.inv.after_run_once(self.w, out)]
        self.n += 1
        return out

    def offer(self, did: str) -> None:
        sim = self.sim
        p = sim.venue.market.last_price()
        self.w.decisions.current = decision(did, sim.venue.market.now_ms, "long", (p * 0.999, p * 1.002), p * 0.99,
                                            p * 1.01, p * 1.02, size_usdt=0.0101 * p * 1.002)

    def open_long(self, did: str) -> None:
        self.offer(did)
        for _ in range(5):
            self.loop()
            if self.sim.venue.core.ledger.qty and "sl" in self.w.state.live:
                break
        self.loop()
        if not any(o.type == "STOP_MARKET" for o in self.sim.venue.core.open_orders()):
            raise AssertionError("setup: no protected long")

    def entries(self) -> list[str]:
        return [o.client_order_id for o in self.sim.venue.core.orders.values() if "_entry_" in o.client_order_id
                and o.client_order_id.split("_entry_")[1].startswith("n")]

    def critical_within_one_loop(self, out: dict[str, Any], codes: tuple[str, ...]) -> None:
        got = [(e.code, e.level) for e in out["events"] if e.level == "CRITICAL"]
        if not any(c in codes for c, _ in got):
            self.problems.append(f"no CRITICAL {codes} in the loop after the fault: {got or out['events']}")
        if not self.w.state.safe_mode:
            self.problems.append("not in SAFE MODE after the fault")

    def no_entry_until_acknowledged(self, did: str) -> None:
        """A fresh decision stands while the market moves past the cool-down: nothing is
        entered; the operator acknowledges: the worker enters again."""
        step_market(self.sim, 2)
        for k in range(4):
            self.offer(f"n{did}{k}")
            self.loop()
            step_market(self.sim, 1)
        if self.entries() or self.sim.venue.core.ledger.qty:
            self.problems.append(f"entered in SAFE MODE before the acknowledgement: {self.entries()}")
        request_safe_mode_ack("BTCUSDT", "chaos", 1)
        self.offer(f"n{did}ack")
        self.loop()
        if self.w.state.safe_mode:
            self.problems.append(f"SAFE MODE ({self.w.state.safe_mode}) not cleared by the acknowledgement")
        self.loop()
        if not (self.entries() or self.sim.venue.core.ledger.qty):
            self.problems.append("no entry after the acknowledgement")

    def restart_exchange_empty(self) -> None:
        """Stop exchange-sim and start a new, empty one on the same port at the same market time."""
        port, now = self.sim.server.server_address[1], self.sim.venue.market.now_ms
        self.sim.stop()
        first = _rows()[0][0][0]
        old = self.sim.server
        self.sim = start(make_venue(history_minutes=(now - first) // MINUTE), port=port, stream_port=None)
        # the old server's keep-alive connections outlive its stop in this process (a real
        # restart would cut them): what they still carry reaches the new exchange too
        old.venue = self.sim.venue
        self.sim.venue.weight_limit = 10**9
        self.inv.sim = self.sim
        self.inv.install(self.sim.venue)


def exchange_forgets(r: Run) -> None:
    r.open_long("1")
    found, _ = books_agree(r.sim)  # before: the books agree
    r.problems += found
    r.restart_exchange_empty()
    out = r.loop()
    r.critical_within_one_loop(out, ("position_vanished",))
    r.no_entry_until_acknowledged("f")
    rows = {o.client_order_id for o in M.Order.select()}  # what the new exchange holds, the DB knows
    r.problems += [f"order {c} on the new exchange, not in the DB" for c in r.sim.venue.core.orders if c not in rows
                   and not c.startswith("algo_")]


def position_vanishes(r: Run) -> None:
    r.open_long("1")
    r.w.ex.place_order(OrderRequest("BTCUSDT", "SELL", "MARKET", D("0.010"), reduce_only=True,
                                    client_order_id="web_manual_close"))
    out = r.loop()
    r.critical_within_one_loop(out, ("position_vanished",))
    trade = M.Trade.select().order_by(M.Trade.id.desc()).first()
    if trade is None or trade.exit_reason != "unexplained":
        r.problems.append(f"the vanished position booked as {trade and trade.exit_reason}, not 'unexplained'")
    r.no_entry_until_acknowledged("v")
    found, _ = books_agree(r.sim)
    r.problems += found


def disk_full(r: Run) -> None:
    r.open_long("1")
    w, core = r.w, r.sim.venue.core
    full = w.state_path.with_suffix(".tmp")
    full.unlink(missing_ok=True)
    full.symlink_to("/dev/full")
    stop, failed = threading.Event(), [0]
    run_once = w.run_once

    def observed() -> dict[str, Any]:
        r.n += 1
        try:
            out = run_once()
        except OSError:
            failed[0] += 1
            if core.ledger.qty and not any(o.type == "STOP_MARKET" and o.side == "SELL" for o in core.open_orders()):
                r.problems.append("degraded with the position open and no stop on the exchange")
            r.inv.after_run_once(w, None)
            step_market(r.sim, 1)  # the market moves: the state changes, its write fails
            raise
        r.problems.extend(r.inv.after_run_once(w, out))
        step_market(r.sim, 1)
        return out

    w.run_once = observed  # type: ignore[method-assign]
    t = threading.Thread(target=w.run, args=(stop,), daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while failed[0] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    beat = M.BotState.get_or_none(M.BotState.component == "execution")
    alerts = [n.code for n in M.Notification.select() if n.level == "CRITICAL"]
    if failed[0] < 1 or not t.is_alive():
        r.problems.append(f"disk full: {failed[0]} failed loops, worker alive: {t.is_alive()}")
    if alerts.count("resource_error") != 1:
        r.problems.append(f"disk full: resource_error alerted {alerts.count('resource_error')} times (once wanted)")
    if beat is None or beat.state != "ERROR" or "No space left" not in str((beat.details or {}).get("degraded")):
        r.problems.append(f"heartbeat says {beat and beat.state} {beat and (beat.details or {}).get('degraded')}")
    full.unlink()  # space again: the worker's own retry succeeds
    deadline = time.monotonic() + 15
    while getattr(w, "degraded", None) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(10)
    w.run_once = run_once  # type: ignore[method-assign]
    if getattr(w, "degraded", None) is not None or w.state.safe_mode != "resource_error":
        r.problems.append(f"after the disk freed: degraded {getattr(w, 'degraded', None)}, SAFE MODE {w.state.safe_mode}")
    if core.ledger.qty:  # close it our way, then the entry rule
        core.cancel_all()
        w.ex.place_order(OrderRequest("BTCUSDT", "SELL", "MARKET", abs(core.ledger.qty), reduce_only=True,
                                      client_order_id="web_test_close"))
        r.loop()
    r.no_entry_until_acknowledged("d")


def run(tmp: Path, scenario: str, repeats: int = 1, first_minutes: int = 1440) -> dict[str, Any]:
    fn = {"exchange_forgets": exchange_forgets, "position_vanishes": position_vanishes, "disk_full": disk_full}[scenario]
    total: dict[str, Any] = {"loops": 0, "checks": 0, "violations": 0, "faults": 0, "trades_exchange": 0,
                             "trades_db": 0, "fills_exchange": 0, "fills_db": 0}
    problems: list[str] = []
    alerts: Counter[str] = Counter()
    for k in range(repeats):
        M.Position.update(status="closed").where(M.Position.status == "open").execute()  # a new account
        for model in (M.Order, M.Trade, M.Notification, M.BotState):
            model.delete().execute()
        (tmp / "data" / "state.json").unlink(missing_ok=True)
        r = Run(tmp, first_minutes + 997 * k)
        try:
            fn(r)
            if scenario != "exchange_forgets":
                found, books = books_agree(r.sim)
                r.problems += found
            else:
                books = {}
            for key in ("trades_exchange", "trades_db", "fills_exchange", "fills_db"):
                total[key] += books.get(key, 0)
            stats = figures(r.inv, None, books, r.n)
            total["loops"] += r.n
            total["checks"] += stats["checks"]
            total["violations"] += stats["violations"]
            total["faults"] += 1
            alerts.update(alerts_by_level())  # this repeat's (the table is emptied for the next)
            problems += [f"{scenario} #{k}: {p}" for p in r.problems + r.inv.at_placement]
        finally:
            r.sim.stop()
    return finish(problems, {"loops": total["loops"], "kills": 0} | total | {"alerts": dict(alerts)})


if __name__ == "__main__":
    import tempfile

    from connectors.db import open_database
    from connectors.db.migrations import upgrade
    from tests.conftest import make_home
    from tests.execution_support import exec_config

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for name in SCENARIOS:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            upgrade(open_database(exec_config(tmp), make_home(tmp)))
            t0 = time.monotonic()
            print(name, run(tmp, name, n), f"{time.monotonic() - t0:.0f} s")
