"""The admin site: a Flask app, one blueprint per section, served by gunicorn behind Nginx.

`create_app()` loads the configuration and opens the database; tests pass their own
`Config` and `Home`. Everything the blueprints share (config, home, database) hangs off
`app.extensions["showdown"]` (see `web.context`).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from flask import Flask

from connectors.files import database_choice
from engine.config import Config, ConfigStore, build_config
from engine.paths import Home
from engine.paths import home as default_home
from web import auth, errors, json_guard, safety
from web import format as web_format
from web.context import Showdown
from web.prefix import PrefixMiddleware
from web.proxy import TrustedProxyFix
from web.secret import secret_key
from web.session import RefreshingSessionInterface

# Section blueprints, in navigation order. Each module exposes `bp` and `NAV`
# (label, endpoint, minimum role) or NAV = None when it has no menu entry.
SECTION_MODULES = [
    "web.sections.status",
    "web.sections.market",
    "web.sections.flow",
    "web.sections.decisions",
    "web.sections.why_not",
    "web.sections.rules",
    "web.sections.inputs",
    "web.sections.position",
    "web.sections.logs",
    "web.sections.backtest",
    "web.sections.control",
    "web.sections.confirmations",
    "web.sections.audit",
]


def _market_data_or_none() -> dict[str, Any] | None:
    """The replay label for every page; a page still renders when the DB is unreachable."""
    from web import queries
    try:
        return queries.market_data()
    except Exception:  # noqa: BLE001 - a banner must never break a page
        return None


def _safe_mode_or_none() -> dict[str, Any] | None:
    """SAFE MODE with its reason, for the banner on every page."""
    from web import queries
    try:
        return queries.safe_mode()
    except Exception:  # noqa: BLE001 - a banner must never break a page
        return None


def create_app(config: Config | None = None, home: Home | None = None,
               overrides: dict[str, Any] | None = None) -> Flask:
    where = (home or default_home()).ensure()
    config_store: ConfigStore | None = None
    if config is None:
        # the database `showdown run` runs on (or SHOWDOWN_DB): the site shows what the bot writes
        choice = database_choice.choose(where)
        config_store = ConfigStore(where, {**os.environ, **choice.overlay})
        config = config_store.active
    app = Flask(__name__)
    web_cfg = config.get("web") or {}
    app.config.update(
        SECRET_KEY=secret_key(config, where),
        SESSION_COOKIE_NAME="showdown_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(web_cfg.get("cookie_secure", True)),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=bool(web_cfg.get("cookie_secure", True)),
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=int(web_cfg.get("session_timeout_min", 60))),
        SESSION_REFRESH_EACH_REQUEST=True,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.config.update(overrides or {})
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = RefreshingSessionInterface()
    sd = Showdown(config=config, home=where, config_store=config_store)
    app.extensions["showdown"] = sd
    sd.open_database()

    auth.init_app(app)
    web_format.init_app(app)
    errors.init_app(app)
    safety.init_app(app)
    json_guard.init_app(app)

    import importlib

    nav: list[tuple[str, str, str]] = []
    for name in SECTION_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "available", lambda: True)():
            app.register_blueprint(module.bp)
            if getattr(module, "NAV", None):
                nav.append(module.NAV)
    from web.api import bp as api_bp

    app.register_blueprint(api_bp)
    app.extensions["showdown.nav"] = nav

    @app.context_processor
    def _nav() -> dict[str, Any]:
        return {"nav_items": nav, "mode": sd.config.get("mode"), "symbol": sd.config.get("symbol"),
                "market_data": _market_data_or_none(), "database": database_choice.which_database(sd.config),
                "safe_mode": _safe_mode_or_none()}

    app.add_url_rule("/", "index", lambda: auth.redirect_home())

    # Behind Nginx: trust one proxy hop for client address, scheme, host and prefix — only
    # when the connection comes from the proxy itself (web.trusted_proxies).
    trusted = web_cfg.get("trusted_proxies") or ["127.0.0.1", "::1"]
    app.wsgi_app = TrustedProxyFix(app.wsgi_app, trusted)  # type: ignore[method-assign]
    prefix = str(web_cfg.get("url_prefix") or "").rstrip("/")
    if prefix:
        app.wsgi_app = PrefixMiddleware(app.wsgi_app, prefix)  # type: ignore[method-assign]
    auth.ensure_first_admin(app)
    return app


def config_for_tests(values: dict[str, Any], config_dir: Any) -> Config:
    """A validated Config from the project's base file with `values` merged over it."""
    from engine.config import _load_yaml, _schema

    base = _load_yaml(config_dir / "config.yaml")
    return build_config(base, values, {}, _schema(config_dir))
