"""The simulated exchange core: our resting orders against a price stream.

Pure and deterministic: no I/O, no wall clock; time comes in with each event
(`on_candle`, `on_tick`, `place`, `cancel` all take or keep the event time).

Intra-candle path (one rule, documented): a candle with close >= open is walked
O→L→H→C (it dipped first, then rallied), a candle with close < open O→H→L→C. Orders
trigger in the order the path reaches their price. One exception, pessimistic: when a
candle touches both a stop (STOP_MARKET or a liquidation) and a TAKE_PROFIT_MARKET, every
stop executes before any take-profit, whatever the path says.

Fills: LIMIT orders fill at their limit price as maker when the price touches them
(`fill_rule="touch"`) or trades through them (`"cross"`); a limit that is marketable on
arrival fills at once as taker at the last price. STOP_MARKET / TAKE_PROFIT_MARKET
trigger on the last price (CONTRACT_PRICE) or the mark price (MARK_PRICE; in candle
mode the mark is the candle path) and fill as taker at the trigger price — or at the
open when the candle opened beyond it — moved by `slippage_bps` against us, rounded to the
tick against us and clamped to the range the candle traded (never a price nobody traded).

Hot path: per candle only three float comparisons unless something can trigger: the
lowest level that triggers on a rise, the highest that triggers on a fall, and the next
funding time. Decimal work happens only when an order actually fills.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from engine.exchange.errors import (
    DuplicateClientOrderId,
    ExchangeError,
    FatalExchangeError,
    InsufficientMargin,
    InvalidClientOrderId,
    MinNotional,
    OrderRejected,
    ReduceOnlyRejected,
    UnknownOrder,
    WouldImmediatelyTrigger,
)
from engine.exchange.filters import BTCUSDT_PERP, SymbolFilters, round_price, to_decimal
from engine.exchange.sim.account import ZERO, Ledger, q8
from engine.exchange.types import Fill, Order, OrderRequest, Position

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")  # Binance's newClientOrderId pattern
INF = math.inf
UP, DOWN = 1, -1
LIQUIDATION_ID = "__liquidation__"


@dataclass
class SimConfig:
    filters: SymbolFilters = BTCUSDT_PERP
    starting_balance: Decimal = Decimal("10000")
    leverage: int = 20
    margin_type: str = "CROSSED"
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0004")
    fill_rule: str = "touch"  # "touch": limit fills when price reaches it; "cross": trades through
    slippage_bps: Decimal = Decimal(0)  # applied against us on taker fills
    # Partial fills: a limit fills at most this fraction of the candle's volume per candle
    # (None: whole order at once).
    max_fill_fraction_of_volume: float | None = None
    interval_ms: int = 60_000
    liquidations: bool = True
    # Binance's algo service (exchange-sim): a triggered STOP_MARKET / TAKE_PROFIT_MARKET
    # does not fill itself; it places a separate MARKET order, linked to it by
    # `triggered[client id]` (Binance's actualOrderId), and that order carries the fill.
    algo_orders: bool = False
    # PERCENT_PRICE (multiplierUp, multiplierDown): a LIMIT price must lie within
    # [mark × down, mark × up] (-4016 above, -4024 below). None: not checked.
    percent_price: tuple[Decimal, Decimal] | None = None


@dataclass
class _Resting:
    order: Order
    level: float  # trigger / limit price as float, for the cheap checks
    direction: int  # UP: triggers when price rises to level; DOWN: when it falls to it
    on_mark: bool


@dataclass
class SimCore:
    config: SimConfig = field(default_factory=SimConfig)
    now_ms: int = 0

    def __post_init__(self) -> None:
        c = self.config
        self.ledger = Ledger(wallet=c.starting_balance, leverage=c.leverage, margin_type=c.margin_type)
        self.orders: dict[str, Order] = {}  # client id -> latest order with that id
        self.fills: list[Fill] = []
        self.triggered: dict[str, Order] = {}  # algo client id -> the MARKET order its trigger placed
        self.funding_events: list[tuple[int, Decimal, Decimal]] = []  # (time, rate, paid)
        self._resting: list[_Resting] = []
        self._next_order_id = 1_000_000_001
        self._up_min = INF  # lowest level triggering on a rise
        self._down_max = -INF  # highest level triggering on a fall
        self._funding_times: list[int] = []
        self._funding_rates: list[Decimal] = []
        self._next_funding = INF
        self._last_f = math.nan  # floats on the hot path; Decimal views below on demand
        self._mark_f = math.nan
        self._liq: _Resting | None = None
        self._id_seq = 0

    @property
    def last_price(self) -> Decimal | None:
        return None if math.isnan(self._last_f) else Decimal(repr(self._last_f))

    @property
    def mark_price(self) -> Decimal | None:
        return None if math.isnan(self._mark_f) else Decimal(repr(self._mark_f))

    # ------------------------------------------------------------------ setup
    def set_funding_schedule(self, schedule: Iterable[tuple[int, Decimal | str | float]]) -> None:
        pairs = sorted((int(t), to_decimal(r)) for t, r in schedule)
        self._funding_times = [t for t, _ in pairs]
        self._funding_rates = [r for _, r in pairs]
        self._arm_funding()

    def _arm_funding(self) -> None:
        i = bisect_right(self._funding_times, self.now_ms)
        self._next_funding = self._funding_times[i] if i < len(self._funding_times) else INF

    def set_leverage(self, leverage: int) -> None:
        if not 1 <= leverage <= 125:
            raise FatalExchangeError(f"leverage {leverage} out of range 1..125", -4028)
        self.ledger.leverage = leverage
        self._rearm()

    def set_margin_type(self, margin_type: str) -> None:
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise FatalExchangeError(f"margin type {margin_type!r} not ISOLATED/CROSSED", -1116)
        if margin_type != self.ledger.margin_type and self.ledger.qty:
            raise OrderRejected("Margin type cannot be changed if there exists position.", -4048)
        self.ledger.margin_type = margin_type
        self._rearm()

    # ------------------------------------------------------------------ queries
    def order(self, client_order_id: str) -> Order:
        try:
            return self.orders[client_order_id]
        except KeyError:
            raise UnknownOrder("Order does not exist.", -2013, client_order_id) from None

    def open_orders(self) -> list[Order]:
        return [r.order for r in self._resting if r.order.client_order_id != LIQUIDATION_ID]

    def position(self) -> Position:
        led = self.ledger
        mark = self.mark_price or self.last_price or ZERO
        return Position(
            symbol=self.config.filters.symbol, quantity=led.qty, entry_price=led.entry,
            mark_price=mark, unrealized_pnl=led.unrealized(mark), leverage=led.leverage,
            margin_type=led.margin_type,  # type: ignore[arg-type]
            liquidation_price=led.liquidation_price(),
            isolated_margin=led.position_margin() if led.margin_type == "ISOLATED" else ZERO,
        )

    def open_order_margin(self) -> Decimal:
        total = ZERO
        for r in self._resting:
            o = r.order
            if o.type == "LIMIT" and not o.reduce_only and o.price is not None:
                total += (o.quantity - o.filled_qty) * o.price / self.ledger.leverage
        return total

    def available_balance(self) -> Decimal:
        mark = self.mark_price or self.last_price or ZERO
        return self.ledger.available(mark, self.open_order_margin())

    # ------------------------------------------------------------------ orders
    def new_client_id(self) -> str:
        self._id_seq += 1
        return f"sim_{self._id_seq}"

    def place(self, req: OrderRequest) -> Order:
        """Validate as Binance would, then rest or fill the order. Raises typed errors."""
        f = self.config.filters
        cid = req.client_order_id or self.new_client_id()
        if req.symbol != f.symbol:
            raise FatalExchangeError(f"Invalid symbol {req.symbol!r}.", -1121)
        if not CLIENT_ID_RE.match(cid):
            raise InvalidClientOrderId("Client order id is not valid.", -4015, cid)
        existing = self.orders.get(cid)
        if existing is not None and existing.is_open:
            raise DuplicateClientOrderId("ClientOrderId is duplicated.", -4116, cid)
        last = self.last_price
        if last is None:
            raise FatalExchangeError("no market price yet: feed a candle or tick first", -1000)
        qty = req.quantity if req.quantity is not None else ZERO
        if not req.close_position:
            if qty % f.step_size != 0:
                raise OrderRejected("Precision is over the maximum defined for this asset.", -1111, cid)
            if qty < f.min_qty:
                raise OrderRejected(f"Quantity less than or equal to zero or below {f.min_qty}.", -4003, cid)
        for p in (req.price, req.stop_price):
            if p is not None and (p <= 0 or p % f.tick_size != 0):
                raise OrderRejected("Price not increased by tick size.", -4014, cid)
        self._check_percent_price(req, cid)
        pos = self.ledger.qty
        if req.reduce_only and (pos == 0 or (pos > 0) == (req.side == "BUY")):
            raise ReduceOnlyRejected("ReduceOnly Order is rejected.", -2022, cid)
        ref = req.price if req.type == "LIMIT" else (req.stop_price or last)
        assert ref is not None
        if not (req.reduce_only or req.close_position) and qty * ref < f.min_notional:
            raise MinNotional(
                f"Order's notional must be no smaller than {f.min_notional} (unless you choose reduce only).",
                -4164, cid)
        if req.type in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
            self._check_trigger(req, cid)
        if not (req.reduce_only or req.close_position) and self._increases(req.side, qty):
            need = qty * ref / self.ledger.leverage
            if need > self.available_balance():
                raise InsufficientMargin("Margin is insufficient.", -2019, cid)
        order = Order(
            symbol=f.symbol, client_order_id=cid, order_id=self._next_order_id, side=req.side,
            type=req.type, status="NEW", quantity=qty, price=req.price, stop_price=req.stop_price,
            reduce_only=req.reduce_only, close_position=req.close_position,
            time_in_force=req.time_in_force, working_type=req.working_type,
            time_ms=self.now_ms, update_time_ms=self.now_ms,
        )
        self._next_order_id += 1
        self.orders[cid] = order
        if req.type == "MARKET":
            self._execute(order, qty, self._slipped(order.side, last), maker=False)
            if order.status == "NEW":  # reduce-only with nothing left to reduce
                order.status = "EXPIRED"
            return order
        if req.type == "LIMIT":
            assert req.price is not None
            marketable = req.price >= last if req.side == "BUY" else req.price <= last
            if marketable:
                if req.time_in_force == "GTX":
                    order.status = "EXPIRED"
                    raise OrderRejected("Due to the order could not be executed as maker, the Post Only "
                                        "order will be rejected.", -5022, cid)
                price = min(req.price, last) if req.side == "BUY" else max(req.price, last)
                self._execute(order, qty, price, maker=False)
                return order
            if req.time_in_force in ("IOC", "FOK"):
                order.status = "EXPIRED"
                return order
        self._rest(order)
        return order

    def cancel(self, client_order_id: str) -> Order:
        order = self.orders.get(client_order_id)
        if order is None or not order.is_open:
            raise UnknownOrder("Unknown order sent.", -2011, client_order_id)
        order.status = "CANCELED"
        order.update_time_ms = self.now_ms
        self._unrest(order)
        return order

    def cancel_all(self) -> list[Order]:
        return [self.cancel(o.client_order_id) for o in self.open_orders()]

    # ------------------------------------------------------------------ price stream
    def on_candle(self, open_time_ms: int, o: float, h: float, low: float, c: float, volume: float = 0.0) -> None:
        """One closed candle. Cheap unless a resting level or a funding time is inside it."""
        if h < self._up_min and low > self._down_max and open_time_ms < self._next_funding:
            self.now_ms = open_time_ms + self.config.interval_ms
            self._last_f = self._mark_f = c
            return
        self._candle_slow(open_time_ms, o, h, low, c, volume)

    def untouched(self, open_time_ms: int, h: float, low: float) -> bool:
        """Whether on_candle takes its fast path for this candle (no resting level, no
        funding time inside it): it then only moves the price and the time. The backtest
        loop uses it to know, before feeding them, which minutes nothing can happen in."""
        return h < self._up_min and low > self._down_max and open_time_ms < self._next_funding

    def on_tick(self, time_ms: int, last: float, mark: float | None = None) -> None:
        """One trade price (and optionally mark price) at `time_ms`."""
        prev = self._last_f if not math.isnan(self._last_f) else last
        prev_mark = self._mark_f if not math.isnan(self._mark_f) else prev
        mark = last if mark is None else mark
        if time_ms >= self._next_funding:
            self.now_ms = time_ms
            self._apply_funding(time_ms, mark)
        self.now_ms = time_ms
        self._run_path(time_ms, [prev, last], [prev_mark, mark], 0.0)
        self._set_price(last, mark)

    # ------------------------------------------------------------------ internals
    def _candle_slow(self, t: int, o: float, h: float, low: float, c: float, volume: float) -> None:
        self.now_ms = t
        if t >= self._next_funding:
            self._apply_funding(t, o)
        path = [o, low, h, c] if c >= o else [o, h, low, c]
        self.now_ms = t + self.config.interval_ms - 1  # fills inside the candle stamp at its end
        self._run_path(t, path, path, volume)
        self.now_ms = t + self.config.interval_ms
        self._set_price(c, c)

    def _set_price(self, last: float, mark: float) -> None:
        self._last_f = last
        self._mark_f = mark

    def _apply_funding(self, t: int, mark: float) -> None:
        while t >= self._next_funding:
            i = bisect_right(self._funding_times, self._next_funding) - 1
            rate = self._funding_rates[i]
            paid = self.ledger.funding(rate, Decimal(repr(mark)))
            self.funding_events.append((self._funding_times[i], rate, paid))
            self._next_funding = self._funding_times[i + 1] if i + 1 < len(self._funding_times) else INF

    @staticmethod
    def _hit_position(path: list[float], level: float, direction: int, strict: bool) -> float | None:
        """Distance along the path where it first reaches `level` going `direction`."""
        at_open = (path[0] >= level) if direction == UP else (path[0] <= level)
        if at_open and (not strict or path[0] != level):
            return 0.0
        travelled = 0.0
        for a, b in zip(path, path[1:], strict=False):
            if direction == UP and b > a and (b > level if strict else b >= level) and a <= level:
                return travelled + (level - a)
            if direction == DOWN and b < a and (b < level if strict else b <= level) and a >= level:
                return travelled + (a - level)
            travelled += abs(b - a)
        return None

    def _run_path(self, t: int, path: list[float], mark_path: list[float], volume: float) -> None:
        strict_limits = self.config.fill_rule == "cross"
        events: list[tuple[float, _Resting]] = []
        for r in self._resting:
            strict = strict_limits and r.order.type == "LIMIT"
            pos = self._hit_position(mark_path if r.on_mark else path, r.level, r.direction, strict)
            if pos is not None:
                events.append((pos, r))
        if not events:
            return
        has_stop = any(r.order.type == "STOP_MARKET" or r is self._liq for _, r in events)
        events.sort(key=lambda e: (has_stop and e[1].order.type == "TAKE_PROFIT_MARKET", e[0]))
        open_f = path[0]
        traded = (min(path), max(path))
        for _, r in events:
            if r not in self._resting:  # cancelled by an earlier event in this candle
                continue
            self._trigger(r, open_f, volume, traded)

    def _trigger(self, r: _Resting, open_f: float, volume: float,
                 traded: tuple[float, float] | None = None) -> None:
        order = r.order
        if r is self._liq:
            led = self.ledger
            price = to_decimal(order.price)  # type: ignore[arg-type]
            side = "SELL" if led.qty > 0 else "BUY"
            order.side = side  # type: ignore[assignment]
            self._unrest(order)
            self._liq = None
            self._execute(order, abs(led.qty), price, maker=False)
            return
        if order.type == "LIMIT":
            remaining = order.quantity - order.filled_qty
            qty = remaining
            frac = self.config.max_fill_fraction_of_volume
            if frac is not None:
                cap = Decimal(repr(volume * frac)).quantize(self.config.filters.step_size, "ROUND_DOWN")
                qty = min(remaining, max(cap, ZERO))
                if qty <= 0:
                    return
            assert order.price is not None
            self._execute(order, qty, order.price, maker=True)
            return
        # STOP_MARKET / TAKE_PROFIT_MARKET: market order at the trigger (or the open, if beyond)
        level = to_decimal(order.stop_price)  # type: ignore[arg-type]
        beyond = (open_f > r.level) if r.direction == UP else (open_f < r.level)
        price = Decimal(repr(open_f)) if beyond else level
        self._unrest(order)
        qty = abs(self.ledger.qty) if order.close_position else order.quantity
        fill = self._slipped(order.side, price, traded)
        if self.config.algo_orders:
            self._trigger_algo(order, qty, fill)
            return
        self._execute(order, qty, fill, maker=False)
        if order.is_open:  # nothing to close / reduce: Binance expires it
            order.status = "EXPIRED"
            order.update_time_ms = self.now_ms

    def _trigger_algo(self, algo: Order, qty: Decimal, price: Decimal) -> None:
        """As Binance's algo service: the conditional order is done (FINISHED) and a new
        regular MARKET order, its `actualOrderId`, executes. The algo order itself
        never holds a fill."""
        actual = Order(symbol=algo.symbol, client_order_id=f"algo_{algo.order_id}", order_id=self._next_order_id,
                       side=algo.side, type="MARKET", status="NEW", quantity=qty,
                       reduce_only=algo.reduce_only or algo.close_position, close_position=algo.close_position,
                       working_type=algo.working_type, time_ms=self.now_ms, update_time_ms=self.now_ms)
        self._next_order_id += 1
        self.orders[actual.client_order_id] = actual
        self.triggered[algo.client_order_id] = actual
        self._execute(actual, qty, price, maker=False)
        if actual.is_open:  # nothing left to reduce: the market order expires
            actual.status = "EXPIRED"
        algo.status = "FILLED"  # the core's "done"; exchange-sim answers algoStatus FINISHED
        algo.update_time_ms = actual.update_time_ms = self.now_ms

    def _slipped(self, side: str, price: Decimal, traded: tuple[float, float] | None = None) -> Decimal:
        """`price` moved `slippage_bps` against us, on the tick (rounded against us too), and
        never beyond what the candle traded (`traded` = its low, high): a fill at a price
        nobody traded in that minute would be invented."""
        bps = self.config.slippage_bps
        if not bps:
            return price
        f = self.config.filters
        move = price * bps / Decimal(10_000)
        buy = side == "BUY"
        p = round_price(price + move if buy else price - move, f, "up" if buy else "down")
        if traded is not None:
            p = min(max(p, round_price(repr(traded[0]), f, "up")), round_price(repr(traded[1]), f, "down"))
        return p

    def _increases(self, side: str, qty: Decimal) -> bool:
        pos = self.ledger.qty
        return pos == 0 or (pos > 0) == (side == "BUY") or qty > abs(pos)

    def _execute(self, order: Order, qty: Decimal, price: Decimal, maker: bool) -> None:
        led = self.ledger
        if order.reduce_only or order.close_position:
            opposite = led.qty != 0 and (led.qty > 0) == (order.side == "SELL")
            qty = min(qty, abs(led.qty)) if opposite else ZERO
        if qty <= 0:
            return
        rate = self.config.maker_fee if maker else self.config.taker_fee
        realized, fee = led.fill(order.side, qty, price, rate)
        prev = order.filled_qty
        order.filled_qty = prev + qty
        order.avg_price = q8((order.avg_price * prev + price * qty) / order.filled_qty)
        if order.close_position:
            order.quantity = order.filled_qty
        order.status = "FILLED" if order.filled_qty >= order.quantity else "PARTIALLY_FILLED"
        order.update_time_ms = self.now_ms
        if order.status == "FILLED" and any(r.order is order for r in self._resting):
            self._unrest(order)
        self.fills.append(Fill(order.client_order_id, order.side, qty, price, fee, maker, self.now_ms, realized))
        if order.client_order_id != LIQUIDATION_ID:
            self.orders[order.client_order_id] = order
        self._rearm_liquidation()

    def _check_percent_price(self, req: OrderRequest, cid: str) -> None:
        band = self.config.percent_price
        mark = self.mark_price or self.last_price
        if band is None or req.type != "LIMIT" or req.price is None or mark is None:
            return
        up, down = band
        if req.price > mark * up:
            raise OrderRejected("Price is higher than mark price multiplier cap.", -4016, cid)
        if req.price < mark * down:
            raise OrderRejected("Price is lower than mark price multiplier floor.", -4024, cid)

    def _check_trigger(self, req: OrderRequest, cid: str) -> None:
        last, mark = self.last_price, self.mark_price
        assert req.stop_price is not None and last is not None
        ref = mark if req.working_type == "MARK_PRICE" and mark is not None else last
        rises = (req.type == "STOP_MARKET") == (req.side == "BUY")  # buy stop / sell TP trigger upward
        if (rises and req.stop_price <= ref) or (not rises and req.stop_price >= ref):
            raise WouldImmediatelyTrigger("Order would immediately trigger.", -2021, cid)
        if req.close_position:
            for o in self.open_orders():
                if o.close_position and o.side == req.side and o.type == req.type:
                    raise OrderRejected("An open stop or take profit order with GTE and closePosition "
                                        "in the direction is existing.", -4130, cid)

    def _rest(self, order: Order) -> None:
        if order.type == "LIMIT":
            assert order.price is not None
            level, direction = float(order.price), (DOWN if order.side == "BUY" else UP)
        else:
            assert order.stop_price is not None
            rises = (order.type == "STOP_MARKET") == (order.side == "BUY")
            level, direction = float(order.stop_price), (UP if rises else DOWN)
        self._resting.append(_Resting(order, level, direction, order.working_type == "MARK_PRICE"))
        self._rearm()

    def _unrest(self, order: Order) -> None:
        self._resting = [r for r in self._resting if r.order is not order]
        self._rearm()

    def _rearm_liquidation(self) -> None:
        if self._liq is not None:
            self._resting = [r for r in self._resting if r is not self._liq]
            self._liq = None
        liq = self.ledger.liquidation_price() if self.config.liquidations else None
        if liq is not None:
            long = self.ledger.qty > 0
            o = Order(symbol=self.config.filters.symbol, client_order_id=LIQUIDATION_ID, order_id=0,
                      side="SELL" if long else "BUY", type="MARKET", status="NEW", quantity=abs(self.ledger.qty),
                      price=liq, time_ms=self.now_ms)
            self._liq = _Resting(o, float(liq), DOWN if long else UP, True)
            self._resting.append(self._liq)
        self._rearm()

    def _rearm(self) -> None:
        ups = [r.level for r in self._resting if r.direction == UP]
        downs = [r.level for r in self._resting if r.direction == DOWN]
        self._up_min = min(ups) if ups else INF
        self._down_max = max(downs) if downs else -INF


def describe_error(exc: ExchangeError) -> dict[str, object]:
    """Binance's error body for a typed error."""
    return {"code": exc.code if exc.code is not None else -1000, "msg": exc.msg}
