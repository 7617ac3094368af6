"""Editing a rule file from the site.

A draft is one edited file plus the other rule files as they are now in the rules dir:
the ruleset is always judged whole. Validate = compile (every problem with
file:line:col). Test = compile + the cases in rules/tests. Diff = against the file in the
active version. Save = only when the draft compiles AND its tests pass: the file is
written atomically (temp + rename) into the rules dir, where the running loop's watcher
picks it up and activates it between cycles. Nothing here activates anything itself.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import abort

from connectors.files.json_files import atomic_write_text
from connectors.files.rules_files import read_rules_dir
from engine.rules.compiler import Problem, RulesRefused, compile_texts, content_hash
from engine.rules.durable_backend import DurableRules
from engine.rules.registry import build_version
from engine.rules.testcases import TestReport, run_tests
from engine.yaml_bounded import DEFAULT_LIMITS
from web.context import sd

# A plain file name in the rules dir: no directories, no hidden or backup files. Always
# fullmatch: `$` would also match before a final newline ("zz.yaml\n").
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\.ya?ml")
MAX_TEXT = DEFAULT_LIMITS.max_bytes

# Building a durable_rules ruleset is CPU work and its C side keeps global state:
# one build at a time per worker process. Compiling is bounded (engine.rules.compiler's
# CPU budget, engine/yaml_bounded.py's limits), and a request never waits longer than
# LOCK_WAIT_S for a lock: it is answered 503 instead, so no draft can starve the others.
_BUILD_LOCK = threading.Lock()
LOCK_WAIT_S = 10.0


def _busy() -> None:
    abort(503, description="another rules check or save is running; try again in a moment")


@contextlib.contextmanager
def _building() -> Iterator[None]:
    if not _BUILD_LOCK.acquire(timeout=LOCK_WAIT_S):
        _busy()
    try:
        yield
    finally:
        _BUILD_LOCK.release()


class _WriteLock:
    """One save or roll back at a time across every gunicorn process (flock on a file in
    var/) and thread: each checks the whole set it is about to leave on disk, so two saves
    of different files must not interleave their check and their write."""

    _local = threading.Lock()

    def __enter__(self) -> _WriteLock:
        deadline = time.monotonic() + LOCK_WAIT_S
        if not self._local.acquire(timeout=LOCK_WAIT_S):
            _busy()
        try:
            path = sd().home.var / "rules-write.lock"
            self._fh = open(path, "a")  # noqa: SIM115 - closed in __exit__
            while True:
                try:
                    fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        self._fh.close()
                        _busy()
                    time.sleep(0.02)
        except BaseException:
            self._local.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
        finally:
            self._local.release()


WRITE_LOCK = _WriteLock()


class DraftError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(message)


def rules_dir() -> Path:
    return sd().home.rules_dir


def current() -> tuple[dict[str, str], dict[str, str]]:
    """(rule files, test files) as they are on disk now, one consistent read."""
    return read_rules_dir(rules_dir())


def check_draft(name: Any, text: Any) -> tuple[str, str]:
    if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
        raise DraftError(400, "file must be a rule file name in the rules directory, such as strategy.yaml")
    if not isinstance(text, str):
        raise DraftError(400, "text must be the YAML text of the file")
    if len(text) > MAX_TEXT:
        raise DraftError(413, f"the file is too large (at most {MAX_TEXT // 1024} KiB)")
    return name, text.replace("\r\n", "\n")


def draft_set(name: str, text: str) -> tuple[dict[str, str], dict[str, str]]:
    files, tests = current()
    files[name] = text
    return files, tests


def problem_dict(p: Problem) -> dict[str, Any]:
    return {"file": p.file, "line": p.line, "col": p.col, "message": p.message, "text": str(p)}


def _refused(files: dict[str, str], problems: list[Problem]) -> dict[str, Any]:
    return {"ok": False, "version": content_hash(files), "problems": [problem_dict(p) for p in problems]}


def validate(name: str, text: str) -> dict[str, Any]:
    """Compile the draft set (and hand it to durable_rules, as an activation would)."""
    files, _ = draft_set(name, text)
    with _building():
        try:
            compiled = compile_texts(files, sd().config)
            DurableRules(compiled).close()
        except RulesRefused as exc:
            return _refused(files, exc.problems)
        except Exception as exc:  # noqa: BLE001 - a C-level refusal still is a refusal, not a 500
            return _refused(files, [Problem(name, 1, 1, f"durable_rules refused the ruleset: {exc}")])
    per_stage = {s: len(r) for s, r in compiled.by_stage.items() if r}
    return {"ok": True, "version": compiled.version, "ruleset": compiled.name, "rules": len(compiled.rules),
            "per_stage": per_stage, "problems": [], "warnings": [problem_dict(w) for w in compiled.warnings]}


def report_dict(report: TestReport) -> dict[str, Any]:
    return {"ok": report.ok, "summary": report.summary(), "file_problems": list(report.problems),
            "failed": [{"name": r.name, "where": r.where, "failures": list(r.failures)}
                       for r in report.results if not r.ok],
            "passed": sum(1 for r in report.results if r.ok), "cases": len(report.results),
            "uncovered": report.uncovered()}


def run_rule_tests(name: str, text: str) -> dict[str, Any]:
    """Compile the draft set and run every case in rules/tests against it."""
    files, tests = draft_set(name, text)
    with _building():
        try:
            compiled = compile_texts(files, sd().config)
            engine = DurableRules(compiled)
        except RulesRefused as exc:
            return dict(_refused(files, exc.problems), tests=None)
        try:
            report = run_tests(compiled, engine, tests)
        except Exception as exc:  # noqa: BLE001 - a broken test file is reported, not a 500
            return dict(_refused(files, [Problem("tests", 1, 1, f"the rule tests could not run: {exc}")]), tests=None)
        finally:
            engine.close()
    return {"ok": report.ok, "version": compiled.version, "problems": [], "tests": report_dict(report)}


def unified(before: str, after: str, name: str, before_label: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        fromfile=f"{name} ({before_label})", tofile=f"{name} (draft)"))


def save(name: str, text: str) -> dict[str, Any]:
    """Write the draft when it compiles and its tests pass; else nothing is written.
    Returns {"ok": True, version, diff, changed} or {"ok": False, problems, ...}."""
    from web import audit

    with WRITE_LOCK:
        files, tests = draft_set(name, text)
        refused = check_whole(files, tests)
        if refused is not None:
            return refused
        path = rules_dir() / name
        before = path.read_text(encoding="utf-8") if path.exists() else ""
        changed = before != text
        if changed:
            atomic_write_text(path, text)
            audit.record("rules.save", f"rules/{name}", before, text, details={"version": content_hash(files)})
    return {"ok": True, "version": content_hash(files), "changed": changed,
            "diff": unified(before, text, name, "before")}


def check_whole(files: dict[str, str], tests: dict[str, str]) -> dict[str, Any] | None:
    """None when the set compiles and every rule test passes; else the refusal."""
    with _building():
        try:
            version, _ = build_version(files, tests, sd().config, "web", require_tests=True)
        except RulesRefused as exc:
            return _refused(files, exc.problems)
        except Exception as exc:  # noqa: BLE001
            return _refused(files, [Problem("rules", 1, 1, f"the ruleset could not be built: {exc}")])
        version.engine.close()
    return None

