"""What a notification says (PRODUCT.md §10), as plain text with secrets scrubbed.

    [LEVEL] [SOURCE] [CODE]  ×7 in the last 5 min
    2026-01-05T12:00:03Z
    details…
    symbol=BTCUSDT price=97000.5 side=LONG decision=123 order=456 risk_mode=DEFENSIVE
    Action: recommended action

Plain text, no parse_mode: a price or an order id with `_` or `*` can never break
Markdown parsing and make Telegram refuse the message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LEVELS: dict[str, int] = {"INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

# Context keys the message shows, in this order, under these labels (§10).
CONTEXT_KEYS: tuple[tuple[str, str], ...] = (
    ("symbol", "symbol"), ("price", "price"), ("side", "side"),
    ("decision_id", "decision"), ("order_id", "order"), ("risk_mode", "risk_mode"),
)

# Telegram refuses a text longer than 4096 characters.
MAX_TEXT = 4096
REDACTED = "***"

# Secret shapes scrubbed even when not configured: a bot token (123456789:AA…), the
# /bot<token>/ path segment of a Bot API URL, key=value credentials.
_PATTERNS = (
    (re.compile(r"\b\d{5,12}:[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"/bot[^/\s]+/"), "/bot" + REDACTED + "/"),
    (re.compile(r"(?i)((?:api[_-]?key|api[_-]?secret|secret|password|token)[\"']?\s*[:=]\s*[\"']?)"
                r"[^\s\"'&,;}]+"), r"\1" + REDACTED),
)


def level_no(level: str) -> int:
    try:
        return LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown notification level {level!r} (one of {', '.join(LEVELS)})") from None


def normalise_level(level: str) -> str:
    up = str(level).strip().upper()
    level_no(up)
    return up


def at_or_above(level: str, minimum: str) -> bool:
    return level_no(level) >= level_no(minimum)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every configured secret and every secret-shaped string replaced."""
    # Longest first, so a secret containing another is replaced whole.
    for s in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def scrub_value(value: Any, secrets: Iterable[str]) -> Any:
    """A JSON-able copy of `value` with every string scrubbed (keys included)."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, Mapping):
        return {scrub(str(k), secrets): scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v, secrets) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value), secrets)  # Decimal, enums, datetimes: their text


@dataclass(frozen=True)
class Alert:
    """One notification as stored: `id` is its row id (None when the DB was down)."""

    id: int | None
    level: str
    source: str
    code: str
    message: str
    created_ms: int
    context: Mapping[str, Any] = field(default_factory=dict)
    action: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.code)


def utc_iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + "Z"


def window_phrase(window_s: int) -> str:
    if window_s % 3600 == 0 and window_s >= 3600:
        return f"{window_s // 3600} h"
    if window_s % 60 == 0 and window_s >= 60:
        return f"{window_s // 60} min"
    return f"{window_s} s"


def context_line(context: Mapping[str, Any]) -> str:
    parts = [f"{label}={context[k]}" for k, label in CONTEXT_KEYS if context.get(k) not in (None, "")]
    return " ".join(parts)


def headline(alert: Alert, count: int = 1, window_s: int = 0) -> str:
    head = f"[{alert.level}] [{alert.source}] [{alert.code}]"
    if count > 1:
        head += f" ×{count} in the last {window_phrase(window_s)}"
    return head


def format_alert(alert: Alert, secrets: Iterable[str] = (), count: int = 1, window_s: int = 0) -> str:
    """The message for one alert; `count` > 1 says how often it happened in the window."""
    lines = [headline(alert, count, window_s), utc_iso(alert.created_ms), alert.message.strip()]
    ctx = context_line(alert.context)
    if ctx:
        lines.append(ctx)
    if alert.action:
        lines.append(f"Action: {alert.action.strip()}")
    return _fit(scrub("\n".join(line for line in lines if line), secrets))


def format_digest(groups: list[tuple[Alert, int]], window_s: int, secrets: Iterable[str] = ()) -> str:
    """One message for several alerts: one line per (level, source, code), newest details.

    `groups` is (latest alert of the group, how many times it happened), oldest first.
    The headline carries the highest level in the digest, so a glance tells how bad.
    """
    top = max((a.level for a, _ in groups), key=level_no)
    total = sum(n for _, n in groups)
    lines = [f"[{top}] [notifier] [DIGEST] {total} notifications in the last {window_phrase(window_s)}",
             utc_iso(max(a.created_ms for a, _ in groups))]
    for alert, n in groups:
        times = f" ×{n}" if n > 1 else ""
        first = alert.message.strip().splitlines()[0] if alert.message.strip() else ""
        ctx = context_line(alert.context)
        line = f"• {utc_iso(alert.created_ms)[11:]} [{alert.level}] [{alert.source}] [{alert.code}]{times}: {first}"
        lines.append(line + (f" ({ctx})" if ctx else ""))
    return _fit(scrub("\n".join(lines), secrets))


def _fit(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
