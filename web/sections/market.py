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
    bars = queries.candles(tf, limit)
    markers = queries.trade_markers(TF_MS[tf], bars[0]["time"] * 1000, bars[-1]["time"] * 1000) if bars else []
    return {"timeframe": tf, "candles": bars, "decision_levels": levels,
            "decision_action": dec["action"] if dec else None, "trade_markers": markers}
