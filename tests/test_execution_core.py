"""The pure execution core: refusals, chase, market fallback, protection, ids."""

from dataclasses import replace
from decimal import Decimal as D

import pytest

from engine.exchange.filters import BTCUSDT_PERP
from engine.exchange.types import Order
from engine.execution.core import step
from engine.execution.model import (
    Cancel,
    ExecSettings,
    ExecState,
    Place,
    SetLeverage,
    View,
    client_id,
    parse_client_id,
)
from tests.execution_support import decision

T0 = 1_762_819_200_000  # 2025-11-11 00:00 UTC
CFG = ExecSettings(restricted_hours_utc=((21, 23),), chase_after_s=30, max_chases=2)


def view(last="100000", bid=None, ask=None, pos="0", entry="0", orders=(), equity="10000", vol=0.1, closed=None):
    last = D(last)
    return View(position_qty=D(pos), entry_price=D(entry), open_orders=tuple(orders), last=last, mark=last,
                bid=D(bid) if bid else last, ask=D(ask) if ask else last + D("0.1"), filters=BTCUSDT_PERP,
                equity=D(equity), wallet=D(equity), available=D(equity), volatility_pct=vol, orders=closed or {})


def long_decision(did=1, ts=T0, conf=0.6, zone=(99800.0, 100200.0), **kw):
    d = decision(did, ts, "long", zone, 98000.0, 101500.0, 102000.0, size_usdt=1000.0, confidence=conf)
    return d | kw


def run(state, dec, v, now=T0 + 5_000, cfg=CFG):
    return step(state, dec, v, cfg, now)


def reasons(events):
    return [e.context.get("reason") for e in events if e.code == "decision_refused"]


def test_entry_is_one_limit_at_the_middle_of_the_zone() -> None:
    s, intents, events = run(ExecState(), long_decision(), view())
    assert s.phase == "ENTERING" and s.decision_id == "1"
    lev, p = intents
    assert lev == SetLeverage(3)  # the plan's leverage on the exchange first, while flat
    assert isinstance(p, Place) and p.request.type == "LIMIT" and p.request.price == D("100000.0")
    assert p.request.client_order_id == "capi_entry_1" and p.request.quantity == D("0.010")
    # the same decision is never entered twice
    s2, intents2, _ = run(replace(s, phase="NO_POSITION", live={}, watch={}), long_decision(), view())
    assert intents2 == []


@pytest.mark.parametrize("change, reason", [
    ({"ts": T0 - 11 * 60_000}, "decision_stale"),
    ({"ts": T0 + 10 * 60_000}, "decision_from_the_future"),
    ({"view": {"bid": "99990", "ask": "100100"}}, "abnormal_spread"),
    ({"view": {"vol": 2.0}}, "volatility_too_high"),
    ({"view": {"last": "100600"}}, "price_too_far_from_zone"),
    ({"view": {"last": "97900"}}, "price_beyond_sl"),
    ({"now": T0 + 21 * 3_600_000}, "restricted_session"),
    ({"state": {"last_exit_ms": T0 - 60_000}}, "cooldown_after_exit"),
    ({"state": {"day_key": T0 // 86_400_000, "day_start_equity": "10300"}}, "daily_drawdown_breached"),
    ({"dec": {"assumed_equity_usdt": 11000}}, "equity_below_assumed"),
    ({"dec": {"risk_checks": {"daily_dd_ok": False}}}, "risk_check_failed_daily_dd_ok"),
    ({"dec": {"sl": 100500.0}}, "sl_on_wrong_side"),
    ({"dec": {"entry_zone": [100200.0, 99800.0]}}, "malformed_entry_zone"),
    ({"dec": {"timestamp_iso": "yesterday"}}, "malformed_timestamp_iso"),
    ({"dec": {"action": "buy"}}, "malformed_action"),
    ({"state": {"safe_mode": "test"}}, "safe_mode"),
])
def test_refusals_stay_flat_and_say_why(change, reason) -> None:
    dec = long_decision(ts=change.get("ts", T0), **change.get("dec", {}))
    state = replace(ExecState(), **change.get("state", {}))
    s, intents, events = run(state, dec, view(**change.get("view", {})), now=change.get("now", T0 + 5_000))
    assert intents == [] and s.phase == "NO_POSITION"
    assert reasons(events) == [reason]
    _, _, again = run(s, dec, view(**change.get("view", {})), now=change.get("now", T0 + 6_000))
    assert reasons(again) == []  # said once, not every loop


def entry_order(cid="capi_entry_1", price="100000.0", qty="0.010", filled="0", status="NEW") -> Order:
    return Order("BTCUSDT", cid, 1, "BUY", "LIMIT", status, D(qty), D(filled), D(price) if D(filled) else D(0),
                 price=D(price))


def test_chase_then_market_fallback_only_with_confidence() -> None:
    wide = (99000.0, 101000.0)
    for conf, fallback in ((0.8, True), (0.6, False)):
        s, _, _ = run(ExecState(), long_decision(conf=conf, zone=wide), view())
        cid = "capi_entry_1"
        limit = D("100000.0")
        for k in range(4):
            # price drifts 0.18 % above the resting limit, 31 s later: cancel …
            now = s.entry_placed_ms + 31_000
            last = str((limit * D("1.0018")).quantize(D("0.1")))
            s, intents, ev = run(s, long_decision(conf=conf, zone=wide),
                                 view(last=last, orders=[entry_order(cid, str(limit))]), now=now)
            if not intents:
                break
            assert intents == [Cancel("entry", cid)]
            # … then, once it is seen cancelled, re-place closer (or at market after K chases)
            closed = {cid: entry_order(cid, str(limit), status="CANCELED")}
            s, intents, ev = run(s, long_decision(conf=conf, zone=wide), view(last=last, closed=closed),
                                 now=now + 2_000)
            [p] = intents
            cid = p.request.client_order_id
            assert parse_client_id(cid) == ("entry", "1", k + 2)
            if p.request.type == "MARKET":
                assert fallback and k == CFG.max_chases and "market_fallback" in [e.code for e in ev]
                break
            assert limit < p.request.price <= D("101000")  # closer, never outside the zone
            limit = p.request.price
        else:
            pytest.fail("never stopped chasing")
        if not fallback:
            assert s.chases == CFG.max_chases and intents == []


def test_partial_fill_protected_and_decision_change_stops_entry() -> None:
    s, _, _ = run(ExecState(), long_decision(), view())
    part = entry_order(filled="0.004", status="PARTIALLY_FILLED")
    s, intents, ev = run(s, long_decision(), view(pos="0.004", entry="100000", orders=[part]))
    places = {i.role: i.request for i in intents if isinstance(i, Place)}
    assert places["sl"].type == "STOP_MARKET" and places["sl"].close_position and places["sl"].stop_price == D("98000.0")
    assert places["tp1"].quantity == D("0.002") and places["tp2"].quantity == D("0.002")  # sized on what filled
    # a new decision arrives: the rest of the entry is cancelled, the position kept protected
    sl = Order("BTCUSDT", "capi_sl_1", 2, "SELL", "STOP_MARKET", "NEW", D(0), stop_price=D("98000.0"),
               close_position=True)
    s, intents, ev = run(s, long_decision(did=2), view(pos="0.004", entry="100000", orders=[part, sl]))
    assert Cancel("entry", "capi_entry_1") in intents and s.phase == "IN_POSITION"
    assert "entry_stopped" in [e.code for e in ev]


def test_tp1_moves_sl_to_break_even_and_never_back() -> None:
    s = ExecState()
    s, _, _ = run(s, long_decision(), view())
    filled = entry_order(filled="0.010", status="FILLED")
    s, intents, _ = run(s, long_decision(), view(pos="0.010", entry="100000", closed={"capi_entry_1": filled}))
    tps = {i.role: i.request for i in intents if isinstance(i, Place) and i.role.startswith("tp")}
    assert tps["tp1"].quantity == D("0.005") and tps["tp2"].quantity == D("0.005")
    assert tps["tp1"].stop_price == D("101500.0") and tps["tp1"].reduce_only
    tp1 = Order("BTCUSDT", "capi_tp1_1", 3, "SELL", "TAKE_PROFIT_MARKET", "FILLED", D("0.005"), D("0.005"),
                D("101500"), stop_price=D("101500.0"), reduce_only=True)
    sl = Order("BTCUSDT", "capi_sl_1", 2, "SELL", "STOP_MARKET", "NEW", D(0), stop_price=D("98000.0"),
               close_position=True)
    tp2 = Order("BTCUSDT", "capi_tp2_1", 4, "SELL", "TAKE_PROFIT_MARKET", "NEW", D("0.005"),
                stop_price=D("102000.0"), reduce_only=True)
    s, intents, ev = run(s, None, view(last="101550", pos="0.005", entry="100000", orders=[sl, tp2],
                                       closed={"capi_tp1_1": tp1}))
    assert s.tp1_done and D(s.sl_price) == D("100000")
    assert Cancel("sl", "capi_sl_1") in intents
    new_sl = [i for i in intents if isinstance(i, Place) and i.role == "sl"][0]
    assert new_sl.request.stop_price == D("100000.0") and new_sl.after_cancel == "capi_sl_1"
    # a later plan level further away never widens it
    s2, _, _ = run(replace(s, plan=s.plan | {"sl": "97000"}), None, view(last="101550", pos="0.005",
                                                                          entry="100000", orders=[tp2]))
    assert D(s2.sl_price) == D("100000")


def test_client_ids() -> None:
    assert client_id("entry", "12345678901234567890", 999) == "capi_entry_12345678901234567890_999"
    assert len(client_id("entry", "12345678901234567890", 999)) <= 36
    assert parse_client_id("capi_tp2_77_3") == ("tp2", "77", 3) and parse_client_id("manual_1") is None
    with pytest.raises(ValueError):
        client_id("entry", "a_b", 1)


def test_crash_between_write_ahead_and_send_never_duplicates() -> None:
    """The state says TP2 was being replaced by capi_tp2_1_2, but the process died before
    the cancel and the place went out: the old TP2 is still open and takes the role back."""
    s, _, _ = run(ExecState(), long_decision(), view())
    filled = entry_order(filled="0.010", status="FILLED")
    s, intents, _ = run(s, long_decision(), view(pos="0.010", entry="100000", closed={"capi_entry_1": filled}))
    sl = Order("BTCUSDT", "capi_sl_1", 2, "SELL", "STOP_MARKET", "NEW", D(0), stop_price=D("98000.0"),
               close_position=True)
    tp1 = Order("BTCUSDT", "capi_tp1_1", 3, "SELL", "TAKE_PROFIT_MARKET", "NEW", D("0.005"),
                stop_price=D("101500.0"), reduce_only=True)
    tp2 = Order("BTCUSDT", "capi_tp2_1", 4, "SELL", "TAKE_PROFIT_MARKET", "NEW", D("0.005"),
                stop_price=D("102000.0"), reduce_only=True)
    crashed = replace(s, live=s.live | {"tp2": "capi_tp2_1_2"}, seq=s.seq | {"tp2": 2},
                      watch=s.watch | {"capi_tp2_1_2": ["tp2", "0", "0"]})
    s2, intents, _ = run(crashed, long_decision(), view(pos="0.010", entry="100000", orders=[sl, tp1, tp2]))
    assert intents == [] and s2.live["tp2"] == "capi_tp2_1"
    # and a duplicate that somehow exists is cancelled, keeping the newest
    tp2b = replace(tp2, client_order_id="capi_tp2_1_3", order_id=5)
    s3, intents, _ = run(s2, long_decision(), view(pos="0.010", entry="100000", orders=[sl, tp1, tp2, tp2b]))
    assert Cancel("tp2", "capi_tp2_1_3") in intents or Cancel("tp2", "capi_tp2_1") in intents
    assert len([i for i in intents if isinstance(i, Place)]) == 0
