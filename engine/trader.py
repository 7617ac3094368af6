"""What a trader reads about trades (pure): closed trades with profit %, duration and R
net of fees; the open trade's live P&L and age; profit per UTC day and week.

Inputs are plain dicts of Decimals / ints (the web layer reads them from the database);
money stays Decimal; the display goes through engine.format.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from engine.format import dec


def r_net(pnl: Any, entry: Any, stop: Any, quantity: Any) -> Decimal | None:
    """Net result in R: the trade's net P&L (fees and funding paid) over the risk it took
    at entry, |entry − initial stop| × quantity. None without a stop."""
    p, e, s, q = dec(pnl), dec(entry), dec(stop), dec(quantity)
    if p is None or e is None or s is None or q is None:
        return None
    risk = abs(e - s) * abs(q)
    return None if risk == 0 else p / risk


def profit_pct(pnl: Any, entry: Any, quantity: Any) -> Decimal | None:
    """Net P&L as % of the position's notional at entry (what FreqUI calls profit %)."""
    p, e, q = dec(pnl), dec(entry), dec(quantity)
    if p is None or e is None or q is None or e * q == 0:
        return None
    return p / (e * abs(q)) * 100


def closed_trade(t: Mapping[str, Any]) -> dict[str, Any]:
    """One closed trade row: t has side, quantity, entry_price, exit_price, pnl (net), fees,
    funding, opened_ms, closed_ms, exit_reason and, when known, the decision's stop `sl`."""
    return {**t, "profit_pct": profit_pct(t["pnl"], t["entry_price"], t["quantity"]),
            "duration_ms": int(t["closed_ms"]) - int(t["opened_ms"]),
            "r_net": r_net(t["pnl"], t["entry_price"], t.get("sl"), t["quantity"])}


def open_trade(p: Mapping[str, Any], mark: Any, now_ms: int) -> dict[str, Any]:
    """The open position with its live P&L at `mark` (None when no mark is known) and age."""
    m, e, q = dec(mark), dec(p["entry_price"]), dec(p["quantity"])
    upnl = None
    if m is not None and e is not None and q is not None:
        upnl = (m - e) * abs(q) * (1 if p["side"] == "long" else -1)
    return {**p, "mark_price": m, "unrealized_pnl": upnl,
            "unrealized_pct": profit_pct(upnl, e, q) if upnl is not None else None,
            "age_ms": max(0, int(now_ms) - int(p["opened_ms"]))}


def _day(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def profit_by_period(trades: Iterable[Mapping[str, Any]], period: str) -> list[dict[str, Any]]:
    """Net profit per UTC day (period='day') or ISO week starting Monday ('week'), newest
    first: {start (date), trades, wins, profit (Decimal), fees}. Trades count on their close."""
    out: dict[datetime, dict[str, Any]] = {}
    for t in trades:
        d = _day(int(t["closed_ms"]))
        key = d if period == "day" else d - timedelta(days=d.weekday())
        row = out.setdefault(key, {"start": key.strftime("%Y-%m-%d"), "trades": 0, "wins": 0,
                                   "profit": Decimal(0), "fees": Decimal(0)})
        pnl = dec(t["pnl"]) or Decimal(0)
        row["trades"] += 1
        row["wins"] += pnl > 0
        row["profit"] += pnl
        row["fees"] += dec(t.get("fees")) or Decimal(0)
    return [out[k] for k in sorted(out, reverse=True)]


def group_repeats(events: Iterable[Mapping[str, Any]], keys: tuple[str, ...] = ("source", "kind", "message"),
                  ) -> list[dict[str, Any]]:
    """Consecutive events that say the same thing as one row with a count and the span
    (events newest first: `time` is the latest, `since` the earliest of the run)."""
    out: list[dict[str, Any]] = []
    for e in events:
        if out and all(out[-1].get(k) == e.get(k) for k in keys):
            out[-1]["count"] += 1
            out[-1]["since"] = e.get("time")
        else:
            out.append({**e, "count": 1, "since": e.get("time")})
    return out
