"""The market's clock: the exchange's server time.

Live it is Binance's time (≈ the wall clock); offline it is exchange-sim's replayed time,
which runs `speed` times faster and a year behind. Cycles, decision ages and order ages
must all be measured on this clock, or a replay would look stale to every check.

Sampled at most once per `refresh_s` and extrapolated in between at the rate measured
between the last two samples, so callers may ask often without a request each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests


class MarketClock:
    def __init__(self, server_time_ms: Callable[[], int], refresh_s: float = 1.0,
                 wall: Callable[[], float] = time.monotonic):
        self._server = server_time_ms
        self._wall = wall
        self.refresh_s = refresh_s
        self._rate: float | None = None  # market ms per wall ms, once measured
        self._sample: tuple[float, int] | None = None

    def _resample(self) -> tuple[float, int]:
        wall, server = self._wall(), int(self._server())
        if self._sample is not None and wall > self._sample[0]:
            measured = (server - self._sample[1]) / ((wall - self._sample[0]) * 1000)
            if measured > 0:  # a stalled or stepped sim clock must not run time backwards
                self._rate = measured
        self._sample = (wall, server)
        return self._sample

    def now_ms(self) -> int:
        sample = self._sample
        # Until the rate is measured, ask every time rather than guess it.
        if sample is None or self._rate is None or self._wall() - sample[0] >= self.refresh_s:
            try:
                sample = self._resample()
            except Exception:  # noqa: BLE001 - exchange unreachable: keep extrapolating
                if sample is None:
                    raise
        wall0, server0 = sample
        return server0 + int((self._wall() - wall0) * 1000 * (self._rate or 0.0))

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def market_clock_for(config: Any) -> MarketClock:
    """exchange-sim (binance.base_url answering /_sim/state): its replayed market time.
    Otherwise the exchange's server time (Binance, testnet)."""
    base_url = config.get("binance.base_url")
    if base_url:
        state_url = f"{str(base_url).rstrip('/')}/_sim/state"
        try:
            answer = requests.get(state_url, timeout=2)
            if answer.ok and "market_time_ms" in answer.json():
                return MarketClock(lambda: int(requests.get(state_url, timeout=2).json()["market_time_ms"]))
        except (requests.RequestException, ValueError):
            pass
    from connectors.binance import BinanceExchange
    return MarketClock(BinanceExchange(dict(config["binance"])).server_time_ms)
