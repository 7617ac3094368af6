"""The execution core carries out the manage stage's asks (issue 11 item 3) with the same
protections: the stop never widens, never goes through the price, and stays on the
exchange; each decision's asks are carried out once, for the position they were made for."""

from __future__ import annotations

from decimal import Decimal as D

from engine.exchange.types import Order
from engine.execution import manage
from engine.execution.model import Place
from tests.test_execution_core import T0, entry_order, long_decision, run, view

SL = Order("BTCUSDT", "capi_sl_1", 2, "SELL", "STOP_MARKET", "NEW", D(0), stop_price=D("98000.0"), close_position=True)


def tp(role: str, qty: str, level: str) -> Order:
    return Order("BTCUSDT", f"capi_{role}_1", 3, "SELL", "TAKE_PROFIT_MARKET", "NEW", D(qty), stop_price=D(level),
                 reduce_only=True)


def in_position():
    """A long of 0.010 @ 100000 with its SL (98000) and targets on the exchange."""
    s, _, _ = run(manage_state(), long_decision(), view())
    filled = entry_order(filled="0.010", status="FILLED")
    s, _, _ = run(s, long_decision(), view(pos="0.010", entry="100000", closed={"capi_entry_1": filled}))
    return s


def manage_state():
    from engine.execution.model import ExecState
    return ExecState()


OPEN = [SL, tp("tp1", "0.005", "101500.0"), tp("tp2", "0.005", "102000.0")]


def asks(did: int, minutes: int = 10, side: str = "long", **m):
    return long_decision(did=did, ts=T0 + minutes * 60_000, action="flat", manage={"side": side, **m})


def places(intents, role):
    return [i.request for i in intents if isinstance(i, Place) and i.role == role]


def test_close_asked_by_a_rule_is_a_market_close_with_the_rules_reason() -> None:
    s = in_position()
    now = T0 + 10 * 60_000 + 5_000
    s, intents, ev = run(s, asks(2, close={"rule": "manage.time_stop", "reason": "time_stop"}),
                         view(last="100300", pos="0.010", entry="100000", orders=OPEN), now=now)
    [close] = places(intents, "close")
    assert close.type == "MARKET" and close.reduce_only and close.quantity == D("0.010") and close.side == "SELL"
    assert s.phase == "CLOSING" and s.managed == "2" and s.exit_reason == "time_stop"
    assert "market_close" in [e.code for e in ev]
    # the SL stays on the exchange while the close is out
    assert not [i for i in intents if getattr(i, "client_order_id", None) == "capi_sl_1"]
    # carried out once: the same decision again asks nothing new
    _, again, _ = run(s, asks(2, close={"rule": "manage.time_stop", "reason": "time_stop"}),
                      view(last="100300", pos="0.010", entry="100000", orders=OPEN), now=now + 1000)
    assert places(again, "close") == []
    # the trade closes with the rule's reason
    done = Order("BTCUSDT", close.client_order_id, 9, "SELL", "MARKET", "FILLED", D("0.010"), D("0.010"), D("100300"))
    s, _, ev = run(s, None, view(last="100300", pos="0", orders=OPEN, closed={close.client_order_id: done}),
                   now=now + 2000)
    [closed] = [e for e in ev if e.code == "trade_closed"]
    assert closed.context["exit_reason"] == "time_stop" and s.exit_reason is None and s.managed == "2"
    # read by people (console, Logs page): figures by meaning, the raw Decimals in the fields
    pnl = closed.context["pnl"]
    assert closed.message == f"long 0.010 closed by time_stop: pnl {D(pnl):.2f} USDT", (closed.message, pnl)


def test_stop_moves_only_tighter_never_through_the_price_and_stays_on_the_exchange() -> None:
    s = in_position()
    now = T0 + 10 * 60_000 + 5_000
    v = view(last="101000", pos="0.010", entry="100000", orders=OPEN)
    s, intents, ev = run(s, asks(2, stops=[{"rule": "manage.break_even", "break_even": True}]), v, now=now)
    assert D(s.sl_price) == D("100000")
    [new_sl] = places(intents, "sl")
    assert new_sl.stop_price == D("100000.0") and new_sl.close_position
    moved = Order("BTCUSDT", new_sl.client_order_id, 5, "SELL", "STOP_MARKET", "NEW", D(0),
                  stop_price=D("100000.0"), close_position=True)
    v2 = view(last="101000", pos="0.010", entry="100000", orders=[moved, *OPEN[1:]])
    # a wider stop (a trail that would be below break-even) is ignored: never widened
    s, intents, _ = run(s, asks(3, minutes=15, stops=[{"rule": "manage.trail", "trail_atr": 2, "price": 99500.0}]),
                        v2, now=now + 5 * 60_000)
    assert D(s.sl_price) == D("100000") and places(intents, "sl") == [] and s.managed == "3"
    # a stop through the price is refused, said, and the stop stays
    s, intents, ev = run(s, asks(4, minutes=20, stops=[{"rule": "manage.field", "field": "x", "price": 101200.0}]),
                         v2, now=now + 10 * 60_000)
    assert D(s.sl_price) == D("100000") and places(intents, "sl") == []
    assert any(e.code == "manage_refused" and "through the price" in e.message for e in ev)
    # of several, the tightest wins
    s, intents, _ = run(s, asks(5, minutes=25, stops=[{"rule": "a", "price": 100400.0}, {"rule": "b", "price": 100600.0}]),
                        v2, now=now + 15 * 60_000)
    assert D(s.sl_price) == D("100600") and places(intents, "sl")[0].stop_price == D("100600.0")


def test_reduce_takes_a_fraction_at_market_and_targets_follow_the_rest() -> None:
    s = in_position()
    now = T0 + 10 * 60_000 + 5_000
    s, intents, ev = run(s, asks(2, reduce={"rule": "manage.take_some", "fraction": 0.3, "reason": "take_some"}),
                         view(last="101000", pos="0.010", entry="100000", orders=OPEN), now=now)
    [red] = places(intents, "close")
    assert red.type == "MARKET" and red.reduce_only and red.quantity == D("0.003")
    assert s.phase == "IN_POSITION" and "position_reduced" in [e.code for e in ev]
    # too small to reduce (0.01 of 0.010 is below the step): refused, nothing sent
    s2 = in_position()
    _, intents, ev = run(s2, asks(2, reduce={"rule": "r", "fraction": 0.01, "reason": "tiny"}),
                         view(last="101000", pos="0.010", entry="100000", orders=OPEN), now=now)
    assert places(intents, "close") == [] and "manage_refused" in [e.code for e in ev]


def test_target_move_replaces_both_take_profits_and_the_nearest_wins() -> None:
    s = in_position()
    now = T0 + 10 * 60_000 + 5_000
    s, intents, ev = run(s, asks(2, targets=[{"rule": "roi.20", "percent": 1.0}, {"rule": "roi.30", "percent": 0.5}]),
                         view(last="100200", pos="0.010", entry="100000", orders=OPEN), now=now)
    assert D(s.target_price) == D("100500")
    levels = {r.client_order_id.split("_")[1]: r.stop_price for r in places(intents, "tp1") + places(intents, "tp2")}
    assert levels == {"tp1": D("100500.0"), "tp2": D("100500.0")}
    assert "target_moved" in [e.code for e in ev]


def test_asks_for_another_position_or_stale_ones_are_not_carried_out() -> None:
    s = in_position()
    now = T0 + 10 * 60_000 + 5_000
    v = view(last="100300", pos="0.010", entry="100000", orders=OPEN)
    s1, intents, ev = run(s, asks(2, side="short", close={"rule": "x", "reason": "x"}), v, now=now)
    assert places(intents, "close") == [] and s1.phase == "IN_POSITION"
    assert any(e.code == "manage_refused" and "short" in e.message for e in ev)
    s2, intents, _ = run(s, asks(3, minutes=-30, close={"rule": "x", "reason": "x"}), v, now=now)
    assert places(intents, "close") == [] and s2.phase == "IN_POSITION"


def test_position_facts_age_profit_and_r() -> None:
    s = in_position()
    s.opened_ms = T0
    manage.track(s, D("101000"), True)
    manage.track(s, D("99000"), True)
    f = manage.position_facts(s, D("0.010"), D("100000"), D("100500"), T0 + 90 * 60_000)
    # initial stop 98000: R = 2000
    assert f == {"age_min": 90.0, "profit_pct": 0.5, "r_now": 0.25, "r_best": 0.5, "r_worst": -0.5,
                 "tp1_done": False, "stop": 98000.0}
    short = manage.position_facts(s, D("-0.010"), D("100000"), D("100500"), T0 + 60_000)
    assert short["profit_pct"] == -0.5 and short["r_now"] == -0.25
    assert manage.position_facts(s, D(0), D(0), D("100500"), T0)["age_min"] is None


def test_live_position_fact_carries_the_management_facts_from_the_workers_state(db) -> None:
    """Live, the analysis cycle reads the open position (table positions) and its management
    facts from the execution worker's heartbeat state (bot_state), at the cycle's time and price."""
    from connectors.db.models import BotState, Position
    from connectors.stores.account_state import read_position
    s = in_position()
    s.opened_ms = T0
    manage.track(s, D("101000"), True)
    manage.track(s, D("99500"), True)
    Position.create(symbol="BTCUSDT", side="long", status="open", quantity="0.010", entry_price="100000",
                    opened_ms=T0, details={"decision_id": "1"})
    BotState.create(symbol="BTCUSDT", component="execution", state="RUNNING", details={"state": s.to_json()})
    p = read_position("BTCUSDT", T0 + 45 * 60_000, 100600.0)
    assert p["side"] == "long" and p["entry_price"] == 100000.0
    assert (p["age_min"], p["profit_pct"], p["r_now"], p["r_best"], p["r_worst"]) == (45.0, 0.6, 0.3, 0.5, -0.25)
    assert p["tp1_done"] is False and p["stop"] == 98000.0
    # without the cycle's price (or no worker state) the management facts are unknown, never guessed
    assert read_position("BTCUSDT")["age_min"] is None


def test_asks_decided_for_a_position_opened_at_another_time_are_refused() -> None:
    s = in_position()
    s.opened_ms = T0 + 5_000
    v = view(last="100300", pos="0.010", entry="100000", orders=OPEN)
    now = T0 + 10 * 60_000 + 5_000
    # the facts saw a position 30 minutes old: not this one (opened 10 minutes ago)
    s1, intents, ev = run(s, asks(2, opened_ms=T0 - 20 * 60_000, close={"rule": "x", "reason": "x"}), v, now=now)
    assert places(intents, "close") == [] and any("another time" in e.message for e in ev)
    s2, intents, _ = run(s, asks(3, opened_ms=T0, close={"rule": "x", "reason": "x"}), v, now=now)
    assert [r.type for r in places(intents, "close")] == ["MARKET"]
