"""Database outage AND kills: `showdown execute` (a real subprocess on python-binance,
MariaDB reached through a proxy of ours that we cut) is SIGKILLed `kills` times during an
`outage_s` outage while exchange-sim replays real data and decisions keep coming, and
restarted each time while the database is still down; then the database comes back, the
worker is killed once more and restarted with it up.

Checked: every restart during the outage started and traded (its journal grew); once the
database is back every fill on the exchange is in the database exactly as the exchange
has it, every closed trade is one Trade row (no more, no less), no alert row is stored
twice, the journal is empty, and the one-order-per-role / SL invariants held at every
market step sampled.

Short in the suite (tests/test_issue15_findings.py), long in `make chaos`
(10 kills in a 60 s outage)."""

from __future__ import annotations

import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal as D
from pathlib import Path

from connectors.db import models as M  # noqa: N812
from connectors.db import open_database
from connectors.db.migrations import upgrade
from connectors.exchange_sim.server import start
from engine.config import load_config
from engine.paths import PROJECT_DIR, home
from tests.chaos.db_outage_run import CuttableProxy
from tests.chaos.kill_run import Market, _env, _loops_since
from tests.conftest import drop_mariadb_database, mariadb_env
from tests.execution_support import check_invariants, exchange_fills
from tests.simnet import make_venue


def closed_trades(sim) -> int:
    """Round trips on the exchange: the position back to flat after a fill."""
    qty, n = D(0), 0
    for f in sim.venue.core.fills:
        before = qty
        qty += f.quantity if f.side == "BUY" else -f.quantity
        n += before != 0 and qty == 0
    return n


def journal_records(where) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in where.data.glob("*.journal.jsonl"))


def run(tmp: Path, kills: int = 10, outage_s: float = 60.0, seed: int = 5) -> dict[str, object]:
    rng = random.Random(seed)
    direct = mariadb_env()
    proxy = CuttableProxy((direct["DB_HOST"], int(direct["DB_PORT"])))
    name = f"showdown_chaos_{secrets.token_hex(4)}"
    sim = start(make_venue(history_minutes=1440))
    sim.venue.weight_limit = 10**9  # replay compression vs per-wall-minute weights (see faults_run)
    env = {k: v for k, v in _env(tmp, sim.url).items() if k != "SHOWDOWN__DATABASE__SQLITE_FILE"}
    env |= direct | {"DB_HOST": "127.0.0.1", "DB_PORT": str(proxy.port), "DB_NAME": name}
    where = home(env).ensure()
    db = open_database(load_config(where, env | direct | {"DB_NAME": name}), where, create_missing=True)
    upgrade(db)
    market = Market(sim, where.data / "decision.json")
    market.start()
    log = open(tmp / "worker.log", "ab")  # noqa: SIM115 - closed in finally
    problems: list[str] = []
    stats: dict[str, object] = {"kills": 0, "restarts_during_outage": 0}
    proc = None

    def spawn() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "execute"], env=env, cwd=PROJECT_DIR,
                                stdout=log, stderr=log)

    def kill() -> None:
        assert proc is not None
        if proc.poll() is not None:
            problems.append(f"the worker had exited by itself ({proc.returncode})")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stats["kills"] = int(stats["kills"]) + 1  # type: ignore[call-overload]

    def wait_loop(t0_ms: int, what: str) -> None:
        deadline = time.monotonic() + 75
        while _loops_since(t0_ms) < 1:
            if proc is None or proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (tmp / "worker.log").read_text(errors="replace").splitlines()[-30:]
                raise AssertionError(f"{what}: no loop (exit {proc.poll() if proc else None}):\n" + "\n".join(tail))
            time.sleep(0.05)
            db.close()

    try:
        t0 = int(time.time() * 1000)
        proc = spawn()
        wait_loop(t0, "first start")
        market.running.set()
        time.sleep(3)
        proxy.cut()
        cut_at = time.monotonic()
        for k in range(kills):
            time.sleep(max(2.5, rng.uniform(0.5, 1.5) * outage_s / (kills + 1)))
            before = journal_records(where)
            kill()
            proc = spawn()  # started while the database is down
            stats["restarts_during_outage"] = int(stats["restarts_during_outage"]) + 1  # type: ignore[call-overload]
            time.sleep(2.5)
            if journal_records(where) < before:
                problems.append(f"restart {k} during the outage: journal shrank {before} -> "
                                f"{journal_records(where)} with the database down")
        time.sleep(max(0.0, outage_s - (time.monotonic() - cut_at)))
        stats["outage_s"] = round(time.monotonic() - cut_at, 1)
        stats["journal_at_restore"] = journal_records(where)
        if not stats["journal_at_restore"]:
            problems.append("nothing waited in the journal at the end of the outage")
        proxy.restore()
        t1 = int(time.time() * 1000)
        wait_loop(t1, "after the outage")
        kill()  # and restarted with the database up
        market.pause()
        t2 = int(time.time() * 1000)
        proc = spawn()
        wait_loop(t2, "restart after the outage")
        time.sleep(3)  # a few loops with the market still: every close seen and booked
        db.close()
        problems += market.problems + check_invariants(sim, market.planned)
        fills_exchange = {c: q for c, q in exchange_fills(sim).items() if q}
        fills_db = {o.client_order_id: D(o.filled_quantity) for o in M.Order.select() if D(o.filled_quantity)}
        if fills_db != fills_exchange:
            problems.append(f"fills differ: DB {fills_db} vs exchange {fills_exchange}")
        trades_db, trades_ex = M.Trade.select().count(), closed_trades(sim)
        if trades_db != trades_ex:
            problems.append(f"trades: {trades_db} in the DB, {trades_ex} closed on the exchange")
        # each worker life announces its own user-data stream state once (a new alert per
        # life, not a journal record written twice): those are not duplicates
        rows = Counter((n.code, n.message) for n in M.Notification.select() if not n.code.startswith("user_stream_"))
        twice = [k for k, c in rows.items() if c > 1]
        if twice:
            problems.append(f"alerts stored more than once: {twice[:5]}")
        if journal_records(where):
            problems.append(f"journal not empty after recovery: {journal_records(where)} records")
        stats |= {"fills_exchange": len(fills_exchange), "fills_db": len(fills_db), "trades_exchange": trades_ex,
                  "trades_db": trades_db, "market_minutes": market.minutes,
                  "alerts": dict(Counter(n.level for n in M.Notification.select()))}
        if problems:
            raise AssertionError("\n".join(problems[:20]))
        return stats
    finally:
        market.stop.set()
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        log.close()
        proxy.cut()
        sim.stop()
        db.close()
        drop_mariadb_database(name)


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    with tempfile.TemporaryDirectory() as d:
        t = time.monotonic()
        print("outage + kills:", run(Path(d), n, secs), f"{time.monotonic() - t:.0f} s")
