"""`showdown` — one click group; each command group lives in its own module."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

import cli

# Every cli/*_cmd.py module registers its own commands: adding a command group never
# touches this file.
COMMAND_MODULES = [
    importlib.import_module(f"cli.{m.name}")
    for m in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name)
    if m.name.endswith("_cmd")
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def showdown() -> None:
    """Showdown: autonomous BTCUSDT perpetual-futures trading on YAML rules."""


for _module in COMMAND_MODULES:
    _module.register(showdown)


def main() -> None:
    try:
        showdown(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
