"""The account and position facts of a cycle, from what the execution worker writes.

- equity: the last `equity_curve` point at or before T; start of day / week equity: the
  last point before the UTC day / week started (else the first point of it);
- trades_today: positions opened since the UTC day started (open ones count: the limit
  is on entries);
- safe_mode: the execution row of `bot_state` in state SAFE_MODE (or details.safe_mode);
- entries_paused: the operator switch, `bot_state` row component "control";
- position: the open row of `positions`, if any.
Nothing recorded yet (no worker ran): the configured paper starting equity, flat.
Only rows at or before T are read, so a replayed cycle sees what a live one saw.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.db.models import BotState, EquityPoint, Position, Trade
from engine.cycle import account_facts, position_fact, utc_day_start, utc_week_start
from engine.execution.manage import position_facts
from engine.execution.model import ExecState
from engine.protections import HOUR_MS, STREAK_LIMIT, WINDOWS_H, protection_facts


def _equity_at(symbol: str, t_ms: int) -> float | None:
    p = (EquityPoint.select(EquityPoint.equity).where((EquityPoint.symbol == symbol) & (EquityPoint.time_ms <= t_ms))
         .order_by(EquityPoint.time_ms.desc()).first())
    return None if p is None else float(p.equity)


def _opening_equity(symbol: str, since_ms: int, t_ms: int) -> float | None:
    before = _equity_at(symbol, since_ms - 1)
    if before is not None:
        return before
    p = (EquityPoint.select(EquityPoint.equity)
         .where((EquityPoint.symbol == symbol) & (EquityPoint.time_ms >= since_ms) & (EquityPoint.time_ms <= t_ms))
         .order_by(EquityPoint.time_ms).first())
    return None if p is None else float(p.equity)


def _state(symbol: str, component: str) -> BotState | None:
    return BotState.get_or_none((BotState.symbol == symbol) & (BotState.component == component))


def read_account(symbol: str, t_ms: int, default_equity: float) -> dict[str, Any]:
    day, week = utc_day_start(t_ms), utc_week_start(t_ms)
    trades = (Position.select().where((Position.symbol == symbol) & (Position.opened_ms >= day)
                                      & (Position.opened_ms <= t_ms)).count())
    ex = _state(symbol, "execution")
    safe = ex is not None and (ex.state == "SAFE_MODE" or bool((ex.details or {}).get("safe_mode")))
    ctl = _state(symbol, "control")
    paused = ctl is not None and bool((ctl.details or {}).get("entries_paused"))
    return account_facts(_equity_at(symbol, t_ms), _opening_equity(symbol, day, t_ms),
                         _opening_equity(symbol, week, t_ms), trades, safe, paused, default_equity)


def risk_records(symbol: str, t_ms: int) -> dict[str, Any]:
    """What the execution worker's risk limits start from at T, from the records (never
    defaults): equity at the start of the UTC day and week (None: nothing recorded) and
    the positions opened today (the trades-per-day limit counts entries)."""
    day, week = utc_day_start(t_ms), utc_week_start(t_ms)
    trades = (Position.select().where((Position.symbol == symbol) & (Position.opened_ms >= day)
                                      & (Position.opened_ms <= t_ms)).count())
    return {"day_start_equity": _opening_equity(symbol, day, t_ms),
            "week_start_equity": _opening_equity(symbol, week, t_ms), "trades_today": trades}


def read_protections(symbol: str, t_ms: int) -> dict[str, Any]:
    """The `protections` fact at T from the trades table (engine/protections.py)."""
    mine = (Trade.symbol == symbol) & (Trade.closed_ms <= t_ms)
    in_window = Trade.select().where(mine & (Trade.closed_ms > t_ms - max(WINDOWS_H) * HOUR_MS)).count()
    rows = (Trade.select(Trade.closed_ms, Trade.exit_reason, Trade.pnl, Trade.side).where(mine)
            .order_by(Trade.closed_ms.desc()).limit(max(in_window, STREAK_LIMIT + 1)))
    return protection_facts(({"closed_ms": r.closed_ms, "exit_reason": r.exit_reason, "pnl": r.pnl, "side": r.side}
                             for r in rows), t_ms)


def read_position(symbol: str, t_ms: int | None = None, price: float | None = None) -> dict[str, Any]:
    """The open position; with the cycle's time and price, its management facts (age, R,
    TP1 done, stop) from the execution worker's state in its heartbeat."""
    p = (Position.select().where((Position.symbol == symbol) & (Position.status == "open"))
         .order_by(Position.opened_ms.desc()).first())
    if p is None:
        return position_fact(None)
    managed = None
    ex = _state(symbol, "execution")
    state = (ex.details or {}).get("state") if ex is not None else None
    if t_ms is not None and price is not None and isinstance(state, dict):
        qty = Decimal(str(p.quantity)) * (1 if p.side == "long" else -1)
        managed = position_facts(ExecState.from_json(state), qty, Decimal(str(p.entry_price)),
                                 Decimal(repr(float(price))), t_ms)
    return position_fact({"side": p.side, "quantity": p.quantity, "entry_price": p.entry_price,
                          "unrealized_pnl": (p.details or {}).get("unrealized_pnl")}, managed)
