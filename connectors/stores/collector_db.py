"""The collector's store on the project database (connectors/db, branch `storage`):
candles through `upsert_candles` (reads: indexed queries on `Candle`), derivatives
through the `Derivative` model with an idempotent upsert on (symbol, kind, time_ms)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import peewee as pw

from connectors.db import database_proxy, is_sqlite
from connectors.db.candles import upsert_candles
from connectors.db.models import Candle, Derivative
from engine.exchange.types import Kline


@dataclass(frozen=True)
class DerivativeRow:
    """One derivative reading as the collector writes it (funding, open interest, mark/index, book)."""
    kind: str  # funding_rate | open_interest | open_interest_live | mark_price | index_price
    time_ms: int
    value: float
    details: dict | None = None


class DbStore:
    # Plain indexed queries for the two questions asked every cycle (no DataFrame needed).
    def last_open_time(self, symbol: str, timeframe: str) -> int | None:
        v = (Candle.select(pw.fn.MAX(Candle.open_time_ms))
             .where((Candle.symbol == symbol) & (Candle.timeframe == timeframe)).scalar())
        return int(v) if v is not None else None

    def open_times(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> list[int]:
        q = (Candle.select(Candle.open_time_ms)
             .where((Candle.symbol == symbol) & (Candle.timeframe == timeframe)
                    & (Candle.open_time_ms >= start_ms) & (Candle.open_time_ms < end_ms))
             .order_by(Candle.open_time_ms).tuples())
        return [int(r[0]) for r in q]

    def upsert_klines(self, symbol: str, timeframe: str, klines: Sequence[Kline]) -> int:
        rows = [{"open_time_ms": k.open_time_ms, "open": k.open, "high": k.high, "low": k.low, "close": k.close,
                 "volume": k.volume, "quote_volume": k.quote_volume, "trade_count": k.trades,
                 "taker_buy_volume": k.taker_buy_base} for k in klines]
        return upsert_candles(rows, symbol, timeframe)

    def last_derivative_time(self, symbol: str, kind: str) -> int | None:
        v = (Derivative.select(pw.fn.MAX(Derivative.time_ms))
             .where((Derivative.symbol == symbol) & (Derivative.kind == kind)).scalar())
        return int(v) if v is not None else None

    def upsert_derivatives(self, symbol: str, rows: Sequence[DerivativeRow]) -> int:
        if not rows:
            return 0
        data = [{"symbol": symbol, "kind": r.kind, "time_ms": r.time_ms, "value": r.value, "details": r.details}
                for r in rows]
        sqlite = is_sqlite(database_proxy)
        update = {Derivative.value: pw.EXCLUDED.value if sqlite else pw.fn.VALUES(Derivative.value),
                  Derivative.details: pw.EXCLUDED.details if sqlite else pw.fn.VALUES(Derivative.details)}
        target = {"conflict_target": [Derivative.symbol, Derivative.kind, Derivative.time_ms]} if sqlite else {}
        with database_proxy.atomic():
            Derivative.insert_many(data).on_conflict(update=update, **target).execute()
        return len(data)

    def delete_derivatives_before(self, symbol: str, kind: str, before_ms: int) -> int:
        return int(Derivative.delete().where((Derivative.symbol == symbol) & (Derivative.kind == kind)
                                             & (Derivative.time_ms < before_ms)).execute())
