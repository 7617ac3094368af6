"""What a freqtrade/FreqUI user misses (issue 13, observation 6 and points 6–8): the
closed-trades table, the open trade's live P&L / mark / liquidation price / age, profit per
day and week and the equity chart, volume, indicators and liquidation bands on the market
chart, ETF flows as bars, force exit; the trace summary and the why-not page."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import csrf_from, login
from tests.web.test_formatting import visible_text


@pytest.fixture()
def site(app, admin):
    from tests.web.seed_replay import seed_replay

    with app.app_context():
        return seed_replay()


def test_position_page_is_a_trader_page(admin, site):
    html = admin.get("/position/").get_data(as_text=True)
    text = visible_text(html)
    closed = re.search(r'id="closed-trades">(.*?)</section>', html, re.S).group(1)
    assert "profit %" in closed and "profit USDT" in closed and "duration" in closed and "R net" in closed
    # the short 89,560.1 -> 89,710.7, net -38.66 over a 0.020 BTC position: -2.16 % of 1,791.20 notional, 47 min,
    # R net of fees against the opening decision's stop 88,712.3
    row = visible_text(re.search(r"<tr><td class=\"mono\">2025-12-07T09:00:00Z</td>.*?</tr>", closed, re.S).group(0))
    assert row.startswith("2025-12-07T09:00:00Z short 0.020 89,560.1 89,710.7 -2.16 % -38.66 0.36 47 min")
    assert "-2.28 R" in row and row.endswith("sl")  # -38.66 / (|89560.1 - 88712.3| x 0.020)
    assert "mark 89,234.6" in text and "liquidation price 71,234.6" in text
    assert "unrealised P&L +1.48 USDT (+0.08 %)" in text and "age 1 h 00 min" in text
    days = visible_text(re.search(r'id="profit-days">(.*?)</section>', html, re.S).group(1))
    assert "2025-12-07 1 0 -38.66" in days and "2025-11-24" in days  # per day, and weeks from Monday
    assert 'id="chart"' in html and "data-equity" in html and "/js/equity.js" in html


def test_market_chart_has_volume_indicators_and_liquidation_bands(admin, site):
    data = admin.get("/market/candles.json?tf=5m").get_json()
    assert all("volume" in c for c in data["candles"])
    ema = data["indicators"]
    # the seed stores only the 300 shown bars: no warm-up before them, so EMA 20 starts at the 20th
    assert set(ema) == {"ema_20", "ema_50"} and len(ema["ema_20"]) == len(data["candles"]) - 19
    closes = [c["close"] for c in data["candles"]]
    assert min(closes) <= ema["ema_20"][-1]["value"] <= max(closes)
    bands = data["liquidation_zones"]
    assert {"low": 91700, "high": 91700, "side": "short", "strength": 0.8} in bands
    assert all(0 <= b["strength"] <= 1 for b in bands)
    page = admin.get("/market/?tf=5m").get_data(as_text=True)
    assert "EMA 20" in page and "liquidation zones" in page and 'id="snapshot-indicators"' in page


def test_flow_page_draws_etf_flows_as_bars(admin, app, site):
    from tests.web.conftest import api_token

    doc = {"symbol": "BTC", "as_of": "2025-12-06T00:00:00Z",
           "history": [{"date": f"2025-12-0{d}", "net_flow_usd": v} for d, v in
                       ((1, -120_500_000.0), (2, 87_300_000.0), (3, -14_000_000.0), (4, 250_000_000.0))],
           "summary": {"last_7d_total": 202_800_000.0, "last_3d_total": 323_300_000.0, "trend": "up",
                       "signal": "bullish", "comment": "four days"}}
    resp = admin.post("/api/input/etf", json=doc, headers={"X-CSRFToken": api_token(admin)})
    assert resp.status_code == 200, resp.get_json()
    html = admin.get("/flow/").get_data(as_text=True)
    bars = re.search(r'id="etf-bars"(.*?)</div>\s*<table', html, re.S).group(1)
    assert bars.count('class="bar"') == 4
    assert 'title="2025-12-04: 250.0 M"' in bars and 'title="2025-12-01: -120.5 M"' in bars
    assert "height: 50.0px; background: var(--green)" in bars  # the largest day fills its half


def test_force_exit_is_confirmed_audited_and_for_operators(app, admin, site):
    viewer = login(app.test_client(), "viewer")
    page = viewer.get("/position/").get_data(as_text=True)
    assert 'id="force-exit"' not in page
    assert viewer.post("/position/force-exit", data={"csrf_token": csrf_from(page), "confirm": "EXIT"}).status_code == 403
    op = login(app.test_client(), "operator")
    page = op.get("/position/").get_data(as_text=True)
    assert 'id="force-exit"' in page
    refused = op.post("/position/force-exit", data={"csrf_token": csrf_from(page), "confirm": "yes"})
    assert refused.status_code == 400 and "type EXIT" in refused.get_data(as_text=True)
    ok = op.post("/position/force-exit", data={"csrf_token": csrf_from(page), "confirm": "exit", "reason": "FOMC"})
    assert ok.status_code == 302
    from connectors.db import models as m

    with app.app_context():
        row = m.BotState.get(m.BotState.component == "force_exit")
        assert row.details["status"] == "requested" and row.details["by"] == "operator"
        assert row.details["reason"] == "FOMC"
        audit = m.AuditEntry.get(m.AuditEntry.action == "position.force_exit")
        assert audit.username == "operator"
    after = visible_text(op.get("/position/").get_data(as_text=True))
    assert "Last force-exit: requested" in after
    status = admin.get("/api/status").get_json()
    assert "force_exit" not in {b["component"] for b in status["loops"]}  # a command, not a loop


def test_trace_page_summary_above_the_full_trace(admin, site):
    html = admin.get(f"/decisions/{site['decision_ids'][-1]}").get_data(as_text=True)
    assert html.index('id="trace-summary"') < html.index('id="trace-text"')
    summary = re.search(r'id="trace-summary">(.*?)</section>', html, re.S).group(1)
    assert 'id="score-long"' in summary and 'id="score-short"' in summary
    assert re.search(r'class="threshold" style="left: 55(\.0)?%"', summary)
    assert 'id="decided-by"' in summary and "nearest-misses" in summary
    assert "needed ≥" in summary
    assert '<details class="section" id="trace" open>' in html  # collapsible
    assert f"/api/decision?id={site['decision_ids'][-1]}&amp;trace=1" in html  # the raw trace one click away


def test_why_not_page(admin, site):
    html = admin.get("/why-not/").get_data(as_text=True)
    text = visible_text(html)
    assert "13 cycle(s)" in text  # 12 flat cycles and the long one, within 24 h of the newest
    assert 'id="flat-reasons"' in html and 'id="blocking-rules"' in html and 'id="closest"' in html
    assert "would have traded on 1 cycle(s) left flat" in text
    closest = re.search(r'id="closest">(.*?)</section>', html, re.S).group(1)
    assert closest.count("<tr>") >= 10 and "(0.55)" in closest
    assert admin.get("/why-not/?since=1y").status_code == 400


def test_why_not_window_counts_back_from_the_replay_clock(app, admin, site):
    """The page's window ends at the market clock (the replay's "now", 2025-12-07T12:00Z):
    a cycle dated after it is the future, not in the window; one 23 h before it is in."""
    from connectors.db import models as m
    from tests.web.seed_replay import T_MS

    with app.app_context():
        for at, reason in ((T_MS + 3_600_000, "dated_after_the_clock"), (T_MS - 23 * 3_600_000, "day_old_cycle")):
            m.Decision.create(symbol="BTCUSDT", decided_at_ms=at, action="flat", reason=reason, document={})
    text = visible_text(admin.get("/why-not/").get_data(as_text=True))
    assert "14 cycle(s)" in text and "up to 2025-12-07T12:00:00Z" in text
    assert "day_old_cycle" in text and "dated_after_the_clock" not in text
