"""`showdown run`: the main job. Starts and supervises the market-data source, the
analytics loop, the execution worker and the admin site.

Market data comes live from Binance's public endpoints. Where Binance cannot be reached
(or `paper.market_data: replay`), the real recorded data in ../shared/data is replayed
through our own Binance-compatible simulator (`showdown exchange-sim`) and the collector
reads it exactly as it would read Binance — everything downstream runs unchanged. A
replay says so loudly, on the console and on the dashboard, and keeps its own database
so replayed candles never mix with live ones.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import requests

from cli.config_cmd import ENV_QUIET, load_raw_or_exit
from cli.exchange_sim_cmd import account_file_path
from cli.execute_cmd import state_file_name
from connectors.db import database_proxy, describe, open_database
from connectors.db.migrations import drop_everything, upgrade
from connectors.files.database_choice import DEV_KEY, DEV_SECRET, ENV_CHOICE, record_in_force, replay_env
from connectors.loops.console import QuietConsole
from connectors.loops.supervisor import ChildSpec, Supervisor, python_cli
from connectors.stores.input_history import append
from connectors.stores.market_state import record_market_source
from engine.config import Config, ConfigError, load_config, require
from engine.inputs import validate_liquidations
from engine.inputs.common import iso_from_ms, iso_time
from engine.paths import home, shared_data_dir

BINANCE_PING = "https://fapi.binance.com/fapi/v1/ping"
REPLAY_KLINES = "btcusdt-perp-1m-2025-11-10_2025-12-10.csv.gz"
REPLAY_ETF = "btc-spot-etf-flows-per-fund-2025-11-17_2025-12-05.json"
REPLAY_LIQUIDATIONS = "btc-liquidation-map-snapshots-2025-12-06_2025-12-08.json"
# 26 days into the file: the analytics' longest anchored window (1h) has its history, and
# the replayed days are the ones where ETF flows and liquidation maps were also recorded.
REPLAY_START = "2025-12-06T00:00:00Z"
REPLAY_START_MS = int(iso_time(REPLAY_START, "REPLAY_START", []) or 0)
REPLAY_LOOKBACK_HOURS = 27 * 24
__all__ = ["DEV_KEY", "DEV_SECRET", "replay_env"]  # kept importable from here


@dataclass
class Plan:
    source: str                      # "live" | "replay" | "venue" (configured base_url)
    banner: list[str]
    children: list[ChildSpec]
    env: dict[str, str] = field(default_factory=dict)
    bootstrap: list[list[str]] = field(default_factory=list)


def binance_reachable(url: str = BINANCE_PING, timeout_s: float = 3.0) -> bool:
    try:
        return requests.get(url, timeout=timeout_s).status_code == 200
    except requests.RequestException:
        return False


def choose_source(config: Config, wanted: str | None = None) -> str:
    """live / replay / venue; `wanted` (the --source option) overrides paper.market_data."""
    wanted = wanted or str(config.get("paper.market_data", "auto"))
    if config.get("binance.base_url"):
        return "venue"
    if wanted != "auto":
        return wanted
    return "live" if binance_reachable() else "replay"


def _has_command(name: str) -> bool:
    from cli.main import command_names  # late: cli.main imports this module
    return name in command_names()


def build_plan(config: Config, source: str, data_dir: Path, speed: float, start_iso: str = REPLAY_START,
               web: bool = True) -> Plan:
    children: list[ChildSpec] = []
    env: dict[str, str] = {}
    bootstrap: list[list[str]] = []
    collect_args = ["collect"]
    if source == "replay":
        klines = data_dir / REPLAY_KLINES
        if not klines.exists():
            raise click.ClickException(
                f"Binance is unreachable and the recorded data {klines} is absent: no prices to trade on. "
                "Check the network, or put ../shared/data beside the repository.")
        port = int(config.get("exchange_sim.port", 8900))
        env = {**replay_env(config, port),
               # the collector polls once a wall second: at high speed a candle lands many
               # replayed seconds after it closes, which must not count as stale data
               "SHOWDOWN__ENGINE__MAX_WAIT_SECONDS": f"{max(90.0, 3 * speed):g}"}
        children.append(ChildSpec(
            "exchange-sim",
            python_cli("exchange-sim", "--klines", str(klines), "--start", start_iso,
                       "--speed", f"{speed:g}", "--port", str(port)),
            env=env, stop_rank=30, ready=lambda: _ping(f"http://127.0.0.1:{port}/fapi/v1/ping")))
        # One replayed minute passes every 60/speed wall seconds: collect at that pace.
        # exchange-sim's order book is a synthetic ladder around the replayed price: no
        # order-book facts from it (the snapshot says `available: false`, as in a backtest).
        # No retention either: recorded data is "old" by the wall clock.
        collect_args += ["--every", f"{max(1.0, 60.0 / speed):g}", "--settle", "0.3",
                         "--lookback-hours", str(REPLAY_LOOKBACK_HOURS), "--no-book", "--no-prune"]
        etf = data_dir / REPLAY_ETF
        if etf.exists():
            bootstrap.append(python_cli("input", "etf", str(etf)))
    children.append(ChildSpec("collector", python_cli(*collect_args), env=env, stop_rank=10))
    for name, rank in (("analyze", 10), ("execute", 20)):
        if _has_command(name):
            children.append(ChildSpec(name, python_cli(name), env=env, stop_rank=rank))
    if web and _has_command("web"):
        children.append(ChildSpec("web", python_cli("web"), stop_rank=0, stop_timeout_s=10,
                                  env={**env, "SHOWDOWN_WEB_ACCESS_LOG": str(home().logs / "access.log")}))
    return Plan(source, banner(source, config, speed, start_iso), children, env, bootstrap)


def _ping(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def banner(source: str, config: Config, speed: float, start_iso: str) -> list[str]:
    mode = str(config.get("mode")).upper()
    if source == "replay":
        lines = [
            "REPLAY: Binance is unreachable (or paper.market_data = replay).",
            "PRICES ARE RECORDED DATA, NOT LIVE: " + REPLAY_KLINES,
            f"replayed at {speed:g}x from {start_iso} through exchange-sim; {mode} trading only.",
            "Replayed data goes to its own database, never mixed with live candles.",
        ]
    elif source == "venue":
        lines = [f"{mode}: market data and orders from the configured venue {config.get('binance.base_url')}"]
    else:
        lines = [f"{mode}: live market data from Binance's public endpoints."]
    width = max(len(s) for s in lines) + 4
    return ["#" * width, *[f"# {s.ljust(width - 4)} #" for s in lines], "#" * width]


def effective_config(env: dict[str, str]) -> Config:
    """The config the children will see once `env` is applied (for the replay DB)."""
    try:
        return load_config(home(), {**os.environ, **env})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def prepare_database(config: Config, source: str, data_dir: Path) -> str:
    """Upgrade the schema of the database the children will use; for a replay, return where
    it resumes (start over once the recorded file is used up) and record the liquidation
    maps in its history so each cycle sees the map captured before it, never a later one."""
    where = home().ensure()
    db = open_database(config, where, create_missing=True)
    try:
        upgrade(db)
        if source != "replay":
            return REPLAY_START
        start_iso = replay_resume_point(config, data_dir)
        record_liquidation_maps(data_dir / REPLAY_LIQUIDATIONS, str(config.get("symbol")))
        return start_iso
    finally:
        db.close()


def replay_resume_point(config: Config, data_dir: Path) -> str:
    from connectors.db.candles import coverage
    symbol = str(config.get("symbol"))
    last = coverage(symbol).get("1m")
    file_end_ms = replay_file_end_ms(data_dir / REPLAY_KLINES)
    if last is None or not last.count or last.last_ms is None or last.last_ms < REPLAY_START_MS:
        return REPLAY_START
    if last.last_ms + 3_600_000 < file_end_ms:
        return iso_from_ms(last.last_ms + 60_000)
    click.echo("replay: the recorded file is used up: starting the replay over on an empty replay database",
               err=True)
    drop_everything(database_proxy.obj)
    upgrade(database_proxy.obj)
    # the worker's state of the old replay (entered decision ids, last exit) goes with it
    (home().data / state_file_name(config)).unlink(missing_ok=True)
    account_file_path(config).unlink(missing_ok=True)  # and exchange-sim's paper account of it
    return REPLAY_START


def replay_file_end_ms(path: Path) -> int:
    with gzip.open(path, "rt") as fh:
        *_, last_line = fh
    return int(last_line.split(",", 1)[0])


def record_liquidation_maps(path: Path, symbol: str, every_ms: int = 3 * 3_600_000) -> int:
    """One recorded map every few hours into the history (the validator converts each)."""
    if not path.exists():
        return 0
    snapshots = json.loads(path.read_text(encoding="utf-8"))
    times = sorted(s["captured_at_ms"] for s in snapshots if isinstance(s, dict) and "captured_at_ms" in s)
    kept, last = 0, None
    for t in times:
        if last is not None and t - last < every_ms:
            continue
        doc, problems = validate_liquidations(snapshots, at_ms=t)
        if doc is not None and not problems:
            append("liquidations", doc, symbol=symbol, source="replay")
            kept, last = kept + 1, t
    return kept


def _record_source(config: Config, plan: Plan) -> None:
    db = open_database(config, home())
    try:
        record_market_source(plan.source, plan.banner[1:-1], str(config.get("symbol")))
    finally:
        db.close()


def register(group: click.Group) -> None:
    @group.command("run")
    @click.option("--confirm-mainnet", is_flag=True, help="Required to trade real money (mode: mainnet).")
    @click.option("--speed", type=float, default=None, help="Replay speed (replayed minutes per minute).")
    @click.option("--no-web", is_flag=True, help="Do not start the admin site.")
    @click.option("--source", type=click.Choice(["auto", "live", "replay"]), default=None,
                  help="Market data: live Binance, recorded replay, or auto (live when reachable).")
    def run(confirm_mainnet: bool, speed: float | None, no_web: bool, source: str | None) -> None:
        """Run the bot: market data, analytics, execution and the admin site (paper by default)."""
        os.environ.pop(ENV_CHOICE, None)  # run chooses its database by its market-data source
        config = load_raw_or_exit()
        mode = config.get("mode")
        try:
            if mode == "mainnet" and not confirm_mainnet:
                raise ConfigError(["mode: mainnet trades real money: pass --confirm-mainnet to start"])
            if mode in ("testnet", "mainnet"):
                require(config, ["binance.api_key", "binance.api_secret"])
            if mode == "backtest":
                raise ConfigError(["mode: backtest is run with `showdown backtest`, not `showdown run`"])
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        chosen = choose_source(config, source)
        replay_speed = speed if speed is not None else float(config.get("paper.replay_speed"))
        if chosen == "replay" and mode != "paper":
            raise click.ClickException(f"Binance unreachable: replay is for paper mode only, not {mode}")
        data_dir = shared_data_dir()
        env = replay_env(config, int(config.get("exchange_sim.port", 8900))) if chosen == "replay" else {}
        children_config = effective_config(env)
        start_iso = prepare_database(children_config, chosen, data_dir)
        plan = build_plan(config, chosen, data_dir, replay_speed, start_iso, web=not no_web)
        database = "replay" if chosen == "replay" else "live"
        # children (and every command typed later) use this database; the console says it once
        plan.env.update({ENV_CHOICE: database, ENV_QUIET: "1"})
        for line in plan.banner:
            click.echo(line, err=True)
        click.echo(f"database: {database.upper()} ({describe(children_config, home())}): every `showdown` "
                   "command and the admin site use it until the next `showdown run` (--db to choose)", err=True)
        record_in_force(home(), database, chosen, int(config.get("exchange_sim.port", 8900)),
                        iso_from_ms(int(time.time() * 1000)))
        _record_source(children_config, plan)
        for argv in plan.bootstrap:
            subprocess.run(argv, env={**os.environ, **plan.env}, check=False)  # noqa: S603
        # quiet console: routine child output to logs/run.log, one status line a minute
        console = QuietConsole(home().logs / "run.log")
        click.echo(f"routine output of the loops: {console.log_path}; web access log: "
                   f"{home().logs / 'access.log'}", err=True)
        sys.exit(Supervisor(plan.children, out=console, base_env={**os.environ, **plan.env},
                            alert=_supervisor_alert(children_config),
                            report=_supervisor_report(children_config)).run_until_signalled())


def _supervisor_alert(config: Config) -> Callable[[str, str, str, dict], object]:
    """Crash-loop alerts of the supervisor: a notification row (Status, Alerts) and Telegram."""
    def alert(level: str, code: str, message: str, context: dict) -> object:
        from connectors.notify.alerts import Notifier

        open_database(config, home().ensure())
        notifier = Notifier(config, resume=False)  # short-lived in the long-lived supervisor
        try:
            return notifier.notify(level, "supervisor", code, message, context)
        finally:
            notifier.close(timeout=5)
    return alert


def _supervisor_report(config: Config) -> Callable[[dict[str, dict[str, object]]], object]:
    """Crash loops where Status and `showdown status` read them (supervisor_state.py)."""
    def report(loops: dict[str, dict[str, object]]) -> None:
        from connectors.stores.supervisor_state import record_crash_loops

        open_database(config, home().ensure())
        record_crash_loops(str(config.get("symbol")), loops)
    return report
