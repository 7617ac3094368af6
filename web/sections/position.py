"""Position and trades: the open trade with live P&L, mark, liquidation price and age;
force exit (operator, confirmed, audited); profit per day and week; the equity curve;
closed trades; orders and execution events (repeats collapsed)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from connectors.db import database_proxy
from web import audit, queries
from web.auth import role_required

bp = Blueprint("position", __name__, url_prefix="/position")
NAV = ("Position", "position.page", "viewer")
FORCE_EXIT_COMPONENT = "force_exit"  # the worker's ExecutionStore.force_exit_request reads it


def force_exit_state() -> dict[str, Any] | None:
    B = queries.m().BotState  # noqa: N806
    row = B.get_or_none((B.symbol == queries._symbol()) & (B.component == FORCE_EXIT_COMPONENT))
    return dict(row.details or {}) if row else None


def request_force_exit(reason: str) -> dict[str, Any]:
    """Leave the command for the execution worker (it closes at market on its next loop)."""
    B = queries.m().BotState  # noqa: N806
    sym = queries._symbol()
    ask = {"status": "requested", "requested_at": queries.iso(queries.now_ms()), "by": current_user.username,
           "reason": reason[:200] or "operator"}
    with database_proxy.atomic():
        row = B.get_or_none((B.symbol == sym) & (B.component == FORCE_EXIT_COMPONENT))
        before = dict(row.details or {}) if row else {}
        if row is None:
            B.create(symbol=sym, component=FORCE_EXIT_COMPONENT, state="REQUESTED", details=ask,
                     heartbeat_ms=queries.now_ms())
        else:
            B.update(details=ask, state="REQUESTED", heartbeat_ms=queries.now_ms()).where(B.id == row.id).execute()
    audit.record("position.force_exit", "position", {"force_exit": before.get("status")}, {"force_exit": ask})
    queries.forget_status()
    return ask


def _page(status: int = 200) -> Any:
    return render_template("sections/position.html", trade=queries.open_trade(), force_exit=force_exit_state(),
                           trades=queries.closed_trades(200), profit=queries.profit_tables(),
                           equity=queries.equity_points(), positions=queries.positions(20),
                           orders=queries.orders(limit=100), events=queries.execution_events(100)), status


@bp.route("/")
@role_required("viewer")
def page() -> Any:
    return _page()


@bp.route("/force-exit", methods=["POST"])
@role_required("operator")
def force_exit() -> Any:
    if (request.form.get("confirm") or "").strip().upper() != "EXIT":
        flash("Force exit not sent: type EXIT in the box to confirm.", "error")
        return _page(400)
    if queries.open_position() is None:
        flash("Force exit not sent: no position is open.", "error")
        return _page(409)
    request_force_exit(request.form.get("reason") or "")
    flash("Force exit requested: the execution worker closes the position at market on its next loop "
          "(its stop stays on the exchange until the close fills).", "ok")
    return redirect(url_for("position.page"))
