"""Database outage AND kills: `showdown execute` (a real subprocess on python-binance,
MariaDB reached through a proxy of ours that we cut) is SIGKILLed `kills` times during an
`outage_s` outage while exchange-sim replays real data and decisions keep coming, and
restarted each time while the database is still down; then the database comes back, the
worker is killed once more and restarted with it up.

Checked: every restart during the outage started and looped without its database, and its
journal never shrank; the invariant after EVERY loop of every life and at every placement
(tests/chaos/checks.py); once the database is back, the database and the exchange agree
both ways on every order, fill (quantity and price) and trade — each exactly once — no
alert row is stored twice, and the journal is empty.

Short in the suite (tests/test_issue15_findings.py), long in `make chaos`
(10 kills in a 60 s outage)."""

from __future__ import annotations

import random
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

from connectors.db import models as M  # noqa: N812
from connectors.db import open_database
from connectors.db.migrations import upgrade
from connectors.exchange_sim.server import start
from engine.config import load_config
from engine.paths import home
from tests.chaos.checks import Invariant, books_agree
from tests.chaos.db_outage_run import CuttableProxy
from tests.chaos.harness import WorkerProcess, figures, finish, teardown
from tests.chaos.kill_run import Market, _env
from tests.conftest import drop_mariadb_database, mariadb_env
from tests.execution_support import check_invariants
from tests.simnet import make_venue


def journal_records(where) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in where.data.glob("*.journal.jsonl"))


def run(tmp: Path, kills: int = 10, outage_s: float = 60.0, seed: int = 5) -> dict[str, object]:
    rng = random.Random(seed)
    direct = mariadb_env()
    proxy = CuttableProxy((direct["DB_HOST"], int(direct["DB_PORT"])))
    name = f"showdown_chaos_{secrets.token_hex(4)}"
    sim = start(make_venue(history_minutes=1440))
    sim.venue.weight_limit = 10**9  # replay compression vs per-wall-minute weights (see faults_run)
    inv = Invariant(sim)
    env = {k: v for k, v in _env(tmp, sim.url).items() if k != "SHOWDOWN__DATABASE__SQLITE_FILE"}
    env |= direct | {"DB_HOST": "127.0.0.1", "DB_PORT": str(proxy.port), "DB_NAME": name}
    where = home(env).ensure()
    db = open_database(load_config(where, env | direct | {"DB_NAME": name}), where, create_missing=True)
    upgrade(db)
    market = Market(sim, where.data / "decision.json")
    market.start()
    worker = WorkerProcess(env, tmp / "worker.log", inv)
    problems: list[str] = []
    restarts_during_outage = 0
    try:
        worker.spawn()
        worker.wait_loop("first start")
        market.running.set()
        time.sleep(3)
        proxy.cut()
        cut_at = time.monotonic()
        for k in range(kills):  # spread over the outage, a restart's start-up included
            at = cut_at + (k + rng.uniform(0.5, 1.5)) * outage_s / (kills + 1)
            time.sleep(max(1.0, at - time.monotonic()))
            before = journal_records(where)
            worker.kill()
            worker.spawn()  # started while the database is down
            restarts_during_outage += 1
            worker.wait_loop(f"restart {k} during the outage")  # it starts and loops without its database
            if journal_records(where) < before:
                problems.append(f"restart {k} during the outage: journal shrank {before} -> "
                                f"{journal_records(where)} with the database down")
        time.sleep(max(0.0, outage_s - (time.monotonic() - cut_at)))
        outage = round(time.monotonic() - cut_at, 1)
        journal_at_restore = journal_records(where)
        if not journal_at_restore:
            problems.append("nothing waited in the journal at the end of the outage")
        proxy.restore()
        worker.wait_loop("after the outage", loops=2, from_now=True)  # the journal written back
        worker.kill()  # and restarted with the database up
        market.pause()
        worker.spawn()
        worker.wait_loop("restart after the outage", loops=4)  # the market still: every close seen and booked
        db.close()
        problems += check_invariants(sim, market.planned) + inv.violations
        problems += [f"a life ended by itself ({c})" for c in worker.died]
        found, books = books_agree(sim)
        problems += found
        # each worker life announces its own user-data stream state once (a new alert per
        # life, not a journal record written twice): those are not duplicates
        rows = Counter((n.code, n.message) for n in M.Notification.select() if not n.code.startswith("user_stream_"))
        twice = [k for k, c in rows.items() if c > 1]
        if twice:
            problems.append(f"alerts stored more than once: {twice[:5]}")
        if journal_records(where):
            problems.append(f"journal not empty after recovery: {journal_records(where)} records")
        stats = figures(inv, None, books, inv.loops_seen, worker.kills, restarts_during_outage=restarts_during_outage,
                        outage_s=outage, journal_at_restore=journal_at_restore, market_minutes=market.minutes)
        return finish(problems, stats)
    finally:
        teardown(market=market, worker=worker, sim=sim, db=db, then=lambda: (proxy.cut(), drop_mariadb_database(name)))


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    with tempfile.TemporaryDirectory() as d:
        t = time.monotonic()
        print("outage + kills:", run(Path(d), n, secs), f"{time.monotonic() - t:.0f} s")
