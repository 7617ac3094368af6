"""The database: SQLite (embedded default) or MariaDB, one schema through peewee.

Models bind to `database_proxy`; `open_database` picks the backend from the config and
initialises the proxy. Code that needs a second, independent connection (the log writer
thread) calls `make_database` and passes the result to `query.execute(db)`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import peewee
from playhouse.shortcuts import ReconnectMixin

from engine.config import Config
from engine.paths import Home

database_proxy = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    # A writer (importer, log thread) and readers share the file: wait instead of failing.
    "busy_timeout": 10000,
    "cache_size": -32000,
}


class ReconnectingMariaDB(ReconnectMixin, peewee.MySQLDatabase):
    """MariaDB that reconnects once when the server dropped the connection (idle timeout,
    restart, KILL) — only outside a transaction, where nothing can be half-lost."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; the message says which and why."""


def sqlite_path(config: Config, home: Home) -> Path:
    return home.var / str(config.get("database.sqlite_file"))


def database_key(config: Config) -> str:
    """A short name of the configured database (backend and SQLite file stem or MariaDB
    database name), for files that belong to one database, e.g. the execution state."""
    if config.uses_mariadb():
        return f"mariadb-{config.get('database.name')}"
    return f"sqlite-{Path(str(config.get('database.sqlite_file'))).stem}"


def describe(config: Config, home: Home) -> str:
    """Backend and URL with the password replaced, safe to print and log."""
    if not config.uses_mariadb():
        return f"sqlite:///{sqlite_path(config, home)}"
    user = config.get("database.user") or ""
    pw = ":***" if config.get("database.password") else ""
    return (f"mariadb://{user}{pw}@{config.get('database.host')}:{config.get('database.port')}"
            f"/{config.get('database.name')}")


def _mariadb_params(config: Config, connect_timeout: int) -> dict[str, Any]:
    return {
        "host": config.get("database.host"),
        "port": int(config.get("database.port") or 3306),
        "user": config.get("database.user") or "root",
        "password": config.get("database.password") or "",
        "charset": "utf8mb4",
        "connect_timeout": connect_timeout,
        # the analytics cycle reads each candle window as one GROUP_CONCAT (analytics_io)
        "init_command": "SET SESSION group_concat_max_len = 67108864",
    }


def private_file(path: Path) -> None:
    """Create `path` readable by its owner only (0600) — the SQLite file holds password
    hashes — and tighten one made before (0644). SQLite gives its -wal and -shm files the
    database file's mode; those already there are tightened too."""
    # Never open (and close) a database file that exists: closing any descriptor of a file
    # drops every POSIX lock this process holds on it, so a connection already open here
    # (another thread, the log writer) would lose SQLite's locks and read stale snapshots.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)


def make_database(config: Config, home: Home, connect_timeout: int = 10) -> peewee.Database:
    """A new, unconnected Database for the configured backend (does not touch the proxy)."""
    if not config.uses_mariadb():
        path = sqlite_path(config, home)
        path.parent.mkdir(parents=True, exist_ok=True)
        private_file(path)
        # BEGIN IMMEDIATE: a transaction that reads then writes (a heartbeat upsert) must not
        # upgrade its read snapshot to a write lock after another connection (the log writer
        # thread) committed — SQLite answers that with an instant "database is locked" that
        # busy_timeout does not wait out. Taking the write lock up front makes it wait instead.
        return peewee.SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    return ReconnectingMariaDB(str(config.get("database.name")), **_mariadb_params(config, connect_timeout))


def create_mariadb_database(config: Config, name: str | None = None) -> None:
    """CREATE DATABASE IF NOT EXISTS, utf8mb4 (what `db upgrade` does on a fresh server)."""
    import pymysql

    name = name or str(config.get("database.name"))
    if not name.replace("_", "").isalnum():
        raise DatabaseUnavailable(f"database.name {name!r}: only letters, digits and _ allowed")
    try:
        conn = pymysql.connect(**_mariadb_params(config, 10))
    except pymysql.MySQLError as exc:
        raise DatabaseUnavailable(f"MariaDB at {config.get('database.host')}:{config.get('database.port')} "
                                  f"not reachable: {exc.args[-1] if exc.args else exc}") from exc
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        conn.close()


def open_database(config: Config, home: Home, create_missing: bool = False) -> peewee.Database:
    """Connect to the configured database and bind every model to it.

    create_missing: on MariaDB, create the database itself when absent (SQLite always
    creates its file).
    """
    if config.uses_mariadb() and create_missing:
        create_mariadb_database(config)
    db = make_database(config, home)
    try:
        db.connect(reuse_if_open=True)
    except peewee.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot open {describe(config, home)}: {exc}") from exc
    database_proxy.initialize(db)
    return db


def is_sqlite(db: peewee.Database | peewee.DatabaseProxy) -> bool:
    db = getattr(db, "obj", None) or db  # unwrap a DatabaseProxy
    return isinstance(db, peewee.SqliteDatabase)
