"""One-way position accounting for one symbol: average entry, realised and unrealised
PnL, fees, funding, margin and a liquidation-price estimate. All Decimal."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
PRICE_Q = Decimal("0.00000001")  # entry price and money amounts kept to 8 decimals


def q8(x: Decimal) -> Decimal:
    return x.quantize(PRICE_Q)


@dataclass
class Ledger:
    wallet: Decimal  # deposits + realised PnL − fees ± funding
    leverage: int = 20
    margin_type: str = "CROSSED"
    # Binance's first BTCUSDT bracket (notional < 50k USDT): 0.4 % maintenance margin.
    maintenance_rate: Decimal = Decimal("0.004")
    qty: Decimal = ZERO  # signed position size (> 0 long)
    entry: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    funding_paid: Decimal = ZERO  # positive = we paid

    def fill(self, side: str, qty: Decimal, price: Decimal, fee_rate: Decimal) -> tuple[Decimal, Decimal]:
        """Apply a fill; returns (realised PnL of the part that reduced, fee)."""
        signed = qty if side == "BUY" else -qty
        realized = ZERO
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = abs(self.qty) + qty
            self.entry = q8((self.entry * abs(self.qty) + price * qty) / total)
            self.qty += signed
        else:
            closed = min(qty, abs(self.qty))
            direction = ONE if self.qty > 0 else -ONE
            realized = q8((price - self.entry) * closed * direction)
            self.qty += signed
            if self.qty == 0:
                self.entry = ZERO
            elif (self.qty > 0) != (direction > 0):  # flipped: the rest opens at the fill price
                self.entry = price
        fee = q8(price * qty * fee_rate)
        self.wallet += realized - fee
        self.realized_pnl += realized
        self.fees_paid += fee
        return realized, fee

    def unrealized(self, mark: Decimal) -> Decimal:
        return q8((mark - self.entry) * self.qty) if self.qty else ZERO

    def position_margin(self) -> Decimal:
        return q8(abs(self.qty) * self.entry / self.leverage) if self.qty else ZERO

    def available(self, mark: Decimal, open_order_margin: Decimal) -> Decimal:
        return self.wallet + min(self.unrealized(mark), ZERO) - self.position_margin() - open_order_margin

    def funding(self, rate: Decimal, mark: Decimal) -> Decimal:
        """Pay (rate > 0 and long) or receive funding; returns what we paid (signed)."""
        if not self.qty:
            return ZERO
        paid = q8(self.qty * mark * rate)
        self.wallet -= paid
        self.funding_paid += paid
        return paid

    def liquidation_price(self) -> Decimal | None:
        """Estimate: the mark price where margin left equals maintenance margin.

        Solves  M + (p − entry)·q = mmr·|q|·p  with M the isolated margin (ISOLATED) or
        the whole wallet (CROSSED, single position): p = (M − entry·q) / (mmr·|q| − q).
        Ignores brackets beyond the first and the maintenance amount; an estimate."""
        if not self.qty:
            return None
        margin = self.position_margin() if self.margin_type == "ISOLATED" else self.wallet
        denom = self.maintenance_rate * abs(self.qty) - self.qty
        p = (margin - self.entry * self.qty) / denom
        return q8(p) if p > 0 else None
