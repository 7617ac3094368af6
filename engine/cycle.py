"""When an analytics cycle runs, and the account facts it sees. Pure.

The trigger is driven by the data, not by the clock, so the same rule works live, in a
replay at any speed and in a backtest: the cycle at T (a multiple of cycle_minutes)
runs once the 1m candle closing at T is stored, and at least `settle_s` after T by the
wall clock (live, that lets the exchange finish the candle; in a replay or backtest T is
in the past and the settle is already over). If the candle never comes, the cycle still
runs once the wall clock passes T + max_wait — with stale data, which the flow flags as
`market_data_stale` and the rules turn into flat with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.facts import MANAGE_FIELDS

MINUTE_MS = 60_000


def cycle_ms(cycle_minutes: int) -> int:
    return int(cycle_minutes) * MINUTE_MS


def floor_cycle(t_ms: int, cycle_minutes: int) -> int:
    step = cycle_ms(cycle_minutes)
    return int(t_ms) // step * step


def due(t_ms: int, candle_stored: bool, now_ms: int, settle_s: float, max_wait_s: float) -> str:
    """"run" (data is in), "stale" (waited long enough without it) or "wait"."""
    if candle_stored and now_ms >= t_ms + settle_s * 1000:
        return "run"
    if now_ms >= t_ms + max_wait_s * 1000:
        return "stale"
    return "wait"


def mark_stale(flow: dict[str, Any], message: str) -> dict[str, Any]:
    """Add the high-severity market_data_stale warning to a flow (scalar view, list and counts)."""
    warnings = flow.setdefault("warnings", {})
    if not isinstance(warnings, dict):
        return flow
    if warnings.get("market_data_stale") != "high":
        counts = flow.setdefault("warning_counts", {"high": 0, "medium": 0, "low": 0})
        old = warnings.get("market_data_stale")
        if old in counts and isinstance(counts[old], int):
            counts[old] -= 1
        counts["high"] = int(counts.get("high") or 0) + 1
        warnings["market_data_stale"] = "high"
    items = flow.setdefault("warning_list", [])
    if isinstance(items, list):
        items.append({"type": "market_data_stale", "severity": "high", "message": message})
    return flow


def utc_day_start(t_ms: int) -> int:
    d = datetime.fromtimestamp(t_ms / 1000, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(d.timestamp() * 1000)


def utc_week_start(t_ms: int) -> int:
    day = datetime.fromtimestamp(utc_day_start(t_ms) / 1000, UTC)
    return int((day - timedelta(days=day.weekday())).timestamp() * 1000)


def _pct(now: float, then: float | None) -> float:
    return 0.0 if not then else round((now - then) / then * 100.0, 6)


def account_facts(equity: float | None, day_open_equity: float | None, week_open_equity: float | None,
                  trades_today: int, safe_mode: bool, entries_paused: bool, default_equity: float) -> dict[str, Any]:
    """The `account` fact. With no equity recorded yet (nothing traded), the configured
    starting equity, flat P&L."""
    eq = float(equity) if equity is not None else float(default_equity)
    sod = float(day_open_equity) if day_open_equity is not None else eq
    sow = float(week_open_equity) if week_open_equity is not None else sod
    return {"equity": eq, "start_of_day_equity": sod, "daily_pnl_pct": _pct(eq, sod),
            "weekly_pnl_pct": _pct(eq, sow), "trades_today": int(trades_today), "safe_mode": bool(safe_mode),
            "entries_paused": bool(entries_paused)}


def position_fact(row: Mapping[str, Any] | None, managed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `position` fact; `managed`: its management fields (engine/execution/manage.py
    position_facts), unknown when not given."""
    extra = {k: (managed or {}).get(k) for k in MANAGE_FIELDS}
    if not row:
        return {"side": "flat", "quantity": 0.0, "entry_price": None, "unrealized_pnl": None,
                **dict.fromkeys(MANAGE_FIELDS)}
    return {"side": row["side"], "quantity": float(row["quantity"]), "entry_price": float(row["entry_price"]),
            "unrealized_pnl": None if row.get("unrealized_pnl") is None else float(row["unrealized_pnl"]), **extra}


def iso_to_ms(text: str) -> int:
    """'2025-06-01T12:00:00Z' (or without Z, or with an offset) -> epoch ms; naive means UTC."""
    d = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return int(d.timestamp() * 1000)
