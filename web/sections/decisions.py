"""Decision monitor: the last 24 h as a timeline coloured by action, each decision's
"why" and its rule trace."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from web import queries
from web.auth import role_required

bp = Blueprint("decisions", __name__, url_prefix="/decisions")
NAV = ("Decisions", "decisions.page", "viewer")


@bp.route("/")
@role_required("viewer")
def page() -> Any:
    try:
        hours = min(24 * 14, max(1, int(request.args.get("hours", 24))))
    except ValueError:
        abort(400, description="hours must be an integer")
    # the window ends at the market clock: a replay's decisions carry replayed times
    rows = queries.decisions_since(queries.market_now() - hours * 3_600_000)
    counts = {a: sum(1 for r in rows if r["action"] == a) for a in ("long", "short", "flat")}
    return render_template("sections/decisions.html", rows=rows, hours=hours, counts=counts)


@bp.route("/latest")
@role_required("viewer")
def latest() -> Any:
    dec = queries.latest_decision()
    if dec is None:
        abort(404, description="no decision yet")
    return detail(dec["id"])


@bp.route("/<int:decision_id>")
@role_required("viewer")
def detail(decision_id: int) -> Any:
    dec = queries.decision(decision_id)
    if dec is None:
        abort(404, description=f"no decision {decision_id}")
    tr = queries.trace(dec["trace_id"])
    return render_template("sections/trace.html", d=dec, trace=tr, rules=trace_rules(tr), text=trace_text(tr),
                           summary=trace_summary(tr))


def trace_summary(tr: Any) -> dict[str, Any] | None:
    """The glance above the trace (engine.rules.summary) for an engine trace."""
    if not (isinstance(tr, dict) and isinstance(tr.get("stages"), list)):
        return None
    from engine.rules.summary import summarize

    try:
        return summarize(tr)
    except (KeyError, TypeError, ValueError, AttributeError):  # an older or partial trace
        return None


def trace_text(tr: Any) -> str | None:
    """An engine trace (stages, aggregation, why-not) as the text `showdown rules trace`
    prints: every rule that fired in order with the values that satisfied it, what it
    asserted, and the first condition that stopped each rule that did not fire."""
    if not (isinstance(tr, dict) and isinstance(tr.get("stages"), list)):
        return None
    from engine.rules.render import render_trace

    try:
        return render_trace(tr)
    except (KeyError, TypeError, ValueError, AttributeError):  # an older or partial trace: show it raw
        return None


def trace_rules(tr: Any) -> list[dict[str, Any]] | None:
    """The trace's per-rule list when it has one (rules/conditions shape), for a table;
    None → the page shows the raw trace."""
    if isinstance(tr, dict):
        for key in ("rules", "steps", "fired"):
            if isinstance(tr.get(key), list) and all(isinstance(x, dict) for x in tr[key]):
                return tr[key]  # type: ignore[no-any-return]
    if isinstance(tr, list) and all(isinstance(x, dict) for x in tr):
        return tr
    return None
