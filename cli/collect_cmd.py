"""`showdown collect`: the live market-data collector (every minute, see connectors/loops/collector.py)."""

from __future__ import annotations

import logging
import time

import click

from cli.common import sigterm_as_ctrl_c
from cli.config_cmd import load_or_exit
from connectors.binance import BinanceExchange
from connectors.db import DatabaseUnavailable, describe, open_database
from connectors.db.migrations import upgrade
from connectors.db.models import now_ms
from connectors.db.retention import prune
from connectors.loops.collector import Collector
from connectors.stores.collector_db import DbStore
from engine.paths import home

PRUNE_EVERY_S = 86_400
log = logging.getLogger("showdown.collector")


def register(group: click.Group) -> None:
    @group.command("collect")
    @click.option("--once", is_flag=True, help="One collection pass, then exit.")
    @click.option("--every", type=float, default=60.0, show_default=True, help="Seconds between passes.")
    @click.option("--settle", type=float, default=2.0, show_default=True,
                  help="Seconds after the minute turns before a pass (lets the exchange close the candle).")
    @click.option("--lookback-hours", type=float, default=24.0, show_default=True,
                  help="History fetched on the first run into an empty database.")
    @click.option("--no-book", is_flag=True,
                  help="Do not store the order book (showdown run's replay: exchange-sim's book is synthetic).")
    @click.option("--no-prune", is_flag=True,
                  help="Never apply retention (showdown run's replay: recorded data is old by the wall clock).")
    def collect(once: bool, every: float, settle: float, lookback_hours: float, no_book: bool,
                no_prune: bool) -> None:
        """Fetch new klines (1m/5m/15m/1h), funding, premium index and open interest into the
        database; backfill gaps; resume where the database stops."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        config = load_or_exit()
        where = home().ensure()
        try:
            database = open_database(config, where, create_missing=True)
        except DatabaseUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
        upgrade(database)
        exchange = BinanceExchange(dict(config["binance"]))
        collector = Collector(exchange, DbStore(), symbol=str(config.get("symbol")),
                              initial_lookback_ms=int(lookback_hours * 3_600_000),
                              depth_levels=0 if no_book else int(config.get("analytics.orderbook.top_n") or 20))
        base = config.get("binance.base_url") or ("testnet" if config.get("binance.testnet") else "binance")
        click.echo(f"collecting {collector.symbol} from {base} into {describe(config, where)}")
        sigterm_as_ctrl_c()
        pruned_at = 0.0
        try:
            while True:
                if not no_prune and time.time() - pruned_at >= PRUNE_EVERY_S:  # retention, once a day
                    pruned_at = time.time()
                    try:
                        removed = prune(now_ms(), config["retention"], collector.symbol)
                    except Exception as exc:  # noqa: BLE001 - collecting matters more than pruning
                        log.warning("retention prune failed (next try in a day): %s", exc)
                    else:
                        if any(removed.values()):
                            click.echo(f"retention: removed {removed}")
                report = collector.cycle()
                click.echo(f"new candles {report.candles}, backfilled {report.backfilled}, "
                           f"derivative rows {report.derivatives}"
                           + (f", errors: {report.errors}" if report.errors else ""))
                if once:
                    return
                now = time.time()
                time.sleep(max(every - now % every + settle, 1.0))
        except KeyboardInterrupt:
            pass
        finally:
            database.close()
