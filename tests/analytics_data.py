"""Shared helpers for the analytics tests: config, synthetic candles, the real files."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.config import load_config
from engine.paths import shared_data_dir

FILE_51D = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
FILE_NOV = "btcusdt-perp-1m-2025-11-10_2025-12-10.csv.gz"
ETF_PER_FUND = "btc-spot-etf-flows-per-fund-2025-11-17_2025-12-05.json"
LIQ_SNAPSHOTS = "btc-liquidation-map-snapshots-2025-12-06_2025-12-08.json"
FUNDING = "btcusdt-perp-funding-8h.csv.gz"


@lru_cache(maxsize=1)
def config():
    return load_config(env={})


def shared(name: str) -> Path:
    path = shared_data_dir() / name
    if not path.exists():
        pytest.skip(f"needs the recorded market data {path} (../shared/data absent)")
    return path


@lru_cache(maxsize=4)
def candles_1m(name: str) -> pd.DataFrame:
    return pd.read_csv(shared(name), index_col=0)


def shared_json(name: str):
    return json.loads(shared(name).read_text(encoding="utf-8"))


def synthetic_1m(days: int = 30, seed: int = 7, start_ms: int = 1_700_006_400_000, taker: bool = True) -> pd.DataFrame:
    """A random-walk 1m series (start at a UTC day boundary) with taker-buy volume."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0, 0.0006, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    vol = rng.gamma(2.0, 20.0, n)
    df = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": vol},
                      index=pd.Index(start_ms + 60_000 * np.arange(n, dtype=np.int64), name="open_time_ms"))
    if taker:
        df["taker_buy_volume"] = vol * rng.uniform(0.3, 0.7, n)
    return df
