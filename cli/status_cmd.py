"""`showdown status`: is the database there, at which schema version, what data it holds."""

from __future__ import annotations

import sys

import click
import peewee

from cli.config_cmd import load_or_exit
from connectors.db import DatabaseUnavailable, describe, open_database, sqlite_path
from connectors.db.candles import coverage
from connectors.db.migrations import LATEST, current_version
from connectors.db.models import BotState, now_ms
from connectors.stores.rules_store import active_version
from engine.candles import ms_to_iso
from engine.paths import home


def register(group: click.Group) -> None:
    @group.command("status")
    @click.option("--symbol", default=None, help="Default: the configured symbol.")
    def status(symbol: str | None) -> None:
        """Database backend and reachability, schema version, candle coverage and gaps."""
        config = load_or_exit()
        where = home()
        symbol = symbol or str(config.get("symbol"))
        target = describe(config, where)
        backend = "MariaDB" if config.uses_mariadb() else "SQLite"
        if not config.uses_mariadb() and not sqlite_path(config, where).exists():
            # Looking must not create: opening SQLite would leave an empty file behind.
            click.echo(f"database: {backend} {target}: no database file yet: run `showdown db upgrade`")
            sys.exit(1)
        try:
            db = open_database(config, where)
            version = current_version(db)
        except (DatabaseUnavailable, peewee.DatabaseError) as exc:
            click.echo(f"database: {backend} {target}: NOT REACHABLE ({exc})")
            sys.exit(1)
        click.echo(f"database: {backend} {target}: reachable")
        if version < LATEST:
            click.echo(f"schema: version {version}, code expects {LATEST}: run `showdown db upgrade`")
            sys.exit(1)
        click.echo(f"schema: version {version} (latest)")
        for line in supervisor_status(symbol):
            click.echo(line)
        for line in execution_status(symbol):
            click.echo(line)
        for line in rules_status(symbol):
            click.echo(line)
        cov = coverage(symbol)
        if not cov:
            click.echo(f"candles {symbol}: none stored (`showdown import klines FILE`)")
            return
        click.echo(f"candles {symbol}:")
        for tf, c in cov.items():
            gaps = f"{len(c.gaps)} gap(s), {c.missing} missing" if c.gaps else "no gaps"
            click.echo(f"  {tf:>4}: {c.count:>8} from {ms_to_iso(c.first_ms)} to {ms_to_iso(c.last_ms)} UTC, {gaps}")
            for g in c.gaps[:5]:
                click.echo(f"        gap {g.describe()}")
            if len(c.gaps) > 5:
                click.echo(f"        … and {len(c.gaps) - 5} more")


def supervisor_status(symbol: str) -> list[str]:
    """Children of `showdown run` that crash-loop (the supervisor's CRITICAL alert)."""
    from connectors.stores.supervisor_state import crash_loops, describe

    loops, at_ms = crash_loops(symbol)
    return [f"CRASH LOOP: {describe(child, loop)}, since {ms_to_iso(int(loop['since_ms']))} UTC"
            if isinstance(loop.get("since_ms"), int) else f"CRASH LOOP: {describe(child, loop)}"
            for child, loop in sorted(loops.items())] + (
        [f"  (as recorded by `showdown run` {(now_ms() - at_ms) / 1000:.0f} s ago; its log: logs/run.log)"]
        if loops and at_ms is not None else [])


def execution_status(symbol: str) -> list[str]:
    """The worker's SAFE MODE with its reason, and whether entries are allowed and why not."""
    from connectors.stores import operator_control

    reason, beat_ms = operator_control.safe_mode(symbol)
    ctl = operator_control.control(symbol)
    if beat_ms is None:
        out = ["execution: no heartbeat (`showdown execute` not started)"]
    else:
        out = [f"execution: heartbeat {(now_ms() - beat_ms) / 1000:.0f} s ago"
               + (f", SAFE MODE ({reason}): no new entries until cleared (`showdown execute --clear-safe-mode` "
                  "or Control in the site)" if reason else ", not in SAFE MODE")]
    clear = ctl.get("clear_safe_mode") or {}
    if reason and clear.get("status") == "requested":
        out.append(f"  clear requested {clear.get('requested_at')} by {clear.get('by')}: waiting for the worker")
    blocks = ([f"SAFE MODE ({reason})"] if reason else []) + (
        [f"paused by {ctl.get('by') or 'the operator'} at {ctl.get('at') or '?'}"] if ctl.get("entries_paused") else [])
    out.append("entries: " + ("allowed" if not blocks else "BLOCKED: " + "; ".join(blocks)))
    beat = BotState.get_or_none((BotState.symbol == symbol) & (BotState.component == "execution"))
    us = ((beat.details or {}) if beat is not None else {}).get("user_stream")
    if beat is not None and us is None:
        out.append("  fills: polling only (no user-data stream in this worker)")
    elif us is not None:
        extra = us.get("why_off") or (f"last error: {us['last_error']}" if us.get("last_error") else
                                      f"{us.get('events', 0)} events")
        out.append(f"  user-data stream: {us.get('state')} — {us.get('mode')} ({extra})")
    return out


def rules_status(symbol: str) -> list[str]:
    """The active ruleset, the analytics heartbeat and its last refusal / error."""
    out = []
    active = active_version()
    if active is None:
        out.append("rules: no ruleset activated yet (`showdown analyze` activates rules/)")
    else:
        out.append(f"rules: active {active.hash}, activated {ms_to_iso(active.activated_at_ms)} UTC "
                   f"by {active.activated_by}")
    beat = BotState.get_or_none((BotState.symbol == symbol) & (BotState.component == "analytics"))
    if beat is None:
        out.append("analytics: no heartbeat (`showdown analyze` not started)")
        return out
    d = beat.details or {}
    age = (now_ms() - int(beat.heartbeat_ms)) / 1000
    out.append(f"analytics: {beat.state}, heartbeat {age:.0f} s ago, last cycle {d.get('last_cycle_iso') or '-'} "
               f"UTC -> {d.get('last_action') or '-'} (decision {d.get('last_decision_id') or '-'}), "
               f"ruleset {d.get('active_ruleset')}" + (f", shadow {d['shadow_ruleset']}" if d.get("shadow_ruleset") else ""))
    if d.get("last_error"):
        out.append(f"  last failed cycle: {d['last_error']}")
    ref = d.get("last_refusal")
    if ref:
        out.append(f"  last refusal ({ref.get('source')}, version {ref.get('version')}; "
                   f"{ref.get('active')} stayed active):")
        out.extend(f"    {p}" for p in (ref.get("problems") or [])[:10])
    return out
