"""`showdown exchange-sim`: serve the offline Binance USD-M testnet on 127.0.0.1."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import click

from cli.common import sigterm_as_ctrl_c
from cli.config_cmd import load_or_exit
from connectors.db import database_key
from connectors.exchange_sim.account_file import AccountFileError
from connectors.exchange_sim.faults import FaultPlan
from connectors.exchange_sim.market import MINUTE
from connectors.exchange_sim.server import build_venue, start
from connectors.exchange_sim.stream import stream_port
from engine.config import Config
from engine.exchange.sim import SimConfig
from engine.paths import home, shared_data_dir

DEV_KEY, DEV_SECRET = "exchange-sim-key", "exchange-sim-secret"


def _path(name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else shared_data_dir() / p


def _ms(text: str) -> int:
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp() * 1000)


def account_file_path(cfg: Config) -> Path:
    """One paper account per database: a replay's never mixes with a live paper one."""
    return home().data / f"exchange_sim_account-{database_key(cfg)}.json"


def register(group: click.Group) -> None:
    @group.command("exchange-sim")
    @click.option("--port", type=int, help="Port on 127.0.0.1 (config exchange_sim.port).")
    @click.option("--speed", type=float, help="Replayed minutes per wall-clock minute; 0 = manual steps only.")
    @click.option("--klines", "klines_file", help="1m klines CSV(.gz) to replay (shared data name or path).")
    @click.option("--start", "start_at", help="Market clock start: ISO time (UTC) or epoch ms.")
    @click.option("--gap", nargs=2, type=str, metavar="START HOURS",
                  help="Leave a gap of HOURS in kline history from START (ISO or ms).")
    @click.option("--faults", "faults_json", help="Fault plan as JSON (overrides config exchange_sim.faults).")
    @click.option("--account-file", help="Where the paper account is kept across restarts "
                  "(default: data/exchange_sim_account-<database>.json in the home).")
    @click.option("--no-account-file", is_flag=True, help="Keep the account in memory only (gone on exit).")
    @click.option("-v", "--verbose", is_flag=True, help="Log every request.")
    def exchange_sim(port: int | None, speed: float | None, klines_file: str | None, start_at: str | None,
                     gap: tuple[str, str] | None, faults_json: str | None, account_file: str | None,
                     no_account_file: bool, verbose: bool) -> None:
        """Offline Binance USD-M futures testnet for python-binance (see README)."""
        cfg = load_or_exit()
        sc = cfg.get("exchange_sim") or {}
        key = cfg.get("binance.api_key") or DEV_KEY
        secret = cfg.get("binance.api_secret") or DEV_SECRET
        try:
            faults = FaultPlan.from_dict(json.loads(faults_json) if faults_json else dict(sc.get("faults") or {}))
        except (ValueError, TypeError) as exc:
            raise click.ClickException(f"exchange-sim faults: {exc}") from exc
        klines = _path(klines_file or sc.get("klines_file", "btcusdt-perp-1m-2025-11-10_2025-12-10.csv.gz"))
        if not klines.exists():
            raise click.ClickException(f"exchange-sim: klines file {klines} not found")
        funding = _path(sc["funding_file"]) if sc.get("funding_file") else None
        gap_ms = None
        if gap:
            g0 = _ms(gap[0])
            gap_ms = (g0, g0 + int(float(gap[1]) * 60) * MINUTE)
        sim = SimConfig(starting_balance=Decimal(str(sc.get("starting_balance_usdt", 10000))),
                        fill_rule=sc.get("fill_rule", "touch"))
        venue = build_venue(klines, {key: secret}, funding, _ms(start_at) if start_at else None,
                            history_minutes=int(sc.get("history_minutes", 1440)), sim=sim, faults=faults,
                            gap=gap_ms, weight_limit=int(sc.get("weight_limit_per_minute", 2400)))
        kept = ""
        if not no_account_file:
            path = Path(account_file) if account_file else account_file_path(cfg)
            try:
                resumed = venue.keep_account(path)
            except AccountFileError as exc:
                raise click.ClickException(str(exc)) from exc
            kept = f"; account {'resumed from' if resumed else 'kept in'} {path}"
        speed = sc.get("speed", 60) if speed is None else speed
        port = port if port is not None else int(sc.get("port", 8900))
        running = start(venue, port, speed, verbose, stream_port=stream_port(sc.get("stream_port"), port))
        now = datetime.fromtimestamp(venue.market.now_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
        click.echo(f"exchange-sim on {running.url} (set binance.base_url to it), user-data stream on "
                   f"{running.stream_url} (binance.stream_url); market clock {now}, "
                   f"speed {speed:g}x; API key {'from config' if key != DEV_KEY else DEV_KEY!r}{kept}")
        sigterm_as_ctrl_c()
        try:
            while running.thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()
