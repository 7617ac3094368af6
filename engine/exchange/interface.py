"""The one exchange interface. Binance (connectors/binance) and the simulator
(engine/exchange/sim) implement it; nothing else in the system knows which is behind it.

Errors are the typed ones of engine.exchange.errors. Order placement is idempotent by
client order id: placing again with the id of an open order raises
DuplicateClientOrderId and never creates a second order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, runtime_checkable

from engine.exchange.filters import SymbolFilters
from engine.exchange.types import (
    AccountTrade,
    Balance,
    Depth,
    FundingRate,
    Income,
    Kline,
    MarginType,
    OpenInterest,
    Order,
    OrderRequest,
    Position,
    PremiumIndex,
)


@runtime_checkable
class Exchange(Protocol):
    # --- market data -------------------------------------------------------------
    def klines(self, symbol: str, interval: str, start_ms: int | None = None,
               end_ms: int | None = None, limit: int = 500) -> list[Kline]:
        """Candles by open time, ascending; the last one may still be open."""
        ...

    def premium_index(self, symbol: str) -> PremiumIndex: ...

    def funding_history(self, symbol: str, start_ms: int | None = None,
                        end_ms: int | None = None, limit: int = 100) -> list[FundingRate]: ...

    def open_interest(self, symbol: str) -> OpenInterest: ...

    def open_interest_history(self, symbol: str, period: str = "5m", start_ms: int | None = None,
                              end_ms: int | None = None, limit: int = 30) -> list[OpenInterest]: ...

    def depth(self, symbol: str, limit: int = 20) -> Depth: ...

    def symbol_filters(self, symbol: str) -> SymbolFilters: ...

    def server_time_ms(self) -> int: ...

    # --- account -----------------------------------------------------------------
    def balance(self, asset: str = "USDT") -> Balance: ...

    def positions(self, symbol: str | None = None) -> list[Position]: ...

    def open_orders(self, symbol: str) -> list[Order]: ...

    def order(self, symbol: str, client_order_id: str) -> Order:
        """The order with this client order id (open or closed); UnknownOrder if none."""
        ...

    def account_trades(self, symbol: str, start_ms: int | None = None, limit: int = 500) -> list[AccountTrade]:
        """The account's own trades (oldest first): evidence of who moved the position."""
        ...

    def income_history(self, symbol: str, start_ms: int | None = None, limit: int = 100) -> list[Income]:
        """Realised PnL, commission, funding … rows (oldest first)."""
        ...

    # --- trading -----------------------------------------------------------------
    def place_order(self, request: OrderRequest) -> Order: ...

    def cancel_order(self, symbol: str, client_order_id: str) -> Order: ...

    def cancel_all(self, symbol: str) -> None: ...

    def set_leverage(self, symbol: str, leverage: int) -> None: ...

    def set_margin_type(self, symbol: str, margin_type: MarginType) -> None: ...

    def ensure_one_way_mode(self) -> None: ...


def mid_price(depth: Depth) -> Decimal | None:
    """Middle of the best bid and ask; None for an empty side."""
    if not depth.bids or not depth.asks:
        return None
    return (depth.bids[0][0] + depth.asks[0][0]) / 2
