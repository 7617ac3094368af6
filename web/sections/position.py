"""Position and execution monitor: open position, orders, execution events."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from web import queries
from web.auth import role_required

bp = Blueprint("position", __name__, url_prefix="/position")
NAV = ("Position", "position.page", "viewer")


@bp.route("/")
@role_required("viewer")
def page() -> Any:
    return render_template("sections/position.html", position=queries.open_position(),
                           positions=queries.positions(20), orders=queries.orders(limit=100),
                           events=queries.execution_events(100))
