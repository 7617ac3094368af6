from __future__ import annotations


def test_status_page_renders_for_a_viewer(viewer):
    resp = viewer.get("/status/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="bot-state">IDLE<' in html


def test_api_status_shape(viewer):
    data = viewer.get("/api/status").get_json()
    assert data["bot_state"] == "IDLE"
    assert {f["name"] for f in data["data_freshness"]} >= {"candles 1m", "snapshot", "flow", "sentiment"}
    assert data["pnl"] == {"day_usdt": "0", "week_usdt": "0", "trades_today": 0}


def test_every_page_renders_with_data(app, admin):
    from tests.web.seed import seed

    with app.app_context():
        ids = seed()
    for url in ["/status/", "/market/", "/market/candles.json?tf=5m", "/flow/", "/decisions/",
                f"/decisions/{ids['decision_id']}", "/decisions/latest", "/position/", "/logs/?level=ERROR",
                "/backtest/", f"/backtest/{ids['run_id']}", "/control/", "/audit/"]:
        resp = admin.get(url)
        assert resp.status_code == 200, (url, resp.get_data(as_text=True)[:800])
    status = admin.get("/api/status").get_json()
    assert status["bot_state"] == "RUNNING"
    assert status["pnl"]["day_usdt"] == "2.76"
    assert status["position"]["entry_price"] == "60005.1"
    trace = admin.get(f"/decisions/{ids['decision_id']}").get_data(as_text=True)
    assert "long_structure" in trace and 'id="trace-rules"' in trace
    candles = admin.get("/market/candles.json?tf=5m").get_json()
    assert len(candles["candles"]) == 60 and candles["decision_levels"]["sl"] == 59800
    logs = admin.get("/logs/?level=ERROR").get_data(as_text=True)
    assert "order rejected" in logs and "analytics cycle done" not in logs
