"""`showdown config show`: the effective config, secrets redacted, each value's source."""

from __future__ import annotations

import json

import click

from engine.config import REDACTED, Config, ConfigError, _leaves, load_config


def load_or_exit() -> Config:
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
