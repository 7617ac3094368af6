"""When a notification is sent, and folded with which others — pure functions over State.

- CRITICAL goes at once, every time; when it repeats, its message carries the count and
  takes along any repeats held for the same (source, code).
- Digested levels (telegram.digest_levels, e.g. INFO/WARNING) wait for the digest: one
  message per window, opened by the first alert in it, repeats folded into one line.
- Any other level (ERROR): the first of a (source, code) goes at once and opens a window;
  repeats within it are held and sent as one message "×N in the last 5 min" when it
  ends. While repeats keep coming, that is one message per window, never a flood.
- window 0: no aggregation, everything at once.

Levels below telegram.min_level never reach the policy: the notifier stores them as
"suppressed". Each Delivery names the carrier row (its status records the outcome) and
the rows folded into it (status "aggregated").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from engine.notify.message import Alert, format_alert, format_digest

Key = tuple[str, str]


@dataclass(frozen=True)
class Settings:
    window_s: int
    digest_levels: frozenset[str] = frozenset({"INFO", "WARNING"})
    secrets: tuple[str, ...] = ()

    @property
    def window_ms(self) -> int:
        return self.window_s * 1000


@dataclass(frozen=True)
class Delivery:
    carrier: Alert
    folded: tuple[Alert, ...]
    text: str

    @property
    def count(self) -> int:
        return 1 + len(self.folded)


@dataclass(frozen=True)
class Window:
    opened_ms: int
    count: int  # occurrences since opened, including one sent at once
    held: tuple[Alert, ...] = ()


@dataclass(frozen=True)
class State:
    windows: Mapping[Key, Window] = field(default_factory=dict)
    digest: tuple[Alert, ...] = ()
    digest_opened_ms: int | None = None


def _now(settings: Settings, alert: Alert, delivery_count: int = 1) -> Delivery:
    return Delivery(alert, (), format_alert(alert, settings.secrets, delivery_count, settings.window_s))


def admit(state: State, alert: Alert, now_ms: int, settings: Settings) -> tuple[State, list[Delivery]]:
    """Take in one alert; return the new state and what to send right now."""
    if settings.window_s <= 0:
        return state, [_now(settings, alert)]
    state, out = due(state, now_ms, settings)  # close expired windows before counting
    if alert.level != "CRITICAL" and alert.level in settings.digest_levels:
        opened = state.digest_opened_ms if state.digest_opened_ms is not None else now_ms
        return replace(state, digest=(*state.digest, alert), digest_opened_ms=opened), out
    windows = dict(state.windows)
    w = windows.get(alert.key)
    if w is None:
        windows[alert.key] = Window(now_ms, 1)
        out.append(_now(settings, alert))
    elif alert.level == "CRITICAL":
        windows[alert.key] = Window(w.opened_ms, w.count + 1)
        text = format_alert(alert, settings.secrets, w.count + 1, settings.window_s)
        out.append(Delivery(alert, w.held, text))
    else:
        windows[alert.key] = Window(w.opened_ms, w.count + 1, (*w.held, alert))
    return replace(state, windows=windows), out


def due(state: State, now_ms: int, settings: Settings) -> tuple[State, list[Delivery]]:
    """Close every window that has ended by `now_ms`; return what they release."""
    out: list[Delivery] = []
    windows: dict[Key, Window] = {}
    for key, w in state.windows.items():
        if now_ms < w.opened_ms + settings.window_ms:
            windows[key] = w
        elif w.held:
            out.append(_summary(w, settings))
            windows[key] = Window(now_ms, 0)  # keep folding while the repeats go on
    digest, opened = state.digest, state.digest_opened_ms
    if opened is not None and now_ms >= opened + settings.window_ms:
        out.append(_digest(digest, settings))
        digest, opened = (), None
    return State(windows, digest, opened), out


def drain(state: State, settings: Settings) -> tuple[State, list[Delivery]]:
    """Release everything held now (clean shutdown, `flush`)."""
    out = [_summary(w, settings) for w in state.windows.values() if w.held]
    if state.digest:
        out.append(_digest(state.digest, settings))
    return State(), out


def next_due_ms(state: State, settings: Settings) -> int | None:
    """When `due` will next release something (None: nothing is held)."""
    times = [w.opened_ms + settings.window_ms for w in state.windows.values() if w.held]
    if state.digest_opened_ms is not None:
        times.append(state.digest_opened_ms + settings.window_ms)
    return min(times) if times else None


def _summary(w: Window, settings: Settings) -> Delivery:
    latest = w.held[-1]
    return Delivery(latest, w.held[:-1], format_alert(latest, settings.secrets, w.count, settings.window_s))


def _digest(alerts: tuple[Alert, ...], settings: Settings) -> Delivery:
    groups: dict[tuple[str, str, str], tuple[Alert, int]] = {}
    for a in alerts:
        k = (a.level, a.source, a.code)
        groups[k] = (a, groups[k][1] + 1 if k in groups else 1)
    carrier, folded = alerts[-1], alerts[:-1]
    if len(groups) == 1:
        (latest, n), = groups.values()
        return Delivery(carrier, folded, format_alert(latest, settings.secrets, n, settings.window_s))
    return Delivery(carrier, folded, format_digest(list(groups.values()), settings.window_s, settings.secrets))
