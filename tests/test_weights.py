"""The weight governor slows down before the per-minute limit and honours bans."""

from connectors.binance.weights import WeightGovernor


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_waits_for_next_minute_before_exceeding_limit() -> None:
    clock = FakeClock(60 * 16_667 + 20.0)  # 20 s into a minute
    g = WeightGovernor(max_per_minute=100, clock=clock, sleep=clock.sleep)
    g.observe("96")
    g.before(4)  # 100: allowed
    assert clock.slept == []
    g.observe("100")
    g.before(1)  # 101 would exceed: wait for the next minute
    assert len(clock.slept) == 1 and 40.0 <= clock.slept[0] <= 40.1
    assert g.used == 0


def test_new_minute_resets_and_retry_after_is_honoured() -> None:
    clock = FakeClock(2_000_010.0)
    g = WeightGovernor(max_per_minute=100, clock=clock, sleep=clock.sleep)
    g.observe("99")
    clock.t += 60
    g.before(5)
    assert clock.slept == []
    g.back_off(2.5)
    g.before(1)
    assert clock.slept == [2.5]
