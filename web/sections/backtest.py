"""Backtest runs: the list, and one run's metrics, equity chart and trades."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template

from web import queries
from web.auth import role_required

bp = Blueprint("backtest", __name__, url_prefix="/backtest")
NAV = ("Backtests", "backtest.page", "viewer")


@bp.route("/")
@role_required("viewer")
def page() -> Any:
    return render_template("sections/backtests.html", runs=queries.backtest_runs())


@bp.route("/<int:run_id>")
@role_required("viewer")
def run(run_id: int) -> Any:
    r = queries.backtest_run(run_id)
    if r is None:
        abort(404, description=f"no backtest run {run_id}")
    return render_template("sections/backtest_run.html", r=r)
