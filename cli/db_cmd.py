"""`showdown db upgrade`: bring the schema to the latest version (idempotent)."""

from __future__ import annotations

import click

from cli.config_cmd import load_or_exit
from connectors.db import DatabaseUnavailable, describe, open_database
from connectors.db.migrations import upgrade as run_upgrade
from engine.paths import home


def register(group: click.Group) -> None:
    @group.group("db")
    def db() -> None:
        """Database schema."""

    @db.command("upgrade")
    def upgrade() -> None:
        """Apply the schema migrations that are missing (safe to run again)."""
        config = load_or_exit()
        where = home().ensure()
        try:
            database = open_database(config, where, create_missing=True)
        except DatabaseUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            result = run_upgrade(database)
        finally:
            database.close()
        target = describe(config, where)
        if not result.applied:
            click.echo(f"{target}: already at version {result.after}")
            return
        for version, description in result.applied:
            click.echo(f"applied migration {version}: {description}")
        click.echo(f"{target}: upgraded from version {result.before} to {result.after}")
