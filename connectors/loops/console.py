"""The console of `showdown run`, kept quiet: the supervisor's own lines, every warning,
error and refusal, and the first-start password banner are printed; the children's routine
output (a collector pass every few seconds in a replay, INFO log lines, gunicorn's chatter)
goes whole to logs/run.log, and one status line sums it up every `status_every_s`."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

# "[child] text": routine when it is a collector pass, an INFO log line (ours or gunicorn's)
# or an access-log line; anything else (WARNING, ERROR, Traceback, refused, banners) is not.
_ROUTINE = re.compile(
    r"^\[(?P<child>[\w-]+)\] (?P<text>new candles [\d{].*"   # a count, or counts by timeframe
    r"|cycle \d{4}-\S+: .*"              # the analysis loop's decision of each cycle
    r"|\S+ \S+ INFO .*"                 # logging: "2025-… 12:00:00,123 INFO name: msg"
    r"|\[[^]]+\] \[\d+\] \[INFO\] .*"   # gunicorn: "[time] [pid] [INFO] msg"
    r"|\S+ - - \[.*\] \"[A-Z]+ .*)$"    # an access-log line
)
_STATUS_OF = {"collector": "collector", "analyze": "analyze", "execute": "execute"}


def routine(line: str) -> tuple[str, str] | None:
    """(child, text) when `line` is routine output, else None (it goes to the console)."""
    m = _ROUTINE.match(line)
    if not m or "WARNING" in line or "ERROR" in line or "CRITICAL" in line:
        return None
    return m.group("child"), m.group("text")


def status_line(last: dict[str, str], quiet: int, log_name: str, at: datetime) -> str:
    """One line: each loop's latest routine message, shortened, and how many lines went to the file."""
    def short(text: str) -> str:
        text = re.sub(r"^\S+ \S+ INFO [\w.]+:? ", "", text)
        return text if len(text) <= 90 else text[:87] + "…"

    parts = [f"{name}: {short(last[name])}" for name in _STATUS_OF if name in last]
    return (f"[status {at.strftime('%Y-%m-%dT%H:%M:%SZ')}] " + (" · ".join(parts) or "starting")
            + f" · {quiet} routine line(s) in {log_name}")


class QuietConsole:
    def __init__(self, log_path: Path, echo: Callable[[str], None] | None = None, status_every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._file: TextIO = log_path.open("a", encoding="utf-8")
        self.echo = echo or (lambda s: print(s, flush=True))
        self.every = status_every_s
        self.clock = clock
        self.last: dict[str, str] = {}
        self.quiet = 0
        self._next = clock() + status_every_s
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:  # one pump thread per child
            self._file.write(line + "\n")
            self._file.flush()
            r = routine(line)
            if r is None:
                self.echo(line)
            else:
                self.last[r[0]] = r[1]
                self.quiet += 1
            if self.clock() >= self._next:
                self._next = self.clock() + self.every
                self.echo(status_line(self.last, self.quiet, str(self.log_path), datetime.now(UTC)))
                self.quiet = 0

    def close(self) -> None:
        self._file.close()
