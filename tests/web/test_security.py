"""Sessions, roles, CSRF, throttling, cookies, secrets never shown, audit of changes."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import PASSWORDS, SECRETS, api_token, csrf_from, login

PUBLIC = {"auth.login", "static"}


def concrete_urls(app, ids):
    """(method, url) for every route of the app, with ids filled from seeded rows."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", str(ids.get(name, 1))).replace(f"<{name}>", "risk")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, url))
    return out


SEEDED = {"decision_id": 1, "run_id": 1}


def test_without_session_pages_redirect_to_login_and_api_answers_401(app):
    client = app.test_client()
    urls = concrete_urls(app, SEEDED)
    assert len(urls) > 20
    for method, url in urls:
        resp = client.open(url, method=method)
        if url.startswith("/api/"):
            assert resp.status_code == 401, (method, url, resp.status_code)
            assert resp.get_json()["error"] == "unauthorized"
        else:
            assert resp.status_code == 302, (method, url, resp.status_code)
            assert "/login" in resp.headers["Location"]


def test_login_redirects_back_but_never_off_site(app):
    client = app.test_client()
    resp = client.get("/decisions/?hours=6")
    assert resp.status_code == 302 and "next=" in resp.headers["Location"]
    page = client.get("/login")
    for nxt, expected in (("/decisions/?hours=6", "/decisions/?hours=6"), ("//evil.example/x", "/status/"),
                          ("https://evil.example/", "/status/")):
        client.get("/logout")
        resp = client.post(f"/login?next={nxt}", data={"username": "viewer", "password": PASSWORDS["viewer"],
                                                      "csrf_token": csrf_from(page.get_data(as_text=True))})
        assert resp.status_code == 302
        assert resp.headers["Location"] == expected
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/status/").get_data(as_text=True))})
        page = client.get("/login")


def test_every_state_changing_route_without_csrf_token_gets_400(app, admin):
    """Logged in as admin (every role passes), no token: each POST/PUT/PATCH/DELETE route of
    the app is refused with 400 before it can change anything."""
    from connectors.db import models as m

    changing = [(meth, url) for meth, url in concrete_urls(app, SEEDED)
                if meth in ("POST", "PUT", "PATCH", "DELETE") and url not in ("/login", "/logout")]
    assert len(changing) > 10
    with app.app_context():
        before = m.AuditEntry.select().count()
    for method, url in changing:
        resp = admin.open(url, method=method, json={}) if url.startswith("/api/") else admin.open(url, method=method)
        assert resp.status_code == 400, (method, url, resp.status_code)
    with app.app_context():
        assert m.AuditEntry.select().count() == before  # nothing was changed


def test_state_changes_without_csrf_token_get_400(operator, admin):
    assert operator.post("/control/pause").status_code == 400
    resp = admin.patch("/api/config/risk", json={"risk_percent": 0.6})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "csrf"
    # with the token it goes through
    resp = admin.patch("/api/config/risk", json={"risk_percent": 0.6}, headers={"X-CSRFToken": api_token(admin)})
    assert resp.status_code == 200, resp.get_json()


def test_viewer_cannot_change_anything(viewer):
    token = api_token(viewer)
    assert viewer.get("/control/").status_code == 403
    assert viewer.post("/control/pause", data={"csrf_token": token}).status_code == 403
    resp = viewer.patch("/api/config/risk", json={"risk_percent": 0.6}, headers={"X-CSRFToken": token})
    assert resp.status_code == 403 and "admin" in resp.get_json()["message"]
    html = viewer.get("/status/").get_data(as_text=True)
    assert "Control" not in re.sub(r"<main>.*", "", html, flags=re.S)  # not in the menu


def test_operator_pause_is_audited_and_shown(app, operator, admin):
    token = api_token(operator)
    assert operator.post("/control/pause", data={"csrf_token": token}).status_code == 302
    assert operator.get("/api/status").get_json()["control"]["entries_paused"] is True
    audit = admin.get("/audit/").get_data(as_text=True)
    assert "control.pause_entries" in audit and "operator" in audit


def test_emergency_stop_needs_typed_confirmation(operator):
    token = api_token(operator)
    resp = operator.post("/control/emergency-stop", data={"csrf_token": token, "confirm": "yes"})
    assert resp.status_code == 400
    assert operator.get("/api/status").get_json()["control"]["emergency_stop"] is None
    resp = operator.post("/control/emergency-stop", data={"csrf_token": token, "confirm": "STOP", "reason": "test"})
    assert resp.status_code == 302
    control = operator.get("/api/status").get_json()["control"]
    assert control["emergency_stop"]["by"] == "operator" and control["entries_paused"] is True


def test_login_throttled_after_five_failures_per_user_and_address(app):
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    for _ in range(5):
        resp = client.post("/login", data={"username": "viewer", "password": "wrong-password", "csrf_token": token})
        assert resp.status_code == 401
    resp = client.post("/login", data={"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": token})
    assert resp.status_code == 429 and "Too many failed attempts" in resp.get_data(as_text=True)
    # another address is not locked out
    other = app.test_client()
    t2 = csrf_from(other.get("/login").get_data(as_text=True))
    resp = other.post("/login", data={"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": t2},
                      environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert resp.status_code == 302


def test_session_cookie_flags(app, home):
    client = app.test_client()
    page = client.get("/login")
    resp = client.post("/login", data={"username": "admin", "password": PASSWORDS["admin"],
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # the tests run with web.cookie_secure=false
    from web import create_app

    assert create_app(home=home, overrides=None).config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 3600


def test_secure_cookie_by_default(home, monkeypatch):
    monkeypatch.delenv("SHOWDOWN__WEB__COOKIE_SECURE")
    from web import create_app

    assert create_app(home=home).config["SESSION_COOKIE_SECURE"] is True


def test_password_change_ends_existing_sessions(app, viewer):
    assert viewer.get("/api/status").status_code == 200
    from web import users

    with app.app_context():
        users.set_password("viewer", "a-brand-new-password")
    assert viewer.get("/api/status").status_code == 401


def test_first_start_creates_admin_and_prints_password_once(home, capsys, caplog):
    from connectors.db.models import User
    from web import create_app

    User.delete().execute()
    create_app(home=home)
    err = capsys.readouterr().err
    m = re.search(r"one-time password: (\S+)", err)
    assert m, err
    password = m.group(1)
    assert password not in caplog.text
    assert User.get(User.username == "admin").password_hash != password
    create_app(home=home)
    assert "one-time password" not in capsys.readouterr().err
    assert (home.var / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.fixture()
def secret_app(home, monkeypatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    from web import create_app, users

    app = create_app(home=home)
    with app.app_context():
        users.set_password("admin", PASSWORDS["admin"])
    return app


def test_no_secret_value_in_any_page_or_api_answer(secret_app):
    from tests.web.seed import seed

    with secret_app.app_context():
        # a careless log line with a secret in it: the scrubber must catch it
        ids = seed(log_message=f"connected with key {SECRETS['BINANCE_API_KEY']}")
    client = login(secret_app.test_client(), "admin")
    token = api_token(client)
    resp = client.patch("/api/config/risk", json={"risk_percent": 0.7}, headers={"X-CSRFToken": token})
    assert resp.status_code == 200
    bodies = []
    for method, url in concrete_urls(secret_app, ids):
        if method != "GET":
            continue
        for suffix in ("", "?trace=1"):
            r = client.get(url + suffix)
            assert r.status_code < 500, url
            bodies.append((url, r.get_data(as_text=True)))
    assert any("connected with key ***" in b for _, b in bodies)
    for url, body in bodies:
        for name, value in SECRETS.items():
            assert value not in body, f"{name} leaked on {url}"


def test_config_patch_validates_writes_local_file_and_audits(admin, home):
    token = api_token(admin)
    resp = admin.patch("/api/config/risk", json={"risk_percent": 5000, "max_trades_per_day": "three"},
                       headers={"X-CSRFToken": token})
    assert resp.status_code == 422
    problems = " ".join(resp.get_json()["problems"])
    assert "risk.risk_percent" in problems and "risk.max_trades_per_day" in problems
    assert not (home.config_dir / "config.local.yaml").exists()
    resp = admin.patch("/api/config/engine", json={"cycle_minutes": 15}, headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["changes"] == [{"path": "cycle_minutes", "old": 5, "new": 15}]
    assert "cycle_minutes: 15" in (home.config_dir / "config.local.yaml").read_text()
    assert admin.patch("/api/config/web", json={"port": 1}, headers={"X-CSRFToken": token}).status_code == 404
    assert admin.patch("/api/config/risk", data="nope", headers={"X-CSRFToken": token}).status_code == 400
    audit = admin.get("/audit/").get_data(as_text=True)
    assert "config.engine" in audit and "cycle_minutes" in audit


def test_works_under_a_proxy_prefix(app):
    client = app.test_client()
    headers = {"X-Forwarded-Prefix": "/admin", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "trader.example"}
    resp = client.get("/status/", headers=headers)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("https://trader.example/admin/login") or \
        resp.headers["Location"].startswith("/admin/login")
    page = client.get("/login", headers=headers).get_data(as_text=True)
    assert 'href="/admin/static/css/site.css"' in page and 'content="/admin"' in page


def test_session_cookie_reissued_at_most_once_a_minute(admin, monkeypatch):
    """Polling /api/status does not re-sign the cookie each time; an old cookie is renewed
    (the sliding idle timeout keeps working), and a changed session is always sent."""
    from web import session as web_session

    admin.get("/api/status")  # the login response already set a fresh cookie
    r = admin.get("/api/status")
    assert r.status_code == 200 and "Set-Cookie" not in r.headers
    monkeypatch.setattr(web_session, "REFRESH_AFTER_S", 0.0)
    r = admin.get("/api/status")
    assert "showdown_session=" in r.headers.get("Set-Cookie", "")
    assert "Expires=" in r.headers["Set-Cookie"]  # permanent: the expiry slides
