"""SIGKILL the execution worker (`showdown execute`, a real subprocess on python-binance)
at random moments while exchange-sim replays real data and decisions keep coming; restart
it each time. Checked: after the first loop of every restart each open position has its
SL on the exchange, DB and exchange agree; at every market step (sampled in-process) at
most one working order per role; over the whole run never more entry filled than planned.

Usable from pytest (short: 10 kills) and as a script (`make chaos`: >= 100 kills)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal as D
from pathlib import Path

from connectors.db import models as M  # noqa: N812
from connectors.db import open_database
from connectors.db.migrations import upgrade
from connectors.exchange_sim.server import start
from engine.config import load_config
from engine.paths import PROJECT_DIR, home
from tests.execution_support import check_invariants, db_agrees, decision, sim_open_by_role
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
    every `every` market minutes; samples the one-order-per-role invariant each step."""

    def __init__(self, sim, decision_path: Path, tick_s: float = 0.3, every: int = 30):
        super().__init__(daemon=True)
        self.sim, self.path, self.tick_s, self.every = sim, decision_path, tick_s, every
        self.running = threading.Event()
        self.stop = threading.Event()
        self.idle = threading.Event()
        self.minutes = 0
        self.planned: dict[str, D] = {}
        self.problems: list[str] = []

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
            with self.sim.venue.lock:
                for role, cids in sim_open_by_role(self.sim).items():
                    if len(cids) > 1:
                        self.problems.append(f"minute {self.minutes}: {len(cids)} open {role}: {cids}")
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


def _loops_since(t_ms: int) -> int:
    row = M.BotState.get_or_none(M.BotState.component == "execution")
    if row is None or row.heartbeat_ms < t_ms:
        return 0
    return int((row.details or {}).get("loops", 0))


def run(kills: int, tmp: Path, seed: int = 3, min_s: float = 0.5, max_s: float = 4.0) -> dict[str, int]:
    rng = random.Random(seed)
    sim = start(make_venue(history_minutes=1440))
    sim.venue.weight_limit = 10**9  # replay compression vs per-wall-minute weights (see faults_run)
    env = _env(tmp, sim.url)
    where = home(env).ensure()
    db = open_database(load_config(where, env), where)
    upgrade(db)
    market = Market(sim, where.data / "decision.json")
    market.start()
    problems: list[str] = []
    proc = None
    stats = {"kills": 0, "checks_with_position": 0}
    log = open(tmp / "worker.log", "ab")  # noqa: SIM115 - closed in finally
    try:
        for k in range(kills + 1):
            market.pause()
            t0 = int(time.time() * 1000)
            proc = subprocess.Popen([sys.executable, "-m", "cli.main", "execute"], env=env, cwd=PROJECT_DIR,
                                    stdout=log, stderr=log)
            deadline = time.monotonic() + 75  # start-up + a possible weight-governor pause
            while _loops_since(t0) < 1:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (tmp / "worker.log").read_text(errors="replace").splitlines()[-40:]
                    raise AssertionError(f"restart {k}: worker did not complete a loop (exit {proc.poll()}):\n"
                                         + "\n".join(tail))
                time.sleep(0.05)
            db.close()  # fresh read of the WAL
            found = check_invariants(sim, market.planned) + db_agrees(sim)
            stats["checks_with_position"] += sim.venue.core.ledger.qty != 0
            problems += [f"restart {k}: {f}" for f in found]
            if k == kills:
                break
            market.running.set()
            time.sleep(rng.uniform(min_s, max_s))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            stats["kills"] += 1
        problems += market.problems
        trades = M.Trade.select().count()
        stats["trades"] = trades
        stats["market_minutes"] = market.minutes
        stats["orders"] = len(sim.venue.core.orders)
        if problems:
            raise AssertionError("\n".join(problems[:20]))
        return stats
    finally:
        market.stop.set()
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        log.close()
        sim.stop()
        db.close()


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory() as d:
        t = time.monotonic()
        print(run(n, Path(d)), f"{time.monotonic() - t:.0f} s")
