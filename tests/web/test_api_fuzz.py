"""schemathesis against /api/openapi.json: generated requests for every documented
operation, as a logged-in admin with the CSRF header, must never get a server error
(and 2xx answers must match their documented schema). Short here; longer runs:
SHOWDOWN_FUZZ_EXAMPLES=200 pytest tests/web/test_api_fuzz.py."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.web.conftest import api_token, login
from tests.web.seed import seed

EXAMPLES = int(os.environ.get("SHOWDOWN_FUZZ_EXAMPLES", "8"))


def test_api_never_answers_a_server_error(app):
    with app.app_context():
        seed()
    client = login(app.test_client(), "admin")
    headers = {"X-CSRFToken": api_token(client)}  # first: it stores the token in the session cookie
    cookies = {"showdown_session": client.get_cookie("showdown_session").value}
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and "/api/status" in doc["paths"]
    schema = schemathesis.openapi.from_dict(doc)
    schema.app = app  # call the app in-process (WSGI), as from_wsgi would
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 12
    seen: dict[str, set[int]] = {}

    def make_check():  # a fresh function per operation: hypothesis decorates it in place
        def check(case):
            response = case.call(headers=headers, cookies=cookies)
            seen.setdefault(case.operation.label, set()).add(response.status_code)
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                     response_schema_conformance])
        return check

    fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    for op in operations:
        given(case=op.as_strategy())(fuzz(make_check()))()
    assert all(code < 500 for codes in seen.values() for code in codes), seen
    assert 200 in seen["GET /api/status"]
    assert 422 in seen["POST /api/rules/validate"] and 200 in seen["GET /api/rules"], seen
    assert {200, 422} & seen["POST /api/input/sentiment"] and 422 in seen["PATCH /api/config/risk"], seen


def test_every_api_route_is_documented(app, admin):
    """Each /api rule of the app (method and path) is in /api/openapi.json."""
    import re

    doc = admin.get("/api/openapi.json").get_json()
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule == "/api/openapi.json":
            continue
        # /api/input/<kind> is documented once per kind, /api/backtest/run/<id> as {run_id}
        pattern = re.compile("^" + re.sub(r"<[^>]+>", "[^/]+", rule.rule) + "$")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if not any(pattern.match(p) and method.lower() in ops for p, ops in doc["paths"].items()):
                missing.append(f"{method} {rule.rule}")
    assert not missing, missing
    assert "/api/rules/save" in doc["paths"] and "/api/rules/rollback" in doc["paths"]
