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
# touches this file. They are imported when asked for (the one a command line names,
# all of them for --help): importing all of them costs over a second of CPU (the Binance
# client, the web app, plotting), which `showdown backtest` does not need (issue 16).
COMMAND_MODULES = sorted(m.name for m in pkgutil.iter_modules(cli.__path__) if m.name.endswith("_cmd"))


def _choose_db(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        os.environ[ENV_CHOICE] = value  # read by cli.config_cmd.load_or_exit


DB_HELP = ("Database: live or replay (default: the one `showdown run` runs on, else live).")


def db_option() -> Any:
    return click.Option(["--db"], type=click.Choice(CHOICES), default=None, expose_value=False,
                        is_eager=True, callback=_choose_db, help=DB_HELP)


class _Commands(click.Group):
    """The `showdown` group: command modules loaded on demand (the module named after the
    command first, cli/<name>_cmd.py; all of them when that does not define it)."""

    loaded: set[str] = set()

    def load(self, module: str) -> None:
        if module in self.loaded:
            return
        self.loaded.add(module)
        before = set(self.commands)
        importlib.import_module(f"cli.{module}").register(self)
        for name in set(self.commands) - before:
            _add_db_option(self.commands[name])

    def load_all(self) -> None:
        for module in COMMAND_MODULES:
            self.load(module)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            guess = f"{cmd_name.replace('-', '_')}_cmd"
            if guess in COMMAND_MODULES:
                self.load(guess)
            if cmd_name not in self.commands:
                self.load_all()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load_all()
        return super().list_commands(ctx)


def command_names() -> set[str]:
    showdown.load_all()
    return set(showdown.commands)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", type=click.Choice(CHOICES), default=None, expose_value=False, is_eager=True,
              callback=_choose_db, help=DB_HELP)
def showdown() -> None:
    """Showdown: autonomous BTCUSDT perpetual-futures trading on YAML rules."""
    import cli.config_cmd

    cli.config_cmd._announced = False  # each command says which database it uses, once


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


def main() -> None:
    try:
        showdown(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
