"""MariaDB outage while a position is open. The worker reaches MariaDB through a TCP
proxy of ours, which we cut (connections dropped, new ones refused) — an outage as the
worker sees it, without stopping the MariaDB other people's tests use.

The outage lasts `hold_s` (60 s in `make chaos`, a few seconds in the test suite) with the
position open and the market still, the worker looping every second; then, still cut off,
the market moves through TP1, break-even and TP2. Checked: the position stays protected
(SL on the exchange every loop), trading goes on, the outage is reported, no fill is lost
and the DB catches up once the proxy is back: it agrees with the exchange both ways on orders,
fills and the trade; and the invariant holds after every loop (tests/chaos/checks.py)."""

from __future__ import annotations

import contextlib
import secrets
import socket
import sys
import tempfile
import threading
import time
from decimal import Decimal as D
from pathlib import Path

from connectors.db import models as M  # noqa: N812
from connectors.db import open_database
from connectors.db.migrations import upgrade
from connectors.exchange_sim.server import start
from engine.config import load_config
from tests.chaos.checks import Invariant, books_agree
from tests.chaos.harness import figures, finish, teardown
from tests.conftest import drop_mariadb_database, make_home, mariadb_env
from tests.execution_scenario import find_long
from tests.execution_support import check_invariants, db_agrees, decision, make_worker, step_market
from tests.simnet import _rows, make_venue


class CuttableProxy:
    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = 0
        self.conns: list[socket.socket] = []
        self._listen()

    def _listen(self) -> None:
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", self.port))
        self.port = self.srv.getsockname()[1]
        self.srv.listen(16)
        threading.Thread(target=self._accept, args=(self.srv,), daemon=True).start()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            u = socket.create_connection(self.upstream)
            self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()

    def cut(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the
        # kernel socket listening.
        with contextlib.suppress(OSError):
            self.srv.shutdown(socket.SHUT_RDWR)
        self.srv.close()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns = []

    def restore(self) -> None:
        self._listen()


def run(tmp: Path, hold_s: float = 60.0) -> dict[str, object]:
    env = mariadb_env()
    proxy = CuttableProxy((env["DB_HOST"], int(env["DB_PORT"])))
    name = f"showdown_chaos_{secrets.token_hex(4)}"
    cfg = load_config(make_home(tmp), env | {"DB_HOST": "127.0.0.1", "DB_PORT": str(proxy.port), "DB_NAME": name})
    db = open_database(cfg, make_home(tmp), create_missing=True)
    upgrade(db)
    rows, _ = _rows()
    sc = find_long(rows, 1440)
    sim = start(make_venue(history_minutes=sc.i))
    inv = Invariant(sim)

    def loop() -> None:
        problems.extend(inv.after_run_once(w, w.run_once()))

    problems: list[str] = []
    try:
        w = make_worker(sim, tmp)
        w.start()
        w.decisions.current = decision(1, sim.venue.market.now_ms, "long", sc.zone, sc.sl, sc.tp1, sc.tp2,
                                       size_usdt=0.0102 * sc.zone[1])
        while not (sim.venue.core.ledger.qty and w.state.live.get("sl")):
            loop()
            step_market(sim)
        loop()
        proxy.cut()
        t0 = time.monotonic()
        outage_loops = 0
        while time.monotonic() - t0 < hold_s:  # the database is gone; the position is open
            loop()
            outage_loops += 1
            problems += check_invariants(sim, {"1": D("0.010")})
            if sim.venue.core.ledger.qty == 0:
                problems.append("the position closed while the market stood still")
            time.sleep(1.0)
        held_s = time.monotonic() - t0
        while sim.venue.core.ledger.qty != 0 or outage_loops < 3:
            step_market(sim)
            had = sim.venue.core.ledger.qty != 0
            loop()  # must not raise: the books wait in the backlog
            outage_loops += 1
            if had:
                problems += check_invariants(sim, {"1": D("0.010")})
            if outage_loops > 200 + hold_s:
                raise AssertionError("trade never finished during the outage")
        backlog = len(w.store.pending())
        outage_s = time.monotonic() - t0
        proxy.restore()
        loop()
        loop()
        found, books = books_agree(sim)
        problems += db_agrees(sim) + found + inv.at_placement
        codes = {n.code for n in M.Notification.select()}
        for code in ("db_connection_lost", "db_outage_recovered", "trade_closed"):
            if code not in codes:
                problems.append(f"no {code} notification")
        trade = M.Trade.get_or_none()
        if trade is None or trade.exit_reason != "tp2":
            problems.append(f"trade not booked after the outage: {trade and trade.exit_reason}")
        return finish(problems, figures(inv, None, books, inv.checks, outage_loops=outage_loops,
                                        outage_s=round(outage_s, 1), position_open_during_outage_s=round(held_s, 1),
                                        backlog_at_restore=backlog, orders=books["orders_db"],
                                        trade_exit=trade.exit_reason if trade else None))
    finally:
        teardown(sim=sim, db=db, then=lambda: drop_mariadb_database(name))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        print(run(Path(d), float(sys.argv[1]) if len(sys.argv) > 1 else 60.0))
    sys.exit(0)
