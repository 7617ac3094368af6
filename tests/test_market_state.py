"""Where prices come from, recorded for the dashboard (both backends): one row, replaced."""

from __future__ import annotations

from connectors.db.models import BotState
from connectors.market_state import market_source, record_market_source


def test_market_source_is_one_row_replaced_on_each_start(db) -> None:
    record_market_source("replay", ["# REPLAY: recorded data #", "# not live #"])
    assert market_source() == {"source": "replay", "label": "REPLAY: recorded data not live", "state": "REPLAY"}
    record_market_source("live", ["live Binance prices"])
    assert market_source() == {"source": "live", "label": "live Binance prices", "state": "LIVE"}
    assert BotState.select().where(BotState.component == "market_data").count() == 1
