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

from collections import Counter
from decimal import Decimal
from typing import Any

from engine.exchange.types import AccountTrade, Income
from engine.execution.model import Event, ExecState, View

ZERO = Decimal(0)
SAFE_MODE_REASON = "unexplained_position_change"
VANISHED = "position_vanished"
CHANGED = "position_changed_unexplained"
INCIDENTS = (VANISHED, CHANGED)
BALANCE = "unexplained_balance_change"
# Income types that explain a wallet change: our trades (realised PnL), their fees, funding,
# and a liquidation's insurance clearance (a liquidation is also a vanished position).
EXPLAINING = ("REALIZED_PNL", "COMMISSION", "FUNDING_FEE", "INSURANCE_CLEAR")
WALLET_ASSET = "USDT"
BALANCE_TOLERANCE = Decimal("0.01")  # USDT: rounding of the exchange's figures, never money


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


def _rows(income: list[Income], from_ms: int) -> Counter[tuple[str, Decimal, int]]:
    """USDT rows only: the wallet watched is USDT's (a commission paid in BNB moves another)."""
    return Counter((r.income_type, r.income, r.time_ms) for r in income
                   if r.time_ms >= from_ms and r.asset in (WALLET_ASSET, ""))


def balance_incident(s: ExecState, wallet: Decimal, income: list[Income], now_ms: int) -> Event | None:
    """Compare the wallet with what was seen last and the income rows that appeared since:
    a change that new trades, fees and funding do not explain enters SAFE MODE and is the
    CRITICAL event returned. Income rows that vanished from the history explain nothing
    (an account the exchange reset loses them: that must not cancel out its own reset).
    `income` is the exchange's history from s.income_from_ms, read around `wallet`."""
    if s.wallet_seen is None or s.income_seen is None:
        return None
    before = Decimal(s.wallet_seen)
    change = wallet - before
    seen = Counter((str(t), Decimal(str(a)), int(ms)) for t, a, ms in s.income_seen)
    now = _rows(income, s.income_from_ms)
    new, lost = now - seen, seen - now
    explained = sum((a * n for (t, a, _), n in new.items() if t in EXPLAINING), ZERO)
    gap = change - explained
    if abs(gap) <= BALANCE_TOLERANCE:
        return None
    s.safe_mode = s.safe_mode or BALANCE
    totals: dict[str, str] = {}
    for (t, a, _), n in new.items():
        totals[t] = str(Decimal(totals.get(t, "0")) + a * n)
    gone = f"; {sum(lost.values())} income rows seen before are gone from the history" if lost else ""
    return Event(BALANCE, "CRITICAL", f"wallet balance changed by {change} USDT ({before} → {wallet}); trades, fees "
                 f"and funding in the exchange's income history since explain {explained}: {gap} USDT unexplained "
                 f"(a transfer, another key, or an account the exchange reset?){gone}. SAFE MODE: no new entries "
                 "until the operator acknowledges",
                 {"wallet_before": str(before), "wallet": str(wallet), "change": str(change),
                  "explained": str(explained), "unexplained": str(gap), "time_ms": now_ms,
                  "income_since_ms": s.income_from_ms, "income": totals, "income_rows_gone": sum(lost.values())})


def see_balance(s: ExecState, wallet: Decimal, income: list[Income], anchor_ms: int) -> None:
    """The new baseline: this wallet, and the income rows from `anchor_ms` (which must not
    precede the history read) — one read, so the two always match."""
    s.wallet_seen, s.income_from_ms = str(wallet), anchor_ms
    s.income_seen = [[t, str(a), ms] for (t, a, ms), n in sorted(_rows(income, anchor_ms).items()) for _ in range(n)]
