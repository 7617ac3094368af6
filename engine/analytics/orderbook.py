"""Order-book metrics from one depth snapshot {"bids": [[price, qty], ...], "asks": [...]}."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

UNAVAILABLE: dict[str, Any] = {
    "available": False, "spread_pct": None, "bid_volume": None, "ask_volume": None,
    "imbalance_pct": None, "largest_bid_wall_price": None, "largest_ask_wall_price": None,
    "slippage_pct": None,
}


def _levels(raw: Any) -> list[tuple[float, float]] | None:
    if not isinstance(raw, list | tuple):
        return None
    out = []
    for lvl in raw:
        if not isinstance(lvl, list | tuple) or len(lvl) < 2:
            return None
        try:
            price, qty = float(lvl[0]), float(lvl[1])
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(price) and math.isfinite(qty)) or price <= 0 or qty < 0:
            return None
        out.append((price, qty))
    return out


def _walk(levels: list[tuple[float, float]], notional: float) -> float | None:
    """Average fill price for `notional` USDT taken from `levels`; None if the book is too thin."""
    left, qty_total, cost = notional, 0.0, 0.0
    for price, qty in levels:
        take = min(qty, left / price)
        qty_total += take
        cost += take * price
        left -= take * price
        if left <= 1e-9 * notional:
            return cost / qty_total
    return None


def orderbook_metrics(depth: Mapping[str, Any] | None, top_n: int, order_usdt: float) -> dict[str, Any]:
    """Spread %, top-N volumes (base), imbalance %, biggest walls, slippage % for a typical order.

    Slippage is the worse of buying and selling `order_usdt` at market, measured from
    the mid price; unknown (None) when the visible book cannot fill it.
    """
    if not isinstance(depth, Mapping):
        return dict(UNAVAILABLE)
    bids, asks = _levels(depth.get("bids")), _levels(depth.get("asks"))
    if not bids or not asks:
        return dict(UNAVAILABLE)
    bids = sorted(bids, key=lambda lv: -lv[0])[:top_n]
    asks = sorted(asks, key=lambda lv: lv[0])[:top_n]
    best_bid, best_ask = bids[0][0], asks[0][0]
    mid = (best_bid + best_ask) / 2
    bid_vol = math.fsum(q for _, q in bids)
    ask_vol = math.fsum(q for _, q in asks)
    total = bid_vol + ask_vol
    buy, sell = _walk(asks, order_usdt), _walk(bids, order_usdt)
    slippage = None
    if buy is not None and sell is not None:
        slippage = max(buy - mid, mid - sell) / mid * 100
    return {
        "available": True,
        "spread_pct": (best_ask - best_bid) / mid * 100,
        "bid_volume": bid_vol,
        "ask_volume": ask_vol,
        "imbalance_pct": (bid_vol - ask_vol) / total * 100 if total > 0 else None,
        "largest_bid_wall_price": max(bids, key=lambda lv: lv[1])[0],
        "largest_ask_wall_price": max(asks, key=lambda lv: lv[1])[0],
        "slippage_pct": slippage,
    }
