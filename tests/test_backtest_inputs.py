"""A backtest reads the human inputs in force at each T from the history tables (as live
asks connectors.stores.input_history.latest at T): a version sent after T is not used at T."""

from __future__ import annotations

import pandas as pd
import pytest

from connectors.stores.backtest_inputs import inputs_at
from connectors.stores.input_history import append, latest
from engine.analytics.batch import build_cycles
from engine.analytics.flow import build_flow
from engine.inputs import validate_etf, validate_liquidations, validate_sentiment
from engine.inputs.common import iso_time
from engine.paths import shared_data_dir
from tests.input_fuzz import GOOD
from tests.rules_support import config

FILE = "btcusdt-perp-1m-2025-11-10_2025-12-10.csv.gz"


def ms(text: str) -> int:
    return iso_time(text, "$", [])


def _record() -> tuple[dict, dict, dict]:
    s1, _ = validate_sentiment({"as_of": "2025-12-07T00:00:00Z", "score": 1.0, "label": "bullish", "comment": "a"})
    s2, _ = validate_sentiment({"as_of": "2025-12-07T06:00:00Z", "score": -2.0, "label": "bearish", "comment": "b"})
    m1, _ = validate_liquidations(GOOD["liquidations"])
    etf, _ = validate_etf(GOOD["etf"])
    for kind, doc in (("sentiment", s1), ("sentiment", s2), ("liquidations", m1), ("etf", etf)):
        assert append(kind, doc) is None
    return s1, s2, m1


def test_the_version_in_force_at_t_and_never_a_later_one(db):
    s1, s2, m1 = _record()
    at = inputs_at("BTCUSDT", ms("2025-12-09T00:00:00Z"))
    assert at(ms("2025-12-06T23:59:59Z"))["sentiment"] is None
    assert at(ms("2025-12-07T05:59:59Z"))["sentiment"] == s1  # s2 is dated after T: not used
    assert at(ms("2025-12-07T06:00:00Z"))["sentiment"] == s2
    t_map = ms(m1["as_of"])
    assert at(t_map - 1)["liquidations"] is None and at(t_map)["liquidations"] == m1
    for t in (ms("2025-12-07T05:59:59Z"), ms("2025-12-08T13:05:00Z")):
        live = {k: latest(k, t, "BTCUSDT", config().get("analytics.etf")) for k in ("etf", "liquidations", "sentiment")}
        assert at(t) == live, "what live would have read at T"


def test_backtest_cycles_carry_the_inputs_of_their_time(db):
    path = shared_data_dir() / FILE
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    _record()
    candles = pd.read_csv(path).set_index("open_time_ms").loc[:ms("2025-12-07T08:00:00Z")]
    t_from, t_to = ms("2025-12-07T05:00:00Z"), ms("2025-12-07T07:00:00Z")
    at = inputs_at("BTCUSDT", t_to, config().get("analytics.etf"))
    cycles = build_cycles(candles, t_from, t_to, config(), inputs=at, with_flow=True)
    before = next(c for c in cycles if c["t_ms"] == ms("2025-12-07T05:55:00Z"))
    after = next(c for c in cycles if c["t_ms"] == ms("2025-12-07T06:00:00Z"))
    assert before["flow"] != after["flow"], "the sentiment sent at 06:00 changes the flow from 06:00 on"
    for c in (before, after):
        assert c["flow"] == build_flow(c["snapshot"], None, at(c["t_ms"]), c["t_ms"], config())
    # Without the history the same cycles see no inputs at all: something else.
    bare = build_cycles(candles, t_from, t_to, config(), with_flow=True)
    assert bare[0]["flow"] != cycles[0]["flow"]
