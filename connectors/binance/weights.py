"""Request-weight governor: reads X-MBX-USED-WEIGHT-1M from every answer and slows down
before the per-minute limit, instead of running into 429s (and an IP ban after that)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class WeightGovernor:
    max_per_minute: int = 2000
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    used: int = 0
    minute: int = -1
    banned_until: float = 0.0
    waited_s: float = field(default=0.0)

    def observe(self, used_header: str | None) -> None:
        if used_header is None:
            return
        try:
            self.used = int(used_header)
        except ValueError:
            return
        self.minute = int(self.clock() // 60)

    def before(self, weight: int = 1) -> None:
        """Block until sending `weight` more keeps us under the limit (and past any ban)."""
        now = self.clock()
        if now < self.banned_until:
            self._wait(self.banned_until - now)
            now = self.clock()
        if int(now // 60) != self.minute:
            self.used, self.minute = 0, int(now // 60)
        if self.used + weight > self.max_per_minute:
            self._wait(60 - now % 60 + 0.05)
            self.used, self.minute = 0, int(self.clock() // 60)

    def back_off(self, retry_after: float) -> None:
        self.banned_until = max(self.banned_until, self.clock() + retry_after)

    def _wait(self, seconds: float) -> None:
        self.waited_s += seconds
        self.sleep(seconds)
