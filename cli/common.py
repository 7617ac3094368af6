"""What several commands share: the config and the database, or a clear exit."""

from __future__ import annotations

import signal

import click
import peewee

from cli.config_cmd import load_or_exit
from connectors.db import DatabaseUnavailable, open_database
from connectors.db.migrations import LATEST, current_version
from engine.config import Config
from engine.paths import home


def open_db_or_exit(require_schema: bool = True, create_missing: bool = False,
                    consequence: str = "") -> tuple[Config, peewee.Database]:
    """Config and an open database bound to the models; exits naming the problem when the
    database is unreachable or (require_schema) not upgraded. `consequence` is appended to
    the message, e.g. "; nothing written"."""
    config = load_or_exit()
    try:
        db = open_database(config, home().ensure(), create_missing=create_missing)
    except DatabaseUnavailable as exc:
        raise click.ClickException(f"{exc}{consequence}") from exc
    if require_schema:
        version = current_version(db)
        if version < LATEST:
            db.close()
            raise click.ClickException(f"database schema at version {version}, need {LATEST}: "
                                       f"run `showdown db upgrade`{consequence}")
    return config, db


def sigterm_as_ctrl_c() -> None:
    """SIGTERM (what `showdown run` and systemd stop a loop with) ends the command the way
    Ctrl-C does: KeyboardInterrupt, so its `finally` blocks run — the analytics loop leaves
    its heartbeat IDLE (else a rollback would wait 90 s for a loop that is gone) and the
    database is closed, instead of the process dying where it stands."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
