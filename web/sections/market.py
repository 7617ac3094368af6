"""Market snapshot with a candlestick chart and the current decision's levels."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from web import queries
from web.auth import role_required

bp = Blueprint("market", __name__, url_prefix="/market")
NAV = ("Market", "market.page", "viewer")
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")


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
    return {"timeframe": tf, "candles": queries.candles(tf, limit), "decision_levels": levels,
            "decision_action": dec["action"] if dec else None}
