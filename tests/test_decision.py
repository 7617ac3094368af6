"""The decision object and the ATR sizing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.decision import DECISION_FIELDS, decide
from engine.exchange.filters import BTCUSDT_PERP
from engine.risk.sizing import SizingRefused, plan_trade
from engine.rules.samples import typical_long
from tests.rules_support import default_rules

SETTINGS = {"risk_percent": 0.5, "sl_atr_k": 1.5, "tp1_r": 1.5, "tp2_r": 3.0, "entry_zone_atr": 0.25}


def test_long_sizing_follows_the_formula() -> None:
    p = plan_trade("long", 60000.0, 120.0, 59900.0, 10000.0, SETTINGS, 1.0, 3)
    assert p.sl_distance == 180.0                       # 1.5 × ATR beats the 100 to the swing low
    assert (p.sl, p.tp1, p.tp2) == (Decimal("59820.0"), Decimal("60270.0"), Decimal("60540.0"))
    assert p.quantity == Decimal("0.277")               # 50 USDT / 180 = 0.2777 rounded DOWN to 0.001
    assert p.entry_zone == (Decimal("59970.0"), Decimal("60030.0"))


def test_structural_stop_wins_when_further() -> None:
    p = plan_trade("short", 60000.0, 100.0, 60500.0, 10000.0, SETTINGS, 1.0, 3)
    assert p.sl_distance == 500.0 and p.sl == Decimal("60500.0") and p.tp2 == Decimal("58500.0")


def test_swing_on_the_wrong_side_is_ignored() -> None:
    p = plan_trade("long", 60000.0, 100.0, 60100.0, 10000.0, SETTINGS, 1.0, 3)
    assert p.sl_distance == 150.0


def test_notional_capped_at_equity_times_mode_leverage() -> None:
    p = plan_trade("long", 60000.0, 5.0, None, 10000.0, SETTINGS, 1.0, 2)   # tiny stop -> huge size
    assert p.capped_by_leverage and p.notional <= Decimal("20000") and p.leverage == 2


def test_prices_on_tick_and_quantity_on_step() -> None:
    p = plan_trade("long", 61234.567, 133.33, None, 12345.0, SETTINGS, 0.6, 3)
    for price in (p.sl, p.tp1, p.tp2, *p.entry_zone):
        assert price % BTCUSDT_PERP.tick_size == 0
    assert p.quantity % BTCUSDT_PERP.step_size == 0


def test_refused_below_min_notional_and_without_leverage() -> None:
    with pytest.raises(SizingRefused) as info:
        plan_trade("long", 60000.0, 120.0, None, 50.0, SETTINGS, 1.0, 3)
    assert info.value.reason == "below_min_notional"
    with pytest.raises(SizingRefused) as info:
        plan_trade("long", 60000.0, 120.0, None, 10000.0, SETTINGS, 1.0, 0)
    assert info.value.reason == "leverage_zero"


def test_decision_has_exactly_the_spec_fields() -> None:
    compiled, engine = default_rules()
    d, trace = decide(compiled, typical_long(), engine)
    assert tuple(d) == DECISION_FIELDS
    assert d["action"] == "long" and d["ruleset_version"] == compiled.version
    assert d["sl"] < d["entry_zone"][0] <= d["entry_zone"][1] < d["tp1"] < d["tp2"]
    assert 0 < d["confidence"] <= 1 and d["leverage"] <= 3 and 0 <= d["risk_level"] <= 5
    assert trace["decision"] is d and trace["sizing"]["quantity"]


def test_flat_decision_has_null_trade_fields_and_zero_size() -> None:
    compiled, engine = default_rules()
    facts = typical_long()
    facts["account"]["daily_pnl_pct"] = -3.0
    d, _ = decide(compiled, facts, engine)
    assert d["action"] == "flat" and d["reason"] == "daily_drawdown_limit"
    assert [d[k] for k in ("entry_zone", "sl", "tp1", "tp2", "leverage")] == [None] * 5
    assert d["position_size_usdt"] == 0.0 and d["risk_checks"]["daily_dd_ok"] is False


def test_missing_inputs_flat_with_zero_confidence_and_an_error() -> None:
    compiled, engine = default_rules()
    d, trace = decide(compiled, {"snapshot": None, "flow": None, "account": None, "position": None}, engine)
    assert d["action"] == "flat" and d["confidence"] == 0.0 and trace["errors"]


def test_confidence_formula() -> None:
    compiled, engine = default_rules()
    facts = typical_long()
    facts["flow"]["risk"]["global_score"] = 0.3            # cautious: confidence × 0.8
    facts["flow"]["news_sentiment"]["score"] = -0.5        # sentiment against a long: × 0.85
    facts["flow"]["derivatives"]["cvd"]["tf_1h"]["direction"] = "down"   # warning penalty 0.15
    d, trace = decide(compiled, facts, engine)
    r = trace["result"]
    expected = max(r["score_long"], r["score_short"]) * 0.8 * 0.85 * (1 - 0.15)
    assert d["risk_mode"] == "cautious_risk_on" and d["confidence"] == pytest.approx(expected)


def test_same_facts_same_decision() -> None:
    compiled, engine = default_rules()
    assert decide(compiled, typical_long(), engine)[0] == decide(compiled, typical_long(), "python")[0]
