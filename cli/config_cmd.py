"""`showdown config show`: the effective config, secrets redacted, each value's source."""

from __future__ import annotations

import json
import os

import click

from connectors.files import database_choice
from engine.config import REDACTED, Config, ConfigError, _leaves, load_config
from engine.paths import home

# Set by `showdown run` for its children: the console already says which database once.
ENV_QUIET = "SHOWDOWN_DB_QUIET"
_announced = False


def load_or_exit(announce: bool = True) -> Config:
    """The configuration with the database in force applied (the one `showdown run` records,
    or --db). Says which on the first line (stderr, so the output stays parseable)."""
    global _announced
    try:
        config, choice = database_choice.chosen_config(home())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if announce and not _announced and not os.environ.get(ENV_QUIET):
        from connectors.db import describe

        click.echo(database_choice.first_line(config, choice, describe(config, home())), err=True)
        _announced = True
    return config


def reload_config() -> Config:
    """The configuration as it is now on disk, with the same database choice (for loops that
    re-read it while they run); raises ConfigError."""
    return database_choice.chosen_config(home())[0]


def load_raw_or_exit() -> Config:
    """The configuration as the files and the environment give it, no database choice
    applied (`showdown run` makes that choice itself)."""
    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def render(config: Config) -> list[str]:
    red = config.redacted()
    lines = []
    for path, value in _leaves(red):
        src = config.sources.get(path, "default")
        shown = value if value == REDACTED else json.dumps(value)
        lines.append(f"{path} = {shown}    # {src}")
    return lines


def register(group: click.Group) -> None:
    @group.group("config")
    def config() -> None:
        """Inspect the configuration."""

    @config.command("show")
    def show() -> None:
        """Print the effective config (secrets redacted) and where each value came from."""
        for line in render(load_or_exit()):
            click.echo(line)
