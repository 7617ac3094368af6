"""Mainnet entry confirmations (connectors/loops/entry_confirmation.py): the first
`execution.confirm_first_entries` entries wait here for an admin. Page + JSON API, admin
role, CSRF (form token / X-CSRFToken), every decision audited.

GET  /confirmations/                 the page
GET  /confirmations/api              {required, confirmed, requests: [...]}
POST /confirmations/api/<id>/confirm | /reject    (JSON; also the page's forms)
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from connectors.db import database_proxy
from web import audit, queries
from web.auth import role_required
from web.context import sd

bp = Blueprint("confirmations", __name__, url_prefix="/confirmations")
NAV = ("Confirmations", "confirmations.page", "admin")


def _row() -> Any:
    B = queries.m().BotState  # noqa: N806
    return B.get_or_none((B.symbol == queries._symbol()) & (B.component == queries.CONTROL_COMPONENT))


def state() -> dict[str, Any]:
    row = _row()
    details = dict(row.details or {}) if row else {}
    asks = details.get("entry_confirmations") or {}
    reqs = [{"decision_id": did, **r, "requested_at": queries.iso(int(r.get("requested_ms") or 0))}
            for did, r in sorted(asks.items(), key=lambda kv: -int(kv[1].get("requested_ms") or 0))]
    return {"mode": sd().config.get("mode"), "required": int(sd().config.get("execution.confirm_first_entries", 3)),
            "confirmed": int(details.get("entries_confirmed") or 0), "requests": reqs}


def decide(did: str, verdict: str) -> dict[str, Any]:
    B = queries.m().BotState  # noqa: N806
    with database_proxy.atomic():
        row = _row()
        details = dict(row.details or {}) if row else {}
        asks = dict(details.get("entry_confirmations") or {})
        ask = asks.get(did)
        if ask is None:
            abort(404, description=f"no confirmation request for decision {did}")
        if ask.get("status") != "pending":
            abort(409, description=f"decision {did} is already {ask.get('status')}")
        asks[did] = dict(ask, status=verdict, decided_by=current_user.username, decided_ms=queries.now_ms())
        details["entry_confirmations"] = asks
        if verdict == "confirmed":
            details["entries_confirmed"] = int(details.get("entries_confirmed") or 0) + 1
        B.update(details=details).where(B.id == row.id).execute()
    queries.forget_status()
    audit.record(f"confirmations.{verdict}", f"decision {did}", {"status": "pending"},
                 {"status": verdict, "plan": ask.get("plan")})
    return asks[did]


@bp.route("/", methods=["GET"])
@role_required("admin")
def page() -> Any:
    return render_template("sections/confirmations.html", s=state())


@bp.route("/api", methods=["GET"])
@role_required("admin")
def api_state() -> Any:
    return state()


@bp.route("/api/<did>/<verdict>", methods=["POST"])
@role_required("admin")
def api_decide(did: str, verdict: str) -> Any:
    if verdict not in ("confirm", "reject"):
        abort(404)
    result = decide(did, "confirmed" if verdict == "confirm" else "rejected")
    if request.form.get("from_page"):
        flash(f"Entry of decision {did} {result['status']}.", "ok")
        return redirect(url_for("confirmations.page"))
    return {"decision_id": did, **result}
