"""Admin-site users: salted password hashes (werkzeug scrypt), roles viewer < operator < admin.

Used by the site (login) and by `showdown user add|passwd|list`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import peewee
from werkzeug.security import check_password_hash, generate_password_hash

ROLES = ("viewer", "operator", "admin")
MIN_PASSWORD_LENGTH = 10
# Checked against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


class UserError(ValueError):
    """A user operation was refused; the message says why."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    active: bool
    password_hash: str
    last_login_ms: int | None = None

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _model():  # type: ignore[no-untyped-def]
    from connectors.db.models import User

    return User


def _account(row) -> Account:  # type: ignore[no-untyped-def]
    return Account(id=row.id, username=row.username, role=row.role, active=bool(row.active),
                   password_hash=row.password_hash, last_login_ms=row.last_login_ms)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt with a random 16-byte salt


def count() -> int:
    return int(_model().select().count())


def by_name(username: str) -> Account | None:
    row = _model().get_or_none(_model().username == username)
    return _account(row) if row else None


def by_id(user_id: int) -> Account | None:
    row = _model().get_or_none(_model().id == user_id)
    return _account(row) if row else None


# Session checks read the account on every request; a short per-process cache keeps that
# off the DB. A password change, role change or deactivation made in another process
# takes effect within ACCOUNT_CACHE_S (in this process: at once).
ACCOUNT_CACHE_S = 2.0
_cache: dict[tuple[int, int], tuple[float, Account | None]] = {}


def by_id_cached(user_id: int) -> Account | None:
    from connectors.db import database_proxy

    key = (id(database_proxy.obj), user_id)  # one cache per database (tests open many)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit and now - hit[0] < ACCOUNT_CACHE_S:
        return hit[1]
    acc = by_id(user_id)
    if len(_cache) > 1000:
        _cache.clear()
    _cache[key] = (now, acc)
    return acc


def forget_cached() -> None:
    _cache.clear()


def remember(account: Account) -> None:
    """The account as just read from the database (a successful login): the cache holds it
    from now, so a session started with a password changed in another process (the CLI)
    is not taken for one of the old password for the rest of ACCOUNT_CACHE_S."""
    from connectors.db import database_proxy

    _cache[(id(database_proxy.obj), account.id)] = (time.monotonic(), account)


def all_accounts() -> list[Account]:
    return [_account(r) for r in _model().select().order_by(_model().username)]


def add(username: str, password: str, role: str) -> Account:
    username = username.strip()
    if not username or len(username) > 64 or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise UserError("username: 1-64 letters, digits, '.', '_' or '-'")
    check_role(role)
    check_password(password)
    if by_name(username):
        raise UserError(f"user {username!r} already exists")
    row = _model().create(username=username, password_hash=hash_password(password), role=role, active=True)
    return _account(row)


def set_password(username: str, password: str) -> None:
    """New password; every session of the user ends (a thief's cookie with them)."""
    check_password(password)
    n = _model().update(password_hash=hash_password(password)).where(_model().username == username).execute()
    forget_cached()
    if not n:
        raise UserError(f"no user {username!r}")
    end_sessions(username)


def set_role(username: str, role: str) -> None:
    """New role; every session of the user ends (they sign in again under the new role)."""
    check_role(role)
    n = _model().update(role=role).where(_model().username == username).execute()
    forget_cached()
    if not n:
        raise UserError(f"no user {username!r}")
    end_sessions(username)


def end_sessions(username: str) -> int:
    """Sign the user out everywhere; returns how many sessions ended."""
    from web import sessions

    acc = by_name(username)
    if acc is None:
        raise UserError(f"no user {username!r}")
    try:
        return sessions.end_all(acc.id)
    except (peewee.OperationalError, peewee.ProgrammingError):  # schema before web_sessions: none to end
        return 0


def verify(username: str, password: str) -> Account | None:
    """The account when the password matches and the account is active, else None."""
    acc = by_name(username)
    if acc is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(acc.password_hash, password) or not acc.active:
        return None
    _model().update(last_login_ms=int(time.time() * 1000)).where(_model().id == acc.id).execute()
    return acc


def create_first_admin() -> str | None:
    """When no user exists, create `admin` with a random password and return that password
    (the caller prints it once to the console). None when users already exist or another
    process won the race."""
    if count():
        return None
    password = secrets.token_urlsafe(15)
    try:
        _model().create(username="admin", password_hash=hash_password(password), role="admin", active=True)
    except peewee.IntegrityError:  # unique username: another worker created it first
        return None
    return password
