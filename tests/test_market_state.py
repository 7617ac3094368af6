"""Where prices come from, recorded for the dashboard (both backends): one row, replaced."""

from __future__ import annotations

from connectors.db.models import BotState
from connectors.stores.market_state import market_source, record_market_source


def test_market_source_is_one_row_replaced_on_each_start(db) -> None:
    record_market_source("replay", ["# REPLAY: recorded data #", "# not live #"])
    assert market_source() == {"source": "replay", "label": "REPLAY: recorded data not live", "state": "REPLAY"}
    record_market_source("live", ["live Binance prices"])
    assert market_source() == {"source": "live", "label": "live Binance prices", "state": "LIVE"}
    assert BotState.select().where(BotState.component == "market_data").count() == 1


def test_execution_state_file_is_one_per_database(tmp_path) -> None:
    """A replay keeps its own database, and so its own execution state file: its cooldowns
    and orders never reach the live worker (and SQLite's never reach MariaDB's)."""
    from cli.execute_cmd import state_file_name
    from cli.run_cmd import replay_env
    from engine.config import load_config
    from tests.conftest import make_home, mariadb_env

    where = make_home(tmp_path)
    live = load_config(where, {})
    replay = load_config(where, replay_env(live, 8900))
    maria = load_config(where, {**mariadb_env(), "DB_NAME": "showdown"})
    maria_replay = load_config(where, {**mariadb_env(), **replay_env(maria, 8900)})
    names = [state_file_name(c) for c in (live, replay, maria, maria_replay)]
    assert names == ["execution_state-sqlite-showdown.json", "execution_state-sqlite-replay-showdown.json",
                     "execution_state-mariadb-showdown.json", "execution_state-mariadb-showdown_replay.json"]
    assert state_file_name(load_config(where, {"SHOWDOWN__EXECUTION__STATE_FILE": "mine.json"})) == "mine.json"
