"""System status: bot state, loop heartbeats, data freshness, risk, PnL, position, orders."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from web import queries
from web.auth import role_required

bp = Blueprint("status", __name__, url_prefix="/status")
NAV = ("Status", "status.page", "viewer")


@bp.route("/")
@role_required("viewer")
def page() -> Any:
    return render_template("sections/status.html", s=queries.status())
