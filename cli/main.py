"""`showdown` — one click group; each command group lives in its own module."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from typing import Any

import click

import cli
from connectors.files.database_choice import CHOICES, ENV_CHOICE

# Every cli/*_cmd.py module registers its own commands: adding a command group never
# touches this file.
COMMAND_MODULES = [
    importlib.import_module(f"cli.{m.name}")
    for m in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name)
    if m.name.endswith("_cmd")
]


def _choose_db(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        os.environ[ENV_CHOICE] = value  # read by cli.config_cmd.load_or_exit


DB_HELP = ("Database: live or replay (default: the one `showdown run` runs on, else live).")


def db_option() -> Any:
    return click.Option(["--db"], type=click.Choice(CHOICES), default=None, expose_value=False,
                        is_eager=True, callback=_choose_db, help=DB_HELP)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", type=click.Choice(CHOICES), default=None, expose_value=False, is_eager=True,
              callback=_choose_db, help=DB_HELP)
def showdown() -> None:
    """Showdown: autonomous BTCUSDT perpetual-futures trading on YAML rules."""
    import cli.config_cmd

    cli.config_cmd._announced = False  # each command says which database it uses, once


for _module in COMMAND_MODULES:
    _module.register(showdown)


def _add_db_option(command: click.Command) -> None:
    """`--db live|replay` on every command (`showdown status --db replay`), except
    `showdown run`, which chooses its database by its market-data source."""
    if command.name == "run":
        return
    if not any(p.name == "db" for p in command.params):
        command.params.append(db_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_db_option(sub)


for _command in showdown.commands.values():
    _add_db_option(_command)


def main() -> None:
    try:
        showdown(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
