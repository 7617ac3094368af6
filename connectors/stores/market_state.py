"""Where the market data comes from (live Binance, a recorded replay, a configured venue),
recorded in bot_state so the dashboard can say it as loudly as the console does."""

from __future__ import annotations

from typing import Any

from connectors.db import database_proxy, is_sqlite
from connectors.db.models import BotState, now_ms

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
