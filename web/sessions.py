"""Server-side admin-site sessions (table `web_sessions`).

The signed cookie alone cannot be taken back: replayed after a logout it still worked.
Now it carries a random session id; the server keeps its SHA-256 with the user, the
start and the last request. A session counts only while its row exists and it is within
both lifetimes: idle (`web.session_timeout_min` since the last request) and absolute
(`web.session_max_hours` since sign-in, however busy). Logout, a password or role change
and an admin's "sign out everywhere" delete every row of that user: every cookie of
theirs is dead at once, in every gunicorn worker (no cache in between).
"""

from __future__ import annotations

import hashlib
import secrets
import time

SEEN_EVERY_MS = 60_000      # `seen_ms` is written at most once a minute per session


def _model():  # type: ignore[no-untyped-def]
    from connectors.db.models import WebSession

    return WebSession


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


def start(user_id: int) -> str:
    """A new session for `user_id`; returns the id to put in the cookie."""
    sid = secrets.token_urlsafe(32)
    now = _now_ms()
    _model().create(token_hash=_hash(sid), user_id=user_id, created_ms=now, seen_ms=now)
    return sid


def valid(sid: object, user_id: int, idle_s: float, absolute_s: float) -> bool:
    """Whether `sid` is a live session of `user_id`; an expired one is deleted."""
    if not isinstance(sid, str) or not 20 <= len(sid) <= 100:
        return False
    M = _model()
    row = M.get_or_none(M.token_hash == _hash(sid))
    if row is None or row.user_id != user_id:
        return False
    now = _now_ms()
    if now - row.seen_ms > idle_s * 1000 or now - row.created_ms > absolute_s * 1000:
        M.delete().where(M.id == row.id).execute()
        return False
    if now - row.seen_ms >= SEEN_EVERY_MS:
        M.update(seen_ms=now).where(M.id == row.id).execute()
    return True


def end(sid: object) -> None:
    if isinstance(sid, str):
        _model().delete().where(_model().token_hash == _hash(sid)).execute()


def end_all(user_id: int) -> int:
    """End every session of this user; returns how many there were."""
    return int(_model().delete().where(_model().user_id == user_id).execute())


def count(user_id: int) -> int:
    return int(_model().select().where(_model().user_id == user_id).count())
