"""Mainnet entry confirmations on the admin site: admin only, CSRF-protected, audited;
the page lists the request with its plan and confirms or rejects it."""

from __future__ import annotations

from flask import Flask

from connectors.db import models as M  # noqa: N812
from connectors.loops.entry_confirmation import EntryConfirmation
from tests.web.conftest import api_token, csrf_from


def _ask(app: Flask, did: str = "41") -> None:
    with app.app_context():
        EntryConfirmation({"mode": "mainnet"}, "BTCUSDT")._write(
            did, {"status": "pending", "plan": "LONG BTCUSDT: entry 100–101, SL 99, TP1 102, TP2 103",
                  "requested_ms": 1_700_000_000_000, "number": 1, "of": 3})


def test_admin_confirms_with_csrf_and_it_is_audited(app, admin) -> None:
    _ask(app)
    page = admin.get("/confirmations/")
    assert page.status_code == 200 and "LONG BTCUSDT: entry 100–101" in page.get_data(as_text=True)
    assert admin.post("/confirmations/api/41/confirm").status_code == 400  # no CSRF token
    token = api_token(admin)
    resp = admin.post("/confirmations/api/41/confirm", headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "confirmed" and resp.get_json()["decided_by"] == "admin"
    with app.app_context():
        details = M.BotState.get(M.BotState.component == "control").details
        assert details["entries_confirmed"] == 1
        assert details["entry_confirmations"]["41"]["status"] == "confirmed"
        audit = M.AuditEntry.select().where(M.AuditEntry.action == "confirmations.confirmed").get()
        assert audit.username == "admin" and audit.target == "decision 41"
    again = admin.post("/confirmations/api/41/reject", headers={"X-CSRFToken": token})
    assert again.status_code == 409  # decided once
    assert admin.get("/confirmations/api").get_json()["confirmed"] == 1


def test_reject_from_the_page_form(app, admin) -> None:
    _ask(app, "42")
    html = admin.get("/confirmations/").get_data(as_text=True)
    resp = admin.post("/confirmations/api/42/reject", data={"csrf_token": csrf_from(html), "from_page": "1"})
    assert resp.status_code == 302
    with app.app_context():
        details = M.BotState.get(M.BotState.component == "control").details
        assert details["entry_confirmations"]["42"]["status"] == "rejected" and "entries_confirmed" not in details


def test_operator_and_viewer_cannot_confirm(app, operator, viewer) -> None:
    _ask(app, "43")
    for client in (operator, viewer):
        assert client.get("/confirmations/").status_code in (302, 403)
        resp = client.post("/confirmations/api/43/confirm", headers={"X-CSRFToken": api_token(client)})
        assert resp.status_code in (302, 403)
    with app.app_context():
        assert M.BotState.get(M.BotState.component == "control").details["entry_confirmations"]["43"]["status"] == \
            "pending"

