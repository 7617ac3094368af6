"""BinanceExchange: the Exchange interface on python-binance (USD-M futures).

Every price and quantity is rounded with engine.exchange.filters before it is sent
(quantities DOWN to the step, prices to the tick) and the minimum notional is checked
locally, so the exchange never sees an order we can tell it would refuse.

Conditional orders (STOP_MARKET, TAKE_PROFIT_MARKET) go to Binance's algo-order
endpoints (python-binance 1.0.37 routes them there); their client id is sent as
clientAlgoId. Lookups and cancels by client id try the regular order book first, then
the algo one, so callers never need to know which kind an order is.
"""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal
from typing import Any

from connectors.binance import parse
from connectors.binance.client import make_client
from connectors.binance.transport import Transport
from connectors.binance.weights import WeightGovernor
from engine.exchange.errors import (
    AccountModeRefused,
    DuplicateClientOrderId,
    MinNotional,
    OrderRejected,
    ResponseLost,
    UnknownOrder,
)
from engine.exchange.filters import FilterError, SymbolFilters, check_order, round_price, round_quantity
from engine.exchange.types import (
    TRIGGERED_TYPES,
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

log = logging.getLogger("showdown.binance")
LOOKUP_ATTEMPTS = 5


def _s(x: Decimal) -> str:
    return format(x, "f")


def _kline_weight(limit: int) -> int:
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


class BinanceExchange:
    def __init__(self, binance_cfg: dict[str, Any], transport: Transport | None = None,
                 default_leverage: int = 20, default_margin_type: str = "CROSSED"):
        self.cfg = binance_cfg
        if transport is None:
            client = make_client(binance_cfg)
            transport = Transport(client, WeightGovernor(int(binance_cfg.get("max_weight_per_minute", 2000))))
        self.t = transport
        self._filters: dict[str, SymbolFilters] = {}
        self._leverage = default_leverage
        self._margin_type = default_margin_type

    # --- market data -------------------------------------------------------------
    def klines(self, symbol: str, interval: str, start_ms: int | None = None, end_ms: int | None = None,
               limit: int = 500) -> list[Kline]:
        rows = self.t.call("futures_klines", _kline_weight(limit), symbol=symbol, interval=interval,
                           startTime=start_ms, endTime=end_ms, limit=limit)
        return [parse.kline(r) for r in rows]

    def premium_index(self, symbol: str) -> PremiumIndex:
        d = self.t.call("futures_mark_price", 1, symbol=symbol)
        return PremiumIndex(d["symbol"], parse.dec(d["markPrice"]), parse.dec(d["indexPrice"]),
                            parse.dec(d["lastFundingRate"]), int(d["nextFundingTime"]), int(d["time"]))

    def funding_history(self, symbol: str, start_ms: int | None = None, end_ms: int | None = None,
                        limit: int = 100) -> list[FundingRate]:
        rows = self.t.call("futures_funding_rate", 1, symbol=symbol, startTime=start_ms, endTime=end_ms,
                           limit=limit)
        return [FundingRate(int(r["fundingTime"]), parse.dec(r["fundingRate"])) for r in rows]

    def open_interest(self, symbol: str) -> OpenInterest:
        d = self.t.call("futures_open_interest", 1, symbol=symbol)
        return OpenInterest(int(d["time"]), float(d["openInterest"]))

    def open_interest_history(self, symbol: str, period: str = "5m", start_ms: int | None = None,
                              end_ms: int | None = None, limit: int = 30) -> list[OpenInterest]:
        rows = self.t.call("futures_open_interest_hist", 1, symbol=symbol, period=period, startTime=start_ms,
                           endTime=end_ms, limit=limit)
        return [OpenInterest(int(r["timestamp"]), float(r["sumOpenInterest"]), float(r["sumOpenInterestValue"]))
                for r in rows]

    def depth(self, symbol: str, limit: int = 20) -> Depth:
        return parse.depth(self.t.call("futures_order_book", 2 if limit <= 50 else 10, symbol=symbol, limit=limit))

    def symbol_filters(self, symbol: str) -> SymbolFilters:
        if symbol not in self._filters:
            info = self.t.call("futures_exchange_info", 1)
            for s in info["symbols"]:
                if s["symbol"] == symbol:
                    self._filters[symbol] = SymbolFilters.from_exchange_info(s)
                    break
            else:
                raise FilterError(f"symbol {symbol!r} not in exchangeInfo")
        return self._filters[symbol]

    def server_time_ms(self) -> int:
        return int(self.t.call("futures_time", 1)["serverTime"])

    # --- account -----------------------------------------------------------------
    def balance(self, asset: str = "USDT") -> Balance:
        """Wallet balance and the unrealised PnL of ALL positions, cross and isolated.
        (Binance's `crossUnPnl` covers cross positions only: equity built on it is wrong
        under ISOLATED margin while a trade is open.)"""
        wallet = available = Decimal(0)
        for b in self.t.call("futures_account_balance", 5, signed=True):
            if b["asset"] == asset:
                wallet, available = parse.dec(b["balance"]), parse.dec(b["availableBalance"])
                break
        rows = self.t.call("futures_position_information", 5, signed=True)
        pnl = sum((parse.dec(r.get("unRealizedProfit")) for r in rows if r.get("marginAsset", asset) == asset),
                  Decimal(0))
        return Balance(asset, wallet, pnl, available)

    def positions(self, symbol: str | None = None) -> list[Position]:
        params = {"symbol": symbol} if symbol else {}
        rows = self.t.call("futures_position_information", 5, signed=True, **params)
        _refuse_hedge_positions(rows)
        out = [parse.position(r, self._leverage, self._margin_type) for r in rows]
        if symbol and not out:  # v3 omits flat symbols: report flat explicitly
            out = [Position(symbol, Decimal(0), Decimal(0), Decimal(0), Decimal(0), self._leverage,
                            self._margin_type, None)]  # type: ignore[arg-type]
        return out

    def open_orders(self, symbol: str) -> list[Order]:
        plain = self.t.call("futures_get_open_orders", 1, signed=True, symbol=symbol)
        algo = self.t.call("futures_get_open_orders", 1, signed=True, symbol=symbol, conditional=True)
        return [parse.order(d) for d in plain] + [self._algo(symbol, d) for d in algo]

    def order(self, symbol: str, client_order_id: str) -> Order:
        try:
            return parse.order(self.t.call("futures_get_order", 1, signed=True, symbol=symbol,
                                           origClientOrderId=client_order_id))
        except UnknownOrder:
            return self._algo(symbol, self.t.call("futures_get_order", 1, signed=True, symbol=symbol,
                                                  clientAlgoId=client_order_id))

    def _algo(self, symbol: str, d: dict[str, Any]) -> Order:
        """An algo order with its fill read from the order its trigger placed."""
        oid = parse.actual_order_id(d)
        actual = None if oid is None else self.t.call("futures_get_order", 1, signed=True, symbol=symbol,
                                                       orderId=oid)
        return parse.algo_order(d, actual)

    # --- trading -----------------------------------------------------------------
    def account_trades(self, symbol: str, start_ms: int | None = None, limit: int = 500) -> list[AccountTrade]:
        rows = self.t.call("futures_account_trades", 5, signed=True, symbol=symbol, startTime=start_ms,
                           limit=min(limit, 1000))
        return sorted((parse.account_trade(d) for d in rows), key=lambda t: (t.time_ms, t.trade_id))

    def income_history(self, symbol: str, start_ms: int | None = None, limit: int = 100) -> list[Income]:
        rows = self.t.call("futures_income_history", 30, signed=True, symbol=symbol, startTime=start_ms,
                           limit=min(limit, 1000))
        return sorted((parse.income(d) for d in rows), key=lambda r: (r.time_ms, r.tran_id))

    def prepare(self, req: OrderRequest, ref_price: Decimal | None = None) -> dict[str, Any]:
        """Round to the filters, check minimum notional, build Binance's parameters."""
        f = self.symbol_filters(req.symbol)
        cid = req.client_order_id or f"sd_{secrets.token_hex(8)}"
        p: dict[str, Any] = {"symbol": req.symbol, "side": req.side, "type": req.type}
        price = round_price(req.price, f) if req.price is not None else None
        stop = round_price(req.stop_price, f) if req.stop_price is not None else None
        if req.close_position:
            p["closePosition"] = "true"
        else:
            assert req.quantity is not None
            qty = round_quantity(req.quantity, f, market=req.type != "LIMIT")
            ref = price or stop or ref_price
            try:
                check_order(ref if ref is not None else Decimal(0), qty, f,
                            reduce_only=req.reduce_only or ref is None)
            except FilterError as exc:
                kind = MinNotional if "notional" in str(exc) else OrderRejected
                raise kind(str(exc), None, cid) from None
            p["quantity"] = _s(qty)
            if req.reduce_only:
                p["reduceOnly"] = "true"
        if req.type == "LIMIT":
            assert price is not None
            p["price"] = _s(price)
            p["timeInForce"] = req.time_in_force
        if req.type in TRIGGERED_TYPES:
            assert stop is not None
            p["stopPrice"] = _s(stop)  # python-binance renames it triggerPrice for the algo endpoint
            p["workingType"] = req.working_type
            p["clientAlgoId"] = cid
        else:
            p["newClientOrderId"] = cid
        return p

    def place_order(self, request: OrderRequest) -> Order:
        ref = None
        if request.type == "MARKET" and not request.reduce_only:
            ref = self.premium_index(request.symbol).mark_price
        params = self.prepare(request, ref)
        cid = params.get("clientAlgoId") or params["newClientOrderId"]
        retried = False
        for _ in range(LOOKUP_ATTEMPTS):
            try:
                return parse.order(self.t.call("futures_create_order", 1, signed=True, retry_lost=False,
                                               **params))
            except DuplicateClientOrderId:
                if not retried:
                    raise  # an open order already has this id: the caller's, not ours
                return self.order(request.symbol, cid)  # our earlier attempt did go through
            except ResponseLost as exc:
                log.warning("place %s: answer lost (%s); looking it up before any retry", cid, exc)
                retried = True
                try:
                    return self.order(request.symbol, cid)
                except UnknownOrder:
                    continue  # it never arrived: safe to send again with the same id
        raise ResponseLost(f"order {cid}: no answer after {LOOKUP_ATTEMPTS} attempts", None, "place_order")

    def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        try:
            return parse.order(self.t.call("futures_cancel_order", 1, signed=True, symbol=symbol,
                                           origClientOrderId=client_order_id))
        except UnknownOrder:
            pass
        try:
            self.t.call("futures_cancel_order", 1, signed=True, symbol=symbol, clientAlgoId=client_order_id)
        except UnknownOrder:
            order = self.order(symbol, client_order_id)  # already closed (a retry after a lost answer)?
            if order.status == "CANCELED":
                return order
            raise
        return self.order(symbol, client_order_id)

    def cancel_all(self, symbol: str) -> None:
        self.t.call("futures_cancel_all_open_orders", 1, signed=True, symbol=symbol)
        self.t.call("futures_cancel_all_open_orders", 1, signed=True, symbol=symbol, conditional=True)

    def set_leverage(self, symbol: str, leverage: int) -> None:
        self.t.call("futures_change_leverage", 1, signed=True, symbol=symbol, leverage=leverage)
        self._leverage = leverage

    def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        try:
            self.t.call("futures_change_margin_type", 1, signed=True, symbol=symbol, marginType=margin_type)
        except OrderRejected as exc:
            if exc.code != -4046:  # "No need to change margin type."
                raise
        self._margin_type = margin_type

    def ensure_one_way_mode(self) -> None:
        """One-way mode, or refuse: a hedge-mode account whose mode cannot change (a
        position or open orders exist) is named and nothing is traded."""
        rows = self.t.call("futures_position_information", 5, signed=True)
        _refuse_hedge_positions(rows)
        if self.t.call("futures_get_position_mode", 30, signed=True).get("dualSidePosition"):
            try:
                self.t.call("futures_change_position_mode", 1, signed=True, dualSidePosition="false")
            except OrderRejected as exc:
                raise AccountModeRefused(f"the account is in hedge mode (dualSidePosition=true) and cannot be "
                                         f"switched to one-way: {exc.msg}. Close its positions and orders, or "
                                         f"switch it on Binance, then start again", exc.code,
                                         "ensure_one_way_mode") from None
            log.warning("account switched from hedge mode to one-way mode")


def _refuse_hedge_positions(rows: list[dict[str, Any]]) -> None:
    """A position held as LONG / SHORT (hedge mode) is never ignored: it is named."""
    hedged = [f"{r.get('symbol')} {r.get('positionSide')} {r.get('positionAmt')}" for r in rows
              if r.get("positionSide", "BOTH") != "BOTH" and parse.dec(r.get("positionAmt")) != 0]
    if hedged:
        raise AccountModeRefused(f"hedge-mode position(s) on the account: {', '.join(hedged)}. The worker trades "
                                 f"one-way mode only (positionSide BOTH): close them and switch the account to "
                                 f"one-way mode", None, "positions")
