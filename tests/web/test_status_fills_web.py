"""The status page says how the execution worker learns of fills: user-data stream or polling."""

from __future__ import annotations

from connectors.db import models as M  # noqa: N812


def test_status_page_says_whether_fills_stream_or_are_polled(app, viewer) -> None:
    with app.app_context():
        M.BotState.create(symbol="BTCUSDT", component="execution", state="RUNNING", heartbeat_ms=M.now_ms(),
                          details={"phase": "NO_POSITION", "user_stream": {"state": "down", "mode": "polling only"}})
    html = viewer.get("/status/").get_data(as_text=True)
    assert "· fills: polling only" in html
