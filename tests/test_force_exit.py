"""Force exit of the open trade (issue 13, point 8): the command row the admin site writes
reaches the execution worker, which closes at market without SAFE MODE; the heartbeat
carries the mark and liquidation price the Position page shows."""

from decimal import Decimal as D

import pytest

from connectors.db import models as M  # noqa: N812
from connectors.loops.execution_worker import ExecutionWorker
from connectors.stores.execution_store import FORCE_EXIT, ExecutionStore
from engine.clock import SimClock
from engine.exchange.sim.exchange import CandleFeed, SimExchange
from tests.execution_scenario import find_long
from tests.execution_support import FixedDecisions, decision, exec_config
from tests.simnet import _rows


@pytest.fixture
def paper(db, backend, tmp_path):
    if backend.name != "sqlite":
        pytest.skip("the worker's books are covered on MariaDB by the exchange-sim tests")
    rows, _ = _rows()
    sc = find_long(rows, 1440)
    clock = SimClock(rows[sc.i][0])
    ex = SimExchange(CandleFeed(rows), clock)
    w = ExecutionWorker(ex, exec_config(tmp_path), ExecutionStore(), FixedDecisions(), tmp_path / "state.json", clock)
    return w, ex, clock


def test_force_exit_row_reaches_the_worker_and_closes_at_market(paper) -> None:
    w, ex, clock = paper
    w.start()
    p = float(ex.core.last_price)
    w.decisions.current = decision(5, clock.now_ms(), "long", (p * 0.999, p * 1.002), p * 0.99, p * 1.01, p * 1.02,
                                   size_usdt=0.0101 * p * 1.002)
    w.run_once()
    w.run_once()
    assert ex.core.ledger.qty == D("0.010")
    beat = M.BotState.get(M.BotState.component == "execution").details["position"]
    assert D(beat["mark_price"]) > 0 and beat["liquidation_price"] is not None  # shown on the Position page
    w.decisions.current = None  # no new entry to confuse the picture
    # what web/sections/position.py writes (tests/web/test_trader_pages.py checks the site writes it)
    M.BotState.create(symbol="BTCUSDT", component=FORCE_EXIT, state="REQUESTED",
                      details={"status": "requested", "by": "operator", "reason": "news in 5 minutes"})
    assert ExecutionStore().force_exit_request() == "news in 5 minutes"
    w.run_once()  # one loop: the close goes out (the stop stays until it fills)
    assert ex.core.ledger.qty == 0
    assert M.BotState.get(M.BotState.component == FORCE_EXIT).details["status"] == "done"
    assert ExecutionStore().force_exit_request() is None  # done once, not again
    clock.advance(60_000)
    w.run_once()
    w.run_once()
    assert M.Trade.get().exit_reason == "close" and ex.core.open_orders() == []
    assert not w.state.safe_mode  # unlike the emergency stop: the bot keeps trading
    assert M.BotState.get(M.BotState.component == "execution").state != "SAFE_MODE"
    assert M.Notification.select().where(M.Notification.code == "market_close").exists()


def test_force_exit_while_flat_is_answered_and_cleared(paper) -> None:
    w, ex, clock = paper
    w.start()
    M.BotState.create(symbol="BTCUSDT", component=FORCE_EXIT, state="REQUESTED",
                      details={"status": "requested", "by": "operator", "reason": "x"})
    w.run_once()
    row = M.BotState.get(M.BotState.component == FORCE_EXIT)
    assert row.details["status"] == "done" and row.details["result"] == "no position open"
    assert ex.core.ledger.qty == 0 and not w.state.safe_mode
