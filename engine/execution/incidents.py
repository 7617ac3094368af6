"""Unexplained position changes: the exchange's position against what our own fills say.

A position that appears, grows, shrinks or vanishes without a fill of ours is what a
liquidation, a manual trade in Binance's app, or another key trading the account looks
like. It is never booked as a routine close: the difference is recorded as an
"unexplained" fill at the price seen, a CRITICAL event says what happened, and the state
goes to SAFE MODE (no new entries) until the operator acknowledges it. The worker adds
the exchange's own evidence (income history, account trades) to the alert.

Reads race: the worker reads the position first and our orders after it, so a fill that
lands between the two reads shows in our orders but not yet in the position. A mismatch
in a loop that also folded in a new fill of ours is therefore judged again next loop
(`wait`), never raised at once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.exchange.types import AccountTrade, Income
from engine.execution.model import Event, ExecState, View

ZERO = Decimal(0)
SAFE_MODE_REASON = "unexplained_position_change"
VANISHED = "position_vanished"
CHANGED = "position_changed_unexplained"
INCIDENTS = (VANISHED, CHANGED)


def expected_position(s: ExecState) -> Decimal:
    """What our own fills say is open, signed (> 0 long)."""
    entered = sum((Decimal(q) for q, _ in s.entry_fills), ZERO)
    left = entered - sum((Decimal(q) for _, q, _ in s.exit_fills), ZERO)
    long = (s.plan or {}).get("side", "long") == "long"
    return left if long else -left


def unexplained(s: ExecState, v: View) -> Decimal:
    """The exchange's position minus ours (signed); 0 when our fills explain it."""
    if not s.opened_ms or s.plan is None:
        return ZERO
    return v.position_qty - expected_position(s)


def book_unexplained(s: ExecState, v: View, now_ms: int) -> Event:
    """Record the difference as an "unexplained" fill at the last price (the exchange's
    own trades, added by the worker, say what really happened), enter SAFE MODE, and
    return the CRITICAL event."""
    before = expected_position(s)
    after = v.position_qty
    if before != 0 and (after == 0 or (after > 0) != (before > 0)):
        gone, grown = abs(before), abs(after)  # vanished (or flipped: all of ours gone, the rest is new)
    elif abs(after) < abs(before):
        gone, grown = abs(before) - abs(after), ZERO
    else:
        gone, grown = ZERO, abs(after) - abs(before)
    if gone:
        s.exit_fills.append(["unexplained", str(gone), str(v.last)])
    if grown:
        s.entry_fills.append([str(grown), str(v.last)])
    s.safe_mode = s.safe_mode or SAFE_MODE_REASON
    what = "vanished" if after == 0 else ("shrank" if gone and not grown else "grew" if grown and not gone
                                          else "flipped")
    code = VANISHED if after == 0 else CHANGED
    return Event(code, "CRITICAL", f"position {what} without a fill of ours: our fills say {before}, the exchange "
                 f"holds {after} (liquidation, a manual trade, or another key on this account?). Recorded as "
                 f"unexplained at {v.last}; SAFE MODE: no new entries until the operator acknowledges",
                 {"decision_id": s.decision_id, "expected_qty": str(before), "exchange_qty": str(after),
                  "unexplained_qty": str(after - before), "price": str(v.last), "time_ms": now_ms,
                  "opened_ms": s.opened_ms, "change": what})


def evidence(trades: list[AccountTrade], income: list[Income], since_ms: int) -> dict[str, Any]:
    """The exchange's own record since the position opened, summed up for the alert."""
    totals: dict[str, Decimal] = {}
    for r in income:
        totals[r.income_type] = totals.get(r.income_type, ZERO) + r.income
    if "INSURANCE_CLEAR" in totals:
        cause = "liquidation (INSURANCE_CLEAR in the income history)"
    elif trades:
        cause = "trades on the account that are not fills of ours (manual trade, another key, or liquidation)"
    else:
        cause = "no trade on this account explains it (another account or API key?)"
    bought = sum((t.quantity for t in trades if t.side == "BUY"), ZERO)
    sold = sum((t.quantity for t in trades if t.side == "SELL"), ZERO)
    text = (f"exchange record since {since_ms}: {len(trades)} trades (bought {bought}, sold {sold}); income "
            + (", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "none") + f"; likely cause: {cause}")
    return {"evidence": text, "likely_cause": cause, "income": {k: str(v) for k, v in totals.items()},
            "trades": [{"id": t.trade_id, "order_id": t.order_id, "side": t.side, "qty": str(t.quantity),
                        "price": str(t.price), "realized_pnl": str(t.realized_pnl), "time_ms": t.time_ms}
                       for t in trades[-20:]]}
