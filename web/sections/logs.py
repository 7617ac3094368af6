"""Logs and notifications, filtered by level, component/source and time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, render_template, request

from web import queries
from web.auth import role_required

bp = Blueprint("logs", __name__, url_prefix="/logs")
NAV = ("Logs", "logs.page", "viewer")


def parse_time(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        abort(400, description=f"{name}: expected an ISO-8601 time like 2024-05-01T12:00Z, got {raw!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse_level() -> str | None:
    level = (request.args.get("level") or "").upper() or None
    if level and level not in queries.LEVELS:
        abort(400, description=f"level must be one of {', '.join(queries.LEVELS)}, got {level!r}")
    return level


def parse_limit(default: int = 200) -> int:
    try:
        return min(2000, max(1, int(request.args.get("limit", default))))
    except ValueError:
        abort(400, description="limit must be an integer")


@bp.route("/")
@role_required("viewer")
def page() -> Any:
    level, since, until = parse_level(), parse_time("since"), parse_time("until")
    component = request.args.get("component") or None
    text = request.args.get("q") or None
    return render_template(
        "sections/logs.html",
        logs=queries.logs(level, component, since, until, text, parse_limit()),
        notifications=queries.notifications(level, None, since, until, 100),
        components=queries.log_components(), levels=queries.LEVELS, f=request.args)
