"""Flow: contract, CVD from taker-buy volume, inputs filtered to T, every warning case."""

from __future__ import annotations

import copy

import pytest

from engine.analytics.batch import derive_timeframes
from engine.analytics.flow import build_flow
from engine.analytics.snapshot import build_snapshot
from engine.facts import FLOW, conformance_problems
from engine.inputs import validate_etf
from tests.analytics_data import config, synthetic_1m

DAY = 86_400_000
H = 3_600_000


@pytest.fixture(scope="module")
def market():
    df = synthetic_1m(days=28)
    t = int(df.index[0]) + 27 * DAY + 12 * H
    return df, t, build_snapshot(derive_timeframes(df), t, config())


def etf_doc(last_day="2023-12-11", n=8, flow=100_000_000):
    from datetime import date, timedelta
    end = date.fromisoformat(last_day)
    hist = [{"date": (end - timedelta(days=n - 1 - i)).isoformat(), "net_flow_usd": flow} for i in range(n)]
    return {"symbol": "BTC", "as_of": f"{last_day}T22:00:00Z", "history": hist,
            "summary": {"last_7d_total": 7 * flow, "last_3d_total": 3 * flow, "trend": "inflows",
                        "signal": "bullish", "comment": "steady"}}


def liq_doc(price, as_of, strength=0.8):
    return {"symbol": "BTC", "as_of": as_of, "current_price": price,
            "below_price": [{"price": price * 0.99, "zone": [price * 0.985, price * 0.995], "side": "long", "strength": strength}],
            "above_price": [{"price": price * 1.05, "zone": [price * 1.04, price * 1.06], "side": "short", "strength": 0.3}]}


def iso(ms):
    from engine.analytics.snapshot import iso_utc
    return iso_utc(ms)


def test_flow_conforms_and_computes_cvd_from_taker_buy(market):
    df, t, snap = market
    deriv = {"candles_1m": df, "funding": [[t - 2 * H, 0.0001], [t - 10 * H, 0.0002], [t - 30 * H, 0.05]],
             "open_interest": [[t - 24 * H, 100.0], [t - 5 * 60_000, 112.0]],
             "mark_index": [[t - 60_000, 101.0, 100.0]]}
    flow = build_flow(snap, deriv, {}, t, config())
    assert conformance_problems(flow, FLOW) == []
    win = df[(df.index >= t - H) & (df.index < t)]
    want = float((2 * win["taker_buy_volume"] - win["volume"]).sum())
    assert flow["derivatives"]["cvd"]["tf_1h"]["value"] == pytest.approx(want, rel=1e-12)
    assert flow["derivatives"]["taker"]["buy_volume"] == pytest.approx(float(win["taker_buy_volume"].sum()))
    assert flow["derivatives"]["funding"] == {"current": 0.0001, "avg_24h": pytest.approx(0.00015)}
    assert flow["derivatives"]["oi"]["change_24h"] == pytest.approx(12.0)
    assert flow["derivatives"]["basis"] == {"value": 1.0, "pct": 1.0}
    assert flow["warnings"]["extreme_oi"] == "medium" and flow["warnings"]["cvd_unknown"] is None
    assert flow["warnings"]["sentiment_missing"] == "medium"
    assert flow["news_sentiment"]["label"] == "neutral" and flow["news_sentiment"]["score"] == 0.0
    assert sum(flow["warning_counts"].values()) == len(flow["warning_list"])


def test_cvd_unknown_without_taker_volume(market):
    df, t, snap = market
    flow = build_flow(snap, {"candles_1m": df.drop(columns="taker_buy_volume")}, {}, t, config())
    assert flow["derivatives"]["cvd"]["tf_1h"] == {"value": None, "direction": None}
    assert flow["warnings"]["cvd_unknown"] == "low"
    assert any(w["type"] == "cvd_unknown" for w in flow["warning_list"])


def test_no_look_ahead_in_flow(market):
    df, t, snap = market
    inputs = {"etf": etf_doc(), "liquidations": liq_doc(snap["price"], iso(t - H)),
              "sentiment": {"as_of": iso(t - H), "score": 1, "label": "bullish", "comment": ""}}
    deriv = {"candles_1m": df, "funding": [[t - 2 * H, 0.0001]], "open_interest": [[t - 60_000, 5.0]]}
    full = build_flow(snap, deriv, inputs, t, config())
    later = {"candles_1m": df[df.index < t], "funding": [[t - 2 * H, 0.0001], [t + H, 0.9]],
             "open_interest": [[t - 60_000, 5.0], [t + 60_000, 999.0]]}
    future_inputs = copy.deepcopy(inputs)
    future_inputs["etf"]["history"].append({"date": iso(t)[:10], "net_flow_usd": -9e9})
    future_inputs["etf"]["summary"].update(last_7d_total=6 * 1e8 - 9e9, last_3d_total=2e8 - 9e9)
    future_inputs["etf"]["as_of"] = iso(t - H)
    assert build_flow(snap, later, inputs, t, config()) == full
    # A day not finished at T is not counted (trend/signal/comment are then recomputed from
    # the known days, not taken from an operator summary that saw the later day).
    partial = build_flow(snap, later, future_inputs, t, config())
    for k in ("last_7d_total", "last_3d_total", "stale", "last_date"):
        assert partial["etp_summary"][k] == full["etp_summary"][k]
    # An input entered after T is not known at T.
    future_sent = {**inputs, "sentiment": {"as_of": iso(t + 1000), "score": -2, "label": "bearish", "comment": ""}}
    assert build_flow(snap, deriv, future_sent, t, config())["warnings"]["sentiment_missing"] == "medium"


def test_staleness_and_strength_warnings(market):
    df, t, snap = market
    p = snap["price"]
    inputs = {"etf": etf_doc(last_day="2023-12-05", flow=-400_000_000),
              "liquidations": liq_doc(p, iso(t - 30 * H), strength=0.95),
              "sentiment": {"as_of": iso(t - 60 * H), "score": -2, "label": "bearish", "comment": "panic"}}
    inputs["etf"]["summary"].update(signal="bearish", trend="outflows")
    flow = build_flow(snap, {"candles_1m": df}, inputs, t, config())
    w = flow["warnings"]
    assert w["etf_data_stale"] == "medium" and flow["etp_summary"]["stale"] is True
    assert w["etf_strong_outflow"] == "medium"  # stale → one level down
    assert w["liq_data_stale"] == "medium" and flow["liquidation"]["stale"] is True
    assert w["liq_cluster_below"] == "low"  # strong and 1% away, but stale
    assert w["sentiment_stale"] == "low" and w["sentiment_extreme"] == "medium"
    assert flow["etp_summary"]["last_3d_total"] == -1_200_000_000


def test_fresh_inputs_and_risk_modes(market):
    df, t, snap = market
    p = snap["price"]
    fresh = {"etf": etf_doc(last_day=iso(t - DAY)[:10], flow=300_000_000),
             "liquidations": liq_doc(p, iso(t - H), strength=0.95),
             "sentiment": {"as_of": iso(t - H), "score": 1, "label": "bullish", "comment": ""}}
    flow = build_flow(snap, {"candles_1m": df}, fresh, t, config())
    assert flow["etp_summary"]["stale"] is False and flow["warnings"]["etf_strong_inflow"] == "medium"
    assert flow["warnings"]["liq_cluster_below"] == "high"
    assert flow["liquidation"]["nearest_below_distance_pct"] == pytest.approx(1.0)
    assert flow["liquidation"]["max_strength_above"] == 0.3
    assert 0 <= flow["risk"]["global_score"] <= 1
    stale_snap = {**snap, "data_age_s": 3600.0}
    dead = build_flow(stale_snap, {"candles_1m": df}, fresh, t, config())
    assert dead["warnings"]["market_data_stale"] == "high"
    assert dead["risk"] == {"global_score": 0.0, "mode": "risk_off"}


def test_invalid_etf_input_is_flagged_not_used(market):
    df, t, snap = market
    bad = etf_doc()
    bad["summary"]["last_3d_total"] = 1  # disagrees with history
    assert validate_etf(bad)[0] is None
    flow = build_flow(snap, None, {"etf": bad}, t, config())
    assert flow["warnings"]["etf_data_invalid"] == "high"
    assert flow["etp_summary"]["last_7d_total"] is None
    assert conformance_problems(flow, FLOW) == []


def test_etf_signal_recomputed_when_input_holds_later_days(market):
    df, t, snap = market
    doc = etf_doc(last_day=iso(t)[:10], flow=-300_000_000)  # today's day not finished at T
    doc["summary"].update(signal="bearish", trend="outflows", last_7d_total=-2.1e9, last_3d_total=-9e8)
    doc["as_of"] = iso(t - H)
    flow = build_flow(snap, None, {"etf": doc}, t, config())
    assert flow["etp_summary"]["last_3d_total"] == -9e8
    assert flow["etp_summary"]["last_date"] == iso(t - DAY)[:10]


def test_trap_without_liquidation_map_says_what_is_missing(market):
    """Issue 13: "trap unknown: no crowd reading" stood under a crowd reading. A neutral
    crowd is a reading; the comment says so, and says the liquidation map is missing."""
    from engine.analytics.flow import _trap
    from engine.analytics.params import section

    _, _, snap = market
    a = section(config(), "analytics")
    no_map = {"nearest_below_strength": None, "nearest_below_distance_pct": None,
              "nearest_above_strength": None, "nearest_above_distance_pct": None}
    neutral = {"bias_score": 0.02, "bias_side": "neutral", "description": "no crowded side (funding +0.02)"}
    trap = _trap(snap, neutral, no_map, 0.0, a)
    assert trap == {"score": None, "side": None,
                    "comment": "unknown: crowd neutral, no crowded side to trap and no liquidation map"}
    unknown = {"bias_score": None, "bias_side": None, "description": "unknown"}
    assert _trap(snap, unknown, no_map, 0.0, a)["comment"] == "unknown: no crowd reading and no liquidation map"
