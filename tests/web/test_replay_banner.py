"""A replay is said loudly on every page and in /api/status."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from connectors.stores.market_state import record_market_source


def test_replay_banner_on_pages_and_status(app: Flask, viewer: FlaskClient) -> None:
    client = viewer
    page = client.get("/status/")
    assert "REPLAY — NOT LIVE PRICES" not in page.get_data(as_text=True)
    with app.app_context():
        record_market_source("replay", ["REPLAY: PRICES ARE RECORDED DATA, NOT LIVE: some-file.csv.gz"])
    for path in ("/status/", "/market/", "/flow/"):
        html = client.get(path).get_data(as_text=True)
        assert "REPLAY — NOT LIVE PRICES" in html and "some-file.csv.gz" in html, path
    with app.app_context():
        from web import queries
        queries.forget_status()
    status = client.get("/api/status").get_json()
    assert status["market_data"]["source"] == "replay"
    assert all(loop["component"] != "market_data" for loop in status["loops"])


def test_replay_counts_pnl_and_freshness_on_the_replayed_clock(app: Flask, viewer: FlaskClient) -> None:
    """A replayed trade closed on the replayed day is in "today's" P&L of the replay; live,
    the same old trade is not today's."""
    from decimal import Decimal

    from connectors.db import models as m
    from web import queries

    t = 1_765_065_600_000 + 3_600_000  # 2025-12-07T01:00Z, long ago for the wall clock
    with app.app_context():
        m.Candle.create(symbol="BTCUSDT", timeframe="1m", open_time_ms=t, open=1, high=1, low=1, close=1, volume=1)
        m.Trade.create(symbol="BTCUSDT", side="short", quantity=Decimal("0.1"), entry_price=Decimal("90000"),
                       exit_price=Decimal("90300"), pnl=Decimal("-30.00"), opened_ms=t - 600_000, closed_ms=t - 60_000)
        queries.forget_status()
    live = viewer.get("/api/status").get_json()
    assert live["market_time"] == live["time"] and live["pnl"]["day_usdt"] == "0.00"
    with app.app_context():
        record_market_source("replay", ["REPLAY"])
        queries.forget_status()
    replay = viewer.get("/api/status").get_json()
    assert replay["market_time"] == "2025-12-07T01:01:00Z" != replay["time"]
    assert replay["pnl"]["day_usdt"] == "-30.00" and replay["pnl"]["trades_today"] == 1
    candles = next(f for f in replay["data_freshness"] if f["name"] == "candles 1m")
    assert candles["freshness"] == "green" and candles["age_s"] == 0.0  # no worker: the newest candle's close
    assert "replay clock" in viewer.get("/status/").get_data(as_text=True)
    # the worker saw the replayed exchange 20 minutes past the newest candle: the collector stalled
    with app.app_context():
        m.BotState.create(symbol="BTCUSDT", component="execution", state="RUNNING",
                          details={"time_ms": t + 21 * 60_000})
        queries.forget_status()
    stalled = viewer.get("/api/status").get_json()
    assert stalled["market_time"] == "2025-12-07T01:21:00Z"
    candles = next(f for f in stalled["data_freshness"] if f["name"] == "candles 1m")
    assert candles["freshness"] == "red" and candles["age_s"] == 1200.0
