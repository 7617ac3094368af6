"""Plain exchange types: what goes in and comes out of an `Exchange`.

Prices and quantities of orders, fills, positions and balances are `Decimal` (exact,
as the exchange sees them). Market-data series (klines, open-interest history) are
floats: they feed analytics, where exactness buys nothing and speed matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Side = Literal["BUY", "SELL"]
OrderType = Literal["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"]
TimeInForce = Literal["GTC", "IOC", "FOK", "GTX"]
WorkingType = Literal["CONTRACT_PRICE", "MARK_PRICE"]
OrderStatus = Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "REJECTED"]
MarginType = Literal["ISOLATED", "CROSSED"]

OPEN_STATUSES: frozenset[str] = frozenset({"NEW", "PARTIALLY_FILLED"})
TRIGGERED_TYPES: frozenset[str] = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})
ZERO = Decimal(0)


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None = None  # None only with close_position
    price: Decimal | None = None  # LIMIT
    stop_price: Decimal | None = None  # STOP_MARKET / TAKE_PROFIT_MARKET trigger
    reduce_only: bool = False
    close_position: bool = False  # stop/TP that closes whatever is open when triggered
    time_in_force: TimeInForce = "GTC"
    client_order_id: str | None = None
    working_type: WorkingType = "CONTRACT_PRICE"

    def __post_init__(self) -> None:
        problems = []
        if self.type == "LIMIT" and self.price is None:
            problems.append("LIMIT needs price")
        if self.type in TRIGGERED_TYPES and self.stop_price is None:
            problems.append(f"{self.type} needs stop_price")
        if self.close_position:
            if self.type not in TRIGGERED_TYPES:
                problems.append("close_position only with STOP_MARKET / TAKE_PROFIT_MARKET")
            if self.quantity is not None or self.reduce_only:
                problems.append("close_position excludes quantity and reduce_only (as on Binance)")
        elif self.quantity is None or self.quantity <= 0:
            problems.append(f"quantity must be positive, got {self.quantity}")
        if problems:
            raise ValueError(f"order {self.client_order_id or '?'}: " + "; ".join(problems))


@dataclass
class Order:
    symbol: str
    client_order_id: str
    order_id: int
    side: Side
    type: OrderType
    status: OrderStatus
    quantity: Decimal  # 0 for close_position orders until they trigger
    filled_qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    close_position: bool = False
    time_in_force: TimeInForce = "GTC"
    working_type: WorkingType = "CONTRACT_PRICE"
    time_ms: int = 0
    update_time_ms: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Fill:
    client_order_id: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    maker: bool
    time_ms: int
    realized_pnl: Decimal = ZERO


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: Decimal  # signed: > 0 long, < 0 short, 0 flat (one-way mode)
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    leverage: int
    margin_type: MarginType
    liquidation_price: Decimal | None  # estimate; None when flat
    isolated_margin: Decimal = ZERO


@dataclass(frozen=True)
class Balance:
    asset: str
    wallet_balance: Decimal  # deposits + realised PnL − fees ± funding
    unrealized_pnl: Decimal
    available: Decimal

    @property
    def equity(self) -> Decimal:
        return self.wallet_balance + self.unrealized_pnl


@dataclass(frozen=True)
class Kline:
    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time_ms: int
    quote_volume: float | None = None
    trades: int | None = None
    taker_buy_base: float | None = None


@dataclass(frozen=True)
class PremiumIndex:
    symbol: str
    mark_price: Decimal
    index_price: Decimal
    last_funding_rate: Decimal
    next_funding_time_ms: int
    time_ms: int


@dataclass(frozen=True)
class FundingRate:
    funding_time_ms: int
    rate: Decimal


@dataclass(frozen=True)
class OpenInterest:
    time_ms: int
    open_interest: float  # contracts (BTC)
    open_interest_value: float | None = None  # USDT, history only


@dataclass(frozen=True)
class Depth:
    time_ms: int
    bids: list[tuple[Decimal, Decimal]] = field(default_factory=list)  # best first
    asks: list[tuple[Decimal, Decimal]] = field(default_factory=list)


@dataclass(frozen=True)
class AccountTrade:
    """One of the account's own trades (GET /fapi/v1/userTrades): the exchange's evidence
    of who changed the position."""

    trade_id: int
    order_id: int
    side: Side
    price: Decimal
    quantity: Decimal
    realized_pnl: Decimal
    commission: Decimal
    time_ms: int


@dataclass(frozen=True)
class Income:
    """One row of the account's income history (GET /fapi/v1/income): REALIZED_PNL,
    COMMISSION, FUNDING_FEE, TRANSFER, INSURANCE_CLEAR (liquidation) …"""

    income_type: str
    income: Decimal
    asset: str
    time_ms: int
    info: str = ""
    tran_id: int = 0
    trade_id: str = ""
