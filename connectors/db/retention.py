"""Retention (PRODUCT.md §4): what is old enough to go, and removing it.

Kept for good: decisions and their traces, snapshots and flows (decisions point at them),
orders, trades, positions, equity, the operator's inputs, rulesets, audit and backtests.
Pruned after `retention.*_days`: 1m candles, the higher timeframes, derivatives (the
collector itself keeps one day of order books), log rows and notifications. Each deletion
is a range on an index (per timeframe, per derivative kind), so a daily prune is quick.
A replay (recorded data, its own database) is not pruned: its "old" is the wall clock's.
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


def _targets(cut: Mapping[str, int], symbol: str) -> list[tuple[str, type[pw.Model], Any]]:
    """(what, model, condition): one per timeframe and per kind, so each delete is a range on
    the (symbol, timeframe|kind, time) index rather than a scan of the symbol's rows."""
    out: list[tuple[str, type[pw.Model], Any]] = []
    for (tf,) in Candle.select(Candle.timeframe).where(Candle.symbol == symbol).distinct().tuples():
        what = "candles 1m" if tf == "1m" else "candles 5m-1d"
        out.append((what, Candle, (Candle.symbol == symbol) & (Candle.timeframe == tf)
                    & (Candle.open_time_ms < cut[what])))
    for (kind,) in Derivative.select(Derivative.kind).where(Derivative.symbol == symbol).distinct().tuples():
        out.append(("derivatives", Derivative, (Derivative.symbol == symbol) & (Derivative.kind == kind)
                    & (Derivative.time_ms < cut["derivatives"])))
    out.append(("logs", LogRecord, LogRecord.created_ms < cut["logs"]))
    out.append(("notifications", Notification, Notification.created_ms < cut["notifications"]))
    return out


def prune(now_ms: int, retention: Mapping[str, Any], symbol: str = "BTCUSDT",
          dry_run: bool = False) -> dict[str, int]:
    """Delete (or, dry run, count) what retention lets go; {what: rows}."""
    cut = cutoffs(now_ms, retention)
    out = dict.fromkeys(cut, 0)
    for what, model, where in _targets(cut, symbol):
        if dry_run:
            out[what] += int(model.select().where(where).count())
            continue
        with database_proxy.atomic():
            out[what] += int(model.delete().where(where).execute())
    return out
