"""Issue 17, findings 1–8: each reproduced against exchange-sim (answering as Binance
documents) or the pure core, through the REAL python-binance client where an exchange is
involved. Each failed on the code before the fix. (Finding 9, the user-data stream, is
part 2 of the issue.)"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal as D

import pytest

from connectors.db import models as M  # noqa: N812
from connectors.exchange_sim.faults import FaultPlan
from connectors.exchange_sim.server import start
from connectors.stores.execution_store import ExecutionStore
from engine.exchange.errors import AccountModeRefused, DuplicateClientOrderId, InvalidClientOrderId
from engine.exchange.types import Order, OrderRequest
from engine.execution.core import step
from engine.execution.model import CID_RE, ExecSettings, ExecState, Place, client_id
from engine.execution.protection import market_close
from tests.execution_scenario import find_long
from tests.execution_support import check_invariants, decision, make_worker, step_market
from tests.simnet import _rows, exchange_for, make_venue, start_sim
from tests.test_execution_core import T0, entry_order, long_decision, run, view

BINANCE_ID = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"


@pytest.fixture
def trade():
    rows, _ = _rows()
    sc = find_long(rows, 1440)
    running = start(make_venue(history_minutes=sc.i))
    yield running, sc
    running.stop()


def _until_tp1_triggers(sim, w, sc) -> None:
    """Run the worker on the scenario until the candle that triggers TP1 has passed:
    the next run_once is the loop that sees TP1 done."""
    w.start()
    w.decisions.current = decision(1, sim.venue.market.now_ms, "long", sc.zone, sc.sl, sc.tp1, sc.tp2,
                                   size_usdt=0.0102 * sc.zone[1])
    for _ in range(sc.tp2_candle - sc.i):
        w.run_once()
        step_market(sim)
        if "capi_tp1_1" in sim.venue.core.triggered:
            return
    pytest.fail("TP1 never triggered in the scenario")


def _stops(sim) -> list[Order]:
    return [o for o in sim.venue.core.open_orders() if o.type == "STOP_MARKET"]


# --- finding 1: triggered stop / take-profit fills ------------------------------------------

def test_f1_tp1_fill_read_through_actual_order_moves_stop_to_break_even_once(trade, db, tmp_path) -> None:
    sim, sc = trade
    w = make_worker(sim, tmp_path)
    _until_tp1_triggers(sim, w, sc)
    core = sim.venue.core
    entered = core.orders["capi_entry_1_2"].filled_qty
    tp1 = core.triggered["capi_tp1_1"]  # the MARKET order Binance's algo service placed
    assert core.ledger.qty == entered - tp1.filled_qty > 0
    out = w.run_once()
    assert w.state.tp1_done
    assert "tp1_fill" in [e.code for e in out["events"]]
    [sl] = _stops(sim)
    assert sl.stop_price == core.orders["capi_entry_1_2"].avg_price.quantize(D("0.1"))  # break-even
    for _ in range(2):  # no second "TP1" sell halving what is left
        w.run_once()
    assert core.ledger.qty == entered - tp1.filled_qty
    assert not [cid for cid in core.orders if cid.startswith("capi_tp1_") and cid != "capi_tp1_1"]


def test_f1_tp1_cross_checked_with_the_drop_in_position() -> None:
    """A TP1 order that closed with no fill in its answer while the position fell by its
    quantity did fill: TP1 is done and the stop goes to break-even (no second TP1)."""
    s, _, _ = run(ExecState(), long_decision(), view())
    s, intents, _ = run(s, long_decision(), view(pos="0.010", entry="100000",
                                                 closed={"capi_entry_1": entry_order(filled="0.010", status="FILLED")}))
    silent = Order("BTCUSDT", "capi_tp1_1", 3, "SELL", "TAKE_PROFIT_MARKET", "EXPIRED", D("0.005"),
                   stop_price=D("101500.0"), reduce_only=True)
    sl = Order("BTCUSDT", "capi_sl_1", 2, "SELL", "STOP_MARKET", "NEW", D(0), stop_price=D("98000.0"),
               close_position=True)
    s, intents, ev = run(s, None, view(last="101550", pos="0.005", entry="100000", orders=[sl],
                                       closed={"capi_tp1_1": silent}))
    assert s.tp1_done and D(s.sl_price) == D("100000")
    assert "tp1_fill_inferred" in [e.code for e in ev]
    assert not [i for i in intents if isinstance(i, Place) and i.role == "tp1"]


# --- finding 2 / protection invariant: a refused stop -----------------------------------------

@pytest.mark.parametrize("code", [-4014, -1111])
def test_f2_refused_new_stop_re_places_the_last_good_one_at_once(trade, db, tmp_path, code) -> None:
    sim, sc = trade
    w = make_worker(sim, tmp_path)
    _until_tp1_triggers(sim, w, sc)
    old_stop = _stops(sim)[0].stop_price
    sim.venue.faults = FaultPlan(refuse_next=[{"endpoint": "POST /fapi/v1/algoOrder", "code": code}])
    out = w.run_once()  # sees TP1, moves the SL to break-even: refused
    codes = {e.code: e.level for e in out["events"]}
    assert codes.get("sl_refused_restored") == "CRITICAL"
    [sl] = _stops(sim)  # protected within the same loop, at the last good level
    assert sl.stop_price == old_stop and sl.close_position
    assert check_invariants(sim) == [] and not w.state.safe_mode
    out = w.run_once()  # the refused level is not asked again, silently or otherwise
    assert "sl_refused_restored" not in [e.code for e in out["events"]] and _stops(sim)[0].stop_price == old_stop
    assert M.Notification.get(M.Notification.code == "sl_refused_restored").level == "CRITICAL"


def test_f2_stop_refused_with_2021_closes_at_market_at_once(trade, db, tmp_path) -> None:
    sim, sc = trade
    w = make_worker(sim, tmp_path)
    _until_tp1_triggers(sim, w, sc)
    sim.venue.faults = FaultPlan(refuse_next=[{"endpoint": "POST /fapi/v1/algoOrder", "code": -2021}])
    out = w.run_once()
    assert {e.code: e.level for e in out["events"]}.get("sl_refused_closing") == "CRITICAL"
    assert sim.venue.core.ledger.qty == 0  # closed at market in the same loop
    assert check_invariants(sim) == []


def test_f2_refused_first_stop_with_nothing_to_fall_back_on_closes(db, tmp_path) -> None:
    sim = start_sim()
    try:
        w = make_worker(sim, tmp_path)
        w.start()
        sim.venue.core.place(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="manual_1"))
        sim.venue.faults = FaultPlan(refuse_next=[{"endpoint": "POST /fapi/v1/algoOrder", "code": -4014}])
        w.run_once()  # reconciliation adopts the position; its SL is refused: closed, never left naked
        assert sim.venue.core.ledger.qty == 0
        assert M.Notification.get(M.Notification.code == "sl_refused_closing").level == "CRITICAL"
    finally:
        sim.stop()


# --- finding 3: equity under ISOLATED margin --------------------------------------------------

def test_f3_equity_counts_isolated_pnl(trade, db, tmp_path) -> None:
    sim, sc = trade
    w = make_worker(sim, tmp_path, margin_type="ISOLATED")
    w.start()
    core = sim.venue.core
    core.place(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.050"), client_order_id="manual_2"))
    step_market(sim, 30)
    assert core.ledger.margin_type == "ISOLATED" and core.position().unrealized_pnl != 0
    out = w.run_once()
    v = out["view"]
    assert v.equity == core.ledger.wallet + core.position().unrealized_pnl
    assert v.equity != v.wallet


# --- finding 4: the decision's leverage on the exchange -----------------------------------------

def test_f4_entry_sets_the_plans_leverage_first(db, tmp_path) -> None:
    sim = start_sim()
    try:
        w = make_worker(sim, tmp_path, leverage=3)
        w.start()
        assert sim.venue.core.ledger.leverage == 3
        p = sim.venue.market.last_price()
        d = decision(6, sim.venue.market.now_ms, "long", (p * 0.998, p * 0.999), p * 0.99, p * 1.01, p * 1.02,
                     size_usdt=40_000.0)  # 13,333 USDT of margin at 3x > 10,000; 8,000 at 5x
        w.decisions.current = d | {"leverage": 5}
        out = w.run_once()
        assert sim.venue.core.ledger.leverage == 5
        assert "order_rejected" not in [e.code for e in out["events"]], [(e.code, e.message) for e in out["events"]]
        assert "entry_placed" in [e.code for e in out["events"]], [(e.code, e.message) for e in out["events"]]
        assert [o.client_order_id for o in sim.venue.core.open_orders()] == ["capi_entry_6"]
    finally:
        sim.stop()


# --- finding 5: -2022 when our close meets the stop ---------------------------------------------

def test_f5_reduce_only_refused_means_already_reduced_not_safe_mode(trade, db, tmp_path) -> None:
    sim, sc = trade
    w = make_worker(sim, tmp_path)
    _until_tp1_triggers(sim, w, sc)
    w.run_once()
    core = sim.venue.core
    view_then, _ = w.gather()
    assert view_then.position_qty > 0
    close = market_close(w.state, view_then, w.cfg, "BTCUSDT")
    assert close is not None
    # our stop fires at that very moment: flat before our close arrives. (Its own fill, as
    # the exchange's trigger makes it: a foreign order closing the position would be an
    # unexplained change, issue 15, and rightly put the worker in SAFE MODE.)
    sl = next(o for o in _stops(sim) if o.side == "SELL")
    core._unrest(sl)
    core._trigger_algo(sl, core.ledger.qty, D(str(sim.venue.market.last_price())))
    events = w.execute([close])  # judged against the view just gathered
    assert [(e.code, e.level) for e in events] == [("already_reduced", "WARNING")]
    assert not w.state.safe_mode
    w.run_once()  # re-reads: flat, the trade is booked, no SAFE MODE
    assert not w.state.safe_mode and w.state.phase == "NO_POSITION" and core.open_orders() == []


# --- finding 6: hedge-mode accounts ---------------------------------------------------------------

def test_f6_hedge_mode_with_a_position_refuses_to_start_naming_it(db, tmp_path) -> None:
    sim = start_sim()
    try:
        c = exchange_for(sim).t.client
        c.futures_change_position_mode(dualSidePosition="true")
        c.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010", positionSide="LONG",
                               newClientOrderId="hedged_1")
        w = make_worker(sim, tmp_path)
        with pytest.raises(AccountModeRefused, match=r"BTCUSDT LONG 0\.010"):
            w.start()
        assert M.Notification.get(M.Notification.code == "account_mode_refused").level == "CRITICAL"
        assert sim.venue.dual_side  # nothing was changed, nothing traded
        assert [cid for cid in sim.venue.core.orders] == ["hedged_1"]
    finally:
        sim.stop()


def test_f6_hedge_mode_when_flat_is_switched_to_one_way(db, tmp_path) -> None:
    sim = start_sim()
    try:
        exchange_for(sim).t.client.futures_change_position_mode(dualSidePosition="true")
        w = make_worker(sim, tmp_path)
        w.start()
        assert not sim.venue.dual_side
    finally:
        sim.stop()


# --- finding 7: client ids --------------------------------------------------------------------------

def test_f7_invalid_client_id_is_not_a_duplicate() -> None:
    sim = start_sim()
    try:
        ex = exchange_for(sim)
        with pytest.raises(InvalidClientOrderId) as err:
            ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="x" * 37))
        assert err.value.code == -4015 and not isinstance(err.value, DuplicateClientOrderId)
        assert sim.venue.core.ledger.qty == 0
    finally:
        sim.stop()


def test_f7_client_ids_are_salted_per_installation(db) -> None:
    store = ExecutionStore()
    first = store.client_id_prefix()
    assert store.client_id_prefix() == first  # kept
    M.BotState.delete().where(M.BotState.component == "installation").execute()  # a reset database
    second = store.client_id_prefix()
    assert first != second or first != "capi"
    prefixes = {first, second}
    for _ in range(5):
        M.BotState.delete().where(M.BotState.component == "installation").execute()
        prefixes.add(store.client_id_prefix())
    assert len(prefixes) >= 5 and "capi" not in prefixes
    for p in prefixes:
        cid = client_id("entry", "12345678901234567890", 999, p)
        assert len(cid) <= 36 and CID_RE.match(cid) and re.match(BINANCE_ID, cid)


# --- finding 8: re-placed entries sized by the risk left -------------------------------------------

def test_f8_chase_is_sized_by_the_risk_left_to_the_stop() -> None:
    cfg = ExecSettings(restricted_hours_utc=(), chase_after_s=30, max_chases=3, market_fallback_min_confidence=0.5)
    zone, sl = (99800.0, 100400.0), 99500.0
    dec = decision(1, T0, "long", zone, sl, 101500.0, 102000.0, size_usdt=1010.0, confidence=0.8)
    s, intents, _ = step(ExecState(), dec, view(), cfg, T0 + 5_000)
    first = [i for i in intents if isinstance(i, Place)][0].request
    budget = first.quantity * (first.price - D(str(sl)))
    # a partial fill at the first limit, then price runs 0.3 % away: chase
    part = entry_order("capi_entry_1", str(first.price), str(first.quantity), "0.004", "PARTIALLY_FILLED")
    s, intents, _ = step(s, dec, view(pos="0.004", entry=str(first.price), orders=[part]), cfg, T0 + 6_000)
    last = "100350.0"
    s, intents, _ = step(s, dec, view(last=last, bid=last, pos="0.004", entry=str(first.price), orders=[part]), cfg,
                         s.entry_placed_ms + 31_000)
    assert [i.client_order_id for i in intents if not isinstance(i, Place)] == ["capi_entry_1"]
    gone = replace(part, status="CANCELED")
    s, intents, _ = step(s, dec, view(last=last, bid=last, pos="0.004", entry=str(first.price),
                                      closed={"capi_entry_1": gone}), cfg, s.entry_placed_ms + 33_000)
    [chase] = [i.request for i in intents if isinstance(i, Place) and i.role == "entry"]
    risk = D("0.004") * (first.price - D(str(sl))) + chase.quantity * (chase.price - D(str(sl)))
    assert risk <= budget, f"chase {chase.quantity} @ {chase.price} risks {risk} > planned {budget}"
    assert chase.quantity > 0

