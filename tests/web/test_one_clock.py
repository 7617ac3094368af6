"""Issue 13, observation 3: in a replay the replay's clock is "now" everywhere in the site.
A sentiment typed in the Inputs page is dated by it (a wall-clock as-of would lie in the
replay's future and never be used: refused, saying why); the Decisions page shows the
replay's decisions; data dated after the clock is "future", never fresh."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from connectors.db import models as m
from connectors.stores.market_state import record_market_source
from tests.web.conftest import csrf_from

T = 1_765_065_600_000 + 3_600_000  # 2025-12-07T01:00Z: a replayed minute, long ago for the wall clock
CLOCK_ISO = "2025-12-07T01:01:00Z"  # that candle's close: the replay's "now"


def replay(app: Flask) -> None:
    from web import queries

    with app.app_context():
        record_market_source("replay", ["REPLAY"])
        m.Candle.create(symbol="BTCUSDT", timeframe="1m", open_time_ms=T, open=1, high=1, low=1, close=1, volume=1)
        queries.forget_status()


def test_inputs_are_dated_and_judged_by_the_replay_clock(app: Flask, operator: FlaskClient) -> None:
    from connectors.stores.input_history import latest

    replay(app)
    page = operator.get("/inputs/").get_data(as_text=True)
    assert re.search(r'name="as_of"[^>]*value="2025-12-07T01:01:00Z"', page), "as-of not defaulted to the replay clock"
    token = csrf_from(page)
    wall = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    refused = operator.post("/inputs/sentiment", data={"csrf_token": token, "as_of": wall, "score": "1.5",
                                                        "comment": "wall clock"})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and f"{wall} is after the market clock {CLOCK_ISO}" in body
    with app.app_context():
        assert latest("sentiment", as_of_ms=T + 60_000) is None  # nothing written
    accepted = operator.post("/inputs/sentiment", data={"csrf_token": token, "as_of": CLOCK_ISO, "score": "1.5",
                                                         "comment": "on the replay clock"})
    assert accepted.status_code == 302, accepted.get_data(as_text=True)[:500]
    with app.app_context():
        doc = latest("sentiment", as_of_ms=T + 60_000)  # in force for the replay's next cycle
        assert doc is not None and doc["score"] == 1.5 and doc["comment"] == "on the replay clock"


def test_decisions_page_shows_the_replays_decisions(app: Flask, viewer: FlaskClient) -> None:
    replay(app)
    with app.app_context():
        d = m.Decision.create(symbol="BTCUSDT", decided_at_ms=T - 10 * 60_000, action="flat", reason="replayed_cycle",
                              document={"action": "flat", "confidence": 0.1})
    html = viewer.get("/decisions/").get_data(as_text=True)
    assert f'/decisions/{d.id}"' in html and "replayed_cycle" in html
    assert "no decision in this window" not in html


def test_data_dated_after_the_replay_clock_is_future_never_fresh(app: Flask, viewer: FlaskClient) -> None:
    replay(app)
    with app.app_context():
        m.LiquidationZones.create(symbol="BTCUSDT", captured_at_ms=T + 2 * 86_400_000, zones=[])
        m.NewsSentiment.create(symbol="BTCUSDT", as_of_ms=T - 3_600_000, score=1, label="bullish")
        m.NewsSentiment.create(symbol="BTCUSDT", as_of_ms=T + 3_600_000, score=-1, label="bearish")
    status = viewer.get("/api/status").get_json()
    fresh = {f["name"]: f for f in status["data_freshness"]}
    liq = fresh["liquidation map"]
    assert liq["freshness"] == "future" and liq["as_of"] is None and liq["future"] == "2025-12-09T01:00:00Z"
    sentiment = fresh["sentiment"]  # the one in force at the clock, the later one named as future
    assert sentiment["as_of"] == "2025-12-07T00:00:00Z" and sentiment["freshness"] == "green"
    assert sentiment["future"] == "2025-12-07T02:00:00Z"
    html = viewer.get("/status/").get_data(as_text=True)
    assert "(future: 2025-12-09T01:00:00Z)" in html and 'class="light future"' in html
