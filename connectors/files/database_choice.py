"""Which database is in force: the live one or the replay's.

A replay keeps its own database (`replay-<sqlite_file>`, or `<DB_NAME>_replay`) so replayed
candles never mix with live ones. `showdown run` records which one it runs on in
`<home>/var/database_in_force.json`; every CLI command and the admin site then use that one
by default, so the operator's tools look at what the running bot writes. `--db live|replay`
(environment `SHOWDOWN_DB`) chooses the other.

The choice is expressed as environment overrides over the configuration (the very ones
`showdown run` gives its children); applying them twice changes nothing, so a child that
inherits them and chooses again lands on the same database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.files.json_files import read_json, write_json_atomic
from engine.config import Config, ConfigError, load_config
from engine.paths import Home

CHOICES = ("live", "replay")
MARKER = "database_in_force.json"
ENV_CHOICE = "SHOWDOWN_DB"
DEV_KEY, DEV_SECRET = "exchange-sim-key", "exchange-sim-secret"
REPLAY_SQLITE_PREFIX = "replay-"
REPLAY_DB_SUFFIX = "_replay"


@dataclass(frozen=True)
class Choice:
    database: str                  # "live" | "replay"
    why: str                       # "--db", "in force since `showdown run` at ...", "default"
    overlay: dict[str, str]        # environment overrides that select it


def replay_env(config: Config, port: int) -> dict[str, str]:
    """The environment of a replay: its own database and exchange-sim as the venue.
    Idempotent: over a config that already names the replay database it names the same."""
    # imported here: every command reads this module at start, and the stream server's
    # module loads websockets (~0.1 s) that only a replay needs
    from connectors.exchange_sim.stream import stream_port

    env = {
        "BINANCE_BASE_URL": f"http://127.0.0.1:{port}",
        "BINANCE_STREAM_URL": f"ws://127.0.0.1:{stream_port(config.get('exchange_sim.stream_port'), port)}/",
        "BINANCE_API_KEY": str(config.get("binance.api_key") or DEV_KEY),
        "BINANCE_API_SECRET": str(config.get("binance.api_secret") or DEV_SECRET),
    }
    if config.uses_mariadb():
        name = str(config.get("database.name"))
        env["DB_NAME"] = name if name.endswith(REPLAY_DB_SUFFIX) else name + REPLAY_DB_SUFFIX
    else:
        name = str(config.get("database.sqlite_file"))
        env["SHOWDOWN__DATABASE__SQLITE_FILE"] = name if name.startswith(REPLAY_SQLITE_PREFIX) \
            else REPLAY_SQLITE_PREFIX + name
    return env


def is_replay_database(config: Config) -> bool:
    """Does this configuration name a replay's database?"""
    if config.uses_mariadb():
        return str(config.get("database.name")).endswith(REPLAY_DB_SUFFIX)
    return str(config.get("database.sqlite_file")).startswith(REPLAY_SQLITE_PREFIX)


def which_database(config: Config) -> str:
    return "replay" if is_replay_database(config) else "live"


def record_in_force(where: Home, database: str, source: str, exchange_port: int, started_iso: str) -> Path:
    """`showdown run` says which database it runs on (and where its exchange-sim listens)."""
    if database not in CHOICES:
        raise ValueError(f"database must be one of {CHOICES}, not {database!r}")
    return write_json_atomic(where.ensure().var / MARKER, {
        "database": database, "source": source, "exchange_port": exchange_port, "since": started_iso,
        "pid": os.getpid()})


def in_force(where: Home) -> dict[str, Any] | None:
    """What `showdown run` recorded last, or None (never run, or the file is unreadable)."""
    path = where.var / MARKER
    if not path.exists():
        return None
    try:
        doc = read_json(path)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("database") in CHOICES else None


def choose(where: Home, env: Mapping[str, str] | None = None, wanted: str | None = None) -> Choice:
    """The database to use: `wanted` (--db), else SHOWDOWN_DB, else the one `showdown run`
    recorded, else live. Raises ConfigError naming a wrong value or a broken config."""
    env = os.environ if env is None else env
    marker = in_force(where)
    if wanted is None and env.get(ENV_CHOICE):
        wanted = env[ENV_CHOICE]
    if wanted is not None and wanted not in CHOICES:
        raise ConfigError([f"--db / {ENV_CHOICE}: expected one of {', '.join(CHOICES)}, got {wanted!r}"])
    if wanted is not None:
        database, why = wanted, "chosen with --db"
    elif marker is not None:
        database, why = marker["database"], f"in force since `showdown run` at {marker.get('since') or '?'}"
    else:
        database, why = "live", "default: no `showdown run` recorded"
    if database == "live":
        return Choice("live", why, {})
    base = load_config(where, env)
    port = marker.get("exchange_port") if marker else None
    port = int(port) if isinstance(port, int) else int(base.get("exchange_sim.port", 8900))
    return Choice("replay", why, replay_env(base, port))


def chosen_config(where: Home, env: Mapping[str, str] | None = None,
                  wanted: str | None = None) -> tuple[Config, Choice]:
    """The configuration with the chosen database applied, and the choice."""
    env = os.environ if env is None else env
    c = choose(where, env, wanted)
    return load_config(where, {**env, **c.overlay}), c


def first_line(config: Config, choice: Choice, target: str) -> str:
    """What a command says first: which database it reads and writes, and why."""
    database = which_database(config)  # what the configuration names, whatever asked for it
    other = "live" if database == "replay" else "replay"
    why = choice.why if database == choice.database else f"the environment names it; {choice.why}"
    return f"database: {database.upper()} ({target}; {why}; --db {other} for the other)"
