"""Binance's JSON shapes for what the core holds (numbers as strings, as Binance sends)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.exchange.filters import SymbolFilters
from engine.exchange.sim import SimCore
from engine.exchange.types import TRIGGERED_TYPES, Order

ALGO_STATUS = {"NEW": "NEW", "PARTIALLY_FILLED": "TRIGGERED", "FILLED": "FINISHED", "CANCELED": "CANCELED",
               "EXPIRED": "EXPIRED", "REJECTED": "REJECTED"}


def s(x: Decimal | None) -> str:
    return "0" if x is None else format(x, "f")


def is_algo(order: Order) -> bool:
    return order.type in TRIGGERED_TYPES


def order_json(o: Order) -> dict[str, Any]:
    return {
        "orderId": o.order_id, "symbol": o.symbol, "status": o.status, "clientOrderId": o.client_order_id,
        "price": s(o.price), "avgPrice": s(o.avg_price), "origQty": s(o.quantity), "executedQty": s(o.filled_qty),
        "cumQuote": s(o.filled_qty * o.avg_price), "timeInForce": o.time_in_force, "type": o.type,
        "reduceOnly": o.reduce_only, "closePosition": o.close_position, "side": o.side, "positionSide": "BOTH",
        "stopPrice": s(o.stop_price), "workingType": o.working_type, "priceProtect": False, "origType": o.type,
        "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
        "time": o.time_ms, "updateTime": o.update_time_ms,
    }


def algo_json(o: Order) -> dict[str, Any]:
    done = o.status in ("FILLED", "PARTIALLY_FILLED")
    return {
        "algoId": o.order_id, "clientAlgoId": o.client_order_id, "algoType": "CONDITIONAL", "orderType": o.type,
        "symbol": o.symbol, "side": o.side, "positionSide": "BOTH", "timeInForce": o.time_in_force,
        "quantity": s(o.quantity), "algoStatus": ALGO_STATUS[o.status], "triggerPrice": s(o.stop_price),
        "price": "0", "icebergQuantity": None, "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": o.working_type, "priceMatch": "NONE", "closePosition": o.close_position,
        "priceProtect": False, "reduceOnly": o.reduce_only, "activatePrice": "", "callbackRate": "",
        "createTime": o.time_ms, "updateTime": o.update_time_ms, "triggerTime": o.update_time_ms if done else 0,
        "goodTillDate": 0, "actualOrderId": str(o.order_id) if done else "",
        "executedQty": s(o.filled_qty), "avgPrice": s(o.avg_price),
    }


def any_order_json(o: Order) -> dict[str, Any]:
    return algo_json(o) if is_algo(o) else order_json(o)


def position_json(core: SimCore) -> dict[str, Any]:
    p = core.position()
    return {
        "symbol": p.symbol, "positionSide": "BOTH", "positionAmt": s(p.quantity), "entryPrice": s(p.entry_price),
        "breakEvenPrice": s(p.entry_price), "markPrice": s(p.mark_price), "unRealizedProfit": s(p.unrealized_pnl),
        "liquidationPrice": s(p.liquidation_price), "isolatedMargin": s(p.isolated_margin),
        "notional": s(p.quantity * p.mark_price), "marginAsset": "USDT", "isolatedWallet": s(p.isolated_margin),
        "initialMargin": s(core.ledger.position_margin()), "maintMargin": "0", "positionInitialMargin":
        s(core.ledger.position_margin()), "openOrderInitialMargin": s(core.open_order_margin()), "adl": 0,
        "bidNotional": "0", "askNotional": "0", "updateTime": core.now_ms,
        # Not in Binance's v3 positionRisk (it moved to /fapi/v1/symbolConfig); kept for convenience.
        "leverage": str(p.leverage), "marginType": p.margin_type.lower(),
    }


def balance_json(core: SimCore) -> dict[str, Any]:
    led = core.ledger
    mark = core.mark_price or Decimal(0)
    avail = s(core.available_balance())
    return {"accountAlias": "SgsR", "asset": "USDT", "balance": s(led.wallet), "crossWalletBalance": s(led.wallet),
            "crossUnPnl": s(led.unrealized(mark)), "availableBalance": avail, "maxWithdrawAmount": avail,
            "marginAvailable": True, "updateTime": core.now_ms}


def exchange_info(filters: SymbolFilters, server_time: int) -> dict[str, Any]:
    return {
        "timezone": "UTC", "serverTime": server_time, "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}],
        "exchangeFilters": [], "assets": [{"asset": "USDT", "marginAvailable": True}],
        "symbols": [{
            "symbol": filters.symbol, "pair": filters.symbol, "contractType": "PERPETUAL", "status": "TRADING",
            "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 2,
            "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
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
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"]}],
    }
