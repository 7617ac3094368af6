"""A full trade on replayed real data, through the REAL python-binance client against
exchange-sim: decision → entry limit → chase → TP1 (half) → SL to break-even → TP2."""

from decimal import Decimal as D

import pytest

from connectors.db import models as M  # noqa: N812
from connectors.exchange_sim.server import start
from tests.execution_scenario import find_long
from tests.execution_support import check_invariants, db_agrees, decision, make_worker, step_market
from tests.simnet import _rows, make_venue


@pytest.fixture
def scenario_sim():
    rows, _ = _rows()
    sc = find_long(rows, 1440)
    running = start(make_venue(history_minutes=sc.i))
    yield running, sc, rows
    running.stop()


def test_full_trade_with_chase_tp1_breakeven_tp2(scenario_sim, db, tmp_path) -> None:
    sim, sc, rows = scenario_sim
    w = make_worker(sim, tmp_path)
    w.start()
    now = sim.venue.market.now_ms
    assert now == rows[sc.i][0]
    w.decisions.current = decision(1, now, "long", sc.zone, sc.sl, sc.tp1, sc.tp2, size_usdt=0.0102 * sc.zone[1])
    codes = []
    sl_history = []
    for _ in range(sc.tp2_candle - sc.i + 3):
        had_position = sim.venue.core.ledger.qty != 0
        out = w.run_once()
        codes += [e.code for e in out["events"]]
        if w.state.sl_price and (not sl_history or sl_history[-1] != w.state.sl_price):
            sl_history.append(w.state.sl_price)
        if had_position:  # protected within the loop that first saw the position
            assert check_invariants(sim, {"1": D("0.010")}) == []
        step_market(sim)
    w.run_once()
    core = sim.venue.core
    orders = {cid: o for cid, o in core.orders.items()}
    # entry: the first limit at the middle of the zone never filled and was chased
    first, chased = orders["capi_entry_1"], orders["capi_entry_1_2"]
    assert (first.type, first.price, first.status, first.filled_qty) == ("LIMIT", D(str(sc.limit)), "CANCELED", 0)
    # re-placed by the risk left to the stop (finding 8 of issue 17), never by notional:
    # further from the SL than the first limit, it buys fewer contracts
    budget = D("0.010") * (first.price - D(str(sc.sl)))
    want = (budget / (chased.price - D(str(sc.sl)))).quantize(D("0.001"), "ROUND_DOWN")
    assert chased.status == "FILLED" and chased.filled_qty == min(want, D("0.010"))
    assert chased.filled_qty * (chased.price - D(str(sc.sl))) <= budget
    qty = chased.filled_qty
    half = (qty / 2).quantize(D("0.001"), "ROUND_DOWN")
    assert sc.zone[0] <= float(chased.price) <= sc.zone[1]
    # protection: SL at the plan, then at break-even (closer, never wider), TPs half and half
    sl1, sl2 = orders["capi_sl_1"], orders["capi_sl_1_2"]
    assert sl1.stop_price == D(str(sc.sl)) and sl1.status == "CANCELED" and sl1.close_position
    assert sl2.stop_price == D(str(chased.avg_price)).quantize(D("0.1")) and sl2.status == "CANCELED"
    assert [D(x) for x in sl_history] == [D(str(sc.sl)), sl2.stop_price]
    # As on Binance, a triggered take-profit fills through the MARKET order it placed
    # (its actualOrderId); the algo order itself holds no fill.
    tp1_algo, tp2_algo = orders["capi_tp1_1"], orders["capi_tp2_1"]
    assert (tp1_algo.type, tp1_algo.filled_qty, tp1_algo.reduce_only) == ("TAKE_PROFIT_MARKET", 0, True)
    assert tp2_algo.filled_qty == 0
    tp1, tp2 = core.triggered["capi_tp1_1"], core.triggered["capi_tp2_1"]
    assert (tp1.type, tp1.status, tp1.filled_qty, tp1.reduce_only) == ("MARKET", "FILLED", half, True)
    assert (tp2.status, tp2.filled_qty) == ("FILLED", qty - half)
    assert core.ledger.qty == 0 and core.open_orders() == []
    assert len(orders) == 8  # nothing else was ever sent: 6 of ours + the 2 triggered market orders
    for code in ("entry_placed", "entry_chased", "entry_fill", "sl_placed", "tp1_fill", "sl_moved", "tp2_fill",
                 "trade_closed"):
        assert code in codes, code
    # the books
    rows_db = {o.client_order_id: o for o in M.Order.select()}
    assert set(rows_db) == {cid for cid in orders if not cid.startswith("algo_")}
    for cid in rows_db:
        o = core.triggered.get(cid) or orders[cid]  # an algo order's fill is its actual order's
        assert rows_db[cid].status == o.status and D(rows_db[cid].filled_quantity) == o.filled_qty, cid
    trade = M.Trade.get()
    assert trade.exit_reason == "tp2" and trade.side == "long" and D(trade.quantity) == qty
    expected_gross = (tp1.avg_price - chased.avg_price) * half + (tp2.avg_price - chased.avg_price) * (qty - half)
    assert D(trade.details["gross_pnl"]) == expected_gross.quantize(D("0.00000001"))
    assert D(trade.pnl) == core.ledger.wallet - D("10000")  # net of fees, from the wallet
    assert M.Position.get().status == "closed"
    eq = list(M.EquityPoint.select().order_by(M.EquityPoint.time_ms))
    assert len(eq) >= 4 and D(eq[-1].equity) == core.ledger.wallet
    assert db_agrees(sim) == []
    notes = {n.code for n in M.Notification.select()}
    assert {"entry_placed", "trade_closed"} <= notes
    hb = M.BotState.get(M.BotState.component == "execution")
    assert hb.details["phase"] == "NO_POSITION" and hb.details["account"]["trades_today"] >= 1
