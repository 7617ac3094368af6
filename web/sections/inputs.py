"""Manual inputs: ETF flows and liquidation map by paste, sentiment by form. A refused
input lists every problem next to its JSON path; nothing is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine.inputs.sentiment import LABEL_BAND, label_for
from web import inputs, queries
from web.auth import role_required

bp = Blueprint("inputs", __name__, url_prefix="/inputs")
NAV = ("Inputs", "inputs.page", "operator")


def _page(status: int = 200, **kw: Any) -> Any:
    # the market's "now" (the replay's in a replay): an input dated by the wall clock would
    # lie in the replay's future and never be used
    now = queries.iso(queries.market_now()) or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    current = {k: inputs.current(k) for k in inputs.KINDS}
    sentiment = current["sentiment"] or {}
    ctx = {"current": current, "problems": {}, "drafts": {}, "now": now, "band": LABEL_BAND,
           "sentiment": {"as_of": now, "score": sentiment.get("score", 0), "comment": sentiment.get("comment", "")},
           "pretty": {k: json.dumps(v, indent=2) if v else "" for k, v in current.items()}}
    ctx.update(kw)
    return render_template("sections/inputs.html", **ctx), status


@bp.route("/", methods=["GET"])
@role_required("operator")
def page() -> Any:
    return _page()


@bp.route("/<kind>", methods=["POST"])
@role_required("operator")
def submit(kind: str) -> Any:
    if kind not in inputs.KINDS:
        abort(404, description=f"unknown input {kind!r} (known: {', '.join(inputs.KINDS)})")
    if kind == "sentiment":
        try:
            score: Any = float(request.form.get("score", ""))
            score = int(score) if score == int(score) else score
        except (ValueError, OverflowError):  # not a number, NaN, infinity: the validator says so
            score = request.form.get("score")
        payload: Any = {"as_of": (request.form.get("as_of") or "").strip(), "score": score,
                        "label": request.form.get("label") or (label_for(score) if isinstance(score, float | int) else ""),
                        "comment": request.form.get("comment") or ""}
        raw = json.dumps(payload)
        draft = payload
    else:
        raw = request.form.get("payload") or ""
        draft = raw
    doc, problems, notes = inputs.submit(kind, raw)
    if doc is None:
        kw: dict[str, Any] = {"problems": {kind: problems}, "drafts": {kind: draft}}
        if kind == "sentiment":
            kw["sentiment"] = payload
        return _page(422, **kw)
    flash(f"{kind} input accepted and in force." + "".join(f" Note: {n}." for n in notes), "ok")
    return redirect(url_for("inputs.page") + f"#{kind}")
