"""Start `exchange-sim` in-process on a free port for tests and benchmarks."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from connectors.binance import BinanceExchange
from connectors.exchange_sim.faults import FaultPlan
from connectors.exchange_sim.market import MINUTE, Market, read_funding, read_klines
from connectors.exchange_sim.server import Running, start
from connectors.exchange_sim.venue import Venue
from engine.exchange.sim import SimConfig
from engine.paths import shared_data_dir

KEY = "test-api-key-0001"
SECRET = "test-api-secret-do-not-use-0001"
FILE_1M = "btcusdt-perp-1m-2025-11-10_2025-12-10.csv.gz"
FILE_FUNDING = "btcusdt-perp-funding-8h.csv.gz"


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[list[tuple], list[tuple[int, str]]]:
    d = shared_data_dir()
    if not (d / FILE_1M).exists():
        pytest.skip(f"shared data absent: {d / FILE_1M} (set SHOWDOWN_SHARED_DATA or add ../shared/data)")
    rows = read_klines(d / FILE_1M, end_ms=None)[:20_000]  # two weeks is plenty for tests
    return rows, read_funding(d / FILE_FUNDING)


def make_venue(history_minutes: int = 1440, faults: FaultPlan | None = None, **sim: Any) -> Venue:
    rows, funding = _rows()
    market = Market(list(rows), funding, now_ms=rows[0][0] + history_minutes * MINUTE)
    return Venue(market, {KEY: SECRET}, SimConfig(**sim), faults)


def start_sim(**kw: Any) -> Running:
    return start(make_venue(**kw))


def exchange_for(running: Running, **cfg: Any) -> BinanceExchange:
    base = {"api_key": KEY, "api_secret": SECRET, "base_url": running.url, "recv_window_ms": 5000,
            "max_weight_per_minute": 2000, "request_timeout_s": 2}
    return BinanceExchange(base | cfg)
