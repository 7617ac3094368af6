"""Issue 15, item 3: a crash-looping child of `showdown run` (the supervisor's CRITICAL
alert) is shown on the Status page, in /api/status and in `showdown status` — which
child, how many restarts in the window — until it runs again."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from connectors.stores.supervisor_state import record_crash_loops


def test_crash_loop_on_the_status_page_until_it_ends(app: Flask, viewer: FlaskClient) -> None:
    from web import queries

    with app.app_context():
        record_crash_loops("BTCUSDT", {"execute": {"exits": 6, "minutes": 10.0, "last_code": 1,
                                                   "since_ms": 1_765_000_000_000}})
        queries.forget_status()
    status = viewer.get("/api/status").get_json()
    assert status["crash_loops"] == [{"child": "execute", "restarts": 6, "minutes": 10.0, "last_code": 1,
                                      "since": "2025-12-06T05:46:40Z"}]
    assert "supervisor" not in {b["component"] for b in status["loops"]}  # not a loop with a heartbeat
    html = viewer.get("/status/").get_data(as_text=True)
    card = html.split('id="crash-loops-card"')[1].split("</section>")[0]
    assert not card.lstrip().startswith("hidden") and "<b>execute</b>: 6 restarts in 10.0 min" in card
    with app.app_context():
        record_crash_loops("BTCUSDT", {})  # it ran a while: the episode is over
        queries.forget_status()
    assert viewer.get("/api/status").get_json()["crash_loops"] == []
    assert 'id="crash-loops-card" hidden' in viewer.get("/status/").get_data(as_text=True)
