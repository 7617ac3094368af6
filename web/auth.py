"""Sessions, login/logout, roles, CSRF.

- flask-login keeps the user in the signed session cookie; the cookie also carries a
  server-side session id (web/sessions.py): logout, a password or role change and "sign out
  everywhere" delete the user's sessions, idle and absolute lifetimes end them. A cookie
  whose session has ended gets 401 on every route (the login page for pages).
- `role_required("operator")` guards a view: below that role → 403.
- CSRF (flask-wtf) on every POST/PUT/PATCH/DELETE; pages put the token in their forms,
  JavaScript and API clients send it in the X-CSRFToken header (GET /api/csrf gives it).
- Without a session, pages redirect to the login page and /api/* answers 401 JSON.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import sys
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFProtect

from web import sessions, users
from web.context import sd
from web.throttle import LoginThrottle

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()


class WebUser:
    """The logged-in user as flask-login sees it."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, account: users.Account):
        self.account = account
        self.username = account.username
        self.role = account.role

    def get_id(self) -> str:
        return f"{self.account.id}:{_hash_tag(self.account.password_hash)}"

    def at_least(self, role: str) -> bool:
        return self.account.at_least(role)


def _hash_tag(password_hash: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, password_hash.encode(), hashlib.sha256).hexdigest()[:16]


def is_api_request() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def role_required(role: str) -> Callable[[F], F]:
    users.check_role(role)

    def deco(view: F) -> F:
        @functools.wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.at_least(role):
                abort(403, description=f"needs role {role} (you are {current_user.role})")
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return deco


def redirect_home() -> Any:
    return redirect(url_for("status.page"))


def _throttle() -> LoginThrottle:
    ext = current_app.extensions
    if "showdown.throttle" not in ext:
        cfg = sd().config
        ext["showdown.throttle"] = LoginThrottle(
            sd().home.var / "login_throttle.sqlite",
            max_failures=int(cfg.get("web.login_max_failures", 5)),
            lockout_s=float(cfg.get("web.login_lockout_min", 15)) * 60,
        )
    return ext["showdown.throttle"]  # type: ignore[no-any-return]


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no //) is a valid `next`."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect_home()
    error = None
    status = 200
    username = ""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        address = request.remote_addr or "?"
        throttle = _throttle()
        wait = throttle.locked_for(username, address)
        if wait:
            error = f"Too many failed attempts. Try again in {int(wait // 60) + 1} min."
            status = 429
        elif not username or not password:
            error = "Enter your user name and password."
            status = 400
        else:
            account = users.verify(username, password)
            if account is None:
                n = throttle.failed(username, address)
                left = throttle.max_failures - n
                error = "Wrong user name or password." + (
                    f" {left} attempt(s) left before a lockout." if 0 < left <= 2 else ""
                )
                if left <= 0:
                    error = "Too many failed attempts. Try again later."
                status = 401
                current_app.logger.warning("failed login for %r from %s", username, address)
            else:
                throttle.succeeded(username, address)
                users.remember(account)
                session.clear()
                login_user(WebUser(account))
                session["sid"] = sessions.start(account.id)
                session.permanent = True
                current_app.logger.info("login %s from %s", account.username, address)
                nxt = _safe_next(request.args.get("next"))
                if nxt and nxt.startswith(request.script_root + "/"):
                    return redirect(nxt)
                return redirect(url_for("status.page"))
    return render_template("login.html", error=error, username=username), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    """Ends every session of this user, on every device (a copied cookie dies with them)."""
    sessions.end_all(current_user.account.id)
    logout_user()
    session.clear()
    flash("Signed out.")
    return redirect(url_for("auth.login"))


def _lifetimes() -> tuple[float, float]:
    cfg = sd().config
    return (float(cfg.get("web.session_timeout_min", 60)) * 60, float(cfg.get("web.session_max_hours", 12)) * 3600)


def _unauthorized() -> Any:
    if g.get("session_ended"):
        # a cookie whose server-side session is gone (logout, expiry, password change...)
        session.clear()
        msg = "your session has ended; sign in again"
        if is_api_request():
            return jsonify(error="unauthorized", message=msg), 401
        # served at the page asked for: the form posts to the login route, then comes back here
        nxt = request.script_root + request.full_path.rstrip("?") if request.method == "GET" else None
        return render_template("login.html", error=msg.capitalize() + ".", username="",
                               login_action=url_for("auth.login", next=nxt)), 401
    if is_api_request():
        return jsonify(error="unauthorized", message="log in first (POST the login form, keep the session cookie)"), 401
    nxt = request.script_root + request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=nxt))


def _load_user(user_id: str) -> WebUser | None:
    try:
        raw_id, tag = user_id.split(":", 1)
        account = users.by_id_cached(int(raw_id))
    except (ValueError, TypeError):
        return None
    if account is None or not account.active or not hmac.compare_digest(tag, _hash_tag(account.password_hash)):
        g.session_ended = True
        return None
    if not sessions.valid(session.get("sid"), account.id, *_lifetimes()):
        g.session_ended = True
        return None
    return WebUser(account)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.session_protection = "basic"
    app.register_blueprint(bp)

    @app.before_request
    def _connect_and_refresh() -> None:
        sd().connect()
        if current_user.is_authenticated and not session.permanent:
            # sliding idle timeout (PERMANENT_SESSION_LIFETIME); setting it marks the session
            # changed, so only when needed (web/session.py re-issues the cookie once a minute)
            session.permanent = True

    @app.before_request
    def _require_login() -> Any:
        """Every endpoint needs a session except the login page and static files."""
        if request.endpoint in (None, "auth.login", "static") or current_user.is_authenticated:
            return None
        return _unauthorized()

    # After the login check: without a session the answer is a redirect / 401, not a CSRF error.
    csrf.init_app(app)

    @app.context_processor
    def _user() -> dict[str, Any]:
        return {"user": current_user}


def ensure_first_admin(app: Flask) -> None:
    """No user yet → create `admin` and print its one-time password to the console only."""
    with app.app_context():
        try:
            password = users.create_first_admin()
        except Exception as exc:  # no users table yet: `showdown db upgrade` not run
            print(f"showdown web: cannot check users ({exc.__class__.__name__}); run `showdown db upgrade`",
                  file=sys.stderr)
            return
    if password:
        print_first_admin(password)


def print_first_admin(password: str) -> None:
    # Deliberately print, not log: the password must not reach a log file or the DB.
    print(
        "\n" + "=" * 64 + "\nShowdown admin site: first start, created user 'admin'\n"
        f"one-time password: {password}\nchange it: showdown user passwd admin\n" + "=" * 64 + "\n",
        file=sys.stderr, flush=True,
    )
