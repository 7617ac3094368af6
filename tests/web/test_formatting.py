"""Numbers by meaning on every page and API answer of a replay-like site (issue 13,
observation 5 and point 5): no float printed with more digits than its field's precision,
no Python dict or list repr, no epoch number shown as a time."""

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest

RAW_FLOAT = re.compile(r"(?<![\d.])-?\d+\.\d{5,}(?!\d)|\d(?:\.\d+)?e[-+]?\d")
REPR = re.compile(r"[{\[]\s*['\"]|\bNone\b|\bTrue\b|\bFalse\b|\[\d[\d.]*, \d")
EPOCH = re.compile(r"(?<![\d.\w])1[5-9]\d{8}(?:\d{3})?(?![\d.])")
API_MAX_DECIMALS = 8  # funding rates; prices 1, money 2, % and scores 4


class _Text(HTMLParser):
    """The text a person sees: no scripts, styles, attributes, editable text areas or
    elements marked data-raw (a raw document one click away on purpose)."""

    SKIP = {"script", "style", "textarea", "title"}
    VOID = {"br", "img", "input", "meta", "link", "hr", "col", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        if self.skip or tag in self.SKIP or any(k == "data-raw" for k, _ in attrs):
            self.skip.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if self.skip:
            self.skip.pop()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return " ".join(" ".join(p.parts).split())


def page_problems(url: str, html: str) -> list[str]:
    text = visible_text(html)
    out = []
    for name, rx in (("raw float", RAW_FLOAT), ("repr", REPR), ("epoch number", EPOCH)):
        for m in rx.finditer(text):
            out.append(f"{url}: {name} {m.group(0)!r} in …{text[max(0, m.start() - 60):m.end() + 30]}…")
    return out


def api_problems(url: str, value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in api_problems(url, v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in api_problems(url, v, f"{path}[{i}]")]
    if isinstance(value, float):
        places = -Decimal(repr(value)).as_tuple().exponent  # type: ignore[operator]
        return [f"{url} {path}: {value!r} has {places} decimals"] if places > API_MAX_DECIMALS else []
    if isinstance(value, str):
        problems = []
        if re.search(r"(?<![\d.])-?\d+\.\d{9,}(?!\d)", value):
            problems.append(f"{url} {path}: raw decimal {value!r}")
        # the raw trace (one click away on purpose) keeps the rule conditions as compiled
        if REPR.search(value) and ".trace." not in f"{path}.":
            problems.append(f"{url} {path}: repr {value!r}")
        if EPOCH.search(value):
            problems.append(f"{url} {path}: epoch number in {value!r}")
        return problems
    return []


@pytest.fixture()
def replay_site(app, admin):
    from tests.web.seed_replay import seed_replay

    with app.app_context():
        return seed_replay()


def test_every_page_and_api_answer_formats_numbers_by_meaning(app, admin, replay_site):
    ids = replay_site
    pages = ["/status/", "/market/?tf=5m", "/market/?tf=1m", "/flow/", "/decisions/?hours=336", "/decisions/latest",
             *[f"/decisions/{i}" for i in ids["decision_ids"]], f"/decisions/{ids['long_decision_id']}",
             "/why-not/", "/why-not/?since=7d", "/position/", "/logs/", "/backtest/", f"/backtest/{ids['run_id']}",
             "/control/", "/audit/", "/rules/", "/inputs/"]
    problems: list[str] = []
    for url in pages:
        resp = admin.get(url)
        assert resp.status_code == 200, (url, resp.status_code, resp.get_data(as_text=True)[:600])
        problems += page_problems(url, resp.get_data(as_text=True))
    apis = ["/api/status", "/api/snapshot", "/api/flow", "/api/decision", "/api/position", "/api/orders",
            f"/api/decision?id={ids['decision_ids'][-1]}&trace=1", f"/api/decision?id={ids['long_decision_id']}",
            "/api/backtest/runs", f"/api/backtest/run/{ids['run_id']}", "/market/candles.json?tf=5m"]
    for url in apis:
        resp = admin.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        problems += api_problems(url, resp.get_json())
    assert not problems, "\n".join(problems[:40])


def test_observation_5_figures_read_as_a_trader_reads_them(app, admin, replay_site):
    """Each raw figure of observation 5, where it was seen, now formatted by its meaning."""
    position = visible_text(admin.get("/position/").get_data(as_text=True))
    assert "-38.66" in position and "-38.65865784" not in position           # P&L to the cent
    assert "89,160.4" in position and "89160.40000000" not in position        # entry to the tick
    assert "mark 89,234.6" in position and "liquidation price 71,234.6" in position
    assert "unrealised P&L +1.48 USDT" in position                            # (89234.56 - 89160.4) × 0.02
    assert position.count("exchange and records agree") == 1 and "×30" in position  # no flood
    status = visible_text(admin.get("/status/").get_data(as_text=True))
    assert "entry 89,160.4" in status and "stop-loss 88,712.3" in status and "quantity 0.020" in status
    assert "sl SELL STOP_MARKET 88,712.3 0.020" in status  # the open order, price and quantity by meaning
    flow = admin.get("/flow/").get_data(as_text=True)
    flow_text = visible_text(flow)
    assert "OI change 24h 1.14 %" in flow_text
    assert "funding 0.0030 % / 8h" in flow_text
    assert "basis 35.1" in flow_text and "basis % 0.04 %" in flow_text          # not a dict
    assert "last 3d total -122.2 M" in flow_text
    warnings = re.search(r'<ul class="problems" id="flow-warnings">(.*?)</ul>', flow, re.S).group(1)
    assert warnings.count("<li>") == 3  # the active warnings only (cvd_unknown, sentiment_missing, etf), not 14 keys
    assert "etf_strong_outflow" in warnings and "sentiment_missing" in warnings
    rules = visible_text(admin.get("/rules/").get_data(as_text=True))
    assert "1796190727928" not in rules and "2026-12-02T05:52:07Z activated by watcher" in rules
    run = visible_text(admin.get(f"/backtest/{replay_site['run_id']}").get_data(as_text=True))
    assert "10,024.85" in run and "10024.96" not in run and "10,024.96" not in run  # one final equity
    assert "by volatility regime" in run and "longs_at_risk" in run                 # breakdowns as tables
    assert "+1.23 R" in run
    trace = visible_text(admin.get(f"/decisions/{replay_site['long_decision_id']}").get_data(as_text=True))
    assert "89,150.1 – 89,171.0" in trace and "SL 88,712.3" in trace and "confidence 0.72" in trace


def test_number_formats():
    from engine import format as fmt

    assert fmt.price("89160.40000000") == "89,160.4" and fmt.price(89160.45) == "89,160.5"
    assert fmt.qty(Decimal("0.01000000")) == "0.010" and fmt.money(-38.65865784) == "-38.66"
    assert fmt.money(Decimal("-0.001")) == "0.00"  # never "-0.00"
    assert fmt.funding(3.0093333333333332e-05) == "0.0030 % / 8h"
    assert fmt.pct(1.1359030011037239) == "1.14 %" and fmt.r_multiple(1.2345678901234567) == "+1.23 R"
    assert fmt.usd_compact(-122_200_000.0) == "-122.2 M" and fmt.usd_compact(1.2e9) == "1.20 B"
    assert fmt.time_iso(1796190727928) == "2026-12-02T05:52:07Z" and fmt.duration(47 * 60_000) == "47 min"
    assert fmt.field("derivatives.basis", {"value": 35.123456789, "pct": 0.0394123456}) == "value 35.1, pct 0.04 %"
    assert fmt.field("flow.etp_summary.last_3d_total", -122_200_000.0) == "-122.2 M"
    assert fmt.rounded("document.derivatives.funding.current", 3.0093333333333332e-05) == 3.009e-05
    assert fmt.rounded("document.price", 89109.43333333) == 89109.4
    assert fmt.times_in_text("1796190727928 activated by watcher") == "2026-12-02T05:52:07Z activated by watcher"
