"""Time as an argument: the wall clock for live trading, a simulated one for paper
replays and the backtester. Code that needs "now" takes a Clock; the pure core takes
`now_ms` and never asks."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimClock:
    """Moves only when told: `sleep` advances it, so a loop of N seconds replays
    instantly and deterministically."""

    def __init__(self, start_ms: int = 0):
        self._now = int(start_ms)

    def now_ms(self) -> int:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(int(seconds * 1000))

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError(f"a clock never goes back ({ms} ms)")
        self._now += ms

    def set(self, now_ms: int) -> None:
        self.advance(now_ms - self._now)
