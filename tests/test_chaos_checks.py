"""The chaos suite's own checks (tests/chaos/checks.py) catch what they claim to: each
case breaks one thing on a real exchange-sim and the check names it."""

from decimal import Decimal as D

import pytest

from connectors.db import models as M  # noqa: N812
from connectors.stores.execution_store import ExecutionStore
from engine.exchange.types import OrderRequest
from tests.chaos.checks import Invariant, books_agree
from tests.simnet import start_sim

SL = "90000.00"


@pytest.fixture
def sim():
    running = start_sim()
    yield running
    running.stop()


def _long(sim, stop: OrderRequest | None = None, tps: tuple[D, ...] = ()) -> dict:
    core = sim.venue.core
    core.place(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="capi_entry_1"))
    if stop is not None:
        core.place(stop)
    for n, q in enumerate(tps, 1):
        p = core.last_price + 1000 * n
        core.place(OrderRequest("BTCUSDT", "SELL", "TAKE_PROFIT_MARKET", q, stop_price=p.quantize(D("0.1")),
                                reduce_only=True, client_order_id=f"capi_tp{n}_1"))
    return {"sl_price": SL, "plan": {"sl": SL, "side": "long"}, "live": {}}


def stop(**kw) -> OrderRequest:
    return OrderRequest("BTCUSDT", "SELL", "STOP_MARKET", kw.pop("qty", None), stop_price=D(kw.pop("at", SL)),
                        close_position=kw.pop("close", True), reduce_only=kw.pop("reduce", False),
                        client_order_id="capi_sl_1")


def test_a_protected_position_passes(sim) -> None:
    inv = Invariant(sim)
    state = _long(sim, stop(), (D("0.005"), D("0.005")))
    assert inv.after_loop(state, D("0.010"), []) == [] and inv.checks == 1


@pytest.mark.parametrize(("broken", "says"), [
    ({"stop": None}, "without a stop"),
    ({"stop": stop(at="89000.00")}, "worse than the plan's SL"),
    ({"stop": stop(close=False, qty=D("0.005"), reduce=True)}, "for 0.005, position 0.010"),
    ({"tps": (D("0.010"), D("0.005"))}, "take-profits for 0.015 > position 0.010"),
])
def test_each_broken_protection_is_a_violation(sim, broken, says) -> None:
    inv = Invariant(sim)
    state = _long(sim, broken.get("stop", stop()), broken.get("tps", (D("0.005"),)))
    found = inv.after_loop(state, D("0.010"), [])
    assert any(says in f for f in found), found
    assert inv.violations == found


def test_a_stop_at_a_level_other_than_the_workers_is_a_violation(sim) -> None:
    inv = Invariant(sim)
    state = _long(sim, stop(at="90500.00"))  # better than the plan, but not what the worker holds
    assert any("the worker's SL is 90000.00" in f for f in inv.after_loop(state, D("0.010"), []))


def test_a_position_that_moved_after_the_read_is_judged_next_loop(sim) -> None:
    inv = Invariant(sim)
    state = _long(sim)  # filled after the loop read a flat position: not yet protected
    assert inv.after_loop(state, D("0"), []) == [] and inv.deferred == 1
    assert inv.after_loop(state, D("0.010"), [])  # the next loop did not protect it


def test_a_duplicate_cancelled_within_the_loop_is_still_seen(sim) -> None:
    inv = Invariant(sim)
    core = sim.venue.core
    p = core.last_price
    core.place(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.010"), price=(p * D("0.99")).quantize(D("0.1")),
                            client_order_id="capi_entry_1"))
    core.place(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.010"), price=(p * D("0.99")).quantize(D("0.1")),
                            client_order_id="capi_entry_1_2"))
    core.cancel("capi_entry_1_2")
    assert inv.after_loop({}, D(0), []) == []  # nothing doubled at the end of the loop…
    assert inv.at_placement and "capi_entry_1_2 live next to ['capi_entry_1']" in inv.at_placement[0]


def test_books_disagree_both_ways(sim, db) -> None:
    core = sim.venue.core
    store = ExecutionStore()
    p = core.last_price
    resting = core.place(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.010"), price=(p * D("0.99")).quantize(D("0.1")),
                                      client_order_id="capi_entry_1"))
    store.record_order(resting)
    store.flush()
    assert books_agree(sim)[0] == []
    core.cancel("capi_entry_1")  # the exchange no longer has it working; the DB still says NEW
    assert books_agree(sim)[0] == ["order capi_entry_1: DB NEW, exchange CANCELED"]
    filled = core.place(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="capi_entry_2"))
    assert "order capi_entry_2 (FILLED, filled 0.010) on the exchange, not in the DB" in books_agree(sim)[0]
    store.record_order(filled)
    M.Order.create(symbol="BTCUSDT", client_order_id="capi_entry_9", role="entry", side="BUY", type="LIMIT",
                   status="NEW", quantity=D("0.010"))
    found, figures = books_agree(sim)
    assert "order capi_entry_9 (NEW) in the DB, unknown to the exchange" in found
    assert figures["fills_exchange"] == figures["fills_db"] == 1
    core.place(OrderRequest("BTCUSDT", "SELL", "MARKET", D("0.010"), reduce_only=True, client_order_id="capi_close_2"))
    assert "trades: 0 in the DB, 1 round trips on the exchange" in books_agree(sim)[0]


def test_an_entry_filled_on_placement_has_its_fill_price_in_the_database(sim, db, tmp_path) -> None:
    """Found by the kill run's book check: a new order's answer carries no avgPrice; the
    lookup that does was deduplicated away (same status, same quantity), so the database
    kept no fill price for an entry filled at once."""
    from tests.execution_support import decision, make_worker

    w = make_worker(sim, tmp_path)
    w.start()
    p = sim.venue.market.last_price()
    w.decisions.current = decision(7, sim.venue.market.now_ms, "long", (p * 0.999, p * 1.002), p * 0.99, p * 1.01,
                                   p * 1.02, size_usdt=0.0101 * p * 1.002)
    w.run_once()
    w.run_once()
    assert sim.venue.core.ledger.qty == D("0.010")
    assert books_agree(sim)[0] == []
    assert D(M.Order.get(M.Order.client_order_id == "capi_entry_7").avg_fill_price) > 0
