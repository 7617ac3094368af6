"""Flow diagnostics: derivatives, ETF summary, liquidation zones, crowd, trap, sentiment, warnings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from web import queries
from web.auth import role_required

bp = Blueprint("flow", __name__, url_prefix="/flow")
NAV = ("Flow", "flow.page", "viewer")


@bp.route("/")
@role_required("viewer")
def page() -> Any:
    return render_template("sections/flow.html", flow=queries.latest_document("flow"), inputs=latest_inputs())


def latest_inputs() -> dict[str, Any]:
    """The human inputs in force (the accepted documents under <home>/data), whatever the
    analytics loop has made of them so far."""
    from web import inputs

    return {k: inputs.current(k) for k in inputs.KINDS}
