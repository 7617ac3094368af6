from __future__ import annotations

import pytest


def test_status_page_renders_for_a_viewer(viewer):
    resp = viewer.get("/status/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="bot-state">IDLE<' in html


def test_api_status_shape(viewer):
    data = viewer.get("/api/status").get_json()
    assert data["bot_state"] == "IDLE"
    assert {f["name"] for f in data["data_freshness"]} >= {"candles 1m", "snapshot", "flow", "sentiment"}
    assert data["pnl"] == {"day_usdt": "0.00", "week_usdt": "0.00", "trades_today": 0}  # money to the cent


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


def test_market_chart_marks_trades_and_backtest_run_has_drawdown(app, admin):
    from decimal import Decimal

    from connectors.db import models as m
    from tests.web.seed import seed

    with app.app_context():
        ids = seed()
        last = m.EquityPointBacktest.select().order_by(m.EquityPointBacktest.time_ms.desc()).first()
        m.EquityPointBacktest.create(run=ids["run_id"], symbol="BTCUSDT", time_ms=last.time_ms + 3_600_000,
                                     equity=Decimal("9980"))  # 10080 was the peak
    data = admin.get("/market/candles.json?tf=5m").get_json()
    last_bar = data["candles"][-1]["time"]
    marks = data["trade_markers"]
    assert [(mk["shape"], mk["text"]) for mk in marks] == [
        ("arrowUp", "long 60,000.0"), ("circle", "exit +2.76"), ("arrowUp", "long 60,005.1")]  # prices to the tick
    with app.app_context():
        trade, pos = m.Trade.get(), m.Position.get(m.Position.status == "open")
    on_bar = [min(t // 300_000 * 300, last_bar) for t in (trade.opened_ms, trade.closed_ms, pos.opened_ms)]
    assert [mk["time"] for mk in marks] == on_bar  # on its 5m bar; in the forming bar: on the last closed one
    assert marks[1]["color"] == "#26a69a"  # a winner
    page = admin.get(f"/backtest/{ids['run_id']}").get_data(as_text=True)
    assert 'id="drawdown"' in page
    with app.app_context():
        from web import queries
        dd = queries.backtest_run(ids["run_id"])["drawdown"]
    assert [p["dd_pct"] for p in dd][:5] == [0.0] * 5 and dd[-1]["dd_pct"] == pytest.approx(-0.9921, abs=1e-4)
