"""Binance JSON → plain exchange types."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.exchange.types import AccountTrade, Depth, Income, Kline, Order, Position

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


def actual_order_id(d: dict[str, Any]) -> int | None:
    """The regular order a triggered algo order placed (Binance's `actualOrderId`), if any."""
    raw = d.get("actualOrderId")
    return int(raw) if raw not in (None, "", "0", 0) else None


def algo_order(d: dict[str, Any], actual: dict[str, Any] | None = None) -> Order:
    """A conditional (algo) order. Binance's algo answers carry no fill: a triggered one
    (TRIGGERED / FINISHED) names the MARKET order it placed in `actualOrderId`, and the
    fill is read from that order (`actual`, the /fapi/v1/order answer). `executedQty` /
    `avgPrice` are used only where an answer really carries them."""
    st = d.get("algoStatus", "NEW")
    filled, avg = dec(d.get("executedQty")), dec(d.get("avgPrice"))
    if actual is not None:
        filled, avg = dec(actual.get("executedQty")), dec(actual.get("avgPrice"))
    if st in ("NEW", "TRIGGERING"):
        status = "NEW"
    elif st in ("TRIGGERED", "FINISHED"):
        if actual is not None and actual.get("status") in ("NEW", "PARTIALLY_FILLED"):
            status = "PARTIALLY_FILLED" if filled > 0 else "NEW"  # its order is still working
        else:
            status = "FILLED" if filled > 0 else "EXPIRED"  # done: what it filled is all it will fill
    else:
        status = st  # CANCELED, EXPIRED, REJECTED
    return Order(
        symbol=d["symbol"], client_order_id=d["clientAlgoId"], order_id=int(d["algoId"]), side=d["side"],
        type=d["orderType"], status=status,  # type: ignore[arg-type]
        quantity=dec(d.get("quantity")) or (dec(actual.get("origQty")) if actual else ZERO), filled_qty=filled,
        avg_price=avg, stop_price=dec_or_none(d.get("triggerPrice")), reduce_only=bool(d.get("reduceOnly")),
        close_position=bool(d.get("closePosition")), time_in_force=d.get("timeInForce") or "GTC",
        working_type=d.get("workingType") or "CONTRACT_PRICE", time_ms=int(d.get("createTime") or 0),
        update_time_ms=int(d.get("updateTime") or 0),
    )


def position(d: dict[str, Any], leverage: int, margin_type: str) -> Position:
    """positionRisk v3 carries neither leverage nor margin type: the ones we set are used."""
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


def account_trade(d: dict[str, Any]) -> AccountTrade:
    return AccountTrade(int(d["id"]), int(d["orderId"]), d["side"], dec(d["price"]), dec(d["qty"]),
                        dec(d.get("realizedPnl")), dec(d.get("commission")), int(d["time"]))


def income(d: dict[str, Any]) -> Income:
    return Income(d["incomeType"], dec(d["income"]), d.get("asset", ""), int(d["time"]), str(d.get("info") or ""),
                  int(d.get("tranId") or 0), str(d.get("tradeId") or ""))
