"""JSON API for the rules (same operations as the Rules page, web/sections/rules.py).

GET  /api/rules                     rule files, test files, active version, history
POST /api/rules/validate|test|diff  {file, text}: the draft = this file + the other current files
POST /api/rules/save                {file, text}: written only when it validates and its tests pass
POST /api/rules/rollback            {version}: that stored version's files written back
POST /api/rules/shadow              {file, text}: stored as candidate, engine.shadow_ruleset set (admin)
"""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, request
from flask_login import current_user

from web import rules_edit, rules_history
from web.api import bp
from web.auth import role_required
from web.config_edit import ConfigEditError


def _draft() -> tuple[str, str]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="body must be a JSON object {file, text}")
    try:
        return rules_edit.check_draft(body.get("file"), body.get("text"))
    except rules_edit.DraftError as exc:
        abort(exc.status, description=exc.message)


def _refused(r: dict[str, Any], what: str) -> Any:
    return jsonify(error="refused", message=f"{what}: {len(r['problems'])} problem(s); nothing was written",
                   **{k: v for k, v in r.items() if k != "ok"}), 422


@bp.get("/rules")
@role_required("viewer")
def rules_files() -> Any:
    files, tests = rules_edit.current()
    versions = rules_history.versions()
    return {"files": [{"name": n, "text": t} for n, t in sorted(files.items())], "tests": sorted(tests),
            "disk_version": rules_edit.content_hash(files) if files else None,
            "active": next((v for v in versions if v["active"]), None), "versions": versions}


@bp.post("/rules/validate")
@role_required("operator")
def rules_validate() -> Any:
    r = rules_edit.validate(*_draft())
    return r if r["ok"] else (r, 422)


@bp.post("/rules/test")
@role_required("operator")
def rules_test() -> Any:
    r = rules_edit.run_rule_tests(*_draft())
    return r if r["ok"] else (r, 422)


@bp.post("/rules/diff")
@role_required("operator")
def rules_diff() -> Any:
    return rules_history.diff(*_draft())


@bp.post("/rules/save")
@role_required("operator")
def rules_save() -> Any:
    r = rules_edit.save(*_draft())
    return r if r["ok"] else _refused(r, "not saved")


@bp.post("/rules/rollback")
@role_required("operator")
def rules_rollback() -> Any:
    body = request.get_json(silent=True)
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str) or not version:
        abort(400, description="body must be a JSON object {version: <hash>}")
    try:
        r = rules_history.rollback(version)
    except rules_edit.DraftError as exc:
        abort(exc.status, description=exc.message)
    return r if r["ok"] else _refused(r, "not rolled back")


@bp.post("/rules/shadow")
@role_required("admin")
def rules_shadow() -> Any:
    name, text = _draft()
    try:
        r = rules_history.enable_shadow(name, text, current_user.username)
    except ConfigEditError as exc:
        return jsonify(error="refused", message="shadow not enabled", problems=exc.problems), exc.status
    return r if r["ok"] else _refused(r, "shadow not enabled")
