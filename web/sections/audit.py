"""The audit trail: who changed what, when (admins only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from web import queries
from web.auth import role_required

bp = Blueprint("audit", __name__, url_prefix="/audit")
NAV = ("Audit", "audit.page", "admin")


@bp.route("/")
@role_required("admin")
def page() -> Any:
    return render_template("sections/audit.html", entries=queries.audit_entries())
