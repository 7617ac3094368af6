"""`showdown import klines|funding FILE...`: bulk history from files into the database."""

from __future__ import annotations

import sys

import click

from cli.common import open_db_or_exit
from connectors.market.market_files import FileRefused
from connectors.market.market_import import ImportRefused, import_funding, import_klines
from engine.candles import TIMEFRAME_MS


def _open() -> None:
    open_db_or_exit()


def register(group: click.Group) -> None:
    @group.group("import")
    def import_() -> None:
        """Import market-data history from files."""

    @import_.command("klines")
    @click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
    @click.option("--symbol", default="BTCUSDT", show_default=True)
    @click.option("--timeframe", default="1m", show_default=True, type=click.Choice(list(TIMEFRAME_MS)))
    @click.option("--skip-bad", is_flag=True, help="Import the good rows of a file that has bad ones.")
    @click.option("--no-derive", is_flag=True, help="Do not build 5m/15m/1h/4h/1d from imported 1m.")
    def klines(files: tuple[str, ...], symbol: str, timeframe: str, skip_bad: bool, no_derive: bool) -> None:
        """Kline CSV/CSV.GZ/ZIP files: the short layout or a Binance dump (ms, µs or ISO times).

        Each file is imported whole or not at all; re-importing changes nothing. Gaps are
        reported, never filled.
        """
        _open()
        failed = 0
        for f in files:
            try:
                report = import_klines(f, symbol=symbol, timeframe=timeframe, skip_bad=skip_bad,
                                       derive=[] if no_derive else None, progress=True)
            except (ImportRefused, FileRefused) as exc:
                click.echo(f"refused: {exc}", err=True)
                failed += 1
                continue
            for line in report.lines():
                click.echo(line)
        if failed:
            click.echo(f"{failed} of {len(files)} file(s) refused", err=True)
            sys.exit(1)

    @import_.command("funding")
    @click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
    @click.option("--symbol", default="BTCUSDT", show_default=True)
    @click.option("--skip-bad", is_flag=True, help="Import the good rows of a file that has bad ones.")
    def funding(files: tuple[str, ...], symbol: str, skip_bad: bool) -> None:
        """Funding-rate history: `funding_time_ms,rate` (rate as a fraction per 8h)."""
        _open()
        failed = 0
        for f in files:
            try:
                report = import_funding(f, symbol=symbol, skip_bad=skip_bad)
            except (ImportRefused, FileRefused) as exc:
                click.echo(f"refused: {exc}", err=True)
                failed += 1
                continue
            for line in report.lines():
                click.echo(line)
        if failed:
            sys.exit(1)
