"""Binance JSON → plain exchange types."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.exchange.types import Depth, Kline, Order, Position

ZERO = Decimal(0)


def dec(x: Any) -> Decimal:
    return Decimal(str(x)) if x not in (None, "") else ZERO


def dec_or_none(x: Any) -> Decimal | None:
    d = dec(x)
    return d if d != 0 else None


def kline(row: list) -> Kline:
    return Kline(int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]),
                 int(row[6]), float(row[7]), int(row[8]), float(row[9]))


def order(d: dict[str, Any]) -> Order:
    if "algoId" in d:
        return algo_order(d)
    return Order(
        symbol=d["symbol"], client_order_id=d["clientOrderId"], order_id=int(d["orderId"]), side=d["side"],
        type=d.get("origType") or d["type"], status=d["status"], quantity=dec(d.get("origQty")),
        filled_qty=dec(d.get("executedQty")), avg_price=dec(d.get("avgPrice")), price=dec_or_none(d.get("price")),
        stop_price=dec_or_none(d.get("stopPrice")), reduce_only=bool(d.get("reduceOnly")),
        close_position=bool(d.get("closePosition")), time_in_force=d.get("timeInForce", "GTC"),
        working_type=d.get("workingType", "CONTRACT_PRICE"), time_ms=int(d.get("time") or d.get("updateTime") or 0),
        update_time_ms=int(d.get("updateTime") or 0),
    )


def algo_status(status: str, filled: Decimal) -> str:
    if status in ("TRIGGERING", "TRIGGERED"):
        return "PARTIALLY_FILLED" if filled > 0 else "NEW"
    if status == "FINISHED":
        return "FILLED" if filled > 0 else "EXPIRED"
    return status  # NEW, CANCELED, EXPIRED, REJECTED


def algo_order(d: dict[str, Any]) -> Order:
    filled = dec(d.get("executedQty"))
    return Order(
        symbol=d["symbol"], client_order_id=d["clientAlgoId"], order_id=int(d["algoId"]), side=d["side"],
        type=d["orderType"], status=algo_status(d.get("algoStatus", "NEW"), filled),  # type: ignore[arg-type]
        quantity=dec(d.get("quantity")), filled_qty=filled, avg_price=dec(d.get("avgPrice")),
        stop_price=dec_or_none(d.get("triggerPrice")), reduce_only=bool(d.get("reduceOnly")),
        close_position=bool(d.get("closePosition")), time_in_force=d.get("timeInForce") or "GTC",
        working_type=d.get("workingType") or "CONTRACT_PRICE", time_ms=int(d.get("createTime") or 0),
        update_time_ms=int(d.get("updateTime") or 0),
    )


def position(d: dict[str, Any], leverage: int, margin_type: str) -> Position:
    mt = (d.get("marginType") or margin_type).upper()
    return Position(
        symbol=d["symbol"], quantity=dec(d.get("positionAmt")), entry_price=dec(d.get("entryPrice")),
        mark_price=dec(d.get("markPrice")), unrealized_pnl=dec(d.get("unRealizedProfit")),
        leverage=int(d.get("leverage") or leverage), margin_type="CROSSED" if mt in ("CROSS", "CROSSED") else "ISOLATED",
        liquidation_price=dec_or_none(d.get("liquidationPrice")), isolated_margin=dec(d.get("isolatedMargin")),
    )


def depth(d: dict[str, Any]) -> Depth:
    return Depth(int(d.get("T") or d.get("E") or 0), [(dec(p), dec(q)) for p, q in d["bids"]],
                 [(dec(p), dec(q)) for p, q in d["asks"]])
