"""Operator controls: pause / resume new entries, emergency stop (with confirmation), clear
SAFE MODE (admin, with confirmation).

The switches live in the `bot_state` row with component 'control' (details:
entries_paused, by, at, emergency_stop {requested_at, by, status}, clear_safe_mode
{requested_at, by, status, reason}); the execution worker reads them each loop and marks a
request done once it has obeyed it. Every change is audited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from connectors.db import database_proxy
from web import audit, queries
from web.auth import role_required

bp = Blueprint("control", __name__, url_prefix="/control")
NAV = ("Control", "control.page", "operator")


def available() -> bool:
    """Shown only when an execution worker exists to obey the switches."""
    import importlib.util

    return importlib.util.find_spec("engine.execution") is not None


def set_control(**changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Update the control row; return (before, after) details."""
    mm = queries.m()
    sym = queries._symbol()
    B = mm.BotState
    with database_proxy.atomic():
        row = B.get_or_none((B.symbol == sym) & (B.component == queries.CONTROL_COMPONENT))
        before = dict(row.details or {}) if row else {}
        after = dict(before, **changes, by=current_user.username, at=queries.iso(queries.now_ms()))
        if row is None:
            B.create(symbol=sym, component=queries.CONTROL_COMPONENT, state="IDLE", details=after,
                     heartbeat_ms=queries.now_ms())
        else:
            B.update(details=after, heartbeat_ms=queries.now_ms()).where(B.id == row.id).execute()
    queries.forget_status()
    return before, after


def pause(paused: bool) -> dict[str, Any]:
    before, after = set_control(entries_paused=paused)
    audit.record("control.pause_entries" if paused else "control.resume_entries", "entries",
                 {"entries_paused": bool(before.get("entries_paused"))}, {"entries_paused": paused})
    return queries.control_state()


def emergency_stop(reason: str) -> dict[str, Any]:
    stop = {"requested_at": queries.iso(queries.now_ms()), "by": current_user.username, "status": "requested",
            "reason": reason[:200]}
    before, after = set_control(entries_paused=True, emergency_stop=stop)
    audit.record("control.emergency_stop", "position", {"entries_paused": bool(before.get("entries_paused"))},
                 {"entries_paused": True, "emergency_stop": stop})
    return queries.control_state()


def clear_safe_mode(safe: dict[str, Any] | None) -> dict[str, Any]:
    request_ = {"requested_at": queries.iso(queries.now_ms()), "by": current_user.username, "status": "requested",
                "reason": (safe or {}).get("reason")}
    set_control(clear_safe_mode=request_)
    audit.record("control.clear_safe_mode", "safe_mode", {"safe_mode": (safe or {}).get("reason")},
                 {"clear_safe_mode": request_})
    return queries.control_state()


def _page(status: int = 200) -> Any:
    c = queries.control_state()
    safe = queries.safe_mode()
    return render_template("sections/control.html", c=c, safe=safe, entries=queries.entries(c, safe),
                           position=queries.open_position(), orders=queries.orders(open_only=True)), status


def confirmed(word: str) -> bool:
    """The typed confirmation, whatever its case or surrounding blanks ("stop" is STOP)."""
    return (request.form.get("confirm") or "").strip().upper() == word


@bp.route("/", methods=["GET"])
@role_required("operator")
def page() -> Any:
    return _page()


@bp.route("/pause", methods=["POST"])
@role_required("operator")
def pause_view() -> Any:
    pause(True)
    flash("New entries paused. Open positions stay protected.", "ok")
    return redirect(url_for("control.page"))


@bp.route("/resume", methods=["POST"])
@role_required("operator")
def resume_view() -> Any:
    pause(False)
    safe = queries.safe_mode()
    if safe:
        flash(f"Operator pause lifted, but the worker is in SAFE MODE ({safe['reason']}): it enters nothing "
              "until SAFE MODE is cleared (admin, below).", "error")
    else:
        flash("New entries resumed.", "ok")
    return redirect(url_for("control.page"))


@bp.route("/emergency-stop", methods=["POST"])
@role_required("operator")
def stop_view() -> Any:
    if not confirmed("STOP"):
        typed = (request.form.get("confirm") or "").strip()
        flash(f"Emergency stop NOT sent: you typed {typed!r}; type STOP in the box to confirm." if typed else
              "Emergency stop NOT sent: type STOP in the box to confirm.", "error")
        return _page(400)
    emergency_stop(request.form.get("reason") or "")
    flash("Emergency stop requested: every order will be cancelled and the position closed at market; "
          "the worker then stays in SAFE MODE until an admin clears it.", "ok")
    return redirect(url_for("control.page"))


@bp.route("/clear-safe-mode", methods=["POST"])
@role_required("admin")
def clear_safe_mode_view() -> Any:
    safe = queries.safe_mode()
    if not confirmed("CLEAR"):
        flash("SAFE MODE not cleared: type CLEAR in the box to confirm.", "error")
        return _page(400)
    if safe is None:
        flash("The worker is not in SAFE MODE: nothing to clear.", "error")
        return _page(409)
    clear_safe_mode(safe)
    flash(f"SAFE MODE ({safe['reason']}) clear requested: the running worker leaves it within one loop "
          f"(execution.loop_seconds).{' Entries are still paused by the operator switch.' if queries.control_state()['entries_paused'] else ''}",
          "ok")
    return redirect(url_for("control.page"))
