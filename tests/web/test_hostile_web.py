"""Hostile input against the admin site (issue 12): server-side sessions, confined paths,
finite numbers, file names, the rule corpus, the login throttle's client address."""

from __future__ import annotations

import json
import time

import pytest

from tests.hostile_corpus import (
    BAD_NAMES,
    BAD_SHADOW_PATHS,
    HOSTILE_FILE,
    NON_FINITE_BODIES,
    RULE_CASES,
    TIME_BOUND_S,
    Case,
)
from tests.web.conftest import PASSWORDS, api_token, csrf_from, login
from tests.web.test_security import SEEDED, concrete_urls


def _cookie(client) -> str:
    return client.get_cookie("showdown_session").value


def _replay(app, cookie: str):
    c = app.test_client()
    c.set_cookie("showdown_session", cookie)
    return c


def _assert_dead_everywhere(app, cookie: str) -> None:
    client = _replay(app, cookie)
    urls = concrete_urls(app, SEEDED)
    assert len(urls) > 20
    for method, url in urls:
        resp = client.open(url, method=method)
        assert resp.status_code == 401, (method, url, resp.status_code)
        client.set_cookie("showdown_session", cookie)   # a 401 clears it: replay it again


# -- sessions (finding 4) ----------------------------------------------------------------
def test_after_logout_the_old_cookie_gets_401_on_every_route(app):
    laptop = login(app.test_client(), "operator")
    phone = login(app.test_client(), "operator")
    stolen, phone_cookie = _cookie(laptop), _cookie(phone)
    assert _replay(app, stolen).get("/api/status").status_code == 200
    token = csrf_from(laptop.get("/status/").get_data(as_text=True))
    assert laptop.post("/logout", data={"csrf_token": token}).status_code == 302
    _assert_dead_everywhere(app, stolen)
    _assert_dead_everywhere(app, phone_cookie)        # logout ends every session of that user
    page = _replay(app, stolen).get("/status/")
    assert "session has ended" in page.get_data(as_text=True)
    pause = _replay(app, stolen).post("/control/pause", data={"csrf_token": token})
    assert pause.status_code == 401
    assert login(app.test_client(), "operator").get("/api/status").status_code == 200   # signing in again works


def test_role_change_and_sign_out_everywhere_end_sessions(app, admin, viewer, operator):
    from web import users

    assert viewer.get("/api/status").status_code == 200
    with app.app_context():
        users.set_role("viewer", "operator")
    assert viewer.get("/api/status").status_code == 401
    op_cookie = _cookie(operator)
    # an operator may not sign out someone else; an admin may
    token = api_token(operator)
    assert operator.post("/api/sessions/end", json={"user": "admin"}, headers={"X-CSRFToken": token}).status_code == 403
    resp = admin.post("/api/sessions/end", json={"user": "operator"}, headers={"X-CSRFToken": api_token(admin)})
    assert resp.status_code == 200 and resp.get_json() == {"user": "operator", "ended": 1}
    assert _replay(app, op_cookie).get("/api/status").status_code == 401
    assert "user.sessions_end" in admin.get("/audit/").get_data(as_text=True)


def test_idle_and_absolute_lifetimes_are_enforced_server_side(app, viewer):
    from connectors.db.models import WebSession

    with app.app_context():
        row = WebSession.get()
        WebSession.update(seen_ms=row.seen_ms - 61 * 60_000).where(WebSession.id == row.id).execute()
    assert viewer.get("/api/status").status_code == 401            # idle past web.session_timeout_min (60)
    login(viewer, "viewer")
    assert viewer.get("/api/status").status_code == 200
    with app.app_context():
        row = WebSession.get()
        WebSession.update(created_ms=row.created_ms - 13 * 3600_000).where(WebSession.id == row.id).execute()
    assert viewer.get("/api/status").status_code == 401            # older than web.session_max_hours (12)
    with app.app_context():
        assert WebSession.select().count() == 0                     # expired rows are removed


# -- login throttle and X-Forwarded-For (finding 7) ------------------------------------------
def test_direct_client_cannot_dodge_the_throttle_with_x_forwarded_for(app):
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    direct = {"REMOTE_ADDR": "203.0.113.7"}            # not the trusted proxy
    codes = [client.post("/login", data={"username": "viewer", "password": "wrong", "csrf_token": token},
                         headers={"X-Forwarded-For": f"198.51.100.{i}"}, environ_base=direct).status_code
             for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429], codes


def test_the_trusted_proxy_still_names_the_client(app):
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    for _ in range(5):
        client.post("/login", data={"username": "viewer", "password": "wrong", "csrf_token": token},
                    headers={"X-Forwarded-For": "198.51.100.1"})            # REMOTE_ADDR 127.0.0.1: Nginx
    locked = client.post("/login", data={"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": token},
                         headers={"X-Forwarded-For": "198.51.100.1"})
    other = client.post("/login", data={"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": token},
                        headers={"X-Forwarded-For": "198.51.100.2"})
    assert locked.status_code == 429 and other.status_code == 302


# -- numbers (finding 3) ----------------------------------------------------------------------
@pytest.mark.parametrize("body,path", NON_FINITE_BODIES)
def test_non_finite_numbers_in_json_bodies_are_refused_with_the_key_path(admin, home, body, path):
    token = api_token(admin)
    resp = admin.patch("/api/config/risk", data=body, content_type="application/json", headers={"X-CSRFToken": token})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    msg = resp.get_json()["message"]
    assert msg.startswith(f"{path}: ") and "not a finite number" in msg, msg
    assert not (home.config_dir / "config.local.yaml").exists()
    resp = admin.post("/api/rules/validate", data=body, content_type="application/json", headers={"X-CSRFToken": token})
    assert resp.status_code == 400


def test_nan_risk_percent_never_reaches_the_local_file(admin, home):
    """Finding 3 as reported: PATCH {"risk_percent": NaN} was written to config.local.yaml."""
    resp = admin.patch("/api/config/risk", data='{"risk_percent": NaN}', content_type="application/json",
                       headers={"X-CSRFToken": api_token(admin)})
    assert resp.status_code == 400
    assert not (home.config_dir / "config.local.yaml").exists()
    json.loads(admin.get("/api/status").get_data(as_text=True))       # the API still answers valid JSON


def test_deeply_nested_json_body_is_a_clear_400(admin):
    resp = admin.patch("/api/config/risk", data="[" * 100_000, content_type="application/json",
                       headers={"X-CSRFToken": api_token(admin)})
    assert resp.status_code == 400 and "nested too deeply" in resp.get_json()["message"]


def test_sentiment_form_with_infinity_is_refused_not_a_500(operator):
    token = csrf_from(operator.get("/inputs/").get_data(as_text=True))
    resp = operator.post("/inputs/sentiment", data={"csrf_token": token, "score": "inf", "as_of": "2025-12-06T00:00:00Z"})
    assert resp.status_code in (200, 302, 422), resp.status_code


# -- paths (finding 2) --------------------------------------------------------------------------
@pytest.mark.parametrize("spec", BAD_SHADOW_PATHS)
def test_config_cannot_name_a_file_outside_the_rules_dir(admin, home, tmp_path, spec):
    secret = tmp_path / "outside.yaml"
    secret.write_text("password: hunter2-do-not-show\n")
    (home.rules_dir / "link_out.yaml").symlink_to(secret)
    spec = spec.replace("{outside}", str(secret))
    resp = admin.patch("/api/config/engine", json={"shadow_ruleset": spec}, headers={"X-CSRFToken": api_token(admin)})
    assert resp.status_code in (400, 422), (spec, resp.status_code)
    text = resp.get_data(as_text=True)
    assert "hunter2" not in text and "root:" not in text
    assert not (home.config_dir / "config.local.yaml").exists()


def test_shadow_inside_the_rules_dir_is_accepted(admin, home):
    (home.rules_dir / "candidate").mkdir()
    (home.rules_dir / "candidate" / "strategy.yaml").write_text((home.rules_dir / "strategy.yaml").read_text())
    resp = admin.patch("/api/config/engine", json={"shadow_ruleset": "candidate"}, headers={"X-CSRFToken": api_token(admin)})
    assert resp.status_code == 200, resp.get_json()


# -- file names (finding 6) -----------------------------------------------------------------------
@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[:20] for n in BAD_NAMES])
def test_bad_rule_file_names_are_refused_before_any_write(operator, home, name):
    before = sorted(p.name for p in home.rules_dir.iterdir())
    text = (home.rules_dir / "strategy.yaml").read_text()
    resp = operator.post("/api/rules/save", json={"file": name, "text": text}, headers={"X-CSRFToken": api_token(operator)})
    assert resp.status_code == 400, (name, resp.status_code)
    assert sorted(p.name for p in home.rules_dir.iterdir()) == before


def test_name_ending_in_newline_is_not_saved(operator, home):
    """Finding 6: `zz.yaml\\n` matched `$`, wrote rules/zz.yaml\\n and said "saved"."""
    text = (home.rules_dir / "strategy.yaml").read_text()
    resp = operator.post("/api/rules/save", json={"file": "zz.yaml\n", "text": text},
                         headers={"X-CSRFToken": api_token(operator)})
    assert resp.status_code == 400
    assert not (home.rules_dir / "zz.yaml\n").exists()
    assert resp.get_json()["error"] != "ok"


# -- the corpus through the site (findings 1, 5, 7) ------------------------------------------------
@pytest.mark.parametrize("case", RULE_CASES, ids=[c.name for c in RULE_CASES])
def test_corpus_is_refused_quickly_and_changes_nothing(operator, home, case: Case):
    token = api_token(operator)
    before = {p.name: p.read_text() for p in home.rules_dir.glob("*.yaml")}
    active = operator.get("/api/rules").get_json()["disk_version"]
    for op in ("validate", "save"):
        started = time.perf_counter()
        resp = operator.post(f"/api/rules/{op}", json={"file": HOSTILE_FILE, "text": case.text},
                             headers={"X-CSRFToken": token})
        seconds = time.perf_counter() - started
        assert seconds < TIME_BOUND_S, f"{case.name} {op}: {seconds:.2f} s"
        assert resp.status_code in (413, 422), (case.name, op, resp.status_code)
        if resp.status_code == 422:
            problems = resp.get_json()["problems"]
            assert any(p["file"] == HOSTILE_FILE and case.expect in p["message"] for p in problems), problems[:3]
            if case.line is not None:
                assert any(p["line"] == case.line for p in problems if p["file"] == HOSTILE_FILE), problems[:3]
    assert {p.name: p.read_text() for p in home.rules_dir.glob("*.yaml")} == before
    assert operator.get("/api/rules").get_json()["disk_version"] == active


def test_3000_deep_draft_points_at_the_right_place(operator):
    """Finding 5 in the site: it answered 1:1 with a durable_rules/recursion message."""
    text = "ruleset: btc_default\nrules: " + "[" * 3000 + "]" * 3000 + "\n"
    resp = operator.post("/api/rules/validate", json={"file": HOSTILE_FILE, "text": text},
                         headers={"X-CSRFToken": api_token(operator)})
    p = [p for p in resp.get_json()["problems"] if p["file"] == HOSTILE_FILE][0]
    assert (p["line"], p["col"]) == (2, 56) and "nested deeper than 48 levels" in p["message"], p


def test_build_lock_wait_is_bounded(operator, monkeypatch):
    """A draft never waits unboundedly behind another: 503 after LOCK_WAIT_S."""
    from web import rules_edit

    monkeypatch.setattr(rules_edit, "LOCK_WAIT_S", 0.2)
    assert rules_edit._BUILD_LOCK.acquire()
    try:
        started = time.perf_counter()
        resp = operator.post("/api/rules/validate", json={"file": "strategy.yaml", "text": "ruleset: x\n"},
                             headers={"X-CSRFToken": api_token(operator)})
        assert resp.status_code == 503 and time.perf_counter() - started < 2
    finally:
        rules_edit._BUILD_LOCK.release()


def test_signing_in_right_after_a_password_change_made_by_the_cli(app, admin):
    """`showdown user passwd` (another process) changes the password; signing in with the new
    one at once gives a working session — not one the site's per-process account cache,
    still holding the old password, takes for ended (the replay walk met it)."""
    from tests.web.conftest import login
    from web import users

    assert admin.get("/api/status").status_code == 200  # the account is in this process's cache
    with app.app_context():  # what the CLI does, in its own process: this one's cache is not told
        users._model().update(password_hash=users.hash_password("changed-by-cli-123")).where(
            users._model().username == "admin").execute()
        users.end_sessions("admin")
    fresh = login(app.test_client(), "admin", "changed-by-cli-123")
    assert fresh.get("/api/status").status_code == 200
    assert fresh.get("/status/").status_code == 200
