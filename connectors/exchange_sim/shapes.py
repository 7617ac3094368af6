"""Binance's JSON shapes for what the core holds (numbers as strings, as Binance sends).

Each function answers one documented endpoint with exactly the keys of its example in
Binance's documentation (tests/fixtures/binance/, checked by tests/test_binance_contract.py):
no field Binance does not send, none missing. The answers differ by endpoint even for
the same order (a new order carries `cumQty`, a queried one `avgPrice` and `cumQuote`).

Conditional orders are algo orders: NEW while they wait, FINISHED once triggered (the
fill lives in the separate MARKET order named by `actualOrderId`), CANCELED, EXPIRED or
REJECTED otherwise. An algo answer never carries `executedQty` or `avgPrice`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.exchange.filters import SymbolFilters
from engine.exchange.sim import SimCore
from engine.exchange.sim.history import account_trades, income_history
from engine.exchange.types import TRIGGERED_TYPES, Order

ZERO = Decimal(0)


def s(x: Decimal | None) -> str:
    return "0" if x is None else format(x, "f")


def is_algo(order: Order) -> bool:
    return order.type in TRIGGERED_TYPES


def _common(o: Order, position_side: str) -> dict[str, Any]:
    return {"clientOrderId": o.client_order_id, "executedQty": s(o.filled_qty), "orderId": o.order_id,
            "origQty": s(o.quantity), "price": s(o.price), "reduceOnly": o.reduce_only, "side": o.side,
            "positionSide": position_side, "status": o.status, "stopPrice": s(o.stop_price),
            "closePosition": o.close_position, "symbol": o.symbol, "timeInForce": o.time_in_force,
            "type": o.type, "origType": o.type, "updateTime": o.update_time_ms, "workingType": o.working_type,
            "priceProtect": False, "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0}


def new_order_json(o: Order, position_side: str = "BOTH") -> dict[str, Any]:
    """POST /fapi/v1/order (New Order) and DELETE /fapi/v1/order (Cancel Order)."""
    return _common(o, position_side) | {"cumQty": s(o.filled_qty)}


cancel_order_json = new_order_json


def order_json(o: Order, position_side: str = "BOTH") -> dict[str, Any]:
    """GET /fapi/v1/order (Query Order) and GET /fapi/v1/openOrders."""
    return _common(o, position_side) | {"avgPrice": s(o.avg_price), "cumQuote": s(o.filled_qty * o.avg_price),
                                        "time": o.time_ms}


def _algo_common(o: Order, position_side: str) -> dict[str, Any]:
    return {"algoId": o.order_id, "clientAlgoId": o.client_order_id, "algoType": "CONDITIONAL",
            "orderType": o.type, "symbol": o.symbol, "side": o.side, "positionSide": position_side,
            "timeInForce": o.time_in_force, "quantity": s(o.quantity), "triggerPrice": s(o.stop_price),
            "price": "0", "icebergQuantity": None, "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": o.working_type, "priceMatch": "NONE", "closePosition": o.close_position,
            "priceProtect": False, "reduceOnly": o.reduce_only, "createTime": o.time_ms,
            "updateTime": o.update_time_ms, "goodTillDate": 0}


def algo_status(o: Order, actual: Order | None) -> str:
    if actual is not None:
        return "FINISHED"  # triggered, and its MARKET order is done (filled or expired)
    return {"NEW": "NEW", "CANCELED": "CANCELED", "EXPIRED": "EXPIRED", "REJECTED": "REJECTED"}.get(
        o.status, "FINISHED")


def _actual(o: Order, actual: Order | None) -> dict[str, Any]:
    return {"algoStatus": algo_status(o, actual), "actualOrderId": str(actual.order_id) if actual else "",
            "actualPrice": s(actual.avg_price) if actual else "0", "triggerTime": actual.time_ms if actual else 0}


def new_algo_json(o: Order, position_side: str = "BOTH") -> dict[str, Any]:
    """POST /fapi/v1/algoOrder (New Algo Order)."""
    return _algo_common(o, position_side) | {"algoStatus": "NEW", "activatePrice": "", "callbackRate": "",
                                             "triggerTime": 0}


def algo_json(o: Order, actual: Order | None, position_side: str = "BOTH") -> dict[str, Any]:
    """GET /fapi/v1/algoOrder (Query Algo Order)."""
    a = _actual(o, actual)
    return _algo_common(o, position_side) | a | {
        "actualType": "MARKET", "actualQty": s(actual.quantity if actual else o.quantity), "tpOrderType": ""}


def open_algo_json(o: Order, position_side: str = "BOTH") -> dict[str, Any]:
    """GET /fapi/v1/openAlgoOrders (Current All Algo Open Orders)."""
    return _algo_common(o, position_side) | _actual(o, None) | {
        "tpTriggerPrice": "0", "tpPrice": "0", "slTriggerPrice": "0", "slPrice": "0", "tpOrderType": ""}


def position_side(core: SimCore, dual: bool) -> str:
    q = core.ledger.qty
    return "BOTH" if not dual else ("SHORT" if q < 0 else "LONG")


def position_json(core: SimCore, dual: bool = False) -> dict[str, Any]:
    """GET /fapi/v3/positionRisk: no leverage, no margin type (Binance moved them to
    /fapi/v1/symbolConfig)."""
    p = core.position()
    isolated = p.margin_type == "ISOLATED"
    margin = core.ledger.position_margin()
    return {
        "symbol": p.symbol, "positionSide": position_side(core, dual), "positionAmt": s(p.quantity),
        "entryPrice": s(p.entry_price), "breakEvenPrice": s(p.entry_price), "markPrice": s(p.mark_price),
        "unRealizedProfit": s(p.unrealized_pnl), "liquidationPrice": s(p.liquidation_price),
        "isolatedMargin": s(p.isolated_margin + p.unrealized_pnl if isolated and p.quantity else ZERO),
        "notional": s(p.quantity * p.mark_price), "marginAsset": "USDT",
        "isolatedWallet": s(p.isolated_margin if isolated else ZERO), "initialMargin": s(margin),
        "maintMargin": s(abs(p.quantity) * p.mark_price * core.ledger.maintenance_rate),
        "positionInitialMargin": s(margin), "openOrderInitialMargin": s(core.open_order_margin()), "adl": 0,
        "bidNotional": "0", "askNotional": "0", "updateTime": core.now_ms,
    }


def _cross_parts(core: SimCore) -> tuple[Decimal, Decimal]:
    """(cross wallet balance, cross unrealised PnL): an ISOLATED position's margin and
    PnL are not in the cross figures, as on Binance."""
    led = core.ledger
    mark = core.mark_price or Decimal(0)
    if led.margin_type == "ISOLATED":
        return led.wallet - led.position_margin(), ZERO
    return led.wallet, led.unrealized(mark)


def balance_json(core: SimCore) -> dict[str, Any]:
    """GET /fapi/v3/balance."""
    led = core.ledger
    cross_wallet, cross_pnl = _cross_parts(core)
    avail = s(core.available_balance())
    return {"accountAlias": "SgsR", "asset": "USDT", "balance": s(led.wallet), "crossWalletBalance": s(cross_wallet),
            "crossUnPnl": s(cross_pnl), "availableBalance": avail, "maxWithdrawAmount": avail,
            "marginAvailable": True, "updateTime": core.now_ms}


def _account_figures(core: SimCore) -> dict[str, str]:
    led = core.ledger
    mark = core.mark_price or Decimal(0)
    pnl = led.unrealized(mark)
    cross_wallet, cross_pnl = _cross_parts(core)
    pos_margin, order_margin = led.position_margin(), core.open_order_margin()
    avail = s(core.available_balance())
    return {"totalInitialMargin": s(pos_margin + order_margin),
            "totalMaintMargin": s(abs(led.qty) * mark * led.maintenance_rate),
            "totalWalletBalance": s(led.wallet), "totalUnrealizedProfit": s(pnl),
            "totalMarginBalance": s(led.wallet + pnl), "totalPositionInitialMargin": s(pos_margin),
            "totalOpenOrderInitialMargin": s(order_margin), "totalCrossWalletBalance": s(cross_wallet),
            "totalCrossUnPnl": s(cross_pnl), "availableBalance": avail, "maxWithdrawAmount": avail}


def _asset(core: SimCore, t: dict[str, str]) -> dict[str, Any]:
    return {"asset": "USDT", "walletBalance": t["totalWalletBalance"], "unrealizedProfit": t["totalUnrealizedProfit"],
            "marginBalance": t["totalMarginBalance"], "maintMargin": t["totalMaintMargin"],
            "initialMargin": t["totalInitialMargin"], "positionInitialMargin": t["totalPositionInitialMargin"],
            "openOrderInitialMargin": t["totalOpenOrderInitialMargin"],
            "crossWalletBalance": t["totalCrossWalletBalance"], "crossUnPnl": t["totalCrossUnPnl"],
            "availableBalance": t["availableBalance"], "maxWithdrawAmount": t["maxWithdrawAmount"],
            "updateTime": core.now_ms}


def account_v3_json(core: SimCore, dual: bool = False) -> dict[str, Any]:
    """GET /fapi/v3/account: positions listed only when open (as v3 does)."""
    t = _account_figures(core)
    p = position_json(core, dual)
    positions = [{k: p[k] for k in ("symbol", "positionSide", "positionAmt")} | {
        "unrealizedProfit": p["unRealizedProfit"], "isolatedMargin": p["isolatedMargin"], "notional": p["notional"],
        "isolatedWallet": p["isolatedWallet"], "initialMargin": p["initialMargin"], "maintMargin": p["maintMargin"],
        "updateTime": p["updateTime"]}] if core.ledger.qty else []
    return t | {"assets": [_asset(core, t)], "positions": positions}


def account_v2_json(core: SimCore, dual: bool = False) -> dict[str, Any]:
    """GET /fapi/v2/account."""
    t = _account_figures(core)
    p = position_json(core, dual)
    led = core.ledger
    position = {"symbol": p["symbol"], "initialMargin": p["initialMargin"], "maintMargin": p["maintMargin"],
                "unrealizedProfit": p["unRealizedProfit"], "positionInitialMargin": p["positionInitialMargin"],
                "openOrderInitialMargin": p["openOrderInitialMargin"], "leverage": str(led.leverage),
                "isolated": led.margin_type == "ISOLATED", "entryPrice": p["entryPrice"], "maxNotional": "1000000",
                "bidNotional": "0", "askNotional": "0", "positionSide": p["positionSide"],
                "positionAmt": p["positionAmt"], "updateTime": p["updateTime"]}
    return {"feeTier": 0, "feeBurn": True, "canTrade": True, "canDeposit": True, "canWithdraw": True,
            "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1} | t | {
        "assets": [_asset(core, t) | {"marginAvailable": True}], "positions": [position]}


def exchange_info(filters: SymbolFilters, server_time: int) -> dict[str, Any]:
    return {
        "timezone": "UTC", "serverTime": server_time,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}],
        "exchangeFilters": [], "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "0"}],
        "symbols": [{
            "symbol": filters.symbol, "pair": filters.symbol, "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
            "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
            "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 2,
            "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
            "underlyingSubType": ["PoW"], "settlePlan": 0, "triggerProtect": "0.0500",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "261.10", "maxPrice": "809484", "tickSize": s(filters.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": s(filters.min_qty), "maxQty": "1000", "stepSize": s(filters.step_size)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": s(filters.min_qty), "maxQty": "120",
                 "stepSize": s(filters.market_step_size or filters.step_size)},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MIN_NOTIONAL", "notional": s(filters.min_notional)},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                 "multiplierDecimal": "4"}],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                           "TRAILING_STOP_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"], "liquidationFee": "0.012500",
            "marketTakeBound": "0.05"}],
    }


def user_trades_json(core: SimCore, start_ms: int | None, limit: int) -> list[dict[str, Any]]:
    """GET /fapi/v1/userTrades: the account's fills, keys as documented (account_trades.json)."""
    sym = core.config.filters.symbol
    makers = {i: f.maker for i, f in enumerate(core.fills, start=1)}
    return [{"buyer": t.side == "BUY", "commission": s(t.commission), "commissionAsset": "USDT", "id": t.trade_id,
             "maker": makers.get(t.trade_id, False), "orderId": t.order_id, "price": s(t.price), "qty": s(t.quantity),
             "quoteQty": s(t.price * t.quantity), "baseQty": s(t.quantity), "marginAsset": "USDT",
             "realizedPnl": s(t.realized_pnl), "side": t.side, "positionSide": "BOTH", "symbol": sym, "pair": sym,
             "time": t.time_ms}
            for t in account_trades(core, start_ms, limit)]


def income_json(core: SimCore, start_ms: int | None, limit: int) -> list[dict[str, Any]]:
    """GET /fapi/v1/income: realised PnL, commission and funding rows (income_history.json)."""
    sym = core.config.filters.symbol
    return [{"symbol": sym, "incomeType": r.income_type, "income": s(r.income), "asset": r.asset, "info": r.info,
             "time": r.time_ms, "tranId": r.tran_id, "tradeId": r.trade_id}
            for r in income_history(core, start_ms, limit)]
