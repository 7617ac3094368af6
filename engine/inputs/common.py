"""Shared checks for the human inputs (PRODUCT.md §7): paths, exact field sets, times, numbers.

Validators never raise on bad data: they return every problem found, each with the
JSON path of the offending value (`$.history[3].net_flow_usd`) and what is wrong.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

# Sanity bounds: values outside are typos or hostile input, not market data.
MAX_USD = 1e12           # one day's ETF flow, or a total
MAX_PRICE = 1e7
MAX_TEXT = 5000
MIN_EPOCH_MS = 946_684_800_000     # 2000-01-01
MAX_EPOCH_MS = 4_102_444_800_000   # 2100-01-01

ISO_Z = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def key_path(base: str, key: Any) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{base}[{key}]"
    if isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{base}.{key}"
    return f"{base}[{json.dumps(str(key), ensure_ascii=True)}]"


def describe(value: Any) -> str:
    """A short, safe description of a value for messages."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {json.dumps(shown, ensure_ascii=True)}"
    if isinstance(value, int):
        return f"number {value}" if abs(value) < 10**30 else "a huge integer"
    if isinstance(value, float):
        return f"number {value!r}"
    return type(value).__name__


def fields(obj: Any, path: str, required: set[str], optional: frozenset[str] | set[str],
           out: list[Problem], what: str = "object") -> bool:
    """Check `obj` is an object with exactly the required (+ optional) fields."""
    if not isinstance(obj, dict):
        out.append(Problem(path, f"expected an {what} (JSON object), got {describe(obj)}"))
        return False
    for name in sorted(required - set(k for k in obj if isinstance(k, str))):
        out.append(Problem(key_path(path, name), "required field missing"))
    allowed = required | set(optional)
    for k in obj:
        if not isinstance(k, str) or k not in allowed:
            out.append(Problem(key_path(path, k), f"unknown field (allowed: {', '.join(sorted(allowed))})"))
    return True


def number(value: Any, path: str, out: list[Problem], lo: float = -math.inf, hi: float = math.inf,
           lo_open: bool = False) -> float | None:
    """A plain, finite JSON number within [lo, hi] (or (lo, hi]), as float; else a problem."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = " (plain numbers only: no quotes, no thousands separators)" if isinstance(value, str) else ""
        out.append(Problem(path, f"expected a number, got {describe(value)}{hint}"))
        return None
    if isinstance(value, int) and abs(value) > 10**18:  # beyond any sane value; float() may overflow
        out.append(Problem(path, f"out of range: {describe(value)}"))
        return None
    f = float(value)
    if not math.isfinite(f):
        out.append(Problem(path, f"must be a finite number, got {value!r}"))
        return None
    if f < lo or f > hi or (lo_open and f == lo):
        lo_b = "(" if lo_open else "["
        out.append(Problem(path, f"out of range {lo_b}{lo:g}, {hi:g}]: {f!r}"))
        return None
    return f


def text(value: Any, path: str, out: list[Problem], allow_empty: bool = True) -> str | None:
    if not isinstance(value, str):
        out.append(Problem(path, f"expected a string, got {describe(value)}"))
        return None
    if len(value) > MAX_TEXT:
        out.append(Problem(path, f"too long ({len(value)} characters, at most {MAX_TEXT})"))
        return None
    if not allow_empty and not value.strip():
        out.append(Problem(path, "must not be empty"))
        return None
    return value


def choice(value: Any, path: str, allowed: tuple[str, ...], out: list[Problem]) -> str | None:
    if not isinstance(value, str) or value not in allowed:
        out.append(Problem(path, f"expected one of {', '.join(allowed)}, got {describe(value)}"))
        return None
    return value


def iso_time(value: Any, path: str, out: list[Problem]) -> int | None:
    """ISO-8601 UTC with Z (YYYY-MM-DDTHH:MM[:SS[.ffffff]]Z) → epoch ms."""
    if not isinstance(value, str):
        out.append(Problem(path, f"expected an ISO-8601 UTC time like 2025-12-07T12:00:00Z, got {describe(value)}"))
        return None
    m = ISO_Z.match(value)
    if not m:
        out.append(Problem(path, f"not an ISO-8601 UTC time ending in Z (e.g. 2025-12-07T12:00:00Z): {describe(value)}"))
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0),
                      int((frac or "0").ljust(6, "0")), tzinfo=UTC)
    except ValueError as exc:
        out.append(Problem(path, f"not a valid time: {exc}"))
        return None
    ms = int(dt.timestamp() * 1000)
    if not MIN_EPOCH_MS <= ms < MAX_EPOCH_MS:
        out.append(Problem(path, "time outside 2000..2100"))
        return None
    return ms


def day(value: Any, path: str, out: list[Problem]) -> date | None:
    if not isinstance(value, str) or not DATE.match(value):
        out.append(Problem(path, f"expected a date YYYY-MM-DD, got {describe(value)}"))
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError as exc:
        out.append(Problem(path, f"not a valid date: {exc}"))
        return None
    if not 2000 <= d.year < 2100:
        out.append(Problem(path, "date outside 2000..2100"))
        return None
    return d


def iso_from_ms(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms % 1000:03d}Z" if ms % 1000 else "Z")


def day_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


class _Refused(ValueError):
    pass


def _no_constants(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number (plain finite numbers only)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Refused(f"duplicate field {k!r}")
        out[k] = v
    return out


def parse_json(raw: str | bytes) -> tuple[Any, list[Problem]]:
    """Parse a payload strictly: UTF-8, no NaN/Infinity, no duplicate fields."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [Problem("$", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    raw = raw.removeprefix("\ufeff")
    try:
        return json.loads(raw, parse_constant=_no_constants, object_pairs_hook=_no_duplicates), []
    except _Refused as exc:
        return None, [Problem("$", str(exc))]
    except json.JSONDecodeError as exc:
        return None, [Problem("$", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
    except RecursionError:
        return None, [Problem("$", "nested too deeply")]
    except ValueError as exc:  # e.g. integer string too long to convert
        return None, [Problem("$", f"not valid JSON: {exc}")]
