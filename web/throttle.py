"""Login throttling per user name + client address.

After `max_failures` failed logins within `lockout` seconds, that user+address pair is
locked out until `lockout` seconds after its last failure. A success clears the pair.
State lives in a small SQLite file under <home>/var so every gunicorn worker sees the
same counts (per-process memory would multiply the allowance by the worker count).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

_SCHEMA = """CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_ms INTEGER NOT NULL)"""


class LoginThrottle:
    def __init__(self, path: Path, max_failures: int = 5, lockout_s: float = 900.0):
        self.path = path
        self.max_failures = max_failures
        self.lockout_ms = int(lockout_s * 1000)
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        from connectors.db import private_file

        private_file(path)   # user names and client addresses: the owner's only
        with self._conn() as conn:
            conn.execute(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    @staticmethod
    def key(username: str, address: str) -> str:
        return f"{username.strip().lower()}|{address}"

    def locked_for(self, username: str, address: str, now_ms: int | None = None) -> float:
        """Seconds left in the lockout of this pair (0 when it may try)."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        row = self._conn().execute("SELECT failures, last_ms FROM login_failures WHERE key=?",
                                   (self.key(username, address),)).fetchone()
        if not row:
            return 0.0
        failures, last_ms = row
        left = last_ms + self.lockout_ms - now_ms
        if failures >= self.max_failures and left > 0:
            return left / 1000
        return 0.0

    def failed(self, username: str, address: str, now_ms: int | None = None) -> int:
        """Record a failure; return the failure count in the current window."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        k = self.key(username, address)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT failures, last_ms FROM login_failures WHERE key=?", (k,)).fetchone()
            failures = 1 if not row or now_ms - row[1] > self.lockout_ms else row[0] + 1
            conn.execute("INSERT OR REPLACE INTO login_failures(key, failures, last_ms) VALUES (?,?,?)",
                         (k, failures, now_ms))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return failures

    def succeeded(self, username: str, address: str) -> None:
        self._conn().execute("DELETE FROM login_failures WHERE key=?", (self.key(username, address),))
