from decimal import Decimal as D

import pytest

from engine.exchange.errors import (
    DuplicateClientOrderId,
    InsufficientMargin,
    MinNotional,
    ReduceOnlyRejected,
    UnknownOrder,
    WouldImmediatelyTrigger,
)
from engine.exchange.sim import SimConfig, SimCore
from engine.exchange.types import OrderRequest

T0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000)


def req(side, type_, qty=None, price=None, stop=None, cid=None, **kw):
    return OrderRequest("BTCUSDT", side, type_, None if qty is None else D(qty),
                        None if price is None else D(price), None if stop is None else D(stop),
                        client_order_id=cid, **kw)


def core(**kw) -> SimCore:
    c = SimCore(SimConfig(**kw))
    c.on_candle(T0, 100000.0, 100010.0, 99990.0, 100000.0)
    return c


def test_limit_fills_on_touch_not_before() -> None:
    c = core()
    c.place(req("BUY", "LIMIT", "0.010", "99900.0", cid="e1"))
    c.on_candle(T0 + 60_000, 100000, 100050, 99950, 100020)
    assert c.order("e1").status == "NEW"
    c.on_candle(T0 + 120_000, 100000, 100010, 99900, 99950)
    o = c.order("e1")
    assert (o.status, o.filled_qty, o.avg_price) == ("FILLED", D("0.010"), D("99900.0"))
    assert c.ledger.qty == D("0.010") and c.ledger.entry == D("99900.0")
    assert c.fills[-1].maker and c.fills[-1].fee == D("0.19980000")  # 0.02 % of 999


def test_cross_rule_needs_trade_through() -> None:
    c = core(fill_rule="cross")
    c.place(req("BUY", "LIMIT", "0.010", "99900.0", cid="e1"))
    c.on_candle(T0 + 60_000, 100000, 100010, 99900, 99950)
    assert c.order("e1").status == "NEW"
    c.on_candle(T0 + 120_000, 99950, 99960, 99899.9, 99950)
    assert c.order("e1").status == "FILLED"


def test_duplicate_client_id_refused_and_no_second_order() -> None:
    c = core()
    c.place(req("BUY", "LIMIT", "0.010", "99000.0", cid="capi_entry_1"))
    with pytest.raises(DuplicateClientOrderId) as e:
        c.place(req("BUY", "LIMIT", "0.010", "99000.0", cid="capi_entry_1"))
    assert e.value.code == -4116
    assert len(c.open_orders()) == 1
    c.cancel("capi_entry_1")
    c.place(req("BUY", "LIMIT", "0.010", "99000.0", cid="capi_entry_1"))  # reusable once closed
    with pytest.raises(UnknownOrder):
        c.cancel("nope")


def test_reduce_only_that_would_increase_is_rejected() -> None:
    c = core()
    with pytest.raises(ReduceOnlyRejected):
        c.place(req("SELL", "MARKET", "0.010", reduce_only=True))
    c.place(req("BUY", "MARKET", "0.010"))
    with pytest.raises(ReduceOnlyRejected):
        c.place(req("BUY", "MARKET", "0.010", reduce_only=True))
    o = c.place(req("SELL", "MARKET", "0.020", reduce_only=True))  # clipped to the position
    assert o.filled_qty == D("0.010") and c.ledger.qty == 0


def test_stop_before_take_profit_when_candle_touches_both() -> None:
    c = core()
    c.place(req("BUY", "MARKET", "0.010"))
    c.place(req("SELL", "STOP_MARKET", stop="99500.0", cid="sl", close_position=True))
    c.place(req("SELL", "TAKE_PROFIT_MARKET", "0.010", stop="100500.0", cid="tp", reduce_only=True))
    # bearish candle: path O→H→L→C reaches the TP first, but the stop wins (pessimistic)
    c.on_candle(T0 + 60_000, 100000, 100600, 99400, 99450)
    assert c.order("sl").status == "FILLED" and c.order("sl").avg_price == D("99500.0")
    assert c.order("tp").status == "EXPIRED"
    assert c.ledger.qty == 0
    assert c.ledger.realized_pnl == D("-5.00000000")


def test_path_rule_orders_entry_then_stop() -> None:
    c = core()
    c.place(req("SELL", "LIMIT", "0.010", "100300.0", cid="short"))
    c.place(req("BUY", "STOP_MARKET", stop="100600.0", cid="sl", close_position=True))
    # bullish candle O→L→H→C: rises through the entry, then the stop
    c.on_candle(T0 + 60_000, 100000, 100700, 99950, 100650)
    assert c.order("short").status == "FILLED" and c.order("sl").status == "FILLED"
    assert c.ledger.qty == 0 and c.ledger.realized_pnl == D("-3.00000000")


def test_stop_gapping_fills_at_open_and_immediate_trigger_refused() -> None:
    c = core()
    c.place(req("BUY", "MARKET", "0.010"))
    with pytest.raises(WouldImmediatelyTrigger):
        c.place(req("SELL", "STOP_MARKET", stop="100100.0", close_position=True))
    c.place(req("SELL", "STOP_MARKET", stop="99900.0", cid="sl", close_position=True))
    c.on_candle(T0 + 60_000, 99800, 99850, 99700, 99750)
    assert c.order("sl").avg_price == D("99800.0")


def test_min_notional_and_margin() -> None:
    c = core(starting_balance=D("100"), leverage=5)
    with pytest.raises(MinNotional):
        c.place(req("BUY", "LIMIT", "0.001", "99000.0"))
    with pytest.raises(InsufficientMargin):
        c.place(req("BUY", "LIMIT", "0.010", "99000.0"))  # 198 USDT margin > 100


def test_funding_paid_at_funding_time() -> None:
    c = core()
    c.set_funding_schedule([(T0 + 120_000, "0.0001")])
    c.place(req("BUY", "MARKET", "0.010"))
    c.on_candle(T0 + 60_000, 100000, 100000, 100000, 100000)
    assert c.funding_events == []
    c.on_candle(T0 + 120_000, 100000, 100000, 100000, 100000)
    assert c.funding_events == [(T0 + 120_000, D("0.0001"), D("0.10000000"))]


def test_partial_fills_by_volume() -> None:
    c = core(max_fill_fraction_of_volume=0.001)
    c.place(req("BUY", "LIMIT", "0.010", "99900.0", cid="e"))
    c.on_candle(T0 + 60_000, 100000, 100000, 99800, 99850, volume=6.0)  # cap 0.006
    assert (c.order("e").status, c.order("e").filled_qty) == ("PARTIALLY_FILLED", D("0.006"))
    c.on_candle(T0 + 120_000, 99850, 99950, 99800, 99850, volume=6.0)
    assert (c.order("e").status, c.order("e").filled_qty) == ("FILLED", D("0.010"))


def test_liquidation_estimate_and_execution() -> None:
    c = core(margin_type="ISOLATED", leverage=10)
    c.place(req("BUY", "MARKET", "0.010"))
    liq = c.position().liquidation_price
    assert liq is not None and D("90300") < liq < D("90400")  # 100000·0.9/0.996
    c.on_candle(T0 + 60_000, 100000, 100000, 90000, 90100)
    assert c.ledger.qty == 0


def test_flip_realises_and_reopens() -> None:
    c = core()
    c.place(req("BUY", "MARKET", "0.010"))
    c.on_candle(T0 + 60_000, 100000, 100100, 100000, 100100)
    c.place(req("SELL", "MARKET", "0.030"))
    assert c.ledger.qty == D("-0.020") and c.ledger.entry == D("100100.0")
    assert c.ledger.realized_pnl == D("1.00000000")
