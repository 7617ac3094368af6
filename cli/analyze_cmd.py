"""`showdown analyze`: the analytics loop (snapshot, flow, decision each cycle)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from cli.common import sigterm_as_ctrl_c
from cli.config_cmd import load_or_exit, reload_config
from cli.notify_cmd import notifier_installed
from connectors.db import DatabaseUnavailable, open_database
from connectors.db.migrations import upgrade
from connectors.loops.analysis_loop import AnalysisLoop
from connectors.notify.logs import setup_logging
from engine.candles import ms_to_iso
from engine.cycle import floor_cycle, iso_to_ms
from engine.paths import Home, home


def market_seconds(config: Any) -> Callable[[], float]:
    """Cycles run on the market's clock (Binance's server time live, the replayed time of
    exchange-sim offline); the wall clock when the exchange cannot be asked."""
    from connectors.market.market_clock import market_clock_for

    try:
        clock = market_clock_for(config)
        clock.now_ms()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the exchange
        click.echo(f"market clock unavailable ({type(exc).__name__}); cycles follow the wall clock", err=True)
        return time.time
    return lambda: clock.now_ms() / 1000


def run_loop(config: Any, where: Home, once: bool, at: str | None, stale: bool, no_watch: bool) -> None:
    loop = AnalysisLoop(reload_config, where.rules_dir, where.config_dir, where.data, var_dir=where.var,
                        clock=market_seconds(config) if not once else time.time)
    try:
        loop.start_rules(watch=not once and not no_watch)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    minutes = loop.cycle_minutes()      # the active ruleset's `cycle:`, else engine.cycle_minutes
    try:
        if once:
            if not at:
                raise click.UsageError("--once needs --at ISO (the cycle to run)")
            t = floor_cycle(iso_to_ms(at), minutes)
            out = loop.run_cycle(t, stale=stale)
            if not out.ok:
                raise click.ClickException(f"cycle {ms_to_iso(t)} failed: {out.error}")
            d = out.decision or {}
            click.echo(f"cycle {ms_to_iso(t)}: {d.get('action')} ({d.get('reason')}) confidence "
                       f"{d.get('confidence')} ruleset {d.get('ruleset_version')} decision {out.decision_id} "
                       f"(snapshot {out.snapshot_id}, flow {out.flow_id}, {out.seconds * 1000:.0f} ms)")
            if out.shadow:
                click.echo(f"shadow disagrees: {out.shadow['shadow_decision']}")
            return
        start = floor_cycle(iso_to_ms(at), minutes) if at else None
        click.echo(f"analytics loop on {loop.symbol}, every {minutes} min, ruleset "
                   f"{loop.registry.status()['active']}" + (f", from {ms_to_iso(start)}" if start else ""))
        loop.run(start_ms=start)
    finally:
        loop.close()


def register(group: click.Group) -> None:
    @group.command("analyze")
    @click.option("--once", is_flag=True, help="Run a single cycle (with --at) and exit.")
    @click.option("--at", "at", default=None, help="Cycle time (ISO, UTC), rounded down to the cycle: "
                                                    "with --once the cycle to run, else where the loop starts.")
    @click.option("--stale", is_flag=True, help="With --once: run as if the candle never came (max wait passed).")
    @click.option("--no-watch", is_flag=True, help="Do not hot-reload rules/ and config/.")
    def analyze(once: bool, at: str | None, stale: bool, no_watch: bool) -> None:
        """Run the analytics loop: one decision per cycle, driven by the stored candles."""
        config = load_or_exit()
        where = home().ensure()
        try:
            database = open_database(config, where, create_missing=True)
        except DatabaseUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
        upgrade(database)
        logs = setup_logging(config, where, "analytics")
        sigterm_as_ctrl_c()
        try:
            with notifier_installed(config):
                run_loop(config, where, once, at, stale, no_watch)
        except KeyboardInterrupt:
            pass
        finally:
            logs.close()
            database.close()
