"""A replay is said loudly on every page and in /api/status."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from connectors.market_state import record_market_source


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
