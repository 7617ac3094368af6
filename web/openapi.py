"""The OpenAPI 3 document of the JSON API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from web.queries import LEVELS

_obj: dict[str, Any] = {"type": "object"}
_nstr: dict[str, Any] = {"type": ["string", "null"]}
_error = {"$ref": "#/components/schemas/Error"}


def _resp(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or _error}}}


_COMMON = {
    "401": _resp("no session: log in first"),
}


def _get(summary: str, schema: dict[str, Any], params: list[dict[str, Any]] | None = None,
         not_found: bool = False) -> dict[str, Any]:
    responses = {"200": _resp("OK", schema), **_COMMON}
    if params:
        responses["400"] = _resp("a query parameter is invalid")
    if not_found:
        responses["404"] = _resp("nothing there yet")
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    return {"get": op}


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_LOG_PARAMS = [
    _q("level", {"type": "string", "enum": list(LEVELS)}, "this level and above"),
    _q("component", {"type": "string"}, "only this component"),
    _q("since", {"type": "string", "format": "date-time"}, "ISO-8601 UTC"),
    _q("until", {"type": "string", "format": "date-time"}, "ISO-8601 UTC"),
    _q("q", {"type": "string"}, "text the message contains"),
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 2000}, "at most this many, newest first"),
]

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"},
        "problems": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "object"}]}}}},
    "Freshness": {"type": "object", "required": ["name", "freshness"], "properties": {
        "name": {"type": "string"},
        "as_of": {"type": ["string", "null"], "description": "the newest in force at the market clock"},
        "age_s": {"type": ["number", "null"]},
        "freshness": {"enum": ["green", "yellow", "red", "grey", "future"],
                      "description": "future: only data dated after the market clock, none in force"},
        "future": {"type": ["string", "null"], "description": "the oldest dated after the market clock"}}},
    "Loop": {"type": "object", "required": ["component", "state", "freshness"], "properties": {
        "component": {"type": "string"}, "state": {"type": "string"}, "heartbeat": {"type": "string"},
        "age_s": {"type": "number"}, "freshness": {"enum": ["green", "yellow", "red", "grey"]},
        "risk_mode": _nstr, "details": _obj}},
    "Position": {"type": ["object", "null"], "properties": {
        "id": {"type": "integer"}, "side": {"type": "string"}, "status": {"type": "string"},
        "quantity": {"type": "string"}, "entry_price": {"type": "string"}, "sl_price": _nstr}},
    "Order": {"type": "object", "properties": {
        "id": {"type": "integer"}, "client_order_id": {"type": "string"}, "role": {"type": "string"},
        "side": {"type": "string"}, "type": {"type": "string"}, "status": {"type": "string"},
        "price": _nstr, "stop_price": _nstr, "quantity": {"type": "string"}}},
    "Status": {"type": "object", "required": ["bot_state", "loops", "data_freshness", "pnl", "control"], "properties": {
        "symbol": {"type": "string"}, "mode": {"type": "string"}, "time": {"type": "string"},
        "market_time": {"type": "string", "description": "the trading clock: wall time live, the replayed time in a replay (P&L day, data freshness)"},
        "market_data": {"type": ["object", "null"], "description": "where prices come from: live, replay (recorded, NOT live) or a configured venue"},
        "bot_state": {"enum": ["RUNNING", "IDLE", "ERROR", "RISK_OFF", "SAFE_MODE"]},
        "loops": {"type": "array", "items": {"$ref": "#/components/schemas/Loop"}},
        "data_freshness": {"type": "array", "items": {"$ref": "#/components/schemas/Freshness"}},
        "risk_mode": _nstr,
        "pnl": {"type": "object", "properties": {"day_usdt": {"type": "string"}, "week_usdt": {"type": "string"},
                                                 "trades_today": {"type": "integer"}}},
        "position": {"$ref": "#/components/schemas/Position"},
        "open_orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
        "last_reconciliation": {"type": ["object", "null"]},
        "ruleset": {"type": ["object", "null"]},
        "control": {"type": "object", "properties": {"entries_paused": {"type": "boolean"}}},
        "safe_mode": {"type": ["object", "null"], "description": "the worker's SAFE MODE and its reason",
                      "properties": {"reason": {"type": "string"}, "text": {"type": "string"}}},
        "entries": {"type": "object", "required": ["allowed", "text"], "description":
                    "can the worker enter a trade; if not, what blocks it (operator pause, SAFE MODE)",
                    "properties": {"allowed": {"type": "boolean"}, "state": {"type": "string"},
                                   "blocked_by": {"type": "array", "items": {"type": "string"}},
                                   "text": {"type": "string"}}},
        "rules_refusal": {"type": ["object", "null"], "description":
                          "the last refused rules edit (file:line:col, failing rule tests) until a later "
                          "version is active", "properties": {
                              "problems": {"type": "array", "items": {"type": "string"}}}},
        "crash_loops": {"type": "array", "description": "children of `showdown run` crash-looping (the "
                        "supervisor's CRITICAL alert): child, restarts in the window, minutes, last exit code, since",
                        "items": {"type": "object", "properties": {
                            "child": {"type": "string"}, "restarts": {"type": "integer"},
                            "minutes": {"type": "number"}, "last_code": {"type": ["integer", "null"]},
                            "since": {"type": ["string", "null"]}}}},
        "last_decision": {"type": ["object", "null"]}}},
    "Document": {"type": "object", "required": ["id", "as_of", "document"], "properties": {
        "id": {"type": "integer"}, "as_of": {"type": "string"}, "document": _obj}},
    "Decision": {"type": "object", "required": ["id", "time", "action", "document"], "properties": {
        "id": {"type": "integer"}, "time": {"type": "string"}, "action": {"enum": ["long", "short", "flat"]},
        "reason": _nstr, "confidence": {"type": ["number", "null"]}, "ruleset_version": _nstr,
        "trace_id": {"type": ["integer", "null"]}, "document": _obj, "trace": {}}},
    "BacktestRun": {"type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "integer"}, "ruleset_version": {"type": "string"}, "status": {"type": "string"},
        "period_start": {"type": "string"}, "period_end": {"type": "string"},
        "initial_equity": {"type": "string"}, "final_equity": _nstr, "metrics": _obj}},
    "ConfigChange": {"type": "object", "required": ["section", "values", "changes"], "properties": {
        "section": {"type": "string"}, "values": _obj,
        "changes": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"}, "old": {}, "new": {}}}}}},
    "InputAccepted": {"type": "object", "required": ["accepted"], "properties": {
        "accepted": {"type": "boolean"}, "warnings": {"type": "array", "items": {}}, "input": {"type": "string"}}},
    "InputRefused": {"type": "object", "required": ["error", "problems"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"}, "message": {"type": "string"}}}}}},
}


def _config_patch(section: str) -> dict[str, Any]:
    return {"patch": {
        "summary": f"Change keys of the {section} section (admin); validated whole, else nothing is written",
        "security": [{"session": [], "csrf": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "minProperties": 1, "description": f"a partial {section} mapping"}}}},
        "responses": {"200": _resp("applied and hot-reloaded", {"$ref": "#/components/schemas/ConfigChange"}),
                      "400": _resp("body is not a JSON object, or CSRF token missing"),
                      "403": _resp("needs role admin"),
                      "409": _resp("a key is set by an environment variable"),
                      "422": _resp("the result would be an invalid configuration"), **_COMMON}}}


def _input_post(kind: str) -> dict[str, Any]:
    return {"post": {
        "summary": f"Submit the {kind} input (operator); refused whole with every problem when invalid",
        "security": [{"session": [], "csrf": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {"200": _resp("accepted", {"$ref": "#/components/schemas/InputAccepted"}),
                      "400": _resp("not JSON, or CSRF token missing"),
                      "403": _resp("needs role operator"),
                      "422": _resp("refused; nothing written", {"$ref": "#/components/schemas/InputRefused"}),
                      **_COMMON}}}


_PROBLEM = {"type": "object", "required": ["file", "line", "col", "message"], "properties": {
    "file": {"type": "string"}, "line": {"type": "integer"}, "col": {"type": "integer"},
    "message": {"type": "string"}, "text": {"type": "string"}}}
SCHEMAS["RuleProblem"] = _PROBLEM
SCHEMAS["RuleCheck"] = {"type": "object", "required": ["ok", "problems"], "properties": {
    "ok": {"type": "boolean"}, "version": {"type": "string"}, "ruleset": {"type": "string"},
    "rules": {"type": "integer"}, "per_stage": _obj,
    "problems": {"type": "array", "items": {"$ref": "#/components/schemas/RuleProblem"}},
    "tests": {"type": ["object", "null"], "properties": {
        "ok": {"type": "boolean"}, "summary": {"type": "string"}, "cases": {"type": "integer"},
        "passed": {"type": "integer"}, "failed": {"type": "array", "items": _obj},
        "file_problems": {"type": "array", "items": {"type": "string"}},
        "uncovered": {"type": "array", "items": {"type": "string"}}}}}}
SCHEMAS["RuleRefused"] = {"type": "object", "required": ["error", "message", "problems"], "properties": {
    "error": {"type": "string"}, "message": {"type": "string"}, "version": {"type": "string"},
    "problems": {"type": "array", "items": {"$ref": "#/components/schemas/RuleProblem"}}, "tests": {}}}
SCHEMAS["RuleVersion"] = {"type": "object", "required": ["hash", "active", "candidate"], "properties": {
    "hash": {"type": "string"}, "activated_at": _nstr, "activated_by": _nstr, "created": _nstr, "note": _nstr,
    "active": {"type": "boolean"}, "candidate": {"type": "boolean"},
    "files": {"type": "array", "items": {"type": "string"}}}}

_DRAFT_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["file", "text"], "properties": {
        "file": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\\.ya?ml$",
                 "description": "a rule file name in the rules dir, e.g. strategy.yaml"},
        "text": {"type": "string", "description": "the draft YAML text of that file"}}}}}}


def _rules_post(summary: str, ok: dict[str, Any], refused: dict[str, Any] | None, role: str = "operator",
                body: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    responses = {"200": _resp("OK", ok), "400": _resp("body is not {file, text}, a bad file name, or CSRF token missing"),
                 "403": _resp(f"needs role {role}"), "413": _resp("the text is too large"),
                 "503": _resp("another rules check or save is running; try again"), **_COMMON}
    if refused is not None:
        responses["422"] = _resp("refused; nothing was written", refused)
    responses.update(extra or {})
    return {"post": {"summary": summary, "security": [{"session": [], "csrf": []}],
                     "requestBody": body or _DRAFT_BODY, "responses": responses}}


def _rules_paths() -> dict[str, Any]:
    check = {"$ref": "#/components/schemas/RuleCheck"}
    refused = {"$ref": "#/components/schemas/RuleRefused"}
    return {
        "/api/rules": _get("Rule files, test files, the active version and the version history", {
            "type": "object", "required": ["files", "versions"], "properties": {
                "files": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "text": {"type": "string"}}}},
                "tests": {"type": "array", "items": {"type": "string"}}, "disk_version": _nstr,
                "active": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/RuleVersion"}]},
                "versions": {"type": "array", "items": {"$ref": "#/components/schemas/RuleVersion"}}}}),
        "/api/rules/validate": _rules_post("Compile the draft (this file + the other current files)", check, check),
        "/api/rules/test": _rules_post("Compile the draft and run the rule tests (rules/tests)", check, check),
        "/api/rules/diff": _rules_post("Unified diff of the draft against the file in the active version", {
            "type": "object", "required": ["diff"], "properties": {
                "against": {"type": "string"}, "file": {"type": "string"}, "new_file": {"type": "boolean"},
                "diff": {"type": "string"}, "changed": {"type": "boolean"}}}, None),
        "/api/rules/save": _rules_post(
            "Write the file (atomically) when the draft validates and its tests pass; the loop's watcher activates it",
            {"type": "object", "required": ["ok", "version", "changed"], "properties": {
                "ok": {"type": "boolean"}, "version": {"type": "string"}, "changed": {"type": "boolean"},
                "diff": {"type": "string"}}}, refused),
        "/api/rules/rollback": _rules_post(
            "Write a stored version's files back into the rules dir (after checking it still validates and passes the tests)",
            {"type": "object", "required": ["ok", "version"], "properties": {
                "ok": {"type": "boolean"}, "version": {"type": "string"}, "in_effect": {"type": "boolean"},
                "written": {"type": "array", "items": {"type": "string"}},
                "removed": {"type": "array", "items": {"type": "string"}}}}, refused,
            body={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["version"], "properties": {"version": {"type": "string"}}}}}},
            extra={"404": _resp("no such stored version")}),
        "/api/rules/shadow": _rules_post(
            "Store the draft as a candidate version and set engine.shadow_ruleset to it (admin)",
            {"type": "object", "required": ["ok", "version"], "properties": {
                "ok": {"type": "boolean"}, "version": {"type": "string"}, "shadow_ruleset": {"type": "string"}}},
            refused, role="admin", extra={"409": _resp("engine.shadow_ruleset is set by an environment variable")}),
    }


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/api/status": _get("System status: bot state, loops, freshness, risk, PnL, position, orders",
                            {"$ref": "#/components/schemas/Status"}),
        "/api/snapshot": _get("Latest market snapshot", {"$ref": "#/components/schemas/Document"}, not_found=True),
        "/api/flow": _get("Latest flow context", {"$ref": "#/components/schemas/Document"}, not_found=True),
        "/api/decision": _get("Latest decision, or ?id=", {"$ref": "#/components/schemas/Decision"}, [
            _q("id", {"type": "integer", "minimum": 1}, "decision id"),
            _q("trace", {"type": "string", "enum": ["0", "1"]}, "1 adds the rule trace")], not_found=True),
        "/api/position": _get("Open position (null when flat)", {"type": "object", "properties": {
            "position": {"$ref": "#/components/schemas/Position"}}}),
        "/api/orders": _get("Orders, newest first", {"type": "object", "properties": {
            "orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}}}, [
            _q("open", {"type": "string", "enum": ["0", "1"]}, "1: open orders only"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most this many")]),
        "/api/logs": _get("Log records, newest first", {"type": "object", "properties": {
            "logs": {"type": "array", "items": _obj}}}, _LOG_PARAMS),
        "/api/backtest/runs": _get("Backtest runs", {"type": "object", "properties": {
            "runs": {"type": "array", "items": {"$ref": "#/components/schemas/BacktestRun"}}}}, [
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most this many")]),
        "/api/backtest/run/{run_id}": {"get": {
            "summary": "One backtest run with its equity curve and trades",
            "parameters": [{"name": "run_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 0}}],
            "responses": {"200": _resp("OK", {"$ref": "#/components/schemas/BacktestRun"}),
                          "404": _resp("no such run"), **_COMMON}}},
        "/api/config/risk": _config_patch("risk"),
        "/api/config/engine": _config_patch("engine"),
        "/api/csrf": _get("The CSRF token to send in X-CSRFToken with every change", {
            "type": "object", "required": ["csrf_token"], "properties": {"csrf_token": {"type": "string"}}}),
    }
    if "rules" in current_app.blueprints:
        paths.update(_rules_paths())
    if "inputs" in current_app.blueprints:
        for kind in ("etf", "liquidations", "sentiment"):
            paths[f"/api/input/{kind}"] = _input_post(kind)
    paths["/api/sessions/end"] = {"post": {   # last: it may end the caller's own session
        "summary": "Sign a user out everywhere: every session of theirs ends (yours without `user`; "
                   "another user's needs admin)",
        "security": [{"session": [], "csrf": []}],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"user": {"type": "string", "maxLength": 64}}}}}},
        "responses": {"200": _resp("OK", {"type": "object", "required": ["user", "ended"], "properties": {
            "user": {"type": "string"}, "ended": {"type": "integer"}}}),
            "400": _resp("user is not a user name, or CSRF token missing"),
            "403": _resp("needs role admin for another user"), "404": _resp("no such user"), **_COMMON}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Showdown admin API", "version": "1",
                 "description": "Log in with the site's form (POST /login) and keep the session cookie; "
                                "send the token from GET /api/csrf in the X-CSRFToken header with every "
                                "POST/PATCH. Money is a decimal string; times are ISO-8601 UTC."},
        "servers": [{"url": request.script_root or "/"}],
        "security": [{"session": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "showdown_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            },
        },
    }
