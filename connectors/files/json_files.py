"""JSON documents under <home>/data: written atomically, numbers without exponent form.

Atomic: a temp file in the same directory, fsync, os.replace — a reader sees the old
or the new document, never half of one. Numbers are written plainly (0.00001666, not
1.666e-05) because durable_rules rejects exponent notation; NaN/inf become null.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

SNAPSHOT_FILE = "btc_snapshot.json"
FLOW_FILE = "btc_flow.json"
INPUT_FILES = {"etf": "btc_etp_flow.json", "liquidations": "btc_liquidation_map.json",
               "sentiment": "news_sentiment.json"}


def plain_number(x: float | int) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        return "null"
    r = repr(float(x))
    if "e" in r or "E" in r:
        r = format(Decimal(r), "f")
    return r


def dumps_plain(obj: Any, indent: int = 2, _level: int = 0) -> str:
    """json.dumps with plain (non-exponent) numbers; keys and strings as UTF-8."""
    pad = "\n" + " " * (indent * (_level + 1)) if indent else ""
    end = "\n" + " " * (indent * _level) if indent else ""
    sep = ", " if not indent else ","
    if obj is None or isinstance(obj, bool):
        return json.dumps(obj)
    if isinstance(obj, int | float):
        return plain_number(obj)
    if isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{json.dumps(str(k), ensure_ascii=False)}: {dumps_plain(v, indent, _level + 1)}" for k, v in obj.items()]
        return "{" + pad + (sep + pad).join(items) + end + "}"
    if isinstance(obj, list | tuple):
        if not obj:
            return "[]"
        return "[" + pad + (sep + pad).join(dumps_plain(v, indent, _level + 1) for v in obj) + end + "]"
    if hasattr(obj, "item"):  # numpy scalar
        return dumps_plain(obj.item(), indent, _level)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def atomic_write_text(path: Path, text: str) -> Path:
    """Temp file (hidden, same directory: watchers ignore it) + fsync + rename over the
    target, then fsync the directory: a reader sees the old file or the new one, never
    half of one, and the rename survives a crash. An existing file keeps its mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass
    return path


def write_json_atomic(path: Path, obj: Any) -> Path:
    return atomic_write_text(Path(path), dumps_plain(obj) + "\n")


def read_json(path: Path) -> Any:
    path = Path(path)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_snapshot(data_dir: Path, doc: dict[str, Any]) -> Path:
    return write_json_atomic(Path(data_dir) / SNAPSHOT_FILE, doc)


def write_flow(data_dir: Path, doc: dict[str, Any]) -> Path:
    return write_json_atomic(Path(data_dir) / FLOW_FILE, doc)


def write_input(data_dir: Path, kind: str, doc: dict[str, Any]) -> Path:
    return write_json_atomic(Path(data_dir) / INPUT_FILES[kind], doc)


def read_input(data_dir: Path, kind: str) -> Any:
    return read_json(Path(data_dir) / INPUT_FILES[kind])
