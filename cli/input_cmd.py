"""`showdown input etf|liquidations|sentiment FILE|-`: accept or refuse a human input.

Accepted: the canonical document is appended to its history table (the analytics cycle
reads the version in force from there), then written atomically to <home>/data.
Refused: every problem is listed with its JSON path, exit code 1, nothing is written,
the last valid version stays in force. The database unreachable or not upgraded: exit
code 1, nothing written (the file alone would not be in force for the cycle).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
import peewee

from cli.common import open_db_or_exit
from cli.config_cmd import load_or_exit
from connectors.stores.input_history import accept
from engine.inputs import VALIDATORS, validate_payload, zone_notes
from engine.inputs.common import iso_time
from engine.paths import home


def accept_or_exit(kind: str, doc: dict[str, Any]) -> Path:
    """Record an accepted version in its history table and write its file, or exit saying why."""
    config, db = open_db_or_exit(consequence="; nothing written")
    try:
        return accept(kind, doc, home().ensure().data, symbol=str(config.get("symbol") or "BTCUSDT"))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()


def market_now_or_none() -> int | None:
    """The market clock of the database in force (the replayed "now" in a replay), so an
    input is judged and dated as the running bot will read it; None (the wall clock) when
    the database cannot say."""
    from connectors.db import DatabaseUnavailable, open_database, sqlite_path
    from connectors.stores.market_state import market_now_ms

    config = load_or_exit()
    if not config.uses_mariadb() and not sqlite_path(config, home()).exists():
        return None  # looking must not create the file
    try:
        db = open_database(config, home())
    except DatabaseUnavailable:
        return None
    try:
        return market_now_ms(str(config.get("symbol") or "BTCUSDT"), int(time.time() * 1000))
    except peewee.DatabaseError:
        return None  # not upgraded yet: accepting will say so
    finally:
        db.close()


def register(group: click.Group) -> None:
    @group.command("input")
    @click.argument("kind", type=click.Choice(sorted(VALIDATORS)))
    @click.argument("source", type=str)
    @click.option("--at", "at", default=None, help="liquidations: use the latest recorded snapshot at or before this ISO time")
    def input_(kind: str, source: str, at: str | None) -> None:
        """Validate a human input from FILE (or - for stdin); write it when valid."""
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        at_ms = None
        if at is not None:
            bad: list[Any] = []
            at_ms = iso_time(at, "--at", bad)
            if bad:
                raise click.UsageError(str(bad[0]))
        else:
            at_ms = market_now_or_none()
        doc, problems = validate_payload(kind, raw, at_ms)
        if doc is None:
            click.echo(f"refused: {kind} input has {len(problems)} problem(s); nothing written, "
                       "the last valid version stays in force", err=True)
            for p in problems:
                click.echo(f"  {p}", err=True)
            sys.exit(1)
        path = accept_or_exit(kind, doc)
        click.echo(f"accepted: {kind} input recorded in its history table and written to {path}")
        if kind == "liquidations":
            for note in zone_notes(doc):
                click.echo(f"  warning: {note}")
