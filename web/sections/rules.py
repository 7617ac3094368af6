"""Rules editor: one rule file at a time in a YAML editor; validate, run the rule tests,
diff against the active version, save (only when valid and tested), version history with
roll back, shadow a draft. Viewers read; operators edit; shadow changes the config (admin).

The page works with plain form posts (each button posts the editor's text with an `op`);
the same operations are in the JSON API under /api/rules (web/api/rules.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from web import queries, rules_edit, rules_history
from web.auth import role_required
from web.config_edit import ConfigEditError

bp = Blueprint("rules", __name__, url_prefix="/rules")
NAV = ("Rules", "rules.page", "viewer")

OPS = ("validate", "test", "diff", "save", "shadow")


def _page(name: str | None, text: str | None = None, status: int = 200, **result: Any) -> Any:
    files, tests = rules_edit.current()
    if name is None:
        name = next(iter(files), "strategy.yaml")
    draft = text if text is not None else files.get(name, "")
    cfg = current_app.extensions["showdown"].config
    versions = rules_history.versions()
    return render_template("sections/rules.html", files=sorted(files), tests=sorted(tests), name=name, text=draft,
                           on_disk=files.get(name), versions=versions,
                           active=next((v for v in versions if v["active"]), None), shadow=cfg.get("engine.shadow_ruleset"),
                           disk_version=rules_edit.content_hash(files) if files else None,
                           refusal=queries.rules_refusal(),
                           result=result or None), status


@bp.route("/", methods=["GET"])
@role_required("viewer")
def page() -> Any:
    name = request.args.get("file")
    if name is not None and not rules_edit.FILE_NAME.fullmatch(name):
        abort(400, description="file must be a rule file name such as strategy.yaml")
    return _page(name)


@bp.route("/", methods=["POST"])
@role_required("operator")
def act() -> Any:
    op = request.form.get("op")
    if op not in OPS:
        abort(400, description=f"op must be one of {', '.join(OPS)}")
    try:
        name, text = rules_edit.check_draft(request.form.get("file"), request.form.get("text"))
    except rules_edit.DraftError as exc:
        abort(exc.status, description=exc.message)
    if op == "validate":
        r = rules_edit.validate(name, text)
        return _page(name, text, 200 if r["ok"] else 422, op=op, **r)
    if op == "test":
        r = rules_edit.run_rule_tests(name, text)
        return _page(name, text, 200 if r["ok"] else 422, op=op, **r)
    if op == "diff":
        return _page(name, text, op=op, ok=True, **rules_history.diff(name, text))
    if op == "shadow":
        if not current_user.at_least("admin"):
            abort(403, description="shadow changes the configuration: needs role admin")
        try:
            r = rules_history.enable_shadow(name, text, current_user.username)
        except ConfigEditError as exc:
            flash("Shadow not enabled: " + "; ".join(exc.problems), "error")
            return _page(name, text, exc.status)
        if not r["ok"]:
            return _page(name, text, 422, op=op, **r)
        flash(f"Shadow enabled: candidate {r['version'][:12]} runs beside the active version from the next cycle.",
              "ok")
        return redirect(url_for("rules.page", file=name))
    r = rules_edit.save(name, text)
    if not r["ok"]:
        return _page(name, text, 422, op=op, **r)
    if r["changed"]:
        flash(f"Saved {name}: version {r['version'][:12]} validated, its rule tests passed; the analysis loop "
              "activates it at its next reload (before the next cycle).", "ok")
    else:
        flash(f"{name} unchanged: nothing written.", "ok")
    return redirect(url_for("rules.page", file=name))


@bp.route("/rollback/<version>", methods=["POST"])
@role_required("operator")
def rollback(version: str) -> Any:
    try:
        r = rules_history.rollback(version)
    except rules_edit.DraftError as exc:
        abort(exc.status, description=exc.message)
    if not r["ok"]:
        return _page(None, None, 422, op="rollback", **r)
    flash(f"Rolled back to {version[:12]}: wrote {', '.join(r['written']) or 'nothing (already on disk)'}"
          + (f", removed {', '.join(r['removed'])}" if r["removed"] else "")
          + ". The analysis loop activates it at its next reload.", "ok")
    return redirect(url_for("rules.page"))


@bp.route("/shadow/off", methods=["POST"])
@role_required("admin")
def shadow_off() -> Any:
    try:
        rules_history.disable_shadow()
    except ConfigEditError as exc:
        flash("Shadow not stopped: " + "; ".join(exc.problems), "error")
        return redirect(url_for("rules.page"))
    flash("Shadow stopped.", "ok")
    return redirect(url_for("rules.page"))
