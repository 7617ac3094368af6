"""Versioned schema migrations.

`schema_version` holds one row per applied migration. `upgrade` applies, in order, every
migration above the current version, each inside a transaction where the backend allows
(MariaDB commits DDL implicitly, so a migration must be safe to re-run after a crash:
migration 1 only creates what is missing).

Adding a migration: append `(N, "what it does", function)` to MIGRATIONS. Migration 1
creates tables from the models as they are, so a fresh database already has a column a
later migration adds: use `add_column_if_missing` (and friends) there, never plain DDL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import peewee as pw
from playhouse.migrate import SchemaMigrator

from connectors.db import database_proxy
from connectors.db.models import ALL_MODELS, INTERNAL_MODELS, JournalApplied, now_ms


class SchemaVersion(pw.Model):
    version = pw.IntegerField(primary_key=True)
    description = pw.CharField(max_length=255)
    applied_ms = pw.BigIntegerField()

    class Meta:
        database = database_proxy
        table_name = "schema_version"


def _m001_create_everything(db: pw.Database) -> None:
    db.create_tables(ALL_MODELS, safe=True)


def add_column_if_missing(db: pw.Database, table: str, name: str, field: pw.Field) -> None:
    if name not in {c.name for c in db.get_columns(table)}:
        SchemaMigrator.from_database(db).add_column(table, name, field).run()


def _m002_notification_delivery(db: pw.Database) -> None:
    add_column_if_missing(db, "notifications", "carried_by", pw.BigIntegerField(null=True))
    add_column_if_missing(db, "notifications", "last_error", pw.TextField(null=True))


# -- issue 12: server-side admin-site sessions (kept in one step: renumber freely on merge)
def _m003_web_sessions(db: pw.Database) -> None:
    from connectors.db.models import WebSession

    db.create_tables([WebSession], safe=True)


# --- issue 15 (durable write-ahead): one step, renumber on merge if needed ---------------
def _m004_journal_applied(db: pw.Database) -> None:
    db.create_tables([JournalApplied], safe=True)


# --- issue 15 (durable books): one step, renumber on merge if needed ---------------------
def _m005_notification_sender(db: pw.Database) -> None:
    add_column_if_missing(db, "notifications", "sender", pw.CharField(max_length=64, null=True))


MIGRATIONS: list[tuple[int, str, Callable[[pw.Database], None]]] = [
    (1, "create every table of PRODUCT.md §13", _m001_create_everything),
    (2, "notifications: carried_by, last_error (aggregation and delivery failures)", _m002_notification_delivery),
    (3, "web_sessions: server-side admin-site sessions (logout ends them everywhere)", _m003_web_sessions),
    (4, "journal_applied: execution journal records already written (exactly once)", _m004_journal_applied),
    (5, "notifications: sender (a process's pending rows are taken over once it has ended)",
     _m005_notification_sender),
]
LATEST = MIGRATIONS[-1][0]


@dataclass(frozen=True)
class UpgradeResult:
    before: int
    after: int
    applied: list[tuple[int, str]]


def drop_everything(db: pw.Database) -> None:
    """Every table, the schema version included, so that `upgrade` builds a fresh schema
    (a replay starting over). Dropping only the models would leave schema_version saying
    the tables exist: `upgrade` would then create nothing."""
    with _bound(db):
        db.drop_tables([*ALL_MODELS, *INTERNAL_MODELS, SchemaVersion], safe=True)


def current_version(db: pw.Database) -> int:
    """0 for an empty database (no schema_version table yet)."""
    if not db.table_exists("schema_version"):
        return 0
    row = SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar(database=db)
    return int(row or 0)


@contextmanager
def _bound(db: pw.Database) -> Iterator[None]:
    """Models talk to `db` for the duration (they already do when the proxy points at it)."""
    if database_proxy.obj is db:
        yield
    else:
        with db.bind_ctx([*ALL_MODELS, *INTERNAL_MODELS, SchemaVersion]):
            yield


def upgrade(db: pw.Database) -> UpgradeResult:
    versions = [v for v, _, _ in MIGRATIONS]
    if versions != sorted(set(versions)):
        raise RuntimeError(f"MIGRATIONS must be strictly increasing, got {versions}")
    with _bound(db):
        db.create_tables([SchemaVersion], safe=True)
        before = current_version(db)
        if before > LATEST:
            raise RuntimeError(f"database schema is at version {before}, newer than this code "
                               f"knows ({LATEST}): upgrade the code, not the database")
        applied: list[tuple[int, str]] = []
        for version, description, migrate in MIGRATIONS:
            if version <= before:
                continue
            with db.atomic():
                migrate(db)
                SchemaVersion.insert(version=version, description=description,
                                     applied_ms=now_ms()).execute(database=db)
            applied.append((version, description))
        return UpgradeResult(before=before, after=current_version(db), applied=applied)
