"""Logging: JSON lines to a rotating file and to the `logs` table, secrets scrubbed.

The database sink is a bounded buffer drained by one thread with its own connection:
the caller only ever appends to a queue, so a slow or dead database never blocks
trading. Past the bound, records are dropped and counted; when the database answers
again the count is logged. The file sink is synchronous and always complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import queue
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import peewee

from connectors.db import make_database
from connectors.db.models import LogRecord
from engine.config import REDACTED, Config
from engine.paths import Home

# Attributes every LogRecord has; anything else came in through `extra=` and is context.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "component"}

# Key patterns scrubbed even when not configured (a key pasted into an error message).
_PATTERNS = [
    # api_key=…, "secret": "…", password: …, X-MBX-APIKEY: …, signature=…
    (re.compile(r"(?i)((?:api[_-]?key|api[_-]?secret|secret[_-]?key|secret|password|passwd|token|"
                r"signature|x-mbx-apikey)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"), r"\1" + REDACTED),
    # Telegram bot tokens: 123456789:AA…
    (re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"), REDACTED),
    # Credentials in URLs: scheme://user:password@host
    (re.compile(r"(://[^:/\s@]+:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
]


_KEY_WORDS = ("key", "secret", "passw", "token", "signature")


class Redactor:
    def __init__(self, secrets: Iterable[str]):
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, REDACTED)
        # Cheap substring tests first: most log lines match no pattern at all.
        low = text.lower()
        if any(k in low for k in _KEY_WORDS):
            text = _PATTERNS[0][0].sub(_PATTERNS[0][1], text)
        if ":" in text:
            text = _PATTERNS[1][0].sub(_PATTERNS[1][1], text)
        if "://" in text:
            text = _PATTERNS[2][0].sub(_PATTERNS[2][1], text)
        return text


class RedactingFilter(logging.Filter):
    """Renders message and args once, scrubbed (args could carry a key)."""

    def __init__(self, redact: Redactor, component: str):
        super().__init__()
        self.redact = redact
        self.component = component

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_showdown_redacted", False):
            record.msg = self.redact(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
            record._showdown_redacted = True
        if not hasattr(record, "component"):
            record.component = self.component
        return True


def _context(record: logging.LogRecord) -> dict[str, Any] | None:
    ctx = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
    if record.exc_text:
        ctx["exception"] = record.exc_text
    return ctx or None


class JsonLinesFormatter(logging.Formatter):
    def __init__(self, redact: Redactor):
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        # RotatingFileHandler formats each record twice (once to measure it): do it once.
        cached = getattr(record, "_showdown_json", None)
        if cached is not None:
            return str(cached)
        record._showdown_json = line = self._format(record)
        return line

    def _format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "component": getattr(record, "component", None),
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = _context(record)
        line = json.dumps(doc, default=str, ensure_ascii=False)
        if not ctx:
            return line  # the message was scrubbed by RedactingFilter
        doc["context"] = ctx
        # Context values and tracebacks never went through the filter: scrub the line.
        return self.redact(json.dumps(doc, default=str, ensure_ascii=False))


class DatabaseLogHandler(logging.Handler):
    """Buffers records for the `logs` table; never blocks, never raises into the caller."""

    def __init__(self, connect: Any, redact: Redactor, capacity: int = 10_000, batch: int = 500,
                 retry_max_s: float = 30.0):
        super().__init__()
        self._connect = connect
        self.redact = redact
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=capacity)
        self._batch = batch
        self._retry_max_s = retry_max_s
        self._stop = threading.Event()
        self._lock_dropped = threading.Lock()
        self.dropped = 0  # since the last report
        self.written = 0
        self.outage_since: float | None = None
        self._db: peewee.Database | None = None
        self._pending: list[dict[str, Any]] = []  # the batch in hand, kept through an outage
        self._thread = threading.Thread(target=self._run, name="showdown-log-writer", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread.ident:
            return  # the writer's own troubles (driver warnings) must not feed back into it
        try:
            ctx = _context(record)
            row = {
                "created_ms": int(record.created * 1000),
                "level": record.levelname,
                "component": str(getattr(record, "component", ""))[:32],
                "logger": record.name[:128],
                # Already scrubbed by RedactingFilter (attached to this handler).
                "message": record.getMessage(),
                "context": json.loads(self.redact(json.dumps(ctx, default=str))) if ctx else None,
            }
            self._queue.put_nowait(row)
        except queue.Full:
            with self._lock_dropped:
                self.dropped += 1
        except Exception:  # noqa: BLE001 - a log record must never break the caller
            self.handleError(record)

    def _drain(self, first: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [first]
        while len(rows) < self._batch:
            try:
                rows.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return rows

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if self._db is None:
            self._db = self._connect()
        try:
            with self._db.atomic():
                LogRecord.insert_many(rows).execute(self._db)
        except Exception:
            with contextlib.suppress(Exception):  # already broken; reconnect next time
                self._db.close()
            self._db = None
            raise

    def _report_back(self) -> None:
        """After an outage: say how long it lasted and how many records were lost."""
        with self._lock_dropped:
            dropped, self.dropped = self.dropped, 0
        down = time.time() - self.outage_since if self.outage_since else 0.0
        self.outage_since = None
        msg = (f"log database reachable again after {down:.0f} s; {dropped} log record(s) dropped "
               f"meanwhile (buffer full); the log file has them all")
        row = {"created_ms": int(time.time() * 1000), "level": "WARNING", "component": "logs",
               "logger": "showdown.logs", "message": msg, "context": {"dropped": dropped, "outage_s": round(down, 1)}}
        try:
            self._write([row])
        except Exception:  # noqa: BLE001 - down again: the next recovery reports
            with self._lock_dropped:
                self.dropped += dropped
            self.outage_since = time.time()
            return
        self.written += 1
        # Written from this thread, so this record reaches the file only (see emit).
        logging.getLogger("showdown.logs").warning(msg)

    def _run(self) -> None:
        backoff = 0.5
        while True:
            if not self._pending:
                try:
                    first = self._queue.get(timeout=0.2)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                self._pending = self._drain(first)
            try:
                self._write(self._pending)
            except Exception:  # noqa: BLE001 - any DB failure is an outage: keep the batch, wait
                if self.outage_since is None:
                    self.outage_since = time.time()
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, self._retry_max_s)
                continue
            self.written += len(self._pending)
            self._pending = []
            backoff = 0.5
            if self.outage_since is not None or self.dropped:
                self._report_back()

    def wait_written(self, timeout: float = 5.0) -> bool:
        """Wait until everything buffered is written (True) or the timeout passes (False)."""
        end = time.time() + timeout
        while time.time() < end:
            if self._queue.empty() and not self._pending and self.outage_since is None:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self._db is not None:
            self._db.close()
        super().close()


@dataclass
class LoggingSetup:
    file_handler: logging.Handler
    db_handler: DatabaseLogHandler
    redact: Redactor

    def close(self) -> None:
        root = logging.getLogger()
        for h in (self.file_handler, self.db_handler):
            root.removeHandler(h)
            h.close()


_active: LoggingSetup | None = None


def setup_logging(config: Config, home: Home, component: str, buffer_records: int = 10_000,
                  retry_max_s: float = 30.0) -> LoggingSetup:
    """Route every logger to <home>/logs/showdown.log and the `logs` table, secrets scrubbed.

    Calling it again replaces the previous setup (one per process).
    """
    global _active
    if _active is not None:
        _active.close()
    home.logs.mkdir(parents=True, exist_ok=True)
    redact = Redactor(config.secrets())
    flt = RedactingFilter(redact, component)
    file_handler = logging.handlers.RotatingFileHandler(
        home.logs / "showdown.log", maxBytes=int(config.get("logging.file_max_mb", 20)) * 1024 * 1024,
        backupCount=int(config.get("logging.file_backups", 5)), encoding="utf-8")
    file_handler.setFormatter(JsonLinesFormatter(redact))
    file_handler.addFilter(flt)
    db_handler = DatabaseLogHandler(lambda: make_database(config, home, connect_timeout=3), redact,
                                    capacity=buffer_records, retry_max_s=retry_max_s)
    db_handler.addFilter(flt)
    root = logging.getLogger()
    root.setLevel(str(config.get("logging.level", "INFO")))
    # peewee logs every statement with its parameters at DEBUG: a flood, and parameters
    # are data (password hashes, order payloads) that has no place in logs.
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
    root.addHandler(file_handler)
    root.addHandler(db_handler)
    _active = LoggingSetup(file_handler, db_handler, redact)
    return _active
