"""Derivatives series (funding rate, open interest, mark/index price, premium…) in the
`derivatives` table: one value per (symbol, kind, time_ms)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import peewee as pw

from connectors.db import database_proxy, is_sqlite
from connectors.db.models import Derivative

KINDS = ("funding_rate", "open_interest", "mark_price", "index_price", "premium")


def upsert_derivatives(symbol: str, kind: str, points: Iterable[tuple[int, float]]) -> int:
    """Insert or replace (time_ms, value) points in one transaction; returns points sent."""
    rows: list[tuple[Any, ...]] = [(symbol, kind, int(t), float(v)) for t, v in points]
    if not rows:
        return 0
    fields = [Derivative.symbol, Derivative.kind, Derivative.time_ms, Derivative.value]
    sqlite = is_sqlite(database_proxy)
    incoming = pw.EXCLUDED.value if sqlite else pw.fn.VALUES(Derivative.value)
    target = {"conflict_target": [Derivative.symbol, Derivative.kind, Derivative.time_ms]} if sqlite else {}
    with database_proxy.atomic():
        for i in range(0, len(rows), 1000):
            Derivative.insert_many(rows[i:i + 1000], fields=fields).on_conflict(
                update={Derivative.value: incoming}, **target).execute()
    return len(rows)


def derivative_series(symbol: str, kind: str, start_ms: int | None = None, end_ms: int | None = None) -> pd.Series:
    """Values with start_ms <= time_ms < end_ms as a float Series indexed by time_ms."""
    q = Derivative.select(Derivative.time_ms, Derivative.value).where(
        (Derivative.symbol == symbol) & (Derivative.kind == kind))
    if start_ms is not None:
        q = q.where(Derivative.time_ms >= start_ms)
    if end_ms is not None:
        q = q.where(Derivative.time_ms < end_ms)
    rows = database_proxy.execute(q.order_by(Derivative.time_ms)).fetchall()
    s = pd.Series([r[1] for r in rows], index=pd.Index([int(r[0]) for r in rows], name="time_ms"),
                  dtype="float64", name=kind)
    return s
