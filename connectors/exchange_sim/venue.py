"""The simulated venue: market replay + simulated core + auth + weights + faults, and the
/fapi routes. Transport-free: `handle()` takes a parsed request and returns
(HTTP status, JSON body, headers); server.py puts it on the wire."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connectors.exchange_sim import shapes
from connectors.exchange_sim.account_file import AccountSaver, change_mark, restore_or_fail
from connectors.exchange_sim.auth import AuthError, check_api_key, verify
from connectors.exchange_sim.faults import INJECTABLE, REFUSABLE, FaultPlan
from connectors.exchange_sim.market import INTERVALS, MINUTE, Market, _f
from connectors.exchange_sim.stream import UserDataHub
from engine.exchange.errors import ExchangeError, UnknownOrder
from engine.exchange.sim import SimConfig, SimCore
from engine.exchange.sim.snapshot import SnapshotError, core_snapshot, restore_core
from engine.exchange.types import TRIGGERED_TYPES, OrderRequest

Handler = Callable[["Venue", dict[str, str]], Any]


class ParamError(ExchangeError):
    pass


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    raw_body: str
    params: dict[str, str]
    api_key: str | None


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    drop: str | None = None  # "timeout" | "lost": close the connection without answering
    delay_s: float = 0.0


class Venue:
    def __init__(self, market: Market, keys: dict[str, str], sim_config: SimConfig | None = None,
                 faults: FaultPlan | None = None, weight_limit: int = 2400,
                 clock: Callable[[], float] = time.time):
        self.market = market
        self.keys = keys
        # As Binance: conditional orders are algo orders, LIMIT prices within PERCENT_PRICE.
        self.core = SimCore(dataclasses.replace(sim_config or SimConfig(), algo_orders=True,
                                                percent_price=(Decimal("1.05"), Decimal("0.95"))))
        self.core.set_funding_schedule(market.funding)
        self.faults = faults or FaultPlan()
        self.weight_limit = weight_limit
        self.clock = clock
        self.lock = threading.RLock()
        self._weight_minute = 0
        self._weight_used = 0
        self.requests_served = 0
        self.dual_side = False  # hedge mode (positionSide LONG / SHORT) when True
        self.position_sides: dict[str, str] = {}  # client id -> positionSide it was sent with
        self.stream = UserDataHub(core=self.core, core_lock=self.lock)  # listenKeys, user-data events
        self._fed_until = market.times[0] - 1
        self._feed()
        self.saver: AccountSaver | None = None  # keep_account() puts the account on disk

    # --- the account on disk --------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The account and where the replay stands, as plain data (account_file.py)."""
        return {"venue": 1, "market_now_ms": self.market.now_ms, "fed_until_ms": self._fed_until,
                "first_candle_ms": self.market.times[0], "dual_side": self.dual_side,
                "position_sides": dict(self.position_sides), "core": core_snapshot(self.core)}

    def restore(self, data: dict[str, Any]) -> None:
        if data.get("venue") != 1:
            raise SnapshotError("not an exchange-sim account")
        first = int(data["first_candle_ms"])
        if first != self.market.times[0]:
            raise SnapshotError(f"saved for a replay whose first candle is {first}, this replay's is "
                                f"{self.market.times[0]}")
        with self.lock:
            restore_core(self.core, data["core"])
            self.market.now_ms = min(int(data["market_now_ms"]), self.market.end_ms)
            self._fed_until = int(data["fed_until_ms"])
            self.dual_side = bool(data["dual_side"])
            self.position_sides = {str(k): str(v) for k, v in data["position_sides"].items()}

    def keep_account(self, path: Path) -> bool:
        """Resume the account stored at `path` (True) or start a fresh one there (False),
        and save it there after every change from now on. A file that cannot be read is
        AccountFileError (never a silent fresh account)."""
        resumed = restore_or_fail(path, self.restore)
        self.saver = AccountSaver(path, self.snapshot, lambda: change_mark(self.core), lambda: self.market.now_ms)
        self.saver.maybe_save(force=True)
        return resumed

    def _persist(self, force: bool = False) -> None:
        if self.saver is not None:
            self.saver.maybe_save(force)

    # --- clock ------------------------------------------------------------------
    def server_time_ms(self) -> int:
        return int(self.clock() * 1000) + self.faults.clock_skew_ms

    def step(self, minutes: int | None = None, to_ms: int | None = None) -> int:
        with self.lock:
            target = to_ms if to_ms is not None else self.market.now_ms + (minutes or 1) * MINUTE
            self.market.now_ms = min(max(target, self.market.now_ms), self.market.end_ms)
            self._feed()
            self.stream.observe(self.core, self.server_time_ms())
            self._persist()
            return self.market.now_ms

    def _feed(self) -> None:
        rows = self.market.closed_after(self._fed_until)
        on_candle = self.core.on_candle
        for t, o, h, low, c, v in rows:
            on_candle(t, o, h, low, c, v)
        if rows:
            self._fed_until = rows[-1][0]
        ff = self.faults.partial_fill_fraction
        self.core.config.max_fill_fraction_of_volume = ff

    # --- weights ----------------------------------------------------------------
    def _charge(self, weight: int) -> tuple[int, bool]:
        minute = self.server_time_ms() // MINUTE
        if minute != self._weight_minute:
            self._weight_minute, self._weight_used = minute, 0
        self._weight_used += weight
        return self._weight_used, self._weight_used > self.weight_limit

    def _retry_after(self) -> float:
        if self.faults.retry_after_s is not None:
            return self.faults.retry_after_s
        return (MINUTE - self.server_time_ms() % MINUTE) / 1000

    # --- dispatch ---------------------------------------------------------------
    def handle(self, req: Request) -> Answer:
        route = ROUTES.get((req.method, req.path))
        if route is None:
            return Answer(404, {"code": -1000, "msg": f"no such endpoint {req.method} {req.path} in exchange-sim"})
        fn, weight, signed = route
        with self.lock:
            self.requests_served += 1
            fault = self.faults.draw() if req.path != "/fapi/v1/time" else None
            delay = self.faults.latency_ms / 1000
            if fault == "timeout":
                return Answer(0, None, drop="timeout", delay_s=delay + self.faults.timeout_sleep_s)
            used, over = self._charge(weight(req.params) if callable(weight) else weight)
            headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
            if fault == "ratelimit" or fault == -1003 or over:
                headers["Retry-After"] = f"{self._retry_after():g}"
                return Answer(429, {"code": -1003, "msg": INJECTABLE[-1003][1]}, headers, delay_s=delay)
            if isinstance(fault, int):
                status, msg = INJECTABLE[fault]
                if fault == 418:
                    headers["Retry-After"] = f"{self._retry_after():g}"
                return Answer(status, {"code": fault if fault < 0 else -1001, "msg": msg}, headers, delay_s=delay)
            try:
                if signed == "key":
                    check_api_key(req.api_key, self.keys)
                elif signed:
                    verify(req.raw_query, req.raw_body, req.params, req.api_key, self.keys, self.server_time_ms())
                refused = self.faults.refusal(f"{req.method} {req.path}", req.params, any(
                    o.close_position and o.side == req.params.get("side") and o.type == req.params.get("type")
                    for o in self.core.open_orders()))
                if refused is not None:
                    raise ParamError(REFUSABLE[refused], refused)
                body = fn(self, req.params)
                status = 200
                if signed:
                    self.stream.observe(self.core, self.server_time_ms())
                    if req.method != "GET":  # on disk before the answer: an acknowledged order survives
                        self._persist()
            except AuthError as exc:
                status, body = exc.status, {"code": exc.code, "msg": exc.msg}
            except ExchangeError as exc:
                status, body = 400, {"code": exc.code if exc.code is not None else -1000, "msg": exc.msg}
            return Answer(status, body, headers, drop="lost" if fault == "lost" else None, delay_s=delay)

    def state(self) -> dict[str, Any]:
        with self.lock:
            p = shapes.position_json(self.core, self.dual_side)
            return {"market_time_ms": self.market.now_ms, "market_end_ms": self.market.end_ms,
                    "last_price": _f(self.market.last_price()), "position": p,
                    "balance": shapes.balance_json(self.core),
                    "open_orders": [shapes.open_algo_json(o) if shapes.is_algo(o) else shapes.order_json(o)
                                    for o in self.core.open_orders()],
                    "fills": len(self.core.fills), "requests_served": self.requests_served,
                    "weight_used_1m": self._weight_used, "faults": self.faults.to_dict(),
                    "gap": list(self.market.gap) if self.market.gap else None}


# --- parameter helpers --------------------------------------------------------------
def _need(p: dict[str, str], name: str) -> str:
    v = p.get(name)
    if v in (None, ""):
        raise ParamError(f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.", -1102)
    return v  # type: ignore[return-value]


def _dec(p: dict[str, str], name: str) -> Decimal | None:
    v = p.get(name)
    if v in (None, ""):
        return None
    try:
        return Decimal(v)  # type: ignore[arg-type]
    except InvalidOperation:
        raise ParamError(f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})"
                         f"(\\.[0-9]{{1,20}})?$'.", -1100) from None


def _int(p: dict[str, str], name: str, default: int | None = None) -> int | None:
    v = p.get(name)
    if v in (None, ""):
        return default
    try:
        return int(v)  # type: ignore[arg-type]
    except ValueError:
        raise ParamError(f"Illegal characters found in parameter '{name}'.", -1100) from None


def _bool(p: dict[str, str], name: str) -> bool:
    return p.get(name, "false").lower() == "true"


def _symbol(v: Venue, p: dict[str, str]) -> str:
    sym = _need(p, "symbol")
    if sym != v.core.config.filters.symbol:
        raise ParamError("Invalid symbol.", -1121)
    return sym


# --- market data ----------------------------------------------------------------------
def r_ping(v: Venue, p: dict[str, str]) -> Any:
    return {}


def r_time(v: Venue, p: dict[str, str]) -> Any:
    return {"serverTime": v.server_time_ms()}


def r_exchange_info(v: Venue, p: dict[str, str]) -> Any:
    return shapes.exchange_info(v.core.config.filters, v.server_time_ms())


def r_klines(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    interval = _need(p, "interval")
    if interval not in INTERVALS:
        raise ParamError("Invalid interval.", -1120)
    limit = _int(p, "limit", 500) or 500
    if not 1 <= limit <= 1500:
        raise ParamError("Illegal parameter 'limit': 1..1500.", -1130)
    return v.market.klines(interval, _int(p, "startTime"), _int(p, "endTime"), limit)


def w_klines(p: dict[str, str]) -> int:
    limit = int(p.get("limit") or 500)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def r_premium(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    m = v.market
    last = m.last_price()
    nft = m.next_funding_ms()
    return {"symbol": "BTCUSDT", "markPrice": _f(last), "indexPrice": _f(round(last * 0.9999, 2)),
            "estimatedSettlePrice": _f(last), "lastFundingRate": m.funding_rate_at(nft),
            "interestRate": "0.00010000", "nextFundingTime": nft, "time": m.now_ms}


def r_funding(v: Venue, p: dict[str, str]) -> Any:
    limit = min(_int(p, "limit", 100) or 100, 1000)
    return [{"symbol": "BTCUSDT", "fundingTime": t, "fundingRate": r, "markPrice": _f(v.market.price_at(t)),
             "rateType": "Regular"}
            for t, r in v.market.funding_history(_int(p, "startTime"), _int(p, "endTime"), limit)]


def r_open_interest(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    return {"symbol": "BTCUSDT", "openInterest": _f(v.market.open_interest_at(v.market.now_ms)),
            "time": v.market.now_ms}


def r_oi_hist(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    period = _need(p, "period")
    if period not in ("5m", "15m", "30m", "1h", "2h", "4h", "1d"):
        raise ParamError("Invalid period.", -1120)
    limit = min(_int(p, "limit", 30) or 30, 500)
    return v.market.open_interest_hist(period, _int(p, "startTime"), _int(p, "endTime"), limit)


def r_depth(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    limit = _int(p, "limit", 500) or 500
    tick = v.core.config.filters.tick_size
    mid = Decimal(_f(v.market.last_price())).quantize(tick)
    levels = min(limit, 100)
    bids = [[shapes.s(mid - tick * i), _f(0.5 + (i * 7919 % 13) / 10)] for i in range(levels)]
    asks = [[shapes.s(mid + tick * (i + 1)), _f(0.5 + (i * 104729 % 11) / 10)] for i in range(levels)]
    return {"lastUpdateId": v.market.now_ms // 1000, "E": v.market.now_ms, "T": v.market.now_ms,
            "bids": bids, "asks": asks}


# --- account ----------------------------------------------------------------------------
def r_balance(v: Venue, p: dict[str, str]) -> Any:
    return [shapes.balance_json(v.core)]


def r_account(v: Venue, p: dict[str, str]) -> Any:
    return shapes.account_v2_json(v.core, v.dual_side)


def r_account_v3(v: Venue, p: dict[str, str]) -> Any:
    return shapes.account_v3_json(v.core, v.dual_side)


def r_position_risk(v: Venue, p: dict[str, str]) -> Any:
    # v3 lists only symbols with a position or open orders
    if v.core.ledger.qty == 0 and not v.core.open_orders():
        return []
    return [shapes.position_json(v.core, v.dual_side)]


def r_user_trades(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    return shapes.user_trades_json(v.core, _int(p, "startTime"), min(_int(p, "limit", 500) or 500, 1000))


def r_income(v: Venue, p: dict[str, str]) -> Any:
    if p.get("symbol"):
        _symbol(v, p)
    return shapes.income_json(v.core, _int(p, "startTime"), min(_int(p, "limit", 100) or 100, 1000))


def r_leverage(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    lev = _int(p, "leverage")
    if lev is None:
        _need(p, "leverage")
    v.core.set_leverage(lev)  # type: ignore[arg-type]
    return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": "BTCUSDT"}


def r_margin_type(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    mt = _need(p, "marginType").upper()
    mt = "CROSSED" if mt == "CROSS" else mt
    if mt == v.core.ledger.margin_type:
        raise ParamError("No need to change margin type.", -4046)
    v.core.set_margin_type(mt)
    return {"code": 200, "msg": "success"}


def r_dual_get(v: Venue, p: dict[str, str]) -> Any:
    return {"dualSidePosition": v.dual_side}


def r_dual_post(v: Venue, p: dict[str, str]) -> Any:
    want = _bool(p, "dualSidePosition")
    if want == v.dual_side:
        raise ParamError("No need to change position side.", -4059)
    if v.core.ledger.qty != 0:
        raise ParamError("Position side cannot be changed if there exists position.", -4068)
    if v.core.open_orders():
        raise ParamError("Position side cannot be changed if there exists open orders.", -4067)
    v.dual_side = want
    return {"code": 200, "msg": "success"}


# --- orders -------------------------------------------------------------------------------
def _request(v: Venue, p: dict[str, str], algo: bool) -> OrderRequest:
    sym = _symbol(v, p)
    side = _need(p, "side")
    if side not in ("BUY", "SELL"):
        raise ParamError("Invalid side.", -1117)
    otype = _need(p, "type")
    if algo:
        if p.get("algoType") != "CONDITIONAL":
            raise ParamError("Mandatory parameter 'algoType' was not sent, was empty/null, or malformed.", -1102)
        if otype not in TRIGGERED_TYPES:
            raise ParamError("Invalid orderType.", -1116)
        stop = _dec(p, "triggerPrice")
        if stop is None:
            _need(p, "triggerPrice")
        cid = p.get("clientAlgoId")
    else:
        if otype in TRIGGERED_TYPES:
            raise ParamError("Order type not supported for this endpoint. Please use the Algo Order API "
                             "endpoints instead.", -4120)
        if otype not in ("LIMIT", "MARKET"):
            raise ParamError("Invalid orderType.", -1116)
        stop = None
        cid = p.get("newClientOrderId")
    side_of_position = p.get("positionSide") or "BOTH"
    if (side_of_position == "BOTH") == v.dual_side or side_of_position not in ("BOTH", "LONG", "SHORT"):
        raise ParamError("Order's position side does not match user's setting.", -4061)
    close = _bool(p, "closePosition")
    reduce = _bool(p, "reduceOnly")
    if v.dual_side and reduce:
        raise ParamError("Parameter 'reduceOnly' sent when not required.", -1106)
    qty = _dec(p, "quantity")
    if close and reduce:
        raise ParamError("Parameter 'reduceOnly' sent when not required.", -1106)
    if close and qty is not None:
        raise ParamError("Parameter 'quantity' sent when not required.", -1106)
    if not close and qty is None:
        _need(p, "quantity")
    price = _dec(p, "price") if otype == "LIMIT" else None
    if otype == "LIMIT":
        _need(p, "price")
        _need(p, "timeInForce")
    tif = p.get("timeInForce") or "GTC"
    if tif not in ("GTC", "IOC", "FOK", "GTX"):
        raise ParamError("Invalid timeInForce.", -1115)
    wt = p.get("workingType") or "CONTRACT_PRICE"
    try:
        return OrderRequest(sym, side, otype, qty, price, stop, reduce_only=reduce,  # type: ignore[arg-type]
                            close_position=close, time_in_force=tif,  # type: ignore[arg-type]
                            client_order_id=cid, working_type=wt)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ParamError(str(exc), -1102) from None


def _side(v: Venue, cid: str) -> str:
    return v.position_sides.get(cid, "BOTH")


def _place(v: Venue, p: dict[str, str], algo: bool):
    order = v.core.place(_request(v, p, algo))
    v.position_sides[order.client_order_id] = p.get("positionSide") or "BOTH"
    return order


def r_new_order(v: Venue, p: dict[str, str]) -> Any:
    o = _place(v, p, algo=False)
    return shapes.new_order_json(o, _side(v, o.client_order_id))


def r_new_algo(v: Venue, p: dict[str, str]) -> Any:
    o = _place(v, p, algo=True)
    return shapes.new_algo_json(o, _side(v, o.client_order_id))


def _find(v: Venue, p: dict[str, str], algo: bool):
    _symbol(v, p)
    if algo:
        cid, oid = p.get("clientAlgoId"), _int(p, "algoId")
    else:
        cid, oid = p.get("origClientOrderId"), _int(p, "orderId")
    if cid is None and oid is None:
        raise ParamError("Either orderId or origClientOrderId must be sent.", -1102)
    order = v.core.orders.get(cid) if cid else next(
        (o for o in v.core.orders.values() if o.order_id == oid), None)
    if order is None or shapes.is_algo(order) != algo:
        raise UnknownOrder("Order does not exist.", -2013)
    return order


def r_get_order(v: Venue, p: dict[str, str]) -> Any:
    o = _find(v, p, algo=False)
    return shapes.order_json(o, _side(v, o.client_order_id))


def r_get_algo(v: Venue, p: dict[str, str]) -> Any:
    o = _find(v, p, algo=True)
    return shapes.algo_json(o, v.core.triggered.get(o.client_order_id), _side(v, o.client_order_id))


def r_cancel(v: Venue, p: dict[str, str]) -> Any:
    try:
        order = _find(v, p, algo=False)
    except UnknownOrder:
        raise UnknownOrder("Unknown order sent.", -2011) from None
    o = v.core.cancel(order.client_order_id)
    return shapes.cancel_order_json(o, _side(v, o.client_order_id))


def r_cancel_algo(v: Venue, p: dict[str, str]) -> Any:
    try:
        order = _find(v, p, algo=True)
    except UnknownOrder:
        raise UnknownOrder("Unknown order sent.", -2011) from None
    v.core.cancel(order.client_order_id)
    return {"algoId": order.order_id, "clientAlgoId": order.client_order_id, "code": "200", "msg": "success"}


def r_open_orders(v: Venue, p: dict[str, str]) -> Any:
    return [shapes.order_json(o, _side(v, o.client_order_id)) for o in v.core.open_orders()
            if not shapes.is_algo(o)]


def r_open_algo(v: Venue, p: dict[str, str]) -> Any:
    return [shapes.open_algo_json(o, _side(v, o.client_order_id)) for o in v.core.open_orders()
            if shapes.is_algo(o)]


def r_cancel_all(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    for o in v.core.open_orders():
        if not shapes.is_algo(o):
            v.core.cancel(o.client_order_id)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def r_cancel_all_algo(v: Venue, p: dict[str, str]) -> Any:
    _symbol(v, p)
    for o in v.core.open_orders():
        if shapes.is_algo(o):
            v.core.cancel(o.client_order_id)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def r_listen_key_start(v: Venue, p: dict[str, str]) -> Any:
    return v.stream.start(v.server_time_ms())


def r_listen_key_keepalive(v: Venue, p: dict[str, str]) -> Any:
    return v.stream.keepalive(p.get("listenKey") or next(iter(v.stream.keys), None), v.server_time_ms())


def r_listen_key_close(v: Venue, p: dict[str, str]) -> Any:
    return v.stream.close(p.get("listenKey") or next(iter(v.stream.keys), None), v.server_time_ms())


# (method, path) -> (handler, request weight (int or fn of params), signed: True | "key" (API key only) | False)
ROUTES: dict[tuple[str, str], tuple[Handler, Any, bool | str]] = {
    ("GET", "/fapi/v1/ping"): (r_ping, 1, False),
    ("GET", "/fapi/v1/time"): (r_time, 1, False),
    ("GET", "/fapi/v1/exchangeInfo"): (r_exchange_info, 1, False),
    ("GET", "/fapi/v1/klines"): (r_klines, w_klines, False),
    ("GET", "/fapi/v1/premiumIndex"): (r_premium, 1, False),
    ("GET", "/fapi/v1/fundingRate"): (r_funding, 1, False),
    ("GET", "/fapi/v1/openInterest"): (r_open_interest, 1, False),
    ("GET", "/futures/data/openInterestHist"): (r_oi_hist, 1, False),
    ("GET", "/fapi/v1/depth"): (r_depth, lambda p: 2 if int(p.get("limit") or 500) <= 50 else 10, False),
    ("GET", "/fapi/v3/balance"): (r_balance, 5, True),
    ("GET", "/fapi/v2/account"): (r_account, 5, True),
    ("GET", "/fapi/v3/account"): (r_account_v3, 5, True),
    ("GET", "/fapi/v3/positionRisk"): (r_position_risk, 5, True),
    ("GET", "/fapi/v1/userTrades"): (r_user_trades, 5, True),
    ("GET", "/fapi/v1/income"): (r_income, 30, True),
    ("POST", "/fapi/v1/leverage"): (r_leverage, 1, True),
    ("POST", "/fapi/v1/marginType"): (r_margin_type, 1, True),
    ("GET", "/fapi/v1/positionSide/dual"): (r_dual_get, 30, True),
    ("POST", "/fapi/v1/positionSide/dual"): (r_dual_post, 1, True),
    ("POST", "/fapi/v1/order"): (r_new_order, 1, True),
    ("GET", "/fapi/v1/order"): (r_get_order, 1, True),
    ("DELETE", "/fapi/v1/order"): (r_cancel, 1, True),
    ("GET", "/fapi/v1/openOrders"): (r_open_orders, 1, True),
    ("DELETE", "/fapi/v1/allOpenOrders"): (r_cancel_all, 1, True),
    ("POST", "/fapi/v1/algoOrder"): (r_new_algo, 1, True),
    ("GET", "/fapi/v1/algoOrder"): (r_get_algo, 1, True),
    ("DELETE", "/fapi/v1/algoOrder"): (r_cancel_algo, 1, True),
    ("GET", "/fapi/v1/openAlgoOrders"): (r_open_algo, 1, True),
    ("DELETE", "/fapi/v1/algoOpenOrders"): (r_cancel_all_algo, 1, True),
    ("POST", "/fapi/v1/listenKey"): (r_listen_key_start, 1, "key"),
    ("PUT", "/fapi/v1/listenKey"): (r_listen_key_keepalive, 1, "key"),
    ("DELETE", "/fapi/v1/listenKey"): (r_listen_key_close, 1, "key"),
}
