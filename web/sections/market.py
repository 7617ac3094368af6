"""Market snapshot with a candlestick chart and the current decision's levels."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from web import queries
from web.auth import role_required

bp = Blueprint("market", __name__, url_prefix="/market")
NAV = ("Market", "market.page", "viewer")
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
TF_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


@bp.route("/")
@role_required("viewer")
def page() -> Any:
    tf = request.args.get("tf", "5m")
    if tf not in TIMEFRAMES:
        abort(400, description=f"tf must be one of {', '.join(TIMEFRAMES)}, got {tf!r}")
    return render_template("sections/market.html", tf=tf, timeframes=TIMEFRAMES,
                           snapshot=queries.latest_document("snapshot"), decision=queries.latest_decision())


@bp.route("/candles.json")
@role_required("viewer")
def candles() -> Any:
    tf = request.args.get("tf", "5m")
    if tf not in TIMEFRAMES:
        abort(400, description=f"tf must be one of {', '.join(TIMEFRAMES)}, got {tf!r}")
    try:
        limit = min(1000, max(10, int(request.args.get("limit", 300))))
    except ValueError:
        abort(400, description="limit must be an integer")
    dec = queries.latest_decision()
    levels: dict[str, Any] = {}
    if dec and dec["action"] in ("long", "short"):
        doc = dec["document"]
        levels = {k: doc.get(k) for k in ("sl", "tp1", "tp2")}
        zone = doc.get("entry_zone") or [None, None]
        levels["entry_min"], levels["entry_max"] = (zone + [None, None])[:2]
    warm = queries.candles(tf, limit + INDICATOR_WARMUP)
    bars = warm[-limit:]
    markers = queries.trade_markers(TF_MS[tf], bars[0]["time"] * 1000, bars[-1]["time"] * 1000) if bars else []
    return {"timeframe": tf, "candles": bars, "decision_levels": levels,
            "decision_action": dec["action"] if dec else None, "trade_markers": markers,
            "indicators": indicators(warm, len(bars)), "liquidation_zones": liquidation_bands()}


INDICATOR_WARMUP = 200  # bars before the first shown, so the EMAs have settled
EMAS = (20, 50)  # the periods the rules read (snapshot indicators ema_20, ema_50)


def indicators(bars: list[dict[str, Any]], shown: int) -> dict[str, list[dict[str, Any]]]:
    """The rules' EMAs over the bars (TA-Lib's abstract API, as the analytics compute them),
    prices to the tick; only the last `shown` points (the chart's bars)."""
    if not bars:
        return {}
    import numpy as np
    from talib import abstract

    from engine import format as fmt

    close = np.array([float(b["close"]) for b in bars])
    out: dict[str, list[dict[str, Any]]] = {}
    for n in EMAS:
        ema = abstract.EMA({"close": close}, timeperiod=n)
        out[f"ema_{n}"] = [{"time": b["time"], "value": float(fmt.price_plain(v) or 0)}
                           for b, v in zip(bars[-shown:], ema[-shown:], strict=True) if np.isfinite(v)]
    return out


def liquidation_bands() -> list[dict[str, Any]]:
    """The liquidation zones of the latest flow: [low, high] band, side and strength 0–1."""
    flow = queries.latest_document("flow")
    lz = ((flow or {}).get("document") or {}).get("liquidation_zones") or {}
    out = []
    for where in ("below_price", "above_price"):
        for z in lz.get(where) or []:
            zone = z.get("zone") or [z.get("price"), z.get("price")]
            if not (isinstance(zone, list) and len(zone) == 2 and all(isinstance(x, int | float) for x in zone)):
                continue
            out.append({"low": min(zone), "high": max(zone), "side": z.get("side"),
                        "strength": round(float(z.get("strength") or 0), 2)})
    return out
