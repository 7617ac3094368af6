"""Retention (PRODUCT.md §4): what is old enough to go, and removing it.

Kept for good: decisions and their traces, snapshots and flows (decisions point at them),
orders, trades, positions, equity, the operator's inputs, rulesets, audit and backtests.
Pruned after `retention.*_days`: 1m candles, the higher timeframes, derivatives (the
collector itself keeps one day of order books), log rows and notifications. A deletion is
one indexed range per table and kind, so a daily prune removes a day's rows and is quick.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import peewee as pw

from connectors.db import database_proxy
from connectors.db.models import Candle, Derivative, LogRecord, Notification

DAY_MS = 86_400_000


def cutoffs(now_ms: int, retention: Mapping[str, Any]) -> dict[str, int]:
    """Rows older than these times (epoch ms) go: {what: cutoff}."""
    return {what: now_ms - int(float(days) * DAY_MS) for what, days in (
        ("candles 1m", retention["candles_1m_days"]),
        ("candles 5m-1d", retention["candles_days"]),
        ("derivatives", retention["derivatives_days"]),
        ("logs", retention["logs_days"]),
        ("notifications", retention["notifications_days"]),
    )}


def _targets(cut: Mapping[str, int], symbol: str) -> dict[str, tuple[type[pw.Model], Any]]:
    return {
        "candles 1m": (Candle, (Candle.symbol == symbol) & (Candle.timeframe == "1m")
                       & (Candle.open_time_ms < cut["candles 1m"])),
        "candles 5m-1d": (Candle, (Candle.symbol == symbol) & (Candle.timeframe != "1m")
                          & (Candle.open_time_ms < cut["candles 5m-1d"])),
        "derivatives": (Derivative, (Derivative.symbol == symbol) & (Derivative.time_ms < cut["derivatives"])),
        "logs": (LogRecord, LogRecord.created_ms < cut["logs"]),
        "notifications": (Notification, Notification.created_ms < cut["notifications"]),
    }


def prune(now_ms: int, retention: Mapping[str, Any], symbol: str = "BTCUSDT",
          dry_run: bool = False) -> dict[str, int]:
    """Delete (or, dry run, count) what retention lets go; {what: rows}."""
    out: dict[str, int] = {}
    for what, (model, where) in _targets(cutoffs(now_ms, retention), symbol).items():
        if dry_run:
            out[what] = int(model.select().where(where).count())
            continue
        with database_proxy.atomic():
            out[what] = int(model.delete().where(where).execute())
    return out
