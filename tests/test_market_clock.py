"""The market clock follows the exchange's time (a replay runs faster and a year behind),
asks it at most once per refresh, and never runs backwards."""

from __future__ import annotations

import pytest

from connectors.market.market_clock import MarketClock


class Replay:
    """exchange-sim's market time: starts at `start`, runs `speed` times the wall clock."""

    def __init__(self, start: int, speed: float):
        self.wall, self.start, self.speed, self.asked = 0.0, start, speed, 0
        self.down = False

    def server(self) -> int:
        self.asked += 1
        if self.down:
            raise ConnectionError("exchange unreachable")
        return self.start + int(self.wall * 1000 * self.speed)


def test_follows_a_replay_running_faster_and_asks_sparingly() -> None:
    r = Replay(start=1_764_979_200_000, speed=120)
    clock = MarketClock(r.server, refresh_s=1.0, wall=lambda: r.wall)
    assert clock.now_ms() == r.start
    for step in range(1, 41):  # 4 s of wall time in 0.1 s steps
        r.wall = step * 0.1
        got = clock.now_ms()
        assert abs(got - r.server()) <= 120 * 100 + 1  # within one step of replayed time
        r.asked -= 1  # our own check above is not the clock asking
    assert r.asked <= 6  # one sample per second, not one per call


def test_keeps_extrapolating_when_the_exchange_drops_and_never_goes_back() -> None:
    r = Replay(start=0, speed=60)
    clock = MarketClock(r.server, refresh_s=0.5, wall=lambda: r.wall)
    clock.now_ms()
    r.wall = 1.0
    before = clock.now_ms()
    r.down = True
    r.wall = 2.0
    during = clock.now_ms()
    assert during > before and abs(during - 120_000) <= 1
    fresh = MarketClock(r.server, wall=lambda: r.wall)
    with pytest.raises(ConnectionError):
        fresh.now_ms()  # no sample at all: say so rather than invent a time
