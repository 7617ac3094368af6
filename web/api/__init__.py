"""JSON API (PRODUCT.md §12). Session cookie + X-CSRFToken header for changes.

GET  /api/status|snapshot|flow|decision|position|orders|logs|backtest/runs|backtest/run/<id>
POST /api/input/etf|liquidations|sentiment      (when the input validators are installed)
PATCH /api/config/risk|engine
GET  /api/csrf, /api/openapi.json
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask_wtf.csrf import generate_csrf

from engine import format as fmt
from web import audit, queries
from web.auth import role_required
from web.config_edit import ConfigEditError, patch_section
from web.sections.logs import parse_level, parse_limit, parse_time

bp = Blueprint("api", __name__, url_prefix="/api")


def _int_arg(name: str, default: int | None = None, lo: int = 1, hi: int = 10**12) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        abort(400, description=f"{name} must be an integer, got {raw!r}")
    if not lo <= v <= hi:
        abort(400, description=f"{name} must be in [{lo}, {hi}], got {v}")
    return v


@bp.get("/csrf")
@role_required("viewer")
def csrf() -> Any:
    return {"csrf_token": generate_csrf(), "header": "X-CSRFToken"}


@bp.get("/openapi.json")
@role_required("viewer")
def openapi() -> Any:
    from web.openapi import document

    return jsonify(document())


@bp.get("/status")
@role_required("viewer")
def status() -> Any:
    return current_app.response_class(queries.status_json_cached(), mimetype="application/json")


@bp.get("/snapshot")
@role_required("viewer")
def snapshot() -> Any:
    doc = queries.latest_document("snapshot")
    if doc is None:
        abort(404, description="no snapshot yet")
    return fmt.rounded("", doc)


@bp.get("/flow")
@role_required("viewer")
def flow() -> Any:
    doc = queries.latest_document("flow")
    if doc is None:
        abort(404, description="no flow yet")
    return fmt.rounded("", doc)


@bp.get("/decision")
@role_required("viewer")
def decision() -> Any:
    """The latest decision, or ?id=N; ?trace=1 adds its rule trace."""
    did = _int_arg("id", hi=2**62)
    dec = queries.decision(did) if did is not None else queries.latest_decision()
    if dec is None:
        abort(404, description=f"no decision {did}" if did is not None else "no decision yet")
    if request.args.get("trace") in ("1", "true", "yes"):
        dec["trace"] = queries.trace(dec["trace_id"])
    return fmt.rounded("", dec)


@bp.get("/position")
@role_required("viewer")
def position() -> Any:
    return {"position": queries.open_position()}


@bp.get("/orders")
@role_required("viewer")
def orders() -> Any:
    open_only = request.args.get("open", "0") in ("1", "true", "yes")
    return {"orders": queries.orders(open_only=open_only, limit=_int_arg("limit", 100, 1, 1000) or 100)}


@bp.get("/logs")
@role_required("viewer")
def logs() -> Any:
    return {"logs": queries.logs(parse_level(), request.args.get("component") or None, parse_time("since"),
                                 parse_time("until"), request.args.get("q") or None, parse_limit())}


@bp.get("/backtest/runs")
@role_required("viewer")
def backtest_runs() -> Any:
    return {"runs": queries.backtest_runs(_int_arg("limit", 100, 1, 1000) or 100)}


@bp.get("/backtest/run/<int:run_id>")
@role_required("viewer")
def backtest_run(run_id: int) -> Any:
    r = queries.backtest_run(run_id)
    if r is None:
        abort(404, description=f"no backtest run {run_id}")
    r.pop("bars", None)  # the page's formatted tables; the API answers the numbers
    return r


@bp.post("/input/<kind>")
@role_required("operator")
def post_input(kind: str) -> Any:
    from web import inputs

    if kind not in inputs.KINDS:
        abort(404, description=f"unknown input {kind!r} (known: {', '.join(inputs.KINDS)})")
    doc, problems, notes = inputs.submit(kind, request.get_data())
    if doc is None:
        return jsonify(error="refused", message=f"{kind} input refused: {len(problems)} problem(s); nothing written",
                       problems=problems), 422
    return {"accepted": True, "input": kind, "warnings": notes}


@bp.patch("/config/<section>")
@role_required("admin")
def patch_config(section: str) -> Any:
    body = request.get_json(silent=True)
    if body is None:
        return jsonify(error="bad_request", message="body must be JSON (Content-Type: application/json)"), 400
    try:
        before, after = patch_section(section, body)
    except ConfigEditError as exc:
        return jsonify(error="refused", message="configuration change refused; nothing was written",
                       problems=exc.problems), exc.status
    audit.record(f"config.{section}", f"config.{section}", before, after)
    return {"section": section, "values": after, "changes": audit.dict_diff(before, after)}

from web.api import rules as _rules  # noqa: E402,F401  (registers /api/rules/*)
from web.api import sessions as _sessions  # noqa: E402,F401  (registers /api/sessions/end)
