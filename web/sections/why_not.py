""""Why no trade?" over a window: flat reasons, the cycles closest to a trade and what
stopped each, the rules that blocked most often, what the shadow version would have done
(engine.rules.why_not over the stored decisions and traces)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from connectors.stores.rules_store import decisions_window
from engine import format as fmt
from engine.rules.why_not import why_not
from web import queries
from web.auth import role_required

bp = Blueprint("why_not", __name__, url_prefix="/why-not")
NAV = ("Why no trade?", "why_not.page", "viewer")
WINDOWS = {"6h": 6, "24h": 24, "3d": 72, "7d": 168}


@bp.route("/")
@role_required("viewer")
def page() -> Any:
    since = request.args.get("since", "24h")
    if since not in WINDOWS:
        abort(400, description=f"since must be one of {', '.join(WINDOWS)}, got {since!r}")
    until, decisions, shadow = decisions_window(queries._symbol(), WINDOWS[since] * 3_600_000,
                                               queries.market_now())
    report = why_not(decisions, shadow) if until is not None else None
    return render_template("sections/why_not.html", since=since, windows=list(WINDOWS),
                           until=fmt.time_iso(until) if until is not None else None, w=report)
