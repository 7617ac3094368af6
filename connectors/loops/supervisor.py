"""Supervise the bot's processes: start them, prefix their output, restart a crashed one
with backoff, and stop them all in order on SIGINT/SIGTERM.

Each child asks the kernel for SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), so even
a SIGKILLed supervisor leaves no orphan. Children stop in `stop_rank` order: the ones that
only read (web, analytics) first, the execution worker after them (it checks that what is
open is protected before it exits), the market source last (the worker may still need it).
Each child runs in its own process group: a Ctrl-C at the terminal reaches the supervisor
alone, which then stops the children in that order — otherwise the terminal would signal
them all at once and the order would be lost.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

PR_SET_PDEATHSIG = 1


@dataclass
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    stop_rank: int = 0           # lower stops first
    stop_timeout_s: float = 20.0
    restart: bool = True
    ready: Callable[[], bool] | None = None  # polled after start before the next child starts
    ready_timeout_s: float = 30.0


@dataclass
class _Running:
    spec: ChildSpec
    proc: subprocess.Popen[bytes]
    started: float
    restarts: int = 0


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


Alert = Callable[[str, str, str, dict], object]  # (level, code, message, context)


class Supervisor:
    """crash_loop (n, minutes): a child that exits n times within that many minutes is a
    crash loop: alerted CRITICAL through `alert` (once per episode, again after it ran a
    while), and kept in `crash_loops` for whoever shows the status: `report` gets them
    (child -> exits in the window, window minutes, last exit code, since) at the start and
    whenever they change — `showdown run` puts them where Status and `showdown status` read."""

    def __init__(self, specs: Sequence[ChildSpec], out: Callable[[str], None] | None = None,
                 base_env: Mapping[str, str] | None = None, max_backoff_s: float = 30.0,
                 alert: Alert | None = None, crash_loop: tuple[int, float] = (5, 10.0),
                 report: Callable[[dict[str, dict[str, object]]], object] | None = None):
        self.alert = alert
        self.report = report
        self.crash_loop = crash_loop
        self.exits: dict[str, deque[float]] = {}
        self.crash_loops: dict[str, dict[str, object]] = {}
        self.specs = list(specs)
        self.out = out or (lambda line: print(line, flush=True))
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.max_backoff_s = max_backoff_s
        self.children: dict[str, _Running] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self._report()  # a new run: no crash loop of the last one stays on Status
        for spec in self.specs:
            if self._stopping.is_set():
                return
            self._spawn(spec)
            if spec.ready is not None:
                self._wait_ready(spec)

    def _wait_ready(self, spec: ChildSpec) -> None:
        deadline = time.monotonic() + spec.ready_timeout_s
        while time.monotonic() < deadline and not self._stopping.is_set():
            running = self.children.get(spec.name)
            if running and running.proc.poll() is not None:
                raise RuntimeError(f"{spec.name} exited with {running.proc.returncode} while starting")
            if spec.ready and spec.ready():
                return
            time.sleep(0.2)
        if not self._stopping.is_set():
            raise RuntimeError(f"{spec.name} not ready after {spec.ready_timeout_s:.0f} s")

    def _spawn(self, spec: ChildSpec, restarts: int = 0) -> None:
        env = {**self.base_env, **spec.env, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(  # noqa: S603 - argv built by us, never from user text
            list(spec.argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,  # noqa: PLW1509
            process_group=0,
        )
        with self._lock:
            self.children[spec.name] = _Running(spec, proc, time.monotonic(), restarts)
        threading.Thread(target=self._pump, args=(spec.name, proc), daemon=True).start()
        self.out(f"[run] started {spec.name} (pid {proc.pid})")

    def _pump(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.out(f"[{name}] {raw.decode('utf-8', 'replace').rstrip()}")

    def watch(self, poll_s: float = 0.5) -> int:
        """Until asked to stop: restart children that died. Returns the exit code."""
        while not self._stopping.wait(poll_s):
            for name, running in list(self.children.items()):
                code = running.proc.poll()
                if code is None:
                    continue
                if not running.spec.restart:
                    self.out(f"[run] {name} exited with {code}; stopping everything")
                    self.stop()
                    return code or 1
                # A child that ran a while earns a fresh backoff; a crash loop backs off.
                lived = time.monotonic() - running.started
                restarts = 0 if lived > 60 else running.restarts + 1
                self._count_exit(name, code, lived)
                delay = min(self.max_backoff_s, 2.0 ** restarts)
                self.out(f"[run] {name} exited with {code}; restarting in {delay:.0f} s")
                if self._stopping.wait(delay):
                    break
                self._spawn(running.spec, restarts)
        return 0

    def _count_exit(self, name: str, code: int, lived: float) -> None:
        n, minutes = self.crash_loop
        now = time.monotonic()
        exits = self.exits.setdefault(name, deque())
        exits.append(now)
        while exits and now - exits[0] > minutes * 60:
            exits.popleft()
        if lived > 60 and self.crash_loops.pop(name, None) is not None:  # it ran a while: a new episode may start
            self._report()
        if name in self.crash_loops:  # still looping: Status shows the count growing
            self.crash_loops[name].update(exits=len(exits), last_code=code)
            self._report()
            return
        if len(exits) < n:
            return
        message = (f"{name} crash-looping: exited {len(exits)} times in {minutes:g} min (last exit code {code}); "
                   "restarts continue with backoff — look at its log")
        self.crash_loops[name] = {"exits": len(exits), "minutes": minutes, "last_code": code,
                                  "since_ms": int(time.time() * 1000)}
        self._report()
        self.out(f"[run] CRITICAL {message}")
        if self.alert is not None:
            try:
                self.alert("CRITICAL", "child_crash_loop", message, {"child": name, "exits": len(exits),
                                                                     "minutes": minutes, "last_code": code})
            except Exception as exc:  # the alert path itself failing must not stop supervision
                self.out(f"[run] crash-loop alert not sent: {type(exc).__name__}: {exc}")

    def _report(self) -> None:
        if self.report is None:
            return
        try:
            self.report({k: dict(v) for k, v in self.crash_loops.items()})
        except Exception as exc:  # the status path failing must not stop supervision
            self.out(f"[run] crash-loop status not recorded: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self._stopping.set()
        by_rank: dict[int, list[_Running]] = {}
        for running in self.children.values():
            by_rank.setdefault(running.spec.stop_rank, []).append(running)
        for rank in sorted(by_rank):
            group = [r for r in by_rank[rank] if r.proc.poll() is None]
            for r in group:
                r.proc.send_signal(signal.SIGTERM)
            for r in group:
                try:
                    r.proc.wait(timeout=r.spec.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    self.out(f"[run] {r.spec.name} ignored SIGTERM for {r.spec.stop_timeout_s:.0f} s: killing")
                    r.proc.kill()
                    r.proc.wait()
                self.out(f"[run] stopped {r.spec.name} (exit {r.proc.returncode})")

    def run_until_signalled(self) -> int:
        """start(), then watch() until SIGINT/SIGTERM, then stop(). The exit code."""
        def on_signal(signum: int, _frame: object) -> None:
            self.out(f"[run] {signal.Signals(signum).name}: shutting down")
            self._stopping.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                self.start()
            except RuntimeError as exc:
                self.out(f"[run] {exc}")
                self.stop()
                return 1
            code = self.watch()
            self.stop()
            return code
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def python_cli(*args: str) -> list[str]:
    """argv for a `showdown` subcommand run by this interpreter (no PATH lookup)."""
    return [sys.executable, "-m", "cli.main", *args]
