"""Found by `make chaos` (the kill run: 9 round trips on the exchange, 8 trades in the
database, one `reconcile_phantom_position` ERROR): a SIGKILL after the loop wrote its state
and before it wrote its books lost the closed trade — the next life's state was already
flat, and reconciliation closed the open DB row as a phantom. The books of what a loop
saw now reach the journal before the state is written."""

from decimal import Decimal as D

import pytest

from connectors.db import models as M  # noqa: N812
from tests.chaos.checks import books_agree
from tests.execution_support import decision, make_worker, step_market
from tests.simnet import start_sim


class Killed(BaseException):
    """SIGKILL: nothing after it runs (not an Exception the worker could catch)."""


@pytest.fixture
def sim():
    running = start_sim()
    yield running
    running.stop()


def _stopped_out_long(sim, w) -> None:
    w.start()
    p = sim.venue.market.last_price()
    w.decisions.current = decision(7, sim.venue.market.now_ms, "long", (p * 0.999, p * 1.002), p * 0.997,
                                   p * 1.01, p * 1.02, size_usdt=0.0101 * p * 1.002)
    w.run_once()
    w.run_once()
    assert sim.venue.core.ledger.qty == D("0.010")
    for _ in range(300):
        step_market(sim, 1)
        if sim.venue.core.ledger.qty == 0:
            return
    raise AssertionError("setup: the stop never filled")


@pytest.mark.parametrize("dies_in", ["execute", "book"])
def test_killed_between_the_state_write_and_the_books_the_trade_is_booked_once(sim, db, tmp_path, dies_in) -> None:
    w = make_worker(sim, tmp_path)
    _stopped_out_long(sim, w)

    def killed(*a, **k):
        raise Killed()

    setattr(w, dies_in, killed)  # after save_state: sending the cancels, or writing the books
    with pytest.raises(Killed):
        w.run_once()  # this loop saw the stop fill; its state says flat
    w2 = make_worker(sim, tmp_path)  # the next life
    w2.start()
    w2.run_once()
    w2.run_once()
    assert books_agree(sim)[0] == []
    trade = M.Trade.get()
    assert trade.exit_reason == "sl" and D(trade.quantity) == D("0.010")
    codes = [n.code for n in M.Notification.select()]
    assert "reconcile_phantom_position" not in codes and codes.count("trade_closed") == 1
