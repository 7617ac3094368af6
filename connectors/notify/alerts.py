"""Notifications: stored first, then sent to Telegram by a background thread (§10).

`Notifier.notify` writes the `notifications` row and puts the alert on a bounded queue;
it never waits on Telegram and never raises, so a slow or dead Telegram cannot stall
trading. One sender thread applies the aggregation policy (engine/notify/policy.py),
posts to the Bot API (sendMessage) for every chat in telegram.chat_ids, retries timeouts,
connection errors and 5xx with exponential backoff, honours a 429's retry_after, and
records the outcome on the row: sent / failed / aggregated (carried by another row's
message), with attempts, delivered_ms and last_error.

The bot token is part of every request URL, so it is scrubbed from everything this
module writes: rows, log lines, error texts — and urllib3's own debug lines, which quote
the request path.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import peewee
import requests

from connectors.db.models import Notification, now_ms
from connectors.notify.pending import Takeover, take_over, this_sender
from engine.config import Config
from engine.notify import (
    LEVELS,
    Alert,
    Delivery,
    Settings,
    State,
    admit,
    at_or_above,
    drain,
    due,
    next_due_ms,
    scrub,
    scrub_value,
)

log = logging.getLogger("showdown.notify")

# Loggers of the HTTP stack that may quote the request URL (and so the token).
_HTTP_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")
_MAX_BACKOFF_S = 60.0
TAKEOVER_EVERY_S = 300.0  # how often a running notifier looks for rows ended processes left pending


class _ScrubFilter(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage(), self.secrets)
        record.args = None
        return True


@dataclass
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


@dataclass(frozen=True)
class SendResult:
    ok: bool
    attempts: int
    error: str | None = None


class Notifier:
    """Store every notification; deliver those at or above telegram.min_level."""

    def __init__(self, config: Config, db: peewee.Database | None = None, resume: bool = True):
        """resume: take over the rows ended processes left pending (pending.py) — off for
        a short-lived notifier in a long-lived process (its own rows would look alive)."""
        tg = config.get("telegram") or {}
        self.db = db  # None: the database the models are bound to
        self.secrets = tuple(config.secrets())
        self.min_level = str(tg.get("min_level", "WARNING"))
        self.settings = Settings(
            window_s=int(tg.get("aggregate_window_s", 300)),
            digest_levels=frozenset(tg.get("digest_levels", ["INFO", "WARNING"])),
            secrets=self.secrets,
        )
        self._token = str(tg.get("bot_token") or "")
        self.chat_ids = [str(c) for c in tg.get("chat_ids") or [] if str(c).strip()]
        self.configured = bool(self._token and self.chat_ids)
        self._url = f"{str(tg.get('api_url', 'https://api.telegram.org')).rstrip('/')}/bot{self._token}/sendMessage"
        self.timeout_s = float(tg.get("timeout_s", 5))
        self.max_retries = int(tg.get("max_retries", 3))
        self.retry_backoff_s = float(tg.get("retry_backoff_s", 1.0))
        self.max_retry_after_s = int(tg.get("max_retry_after_s", 60))
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=int(tg.get("queue_size", 1000)))
        self.sender = this_sender()
        self.resume = resume
        self.resume_max_age_s = float(tg.get("resume_max_age_s", 21600))
        self.stale_pending_s = float(tg.get("stale_pending_s", 3600))
        self.resumed: Takeover | None = None
        self.dropped = 0
        self._closing = threading.Event()
        self._detached = False
        self._filter = _ScrubFilter(self.secrets)
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        self._thread: threading.Thread | None = None
        if self.configured:
            self._thread = threading.Thread(target=self._run, name="notifier-sender", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ caller side

    def notify(self, level: str, source: str, code: str, message: str,
               context: Mapping[str, Any] | None = None, action: str | None = None) -> int | None:
        """Store the notification and queue it for delivery; returns its row id (None when
        the database could not take it — it is still sent). Never raises, never waits."""
        try:
            return self._notify(level, source, code, message, context, action)
        except Exception as exc:  # a notification must never take trading down
            log.error("notification not recorded: %s", scrub(f"{type(exc).__name__}: {exc}", self.secrets))
            return None

    def _notify(self, level: str, source: str, code: str, message: str,
                context: Mapping[str, Any] | None, action: str | None) -> int | None:
        level = _level(level)
        ctx = scrub_value(dict(context or {}), self.secrets)
        alert = Alert(None, level, str(source)[:32], str(code)[:64], scrub(str(message), self.secrets),
                      now_ms(), ctx, scrub(action, self.secrets) if action else None)
        if not at_or_above(level, self.min_level):
            status = "suppressed"
        elif not self.configured:
            status = "not_configured"
        else:
            status = "pending"
        row_id = store(alert, status, self.db, self.sender)
        alert = Alert(row_id, alert.level, alert.source, alert.code, alert.message, alert.created_ms,
                      alert.context, alert.action)
        if status == "pending":
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                self.dropped += 1
                self._update(row_id, delivery_status="failed",
                             last_error=f"notifier queue full ({self._queue.maxsize} waiting)")
        return row_id

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything held for aggregation now and wait until the queue is through.
        True when done within `timeout` (always True when nothing is configured)."""
        if self._thread is None or not self._thread.is_alive():
            return True
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Flush, then stop the sender. Rows still undelivered stay 'pending'; a sender
        stuck in a request past `timeout` is abandoned and writes nothing more."""
        if self._closing.is_set():
            return True
        done = self.flush(timeout)
        self._closing.set()  # cut retry waits short, deliver nothing more
        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
            self._thread.join(timeout=min(timeout, 1.0))
            if self._thread.is_alive():
                # Its database may be closed by now: it must not write after close().
                self._detached = True
                log.warning("notifier closed while a Telegram request hangs; undelivered notifications "
                            "stay 'pending'")
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)
        return done

    # ------------------------------------------------------------------ sender thread

    def _take_over(self) -> None:
        """Rows ended processes left pending: queued again, or failed when too old."""
        try:
            self.resumed = take_over(self.sender, now_ms(), self.resume_max_age_s, self.stale_pending_s, self.db)
        except Exception as exc:  # no database now: their turn comes with the next look
            log.warning("pending notifications of ended processes not taken over: %s",
                        self._scrub(f"{type(exc).__name__}: {exc}"))
            return
        for row in self.resumed.resend:
            ctx = dict(row.context or {})
            action = ctx.pop("action", None)
            with contextlib.suppress(queue.Full):  # a full queue: the row stays pending (ours)
                self._queue.put_nowait(Alert(row.get_id(), row.level, row.source, row.code, row.message,
                                             int(row.created_ms), ctx, action))
        if self.resumed.resend or self.resumed.failed:
            log.warning("notifications left pending by ended processes: %d sent again, %d too old (marked "
                        "failed)", len(self.resumed.resend), self.resumed.failed)

    def _run(self) -> None:
        state = State()
        next_takeover = 0.0
        try:
            while True:
                if self.resume and time.monotonic() >= next_takeover:  # at start, then every few minutes:
                    self._take_over()  # a process that ended while this one runs leaves nothing pending
                    next_takeover = time.monotonic() + TAKEOVER_EVERY_S
                nxt = next_due_ms(state, self.settings)
                wait = None if nxt is None else max(0.0, (nxt - now_ms()) / 1000)
                if self.resume:
                    wait = min(wait, TAKEOVER_EVERY_S) if wait is not None else TAKEOVER_EVERY_S
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    item = None
                out: list[Delivery] = []
                if isinstance(item, Alert):
                    state, out = admit(state, item, now_ms(), self.settings)
                elif isinstance(item, _Flush) or item is _STOP:
                    state, out = drain(state, self.settings)
                state, more = due(state, now_ms(), self.settings)
                for delivery in out + more:
                    if self._closing.is_set() and item is not _STOP:
                        return  # closed past its flush timeout: leave the rest pending
                    self._deliver(delivery)
                if isinstance(item, _Flush):
                    item.done.set()
                if item is _STOP:
                    return
        finally:
            if self.db is not None and not self._detached:
                self.db.close()  # this thread's own connection

    def _deliver(self, d: Delivery) -> None:
        try:
            for folded in d.folded:
                self._update(folded.id, delivery_status="aggregated", carried_by=d.carrier.id)
            results = [(chat, self._send(chat, d.text)) for chat in self.chat_ids]
            if self._detached:
                return
            errors = [f"chat {chat}: {r.error}" for chat, r in results if not r.ok]
            ok = not errors
            self._update(d.carrier.id, delivery_status="sent" if ok else "failed",
                         attempts=sum(r.attempts for _, r in results),
                         delivered_ms=now_ms() if any(r.ok for _, r in results) else None,
                         last_error="; ".join(errors) or None)
            if not ok:
                log.warning("notification %s [%s] [%s] not delivered: %s", d.carrier.id, d.carrier.source,
                            d.carrier.code, "; ".join(errors))
        except Exception as exc:  # keep the sender alive whatever happens
            log.error("notification %s: delivery crashed: %s", d.carrier.id,
                      scrub(f"{type(exc).__name__}: {exc}", self.secrets))

    def _send(self, chat_id: str, text: str) -> SendResult:
        payload = {"chat_id": _chat(chat_id), "text": text, "disable_web_page_preview": True}
        backoff = self.retry_backoff_s
        attempts = 0
        with requests.Session() as session:
            while True:
                attempts += 1
                retry_in: float | None = None
                try:
                    r = session.post(self._url, json=payload, timeout=self.timeout_s)
                except (requests.Timeout, requests.ConnectionError) as exc:
                    error = self._scrub(f"{type(exc).__name__}: {exc}")
                    retry_in = backoff
                except requests.RequestException as exc:
                    return SendResult(False, attempts, self._scrub(f"{type(exc).__name__}: {exc}"))
                else:
                    body = _json(r)
                    if r.status_code == 200 and body.get("ok") is True:
                        return SendResult(True, attempts)
                    error = self._scrub(f"HTTP {r.status_code}: {body.get('description') or r.reason}")
                    if r.status_code == 429:
                        after = _retry_after(body, backoff)
                        if after > self.max_retry_after_s:
                            return SendResult(False, attempts, f"{error} (retry_after {after:g} s > "
                                                               f"max_retry_after_s {self.max_retry_after_s})")
                        retry_in = after
                    elif r.status_code >= 500:
                        retry_in = backoff
                # 4xx other than 429 (bad token, unknown chat): retrying cannot help.
                if retry_in is None or attempts > self.max_retries:
                    return SendResult(False, attempts, error)
                if self._closing.wait(retry_in):
                    return SendResult(False, attempts, error + " (shutting down)")
                backoff = min(max(backoff * 2, 0.1), _MAX_BACKOFF_S)

    def _scrub(self, text: str) -> str:
        return scrub(text, (*self.secrets, self._token))

    def _update(self, row_id: int | None, **values: Any) -> None:
        if row_id is None or self._detached:
            return
        try:
            Notification.update(**values).where(Notification._meta.primary_key == row_id).execute(self.db)
        except Exception as exc:
            log.error("notification %s: status not recorded: %s", row_id, self._scrub(str(exc)))


def store(alert: Alert, status: str, db: peewee.Database | None = None, sender: str | None = None) -> int | None:
    """Insert the row (action kept in the context under "action"); None if the DB failed."""
    ctx = dict(alert.context)
    if alert.action:
        ctx["action"] = alert.action
    try:
        return int(Notification.insert(
            symbol=str(ctx["symbol"])[:20] if ctx.get("symbol") else None, created_ms=alert.created_ms,
            level=alert.level, source=alert.source, code=alert.code, message=alert.message,
            context=ctx or None, delivery_status=status, sender=sender,
        ).execute(db))
    except Exception as exc:  # DB down, proxy not initialised: the alert still goes out
        log.error("notification [%s] [%s] [%s] not stored (%s): %s", alert.level, alert.source, alert.code,
                  type(exc).__name__, scrub(str(exc), ()))
        return None


def _level(level: str) -> str:
    up = str(level).strip().upper()
    if up in LEVELS:
        return up
    # A typo in a rarely taken error path must not crash the caller: send it as an ERROR.
    log.warning("unknown notification level %r, sent as ERROR", level)
    return "ERROR"


def _chat(chat_id: str) -> int | str:
    """Numeric ids as integers, @channelusername as given (the two forms the API takes)."""
    return int(chat_id) if re.fullmatch(r"-?\d+", chat_id.strip()) else chat_id.strip()


def _json(r: requests.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(body: dict[str, Any], default: float) -> float:
    params = body.get("parameters")
    value = params.get("retry_after") if isinstance(params, dict) else None
    return float(value) if isinstance(value, int | float) and value >= 0 else default


# ---------------------------------------------------------------------- module level

_installed: Notifier | None = None


def install(notifier: Notifier | None) -> Notifier | None:
    """Make `notifier` the one `notify()` uses; returns the previous one."""
    global _installed
    previous, _installed = _installed, notifier
    return previous


def installed() -> Notifier | None:
    return _installed


def notify(level: str, source: str, code: str, message: str,
           context: Mapping[str, Any] | None = None, action: str | None = None) -> int | None:
    """For the execution worker, the analytics loop…: through the installed Notifier, or —
    none installed — stored only (status not_configured), in the models' database."""
    n = _installed
    if n is not None:
        return n.notify(level, source, code, message, context, action)
    try:
        alert = Alert(None, _level(level), str(source)[:32], str(code)[:64], scrub(str(message), ()),
                      now_ms(), scrub_value(dict(context or {}), ()), scrub(action, ()) if action else None)
        return store(alert, "not_configured")
    except Exception as exc:
        log.error("notification not recorded: %s", scrub(f"{type(exc).__name__}: {exc}", ()))
        return None
