"""The `protections` fact: what recent trades say, so cooldowns and loss limits are rules. Pure.

Built from the trades closed by T — live from the `trades` table, in a backtest from the
run's own trades — so "no entry for 4 h after a stop-out" or "stop after 3 losses in a
row" are plain rules on constants:

    - id: risk.cooldown_after_stop
      stage: risk
      when: {protections: {stop_outs_4h: {gte: 1}}}
      then: {veto: {reason: cooldown_after_stop}}

A stop-out is a trade closed by its stop loss at a loss (exit reason `sl`; `sl_breakeven`
after TP1 is not one) or liquidated. A loss is a trade whose net P&L is below zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

HOUR_MS = 3_600_000
WINDOWS_H = (1, 4, 12, 24)
STOP_OUT_REASONS = ("sl", "liquidation")
STREAK_LIMIT = 100        # losing streaks are counted up to this many trades back

# The fact's fields (engine/facts.py lists them with the other facts).
SCHEMA: dict[str, Any] = {
    **{f"stop_outs_{h}h": "integer" for h in WINDOWS_H},
    **{f"losses_{h}h": "integer" for h in WINDOWS_H},
    "trades_24h": "integer",
    "losing_streak": "integer",          # consecutive losing trades, the latest first
    "winning_streak": "integer",
    "minutes_since_last_exit": "number",
    "last_exit_reason": "string",        # sl, sl_breakeven, tp1, tp2, close, liquidation, end_of_period
    "last_exit_side": ("long", "short"),
    "last_pnl": "number",
}


def _pnl(x: Any) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


def protection_facts(trades_newest_first: Iterable[Mapping[str, Any]], t_ms: int) -> dict[str, Any]:
    """trades: {closed_ms, exit_reason, pnl, side}, newest first; only those closed by T count.
    Reads back no further than the longest window and the current streaks need."""
    out: dict[str, Any] = {k: 0 for k, v in SCHEMA.items() if v == "integer"}
    out.update({"minutes_since_last_exit": None, "last_exit_reason": None, "last_exit_side": None,
                "last_pnl": None})
    horizon = int(t_ms) - max(WINDOWS_H) * HOUR_MS
    streak_sign = 0          # -1 losing, +1 winning, 2 = streak over
    seen = 0
    for tr in trades_newest_first:
        closed = int(tr["closed_ms"])
        if closed > t_ms:
            continue
        if seen == 0:
            out["minutes_since_last_exit"] = round((int(t_ms) - closed) / 60_000, 3)
            out["last_exit_reason"] = tr.get("exit_reason")
            out["last_exit_side"] = tr.get("side") if tr.get("side") in ("long", "short") else None
            out["last_pnl"] = float(_pnl(tr["pnl"]))
        seen += 1
        loss = _pnl(tr["pnl"]) < 0
        stop = tr.get("exit_reason") in STOP_OUT_REASONS and loss
        age = int(t_ms) - closed
        for h in WINDOWS_H:
            if age <= h * HOUR_MS:
                out[f"stop_outs_{h}h"] += int(stop)
                out[f"losses_{h}h"] += int(loss)
        if age <= 24 * HOUR_MS:
            out["trades_24h"] += 1
        sign = -1 if loss else 1
        if streak_sign in (0, sign) and seen <= STREAK_LIMIT:
            streak_sign = sign
            out["losing_streak" if loss else "winning_streak"] += 1
        else:
            streak_sign = 2
        if streak_sign == 2 and closed < horizon:
            break
    return out
