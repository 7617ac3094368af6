"""What the subprocess chaos runs share: the worker as a real process (under the loop
observer, tests/chaos/observed_execute.py), its kills and restarts, one teardown, and the
figures every run reports (printed as one table by tests/chaos/suite.py)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.paths import PROJECT_DIR
from tests.chaos.checks import FaultCount, Invariant, alerts_by_level, critical_codes


class ChaosFailure(AssertionError):
    """A run's problems, with the figures it had measured (the suite still prints them)."""

    def __init__(self, problems: list[str], stats: dict[str, Any]):
        super().__init__("\n".join(problems[:20]) + (f"\n… {len(problems) - 20} more" if len(problems) > 20 else ""))
        self.stats = stats


def figures(inv: Invariant, faults: FaultCount | None, books: dict[str, int], loops: int, kills: int = 0,
            **extra: Any) -> dict[str, Any]:
    """The columns of the suite's table, then whatever else the run measured."""
    return {"loops": loops, "kills": kills, "faults": faults.n if faults else 0,
            "trades_exchange": books.get("trades_exchange"), "trades_db": books.get("trades_db"),
            "fills_exchange": books.get("fills_exchange"), "fills_db": books.get("fills_db"),
            "checks": inv.checks, "violations": len(inv.violations), "alerts": alerts_by_level(),
            "critical": critical_codes()} | extra


def finish(problems: list[str], stats: dict[str, Any]) -> dict[str, Any]:
    if problems:
        raise ChaosFailure(problems, stats)
    return stats


class WorkerProcess:
    """`showdown execute` under the loop observer; spawned, SIGKILLed, restarted."""

    def __init__(self, env: dict[str, str], log_path: Path, inv: Invariant):
        self.env, self.log_path, self.inv = env, log_path, inv
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed by close()
        self.proc: subprocess.Popen | None = None
        self.kills = 0
        self._base = 0
        self.died: list[int] = []  # exit codes of lives that ended by themselves

    def spawn(self) -> None:
        self._base = self.inv.loops_completed
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.chaos.observed_execute"], env=self.env,
                                     cwd=PROJECT_DIR, stdout=self.log, stderr=self.log)

    def kill(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            self.died.append(self.proc.returncode)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def wait_loop(self, what: str, loops: int = 1, timeout_s: float = 75, from_now: bool = False) -> None:
        """Until this life (or, `from_now`, this life from now on) has ended `loops` loops
        (75 s: start-up + a weight-governor pause)."""
        deadline = time.monotonic() + timeout_s
        target = (self.inv.loops_completed if from_now else self._base) + loops
        while not self.inv.wait_loops(target, 0.2):
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{what}: no loop (exit {self.proc.poll() if self.proc else None}):\n"
                                     + self.tail())

    def tail(self, n: int = 40) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def teardown(*, market: Any = None, worker: WorkerProcess | None = None, sim: Any = None, db: Any = None,
             then: Any = None) -> None:
    """The end of every run, whatever failed: the market thread, the worker, the exchange,
    the database handle, then `then` (e.g. dropping the run's database)."""
    if market is not None:
        market.stop.set()
    for step in (worker and worker.close, sim and sim.stop, db and db.close, then):
        if step:
            with contextlib.suppress(Exception):
                step()
