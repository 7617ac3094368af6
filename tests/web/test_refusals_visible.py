"""Issue 13, observation 4: a refused rules edit on disk is visible where the operator looks —
the Status page (and /api/status), the Rules page ("files on disk ≠ active" says why) —
with file:line:col and the failing rule tests, until a later version goes live."""

from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient

from connectors.db import models as m

PROBLEMS = ["strategy.yaml:76:9: unknown operator 'gtx' (expected one of eq, neq, ...)",
            "long.yaml:4:5: rule test 'clean long setup trades long with high confidence' failed: "
            "expected these rules to fire: ['long.etf_flows']"]


def refused(app: Flask, version: str, active: str, at_s: float) -> None:
    from web import queries

    with app.app_context():
        m.BotState.create(symbol="BTCUSDT", component="analytics", state="RUNNING", details={
            "last_refusal": {"at": at_s, "source": "watch", "version": version, "active": active,
                             "problems": PROBLEMS}})
        queries.forget_status()


def test_refusal_on_the_status_page_until_a_later_version_is_active(app: Flask, viewer: FlaskClient) -> None:
    from connectors.stores.rules_store import record_activation
    from web import queries

    with app.app_context():
        record_activation("a" * 64, {"strategy.yaml": "[]"}, {}, "startup", at_ms=int(time.time() * 1000) - 60_000)
    refused(app, "b" * 64, "a" * 64, time.time())
    status = viewer.get("/api/status").get_json()
    assert status["rules_refusal"]["problems"] == PROBLEMS and status["rules_refusal"]["active"] == "a" * 64
    html = viewer.get("/status/").get_data(as_text=True)
    card = html.split('id="rules-refusal-card"')[1].split("</section>")[0]
    assert not card.lstrip().startswith("hidden") and "Rules edit refused" in card
    assert "strategy.yaml:76:9: unknown operator &#39;gtx&#39;" in card
    assert "rule test &#39;clean long setup trades long with high confidence&#39; failed" in card
    with app.app_context():  # the edit is fixed and the fixed version goes live: the refusal is history
        record_activation("c" * 64, {"strategy.yaml": "[]"}, {}, "watcher")
        queries.forget_status()
    assert viewer.get("/api/status").get_json()["rules_refusal"] is None
    assert 'id="rules-refusal-card" hidden' in viewer.get("/status/").get_data(as_text=True)


def test_rules_page_says_why_the_files_on_disk_are_not_active(app: Flask, viewer: FlaskClient) -> None:
    from connectors.stores.rules_store import record_activation
    from web import rules_edit

    with app.app_context():
        files, _ = rules_edit.current()
        disk = rules_edit.content_hash(files)
        record_activation("a" * 64, {"strategy.yaml": "[]"}, {}, "startup", at_ms=int(time.time() * 1000) - 60_000)
    html = viewer.get("/rules/").get_data(as_text=True)
    assert 'id="disk-not-active"' in html and "not activated yet" in html  # no refusal: says so
    refused(app, disk, "a" * 64, time.time())
    html = viewer.get("/rules/").get_data(as_text=True)
    box = html.split('id="disk-not-active"')[1].split("</div>")[0]
    assert "refused by the analysis loop" in box and "strategy.yaml:76:9" in box and "long.yaml:4:5" in box
