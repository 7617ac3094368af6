"""Fixtures for the admin site: a tmp home with its own config dir and SQLite DB, an app,
and logged-in clients for each role."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.paths import PROJECT_DIR, Home

PASSWORDS = {"admin": "admin-pass-123", "operator": "operator-pass-123", "viewer": "viewer-pass-123"}
SECRETS = {
    "BINANCE_API_KEY": "binkey-9f8e7d6c5b4a3210",
    "BINANCE_API_SECRET": "binsecret-0123456789abcdef",
    "TELEGRAM_BOT_TOKEN": "123456:tg-token-abcdefghijkl",
    "DB_PASSWORD": "dbpw-not-used-by-sqlite-42",
    "SHOWDOWN_SECRET_KEY": "web-secret-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
}


def make_home(root: Path) -> Home:
    """A home whose config and rules dirs are copies (PATCH /api/config writes
    config.local.yaml there, the Rules page writes rule files there)."""
    config_dir = root / "config"
    shutil.copytree(PROJECT_DIR / "config", config_dir, ignore=shutil.ignore_patterns("config.local.yaml"))
    rules_dir = root / "rules"
    shutil.copytree(PROJECT_DIR / "rules", rules_dir)
    return Home(root=root, config_dir=config_dir, rules_dir=rules_dir).ensure()


def migrate(home: Home) -> None:
    from connectors.db import open_database
    from connectors.db.migrations import upgrade
    from engine.config import load_config

    db = open_database(load_config(home), home)
    upgrade(db)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    for k in list(SECRETS):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.delenv("DB_HOST", raising=False)
    monkeypatch.setenv("SHOWDOWN__WEB__COOKIE_SECURE", "false")
    where = make_home(tmp_path)
    migrate(where)
    return where


@pytest.fixture()
def app(home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    from web import create_app, users
    from web.sections import control

    # The control switches are tested here even before an execution worker exists to obey them.
    monkeypatch.setattr(control, "available", lambda: True)

    app = create_app(home=home)
    app.config["TESTING"] = True
    with app.app_context():
        users.add("operator", PASSWORDS["operator"], "operator")
        users.add("viewer", PASSWORDS["viewer"], "viewer")
        users.set_password("admin", PASSWORDS["admin"])
    yield app


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in page"
    return m.group(1)


def login(client: FlaskClient, username: str, password: str | None = None) -> FlaskClient:
    page = client.get("/login")
    resp = client.post("/login", data={"username": username, "password": password or PASSWORDS[username],
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def api_token(client: FlaskClient) -> str:
    resp = client.get("/api/csrf")
    assert resp.status_code == 200
    return resp.get_json()["csrf_token"]


@pytest.fixture()
def admin(app: Flask) -> FlaskClient:
    return login(app.test_client(), "admin")


@pytest.fixture()
def operator(app: Flask) -> FlaskClient:
    return login(app.test_client(), "operator")


@pytest.fixture()
def viewer(app: Flask) -> FlaskClient:
    return login(app.test_client(), "viewer")
