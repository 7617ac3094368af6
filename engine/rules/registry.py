"""The active ruleset version and its hot reload.

reload: read every rule file (one consistent snapshot) -> compile and validate ->
durable_rules ruleset on a new Host -> run the rule tests -> swap. The swap is one
reference assignment under a lock, and a cycle takes its version once at its start, so
every cycle runs on one complete version; a version is retired (its C ruleset freed)
only when no cycle uses it any more. Any failure keeps the old version active and is
recorded (`refusals`, `events`) for status pages and notifications.

Shadow mode: a candidate version evaluated beside the active one on the same facts;
disagreements are recorded. Pure apart from the injected reader and config loader.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.decision import decide
from engine.rules.compiler import (
    MAX_PROBLEMS,
    CompiledRules,
    Problem,
    RulesRefused,
    compile_texts,
    content_hash,
)
from engine.rules.durable_backend import DurableRules
from engine.rules.testcases import TestReport, run_tests

MAX_PROBLEM_TEXT = 400   # characters of one refusal line (file:line:col and the message)

# reader() -> (rule files, test files), each {relative name: text}
Reader = Callable[[], tuple[dict[str, str], dict[str, str]]]


@dataclass
class Version:
    compiled: CompiledRules
    engine: DurableRules
    activated_at: float
    source: str
    tests: TestReport | None = None
    test_files: dict[str, str] = field(default_factory=dict)   # the cases it passed (stored with it)
    users: int = 0
    retired: bool = False

    @property
    def version(self) -> str:
        return self.compiled.version


@dataclass
class ReloadOutcome:
    ok: bool
    changed: bool
    version: str | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _with_declared(facts: Mapping[str, Any], compiled: CompiledRules,
                   declared: Callable[[CompiledRules], Mapping[str, Any]] | None) -> Mapping[str, Any]:
    if declared is None or compiled.declared.empty:
        return facts
    return {**facts, **declared(compiled)}


def _config_key(config: Any) -> str:
    values = getattr(config, "values", config)
    return json.dumps({"symbol": values.get("symbol"), "risk": values.get("risk")}, sort_keys=True, default=str)


def build_version(files: Mapping[str, str], test_files: Mapping[str, str], config: Any, source: str,
                  clock: Callable[[], float] = time.time, require_tests: bool = True) -> tuple[Version, TestReport]:
    """Compile, build the engine, run the tests. Raises RulesRefused (engine closed)."""
    compiled = compile_texts(files, config)
    engine = DurableRules(compiled)
    try:
        report = run_tests(compiled, engine, test_files)
    except Exception as exc:
        engine.close()
        raise RulesRefused([Problem("rules/tests", 1, 1, f"the rule tests could not run: {exc}")]) from exc
    if require_tests and not report.ok:
        engine.close()
        problems = [Problem(p.split(":", 1)[0], 1, 1, p) for p in report.problems]
        for r in report.results:
            if not r.ok:
                file, line, col = r.where.rsplit(":", 2)
                problems.append(Problem(file, int(line), int(col),
                                        f"rule test {r.name!r} failed: {'; '.join(r.failures)}"))
        raise RulesRefused(problems)
    return Version(compiled=compiled, engine=engine, activated_at=clock(), source=source, tests=report,
                   test_files=dict(test_files)), report


class RulesRegistry:
    def __init__(self, reader: Reader, config_loader: Callable[[], Any], clock: Callable[[], float] = time.time,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None, require_tests: bool = True):
        self._reader = reader
        self._config_loader = config_loader
        self._clock = clock
        self._on_event = on_event
        self._require_tests = require_tests
        self._lock = threading.Lock()          # guards _active / _shadow pointers and counters
        self._reload_lock = threading.Lock()   # one reload at a time
        self._active: Version | None = None
        self._config_key = ""
        self._shadow: Version | None = None
        self.refusals: deque[dict[str, Any]] = deque(maxlen=50)
        self.events: deque[dict[str, Any]] = deque(maxlen=200)
        self.shadow_disagreements: deque[dict[str, Any]] = deque(maxlen=500)
        self.history: list[dict[str, Any]] = []   # every version activated in this process

    # -- reading the active version ---------------------------------------------------
    @property
    def active(self) -> Version | None:
        return self._active

    def _acquire(self, which: str) -> Version | None:
        with self._lock:
            v = self._active if which == "active" else self._shadow
            if v is not None:
                v.users += 1
            return v

    def _release(self, v: Version) -> None:
        with self._lock:
            v.users -= 1
            close = v.retired and v.users == 0
        if close:
            v.engine.close()

    def _retire(self, v: Version | None) -> None:
        if v is None:
            return
        with self._lock:
            v.retired = True
            close = v.users == 0
        if close:
            v.engine.close()

    def decide(self, facts: Mapping[str, Any],
               declared: Callable[[CompiledRules], Mapping[str, Any]] | None = None,
               ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One cycle on the active version (taken once, at the start of the cycle).
        `declared(compiled)` gives that version's declared indicators and expressions
        (each version, the shadow too, reads its own)."""
        v = self._acquire("active")
        if v is None:
            raise RuntimeError("no active ruleset: the rules have never compiled")
        try:
            decision, trace = decide(v.compiled, _with_declared(facts, v.compiled, declared), v.engine)
        finally:
            self._release(v)
        s = self._acquire("shadow")
        if s is not None:
            try:
                sd, _ = decide(s.compiled, _with_declared(facts, s.compiled, declared), s.engine)
            finally:
                self._release(s)
            keys = ("action", "reason", "confidence", "risk_mode", "sl", "position_size_usdt")
            if any(sd.get(k) != decision.get(k) for k in keys):
                d = {"timestamp_iso": decision.get("timestamp_iso"), "active": v.version, "shadow": s.version,
                     "active_decision": {k: decision.get(k) for k in keys},
                     "shadow_decision": {k: sd.get(k) for k in keys}}
                self.shadow_disagreements.append(d)
                trace["shadow"] = d
        return decision, trace

    # -- reloading -------------------------------------------------------------------
    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        ev = {"at": self._clock(), "kind": kind, **payload}
        self.events.append(ev)
        if self._on_event is not None:
            with contextlib.suppress(Exception):   # notifying must never break a reload
                self._on_event(kind, ev)

    def reload(self, source: str = "watch", force: bool = False) -> ReloadOutcome:
        started = time.perf_counter()
        with self._reload_lock:
            try:
                files, test_files = self._reader()
                config = self._config_loader()
            except Exception as exc:
                return self._refuse(source, None, [f"could not read the rules or the config: {exc}"], started)
            version = content_hash(files) if files else None
            key = _config_key(config)
            cur = self._active
            if not force and cur is not None and version == cur.version and key == self._config_key:
                return ReloadOutcome(ok=True, changed=False, version=version, seconds=time.perf_counter() - started)
            try:
                new, report = build_version(files, test_files, config, source, self._clock, self._require_tests)
            except RulesRefused as exc:
                return self._refuse(source, version, [str(p) for p in exc.problems], started)
            except Exception as exc:  # a bug or a C-level failure: still never swap
                return self._refuse(source, version, [f"unexpected error while building the ruleset: {exc!r}"], started)
            with self._lock:
                old = self._active
                self._active = new
                self._config_key = key
            self._retire(old)
            warnings = [f"rule never fired in the rule tests: {r}" for r in report.uncovered()]
            warnings += [str(w) for w in new.compiled.warnings]     # e.g. a declared indicator nobody reads
            self.history.append({"version": new.version, "at": new.activated_at, "source": source,
                                 "files": dict(new.compiled.files)})
            self._event("activated", {"version": new.version, "previous": old.version if old else None,
                                      "source": source, "warnings": warnings,
                                      "tests": report.summary()})
            return ReloadOutcome(ok=True, changed=True, version=new.version, warnings=warnings,
                                 seconds=time.perf_counter() - started)

    def _refuse(self, source: str, version: str | None, problems: list[str], started: float) -> ReloadOutcome:
        # A refusal travels to the heartbeat, the logs and Telegram: short excerpts only.
        problems = [p if len(p) <= MAX_PROBLEM_TEXT else p[:MAX_PROBLEM_TEXT - 1] + "…" for p in problems[:MAX_PROBLEMS]]
        active = self._active.version if self._active else None
        rec = {"at": self._clock(), "source": source, "version": version, "active": active, "problems": problems}
        self.refusals.append(rec)
        self._event("refused", rec)
        return ReloadOutcome(ok=False, changed=False, version=active, problems=problems,
                             seconds=time.perf_counter() - started)

    # -- shadow ----------------------------------------------------------------------
    def set_shadow(self, files: Mapping[str, str] | None, test_files: Mapping[str, str] | None = None) -> ReloadOutcome:
        """Evaluate a candidate beside the active version (None stops shadowing)."""
        started = time.perf_counter()
        new = None
        if files is not None:
            try:
                new, _ = build_version(files, test_files or {}, self._config_loader(), "shadow", self._clock,
                                       require_tests=False)
            except RulesRefused as exc:
                return self._refuse("shadow", content_hash(files), [str(p) for p in exc.problems], started)
        with self._lock:
            old, self._shadow = self._shadow, new
        self._retire(old)
        return ReloadOutcome(ok=True, changed=True, version=new.version if new else None,
                             seconds=time.perf_counter() - started)

    def status(self) -> dict[str, Any]:
        a, s = self._active, self._shadow
        return {"active": a.version if a else None, "activated_at": a.activated_at if a else None,
                "shadow": s.version if s else None, "last_refusal": self.refusals[-1] if self.refusals else None,
                "shadow_disagreements": len(self.shadow_disagreements)}

    def close(self) -> None:
        with self._lock:
            a, s = self._active, self._shadow
            self._active = self._shadow = None
        self._retire(a)
        self._retire(s)
