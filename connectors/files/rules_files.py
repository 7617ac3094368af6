"""The rule files on disk: one consistent snapshot of every file, and writing a version back.

Editors save by writing a temp file and renaming it, or by several writes in a burst:
read everything, read it again, and only accept when both reads agree (else wait a
little and retry), so a reload never sees half a save.
"""

from __future__ import annotations

import time
from pathlib import Path

from connectors.files.json_files import atomic_write_text


def _wanted(p: Path) -> bool:
    n = p.name
    return p.is_file() and n.endswith((".yaml", ".yml")) and not n.startswith((".", "#")) and not n.endswith("~")


def _read_once(rules_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    rules: dict[str, str] = {}
    tests: dict[str, str] = {}
    for p in sorted(rules_dir.glob("*")):
        if _wanted(p):
            try:
                rules[p.name] = p.read_text(encoding="utf-8")
            except FileNotFoundError:   # renamed away between listing and reading
                continue
    tdir = rules_dir / "tests"
    if tdir.is_dir():
        for p in sorted(tdir.glob("*")):
            if _wanted(p):
                try:
                    tests[p.name] = p.read_text(encoding="utf-8")
                except FileNotFoundError:
                    continue
    return rules, tests


def read_rules_dir(rules_dir: Path, attempts: int = 20, pause_s: float = 0.01) -> tuple[dict[str, str], dict[str, str]]:
    """(rule files, test files) as {name: text}, stable across two consecutive reads."""
    prev = _read_once(rules_dir)
    for _ in range(attempts):
        time.sleep(pause_s)
        cur = _read_once(rules_dir)
        if cur == prev:
            return cur
        prev = cur
    return prev


def write_rules_dir(rules_dir: Path, files: dict[str, str], tests: dict[str, str]) -> None:
    """Put a version's files in the rules dir, each atomically; rule (and, when given, test)
    files that are not part of the version are removed. Tests first, then rules: the
    watcher batches them into one reload."""
    tdir = rules_dir / "tests"
    tdir.mkdir(parents=True, exist_ok=True)
    if tests:
        for p in tdir.glob("*.y*ml"):
            if p.name not in tests:
                p.unlink()
        for name, text in tests.items():
            if (tdir / name).exists() and (tdir / name).read_text(encoding="utf-8") == text:
                continue
            atomic_write_text(tdir / name, text)
    for name, text in files.items():
        if (rules_dir / name).exists() and (rules_dir / name).read_text(encoding="utf-8") == text:
            continue
        atomic_write_text(rules_dir / name, text)
    for p in rules_dir.glob("*.y*ml"):
        if p.name not in files:
            p.unlink()
