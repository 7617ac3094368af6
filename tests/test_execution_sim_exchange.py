"""The same worker code on the in-process SimExchange (paper mode / backtester) as on
python-binance + exchange-sim: same scenario, same orders, same outcome; and the
emergency stop."""

from decimal import Decimal as D

import pytest

from connectors.db import models as M  # noqa: N812
from connectors.loops.execution_worker import ExecutionWorker
from connectors.stores.execution_store import ExecutionStore
from engine.clock import SimClock
from engine.exchange.sim.exchange import CandleFeed, SimExchange
from tests.execution_scenario import find_long
from tests.execution_support import FixedDecisions, decision, exec_config, unsalted_ids
from tests.simnet import _rows


def sqlite_only(backend):
    if backend.name != "sqlite":
        pytest.skip("the books are covered on MariaDB by the exchange-sim tests")


@pytest.fixture
def paper(db, backend, tmp_path):
    sqlite_only(backend)
    rows, _ = _rows()
    sc = find_long(rows, 1440)
    clock = SimClock(rows[sc.i][0])
    ex = SimExchange(CandleFeed(rows), clock)
    unsalted_ids()
    w = ExecutionWorker(ex, exec_config(tmp_path), ExecutionStore(), FixedDecisions(), tmp_path / "state.json", clock)
    return w, ex, clock, sc


def test_same_trade_on_the_in_process_exchange(paper) -> None:
    w, ex, clock, sc = paper
    w.start()
    w.decisions.current = decision(1, clock.now_ms(), "long", sc.zone, sc.sl, sc.tp1, sc.tp2,
                                   size_usdt=0.0102 * sc.zone[1])
    for _ in range(sc.tp2_candle - sc.i + 3):
        w.run_once()
        clock.advance(60_000)
    w.run_once()
    o = ex.core.orders
    assert set(o) == {"capi_entry_1", "capi_entry_1_2", "capi_sl_1", "capi_sl_1_2", "capi_tp1_1", "capi_tp2_1"}
    assert o["capi_entry_1"].status == "CANCELED" and o["capi_entry_1_2"].status == "FILLED"
    entered = o["capi_entry_1_2"].filled_qty  # re-placed by the risk left to the stop
    assert o["capi_tp1_1"].filled_qty == (entered / 2).quantize(D("0.001"), "ROUND_DOWN")
    assert o["capi_tp1_1"].filled_qty + o["capi_tp2_1"].filled_qty == entered
    assert o["capi_sl_1_2"].stop_price == o["capi_entry_1_2"].avg_price.quantize(D("0.1"))
    assert M.Trade.get().exit_reason == "tp2" and ex.core.ledger.qty == 0


def test_emergency_stop_cancels_everything_and_closes(paper) -> None:
    w, ex, clock, sc = paper
    w.start()
    p = float(ex.core.last_price)
    w.decisions.current = decision(3, clock.now_ms(), "long", (p * 0.999, p * 1.002), p * 0.99, p * 1.01, p * 1.02,
                                   size_usdt=0.0101 * p * 1.002)
    w.run_once()
    w.run_once()
    assert ex.core.ledger.qty == D("0.010") and len(ex.core.open_orders()) == 3
    closed = w.emergency_stop()
    assert closed is not None and closed.client_order_id == "capi_close_3" and closed.status == "FILLED"
    assert ex.core.ledger.qty == 0 and ex.core.open_orders() == []
    assert w.state.safe_mode == "emergency_stop"
    clock.advance(60_000)
    w.run_once()  # the trade is booked; no new entry while in SAFE MODE
    assert M.Trade.get().exit_reason == "close" and ex.core.open_orders() == []
    assert M.BotState.get(M.BotState.component == "execution").state == "SAFE_MODE"
    assert M.Notification.get(M.Notification.code == "emergency_stop").level == "CRITICAL"


def _control(**details) -> None:
    M.BotState.insert(symbol="BTCUSDT", component="control", state="IDLE", details=details).on_conflict(
        conflict_target=[M.BotState.symbol, M.BotState.component], update={M.BotState.details: details}).execute()


def test_operator_switches_from_the_admin_site_are_obeyed(paper) -> None:
    w, ex, clock, sc = paper
    w.start()
    p = float(ex.core.last_price)
    _control(entries_paused=True)
    w.decisions.current = decision(4, clock.now_ms(), "long", (p * 0.999, p * 1.002), p * 0.99, p * 1.01, p * 1.02,
                                   size_usdt=0.0101 * p * 1.002)
    w.run_once()
    assert ex.core.open_orders() == [] and ex.core.ledger.qty == 0  # paused: no entry
    _control(entries_paused=False)
    w.run_once()
    w.run_once()
    assert ex.core.ledger.qty == D("0.010") and len(ex.core.open_orders()) == 3  # entered and protected
    _control(entries_paused=True, emergency_stop={"status": "requested", "by": "admin"})
    w.run_once()
    assert ex.core.ledger.qty == 0 and ex.core.open_orders() == []
    stop = M.BotState.get(M.BotState.component == "control").details["emergency_stop"]
    assert stop["status"] == "done" and stop["result"] == "capi_close_4"
    w.run_once()  # done once, not again
    assert sum(1 for o in ex.core.orders if o.startswith("capi_close")) == 1
