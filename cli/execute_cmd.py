"""`showdown execute` (the execution worker loop), `showdown emergency-stop` and
`showdown acknowledge` (end SAFE MODE in the running worker)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

import click

from cli.config_cmd import load_or_exit
from cli.notify_cmd import notifier_installed
from connectors.db import DatabaseUnavailable, database_key, database_proxy, make_database, open_database
from connectors.db.migrations import upgrade
from connectors.loops.execution_worker import DecisionSource, ExecutionWorker
from connectors.market.market_clock import market_clock_for
from connectors.stores.execution_store import ExecutionStore, request_safe_mode_ack
from connectors.stores.journal import Journal
from engine.clock import Clock, WallClock
from engine.config import Config
from engine.exchange.errors import AccountModeRefused
from engine.paths import home


def build_exchange(cfg: Config) -> tuple[Any, Clock]:
    """Binance (or exchange-sim / testnet via binance.base_url) unless mode is paper
    without a base URL: then the in-process simulated exchange on live candles."""
    if cfg.get("mode") != "paper" or cfg.get("binance.base_url"):
        from connectors.binance import BinanceExchange

        ex = cfg.get("execution") or {}
        exchange = BinanceExchange(cfg["binance"], default_leverage=int(ex.get("leverage", 3)),
                                   default_margin_type=ex.get("margin_type", "ISOLATED"))
        # Decision and order ages on the exchange's clock (a replay runs on exchange-sim's).
        return exchange, market_clock_for(cfg)
    # Paper on live prices: the in-process simulated exchange, fed the 1m candles the
    # collector stores. (Offline, `showdown run` points binance.base_url at exchange-sim,
    # which replays the recorded data, so the branch above is taken.)
    from decimal import Decimal

    from connectors.exchange_sim.account_file import (
        AccountFileError,
        KeptSimExchange,
        paper_feed_start,
        read_account,
    )
    from connectors.market.paper_feed import DbCandleFeed
    from engine.exchange.sim import SimConfig

    clock = WallClock()
    # The paper account lives on disk, one per database, and resumes after a restart.
    path = home().ensure().data / f"paper_account-{database_key(cfg)}.json"
    try:
        saved = read_account(path)
    except AccountFileError as exc:
        raise click.ClickException(str(exc)) from exc
    feed = DbCandleFeed(str(cfg.get("symbol")), paper_feed_start(saved, clock.now_ms() - 60 * 60_000))
    sim = SimConfig(starting_balance=Decimal(str(cfg.get("paper.starting_equity_usdt") or 10000)))
    try:
        return KeptSimExchange(feed, clock, sim, path, saved), clock
    except AccountFileError as exc:
        raise click.ClickException(str(exc)) from exc


def state_file_name(cfg: Config) -> str:
    """execution.state_file, or one per database (a replay's never reaches the live worker)."""
    return str(cfg.get("execution.state_file") or f"execution_state-{database_key(cfg)}.json")


def make_worker(cfg: Config, without_database: bool = False, journal: str | None = None) -> ExecutionWorker:
    """without_database: when the database does not answer, start anyway — the worker
    trades from its state file and journal and writes the books once it answers.
    journal: a journal file of its own (a one-off command next to a running worker must
    never rewrite that worker's journal)."""
    where = home().ensure()
    try:
        db = open_database(cfg, where, create_missing=True)
        upgrade(db)
    except DatabaseUnavailable as exc:
        if not without_database:
            raise click.ClickException(str(exc)) from exc
        logging.getLogger("showdown.execution").error("%s: starting from the state file and journal; the books "
                                                      "are written once the database answers", exc)
        database_proxy.initialize(make_database(cfg, where))  # connected on first use
    exchange, clock = build_exchange(cfg)
    state_file = where.data / state_file_name(cfg)
    store = ExecutionStore(str(cfg.get("symbol")), journal=Journal(where.data / journal) if journal else None)
    worker = ExecutionWorker(exchange, cfg, store,
                             DecisionSource(where.data / "decision.json", str(cfg.get("symbol"))), state_file, clock,
                             str(cfg.get("symbol")))
    if cfg.get("mode") != "paper" or cfg.get("binance.base_url"):
        from connectors.binance.user_stream import UserStream

        worker.stream = UserStream(cfg["binance"], on_event=lambda _event: worker.wake.set())
    return worker


def cli_user() -> str:
    return f"cli:{os.environ.get('USER') or 'unknown'}"


def wait_done(symbol: str, what: str, wait_s: float) -> dict[str, Any] | None:
    """The control row's request `what` once the worker marked it done, else None."""
    from connectors.stores import operator_control

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        done = operator_control.control(symbol).get(what) or {}
        if done.get("status") == "done":
            return done
        time.sleep(0.3)
    return None


def request_clear(config: Config, wait_s: float | None) -> bool:
    """Put the clear-SAFE-MODE request in the control row. True when a running worker (fresh
    heartbeat) obeyed it; False when none runs (the caller starts one, which obeys it)."""
    from cli.common import open_db_or_exit
    from connectors.stores import operator_control

    open_db_or_exit(consequence="; SAFE MODE not cleared")
    symbol = str(config.get("symbol"))
    reason, _ = operator_control.safe_mode(symbol)
    loop_s = float(config.get("execution.loop_seconds", 2))
    operator_control.request_clear_safe_mode(symbol, cli_user(), reason)
    if not operator_control.worker_running(symbol, loop_s):
        click.echo(f"SAFE MODE {'(' + reason + ') ' if reason else ''}clear requested; no worker is running: "
                   "the worker started now clears it on its first loop")
        return False
    done = wait_done(symbol, "clear_safe_mode", wait_s if wait_s is not None else max(5 * loop_s, 10))
    if done is not None:
        click.echo(f"SAFE MODE cleared by the running worker (was: {done.get('cleared')})")
        return True
    raise click.ClickException("SAFE MODE clear requested, but the running worker has not taken it yet "
                               "(is it stuck? see `showdown status`); the request stays and it will")


def register(group: click.Group) -> None:
    @group.command("execute")
    @click.option("--loops", type=int, default=None, help="Stop after this many loops (default: run until killed).")
    @click.option("--clear-safe-mode", is_flag=True,
                  help="Operator: leave SAFE MODE. A running worker obeys within one loop and this command "
                       "returns; with none running, the worker started here clears it on its first loop.")
    @click.option("--wait", "wait_s", type=float, default=None,
                  help="With --clear-safe-mode and a worker running: seconds to wait for it (default 5 loops).")
    def execute(loops: int | None, clear_safe_mode: bool, wait_s: float | None) -> None:
        """Run the execution worker: decisions → orders, every execution.loop_seconds."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        config = load_or_exit()
        if clear_safe_mode and request_clear(config, wait_s):
            return  # the running worker took it: no second worker
        worker = make_worker(config, without_database=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        with notifier_installed(config):
            try:
                worker.run(stop, loops)
            except AccountModeRefused as exc:  # named, alerted CRITICAL; nothing was traded
                raise click.ClickException(str(exc)) from exc

    @group.command("emergency-stop")
    @click.option("--yes", is_flag=True, help="Do it without asking.")
    def emergency_stop(yes: bool) -> None:
        """Cancel every order and close the position at market; SAFE MODE afterwards."""
        if not yes:
            click.confirm("Cancel all orders and close the position at market?", abort=True)
        config = load_or_exit()
        from cli.common import open_db_or_exit
        from connectors.stores import operator_control

        open_db_or_exit(consequence="; nothing sent")
        symbol, loop_s = str(config.get("symbol")), float(config.get("execution.loop_seconds", 2))
        if operator_control.worker_running(symbol, loop_s):
            # the running worker owns the orders and its state: it does it, within a loop
            operator_control.request_emergency_stop(symbol, cli_user(), "showdown emergency-stop")
            done = wait_done(symbol, "emergency_stop", max(10 * loop_s, 20))
            if done is None:
                raise click.ClickException("emergency stop requested, but the running worker has not done it "
                                           "yet (see `showdown status`); the request stays")
            click.echo(f"emergency stop done by the running worker: {done.get('result')}; entries paused; "
                       "SAFE MODE until cleared (`showdown execute --clear-safe-mode`, or Control in the site)")
            return
        worker = make_worker(config, journal="emergency-stop.journal.jsonl")  # never the running worker's
        closed = worker.emergency_stop()
        click.echo(f"orders cancelled; position closed: {closed.client_order_id if closed else 'none open'}; "
                   "SAFE MODE until cleared (`showdown execute --clear-safe-mode`, or Control in the site)")

    @group.command("acknowledge")
    @click.option("--by", default="cli", show_default=True, help="Who acknowledges (kept with the request).")
    def acknowledge(by: str) -> None:
        """Operator: acknowledge what put the worker in SAFE MODE (an unexplained position
        change, a rejected stop …). The running worker clears SAFE MODE on its next loop and
        says so in an alert; new entries are allowed again."""
        cfg = load_or_exit()
        try:
            db = open_database(cfg, home().ensure(), create_missing=False)
            upgrade(db)
        except DatabaseUnavailable as exc:
            raise click.ClickException(f"acknowledge: {exc}") from exc
        from connectors.db.models import now_ms

        request_safe_mode_ack(str(cfg.get("symbol")), by, now_ms())
        click.echo("acknowledgement recorded: the execution worker clears SAFE MODE on its next loop "
                   "(or run `showdown execute --clear-safe-mode` when it is stopped)")
