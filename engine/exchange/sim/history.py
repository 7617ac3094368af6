"""The simulated account's own history, as Binance keeps it: account trades and income
rows (realised PnL, commission, funding) derived from the core's fills and funding."""

from __future__ import annotations

from engine.exchange.sim.core import SimCore
from engine.exchange.types import AccountTrade, Income

ZERO_ID = 0


def account_trades(core: SimCore, start_ms: int | None = None, limit: int = 500) -> list[AccountTrade]:
    """Every fill as Binance's account trade; a liquidation's fill has no order of ours
    (order id 0 here, the exchange's own order on Binance)."""
    rows = []
    for i, f in enumerate(core.fills, start=1):
        if start_ms is not None and f.time_ms < start_ms:
            continue
        order = core.orders.get(f.client_order_id)
        rows.append(AccountTrade(i, order.order_id if order is not None else ZERO_ID, f.side, f.price, f.quantity,
                                 f.realized_pnl, f.fee, f.time_ms))
    return rows[-limit:]


def income_history(core: SimCore, start_ms: int | None = None, limit: int = 100) -> list[Income]:
    rows: list[Income] = []
    tran = 0
    for i, f in enumerate(core.fills, start=1):
        if f.realized_pnl:
            tran += 1
            rows.append(Income("REALIZED_PNL", f.realized_pnl, "USDT", f.time_ms, "", tran, str(i)))
        if f.fee:
            tran += 1
            rows.append(Income("COMMISSION", -f.fee, "USDT", f.time_ms, "", tran, str(i)))
    for t, _rate, paid in core.funding_events:
        if paid:
            tran += 1
            rows.append(Income("FUNDING_FEE", -paid, "USDT", t, "", tran, ""))
    rows.sort(key=lambda r: (r.time_ms, r.tran_id))
    return [r for r in rows if start_ms is None or r.time_ms >= start_ms][-limit:]
