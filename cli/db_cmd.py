"""`showdown db upgrade`: bring the schema to the latest version (idempotent);
`showdown db prune`: remove what the retention settings let go."""

from __future__ import annotations

import click

from cli.config_cmd import load_or_exit
from connectors.db import DatabaseUnavailable, describe, open_database
from connectors.db.migrations import upgrade as run_upgrade
from connectors.db.models import now_ms
from connectors.db.retention import prune as run_prune
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

    @db.command("prune")
    @click.option("--dry-run", is_flag=True, help="Count what would go, delete nothing.")
    def prune(dry_run: bool) -> None:
        """Delete candles, derivatives, log rows and notifications older than `retention.*`
        (decisions, trades, equity and inputs are kept for good)."""
        config = load_or_exit()
        where = home().ensure()
        try:
            database = open_database(config, where)
        except DatabaseUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            removed = run_prune(now_ms(), config["retention"], str(config.get("symbol")), dry_run=dry_run)
        finally:
            database.close()
        verb = "would remove" if dry_run else "removed"
        click.echo(f"{describe(config, where)}: {verb} " + ", ".join(f"{n} {what}" for what, n in removed.items()))
