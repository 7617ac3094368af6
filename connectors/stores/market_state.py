"""Where the market data comes from (live Binance, a recorded replay, a configured venue),
recorded in bot_state so the dashboard can say it as loudly as the console does; and the
market's clock that follows from it (the replayed "now" in a replay)."""

from __future__ import annotations

from typing import Any

from connectors.db import database_proxy, is_sqlite
from connectors.db.models import BotState, Candle, now_ms

COMPONENT = "market_data"


def record_market_source(source: str, lines: list[str], symbol: str = "BTCUSDT") -> None:
    details: dict[str, Any] = {"source": source, "label": " ".join(s.strip("# ").strip() for s in lines)}
    state = "REPLAY" if source == "replay" else "LIVE"
    # SQLite wants the conflict target named, MariaDB refuses one (ON DUPLICATE KEY UPDATE)
    target = {"conflict_target": [BotState.symbol, BotState.component]} if is_sqlite(database_proxy) else {}
    (BotState.insert(symbol=symbol, component=COMPONENT, state=state, heartbeat_ms=now_ms(), details=details)
     .on_conflict(update={BotState.state: state, BotState.heartbeat_ms: now_ms(), BotState.details: details},
                  **target)
     .execute())


def market_source(symbol: str = "BTCUSDT") -> dict[str, Any] | None:
    row = BotState.get_or_none((BotState.symbol == symbol) & (BotState.component == COMPONENT))
    return dict(row.details or {}, state=row.state) if row else None


def market_now_ms(symbol: str, wall_ms: int, execution_time_ms: int | None = None) -> int:
    """The market's "now": the wall clock live; in a replay the replayed time — what the
    execution worker last read from the exchange (exchange-sim, in its heartbeat; a clock
    independent of the collector, so stalled candles show), else the newest 1m candle's
    close. `execution_time_ms`: that heartbeat time when the caller has already read it."""
    source = market_source(symbol)
    if not source or source.get("source") != "replay":
        return wall_ms
    if execution_time_ms is None:
        row = BotState.get_or_none((BotState.symbol == symbol) & (BotState.component == "execution"))
        seen = (row.details or {}).get("time_ms") if row is not None else None
        execution_time_ms = seen if isinstance(seen, int) else None
    if execution_time_ms is not None and execution_time_ms > 0:
        return execution_time_ms
    row = (Candle.select(Candle.open_time_ms).where((Candle.symbol == symbol) & (Candle.timeframe == "1m"))
           .order_by(Candle.open_time_ms.desc()).limit(1).first())
    return int(row.open_time_ms) + 60_000 if row else wall_ms
