"""Human inputs: the real files convert, every §7 rule refuses with its path, fuzzing never crashes."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inputs import parse_json, validate_etf, validate_liquidations, validate_sentiment, zone_notes
from tests.analytics_data import ETF_PER_FUND, LIQ_SNAPSHOTS, shared_json
from tests.input_fuzz import GOOD, any_payload, check_outcome, check_text, deep


def paths(problems):
    return {p.path for p in problems}


@pytest.mark.shared_data
def test_real_per_fund_etf_file_converts():
    doc, problems = validate_etf(shared_json(ETF_PER_FUND))
    assert problems == []
    assert len(doc["history"]) == 14 and doc["history"][0] == {"date": "2025-11-17", "net_flow_usd": -254600000}
    assert doc["as_of"] == "2025-12-06T00:00:00Z"
    s = doc["summary"]
    assert s["last_3d_total"] == -14900000 - 194600000 + 87300000
    assert s["last_7d_total"] == 21100000 + 71400000 + 8500000 + 58500000 - 14900000 - 194600000 + 87300000
    assert validate_etf(doc) == (doc, [])  # the converted document is canonical and valid


@pytest.mark.shared_data
def test_real_liquidation_snapshots_convert():
    raw = shared_json(LIQ_SNAPSHOTS)
    latest, problems = validate_liquidations(raw)
    assert problems == [] and latest["as_of"] == "2025-12-08T03:15:01.415Z"
    at, _ = validate_liquidations(raw, at_ms=1765108800000)  # 2025-12-07T12:00Z
    assert at["as_of"] == "2025-12-07T11:55:01.783Z" and at["current_price"] == 84714
    assert [z["price"] for z in at["below_price"]] == [82600, 79500, 73700]
    assert [z["price"] for z in at["above_price"]] == [91700, 96800]
    assert at["above_price"][1]["strength"] == 1.0 and at["below_price"][0]["zone"] == [82600, 82600]
    assert zone_notes(at) == []
    none, problems = validate_liquidations(raw, at_ms=1765000000000)
    assert none is None and "no snapshot captured at or before" in problems[0].message


def test_canonical_documents_accepted():
    for kind, fn in (("etf", validate_etf), ("liquidations", validate_liquidations), ("sentiment", validate_sentiment)):
        doc, problems = fn(copy.deepcopy(GOOD[kind]))
        assert problems == [] and doc == GOOD[kind], kind


def test_etf_rules_each_refused_with_path():
    bad = copy.deepcopy(GOOD["etf"])
    bad["history"].append({"date": "2025-12-05", "net_flow_usd": "1,000"})
    bad["history"].append({"date": "2025-12-01", "net_flow_usd": 1e400 if False else float("inf")})
    bad["summary"]["last_7d_total"] = 123
    bad["as_of"] = "2025-12-01T00:00:00+01:00"
    bad["extra"] = 1
    doc, problems = validate_etf(bad)
    assert doc is None
    assert {"$.history[2].date", "$.history[2].net_flow_usd", "$.history[3].date", "$.history[3].net_flow_usd",
            "$.as_of", "$.extra"} <= paths(problems)
    ok = copy.deepcopy(GOOD["etf"])
    ok["summary"]["last_3d_total"] = 1
    ok["as_of"] = "2025-12-04T00:00:00Z"
    doc, problems = validate_etf(ok)
    assert paths(problems) == {"$.summary.last_3d_total", "$.as_of"}
    assert "does not agree with history" in problems[0].message or "does not agree" in problems[1].message
    missing = validate_etf({"symbol": "BTC"})[1]
    assert paths(missing) == {"$.as_of", "$.history", "$.summary"}


def test_per_fund_rules():
    raw = {"symbol": "BTC", "days": [
        {"date_iso": "2025-12-04", "funds": [{"ticker": "IBIT", "flow_usd": 10}, {"ticker": "IBIT", "flow_usd": 5}],
         "total_flow_usd": 20},
        {"date_iso": "2025-12-04", "timestamp_ms": 5, "funds": [], "total_flow_usd": 0}]}
    doc, problems = validate_etf(raw)
    assert doc is None
    assert {"$.days[0].funds[1].ticker", "$.days[0].total_flow_usd", "$.days[1].date_iso",
            "$.days[1].timestamp_ms"} <= paths(problems)


def test_liquidation_rules():
    bad = copy.deepcopy(GOOD["liquidations"])
    bad["below_price"][0]["zone"] = [88100, 88200]  # price 88000 outside
    bad["above_price"][0]["strength"] = 1.5
    bad["above_price"][0]["side"] = "both"
    bad["current_price"] = -1
    doc, problems = validate_liquidations(bad)
    assert doc is None and paths(problems) == {"$.below_price[0].zone", "$.above_price[0].strength",
                                               "$.above_price[0].side", "$.current_price"}
    wrong = copy.deepcopy(GOOD["liquidations"])
    wrong["below_price"][0].update(price=90000, zone=[90000, 90000])
    doc, problems = validate_liquidations(wrong)
    assert problems == [] and doc is not None  # accepted ...
    assert {n.path for n in zone_notes(doc)} == {"$.below_price[0]"}  # ... with a warning
    empty = {**GOOD["liquidations"], "below_price": [], "above_price": []}
    assert validate_liquidations(empty)[1] == []


def test_sentiment_rules():
    assert validate_sentiment({**GOOD["sentiment"], "score": 2.5})[1][0].path == "$.score"
    assert validate_sentiment({**GOOD["sentiment"], "label": "bearish"})[1][0].path == "$.label"
    assert validate_sentiment({**GOOD["sentiment"], "score": 0.2, "label": "neutral"})[1] == []
    assert validate_sentiment({**GOOD["sentiment"], "as_of": "2025-12-07 00:00:00"})[1][0].path == "$.as_of"


def test_parse_json_refuses_constants_duplicates_and_bad_utf8():
    assert parse_json('{"score": Infinity}')[0] is None
    assert parse_json('{"a": 1, "a": 2}')[1][0].message == "duplicate field 'a'"
    assert "UTF-8" in parse_json(b"\xff\xfe{}")[1][0].message
    assert parse_json("[" * 200_000)[1][0].message == "nested too deeply"
    assert parse_json('{"x": 1}') == ({"x": 1}, [])


def test_hostile_shapes_never_crash():
    for kind in GOOD:
        for obj in (None, 1, "x", [], {}, deep(5000), [deep(100)], {"zones": deep(100)}, {"days": {}},
                    {k: float("nan") for k in GOOD[kind]}, {k: 10**400 for k in GOOD[kind]}):
            check_outcome(kind, obj)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(GOOD)), data=st.data())
def test_fuzz_validators_accept_or_explain(kind, data):
    check_outcome(kind, data.draw(any_payload[kind]))


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(GOOD)), raw=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_fuzz_raw_text(kind, raw):
    check_text(kind, raw)


def test_roundtrip_through_text():
    for kind in GOOD:
        assert check_text(kind, json.dumps(GOOD[kind]))
