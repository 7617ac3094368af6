"""The rule files on disk: one consistent snapshot of every file, and writing a version back.

Editors save by writing a temp file and renaming it, or by several writes in a burst:
read everything, read it again, and only accept when both reads agree (else wait a
little and retry), so a reload never sees half a save.

Confined: only files that resolve inside the rules directory are read (a symlink to
/etc/passwd in rules/ is not a rule file), and at most a little more than the YAML size
limit of each (a huge file is refused by that limit, not read whole).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from connectors.files.json_files import atomic_write_text
from engine.yaml_bounded import DEFAULT_LIMITS

READ_LIMIT = DEFAULT_LIMITS.max_bytes + 1     # one byte over: the parser then refuses the size
VERSION_PREFIX = re.compile(r"[0-9a-f]{4,64}")  # a stored version's hash, or a unique prefix of it


class RulesPathRefused(ValueError):
    """A path named by the config or the site is not a rule file or directory inside the
    rules directory. The message names the path, never the file's content."""


def _wanted(p: Path, root: Path) -> bool:
    n = p.name
    if not (n.endswith((".yaml", ".yml")) and not n.startswith((".", "#")) and not n.endswith("~")):
        return False
    try:
        return p.is_file() and p.resolve().is_relative_to(root)
    except OSError:
        return False


def _read(p: Path) -> str:
    with open(p, "rb") as fh:
        data = fh.read(READ_LIMIT)
    if len(data) >= READ_LIMIT:     # oversize: keep the size, lose a split character at the cut
        return data.decode("utf-8", "ignore")
    return data.decode("utf-8")


def _read_once(rules_dir: Path, root: Path) -> tuple[dict[str, str], dict[str, str]]:
    rules: dict[str, str] = {}
    tests: dict[str, str] = {}
    for p in sorted(rules_dir.glob("*")):
        if _wanted(p, root):
            try:
                rules[p.name] = _read(p)
            except FileNotFoundError:   # renamed away between listing and reading
                continue
    tdir = rules_dir / "tests"
    if tdir.is_dir():
        for p in sorted(tdir.glob("*")):
            if _wanted(p, root):
                try:
                    tests[p.name] = _read(p)
                except FileNotFoundError:
                    continue
    return rules, tests


def read_rules_dir(rules_dir: Path, attempts: int = 20, pause_s: float = 0.01,
                   root: Path | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(rule files, test files) as {name: text}, stable across two consecutive reads.
    Only files resolving inside `root` (default: `rules_dir`) are read."""
    top = (root or rules_dir).resolve()
    prev = _read_once(rules_dir, top)
    for _ in range(attempts):
        time.sleep(pause_s)
        cur = _read_once(rules_dir, top)
        if cur == prev:
            return cur
        prev = cur
    return prev


def confined_path(spec: str, rules_dir: Path) -> Path:
    """The rule file or directory `spec` names — relative to the rules directory, or
    absolute — when it resolves inside the rules directory; RulesPathRefused otherwise.
    Checked before anything is read."""
    if not spec or len(spec) > 255 or "\0" in spec or "\n" in spec:
        raise RulesPathRefused("not a usable path (expected a file or directory inside the rules directory)")
    root = rules_dir.resolve()
    raw = Path(spec)
    try:
        p = (raw if raw.is_absolute() else root / raw).resolve()
    except (OSError, RuntimeError) as exc:      # a symlink loop
        raise RulesPathRefused(f"{spec!r} cannot be resolved ({type(exc).__name__})") from None
    if not p.is_relative_to(root):
        raise RulesPathRefused(f"{spec!r} is outside the rules directory (expected a stored version hash, "
                               "or a rule file or directory inside the rules directory)")
    if p.is_dir():
        return p
    if not p.is_file():
        raise RulesPathRefused(f"{spec!r} does not exist in the rules directory")
    if not p.name.endswith((".yaml", ".yml")):
        raise RulesPathRefused(f"{spec!r} is not a rule file (expected a .yaml file)")
    return p


def read_confined(spec: str, rules_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(rule files, test files) of a directory or one rule file inside the rules directory."""
    p = confined_path(spec, rules_dir)
    if p.is_dir():
        return read_rules_dir(p, root=rules_dir)
    return {p.name: _read(p)}, {}


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
