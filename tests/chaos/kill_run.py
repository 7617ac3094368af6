"""SIGKILL the execution worker (`showdown execute`, a real subprocess on python-binance)
at random moments while exchange-sim replays real data and decisions keep coming; restart
it each time. Checked: the invariant after EVERY loop of every life and at every placement
(tests/chaos/checks.py: stop at the SL closing the whole position, take-profits within it,
one live order per role), never more entry filled than planned, and at the end the
database and the exchange agree both ways on orders, fills and trades.

Usable from pytest (short: 10 kills) and as a script (`make chaos`: >= 100 kills)."""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import threading
import time
from decimal import Decimal as D
from pathlib import Path

from connectors.db import open_database
from connectors.db.migrations import upgrade
from connectors.exchange_sim.server import start
from engine.config import load_config
from engine.paths import PROJECT_DIR, home
from tests.chaos.checks import Invariant, books_agree
from tests.chaos.harness import WorkerProcess, figures, finish, teardown
from tests.execution_support import check_invariants, decision
from tests.simnet import KEY, SECRET, make_venue

# loop 0.6 s: ~16 request weight per loop stays under binance.max_weight_per_minute (2000);
# at 0.2 s the client's weight governor (rightly) pauses until the next minute.
LOCAL = """execution:
  loop_seconds: 0.6
  chase_after_s: 60
  cooldown_after_exit_s: 60
  max_volatility_pct: 5.0
  max_distance_from_zone_pct: 1.0
sessions:
  restricted_hours_utc: []
"""


class Market(threading.Thread):
    """Steps the replay one minute every `tick_s` while not paused; writes a new decision
    every `every` market minutes. (The invariant is checked by the exchange itself at every
    placement and at the end of every loop: tests/chaos/checks.py.)"""

    def __init__(self, sim, decision_path: Path, tick_s: float = 0.3, every: int = 30):
        super().__init__(daemon=True)
        self.sim, self.path, self.tick_s, self.every = sim, decision_path, tick_s, every
        self.running = threading.Event()
        self.stop = threading.Event()
        self.idle = threading.Event()
        self.minutes = 0
        self.planned: dict[str, D] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.running.is_set():
                self.idle.set()
                time.sleep(0.01)
                continue
            self.idle.clear()
            if self.minutes % self.every == 0:
                self.new_decision()
            self.sim.venue.step(minutes=1)
            self.minutes += 1
            time.sleep(self.tick_s)

    def pause(self) -> None:
        self.running.clear()
        self.idle.wait(5)

    def new_decision(self) -> None:
        p = self.sim.venue.market.last_price()
        n = self.minutes // self.every + 1
        side = "long" if n % 2 else "short"
        s = 1 if side == "long" else -1
        d = decision(str(n), self.sim.venue.market.now_ms, side, (p * 0.9995, p * 1.0005), p * (1 - s * 0.004),
                     p * (1 + s * 0.003), p * (1 + s * 0.006), size_usdt=0.0102 * p * 1.0005)
        self.planned[str(n)] = D("0.010")
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(d))
        os.replace(tmp, self.path)


def _env(tmp: Path, url: str) -> dict[str, str]:
    cfg_dir = tmp / "config"
    if not cfg_dir.exists():
        shutil.copytree(PROJECT_DIR / "config", cfg_dir)
        (cfg_dir / "config.local.yaml").write_text(LOCAL)
    return {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "SHOWDOWN", "BINANCE"))} | {
        "SHOWDOWN_HOME": str(tmp), "SHOWDOWN_CONFIG_DIR": str(cfg_dir), "BINANCE_BASE_URL": url,
        "BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET, "SHOWDOWN__DATABASE__SQLITE_FILE": "kill.sqlite",
        "PYTHONPATH": str(PROJECT_DIR)}


def run(kills: int, tmp: Path, seed: int = 3, min_s: float = 0.5, max_s: float = 4.0) -> dict[str, object]:
    rng = random.Random(seed)
    sim = start(make_venue(history_minutes=1440))
    sim.venue.weight_limit = 10**9  # replay compression vs per-wall-minute weights (see faults_run)
    inv = Invariant(sim)
    env = _env(tmp, sim.url)
    where = home(env).ensure()
    db = open_database(load_config(where, env), where)
    upgrade(db)
    market = Market(sim, where.data / "decision.json")
    market.start()
    worker = WorkerProcess(env, tmp / "worker.log", inv)
    problems: list[str] = []
    with_position = 0
    try:
        for k in range(kills + 1):
            market.pause()
            worker.spawn()
            worker.wait_loop(f"restart {k}")
            with sim.venue.lock:
                with_position += sim.venue.core.ledger.qty != 0
                # the stop: the Invariant's (an entry filling in this very loop is protected by the next)
                problems += [f"restart {k}: {f}" for f in check_invariants(sim, market.planned) if "without SL" not in f]
            if k == kills:
                break
            market.running.set()
            time.sleep(rng.uniform(min_s, max_s))
            worker.kill()
        worker.wait_loop("the last life", loops=3)  # the market still: every fill seen and booked
        db.close()  # fresh read of the WAL
        found, books = books_agree(sim)
        problems += found + inv.violations + [f"a life ended by itself ({c})" for c in worker.died]
        stats = figures(inv, None, books, inv.loops_seen, worker.kills, restarts_with_position=with_position,
                        market_minutes=market.minutes, orders=len(sim.venue.core.orders))
        return finish(problems, stats)
    finally:
        teardown(market=market, worker=worker, sim=sim, db=db)


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory() as d:
        t = time.monotonic()
        print(run(n, Path(d)), f"{time.monotonic() - t:.0f} s")
