"""The signed session cookie, re-issued at most once a minute.

Flask re-signs and re-sends a permanent session's cookie on every request
(SESSION_REFRESH_EACH_REQUEST) to slide its expiry. For a page polling /api/status that
is a signature and a Set-Cookie per poll for nothing: here an unchanged session's cookie
is re-issued only when it is older than REFRESH_AFTER_S. The idle timeout
(PERMANENT_SESSION_LIFETIME, an hour by default) is thus exact to within a minute.
A changed session (login, CSRF token, flash) is always sent at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

REFRESH_AFTER_S = 60.0


class _Session(SecureCookieSession):
    issued_at: datetime | None = None


class RefreshingSessionInterface(SecureCookieSessionInterface):
    session_class = _Session

    def open_session(self, app: Flask, request: Request) -> _Session | None:
        s = self.get_signing_serializer(app)
        if s is None:
            return None
        val = request.cookies.get(self.get_cookie_name(app))
        if not val:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, issued = s.loads(val, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        sess = self.session_class(data)
        sess.issued_at = issued
        return sess

    def should_set_cookie(self, app: Flask, session: Any) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        issued = getattr(session, "issued_at", None)
        return issued is None or (datetime.now(UTC) - issued).total_seconds() >= REFRESH_AFTER_S
