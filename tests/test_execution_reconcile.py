"""Reconciliation cases through python-binance against exchange-sim: each finding gets
its action on the exchange / in the DB, its alert, and the summary row."""

from decimal import Decimal as D

import pytest

from connectors.db import models as M  # noqa: N812
from engine.exchange.types import OrderRequest
from tests.execution_support import decision, make_worker, step_market
from tests.simnet import start_sim


@pytest.fixture
def sim():
    running = start_sim()
    yield running
    running.stop()


def price(sim) -> D:
    return D(str(sim.venue.market.last_price()))


def notes() -> dict[str, str]:
    return {n.code: n.level for n in M.Notification.select()}


def test_orphan_position_imported_and_protected(sim, db, tmp_path) -> None:
    w = make_worker(sim, tmp_path)
    w.ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="manual_buy"))
    w.start()
    w.run_once()
    pos = M.Position.get(M.Position.status == "open")
    assert pos.side == "long" and D(pos.quantity) == D("0.010")
    stops = [o for o in sim.venue.core.open_orders() if o.type == "STOP_MARKET"]
    assert len(stops) == 1 and stops[0].client_order_id.startswith("capi_sl_r")
    expected = (D(str(sim.venue.core.ledger.entry)) * D("0.99")).quantize(D("0.1"), "ROUND_DOWN")
    assert stops[0].stop_price == expected  # orphan_sl_pct 1 % below the entry
    n = notes()
    assert n["reconcile_orphan_position"] == "ERROR" and n["reconcile_missing_sl"] == "CRITICAL"
    summary = M.ReconciliationEvent.get(M.ReconciliationEvent.kind == "summary")
    assert "orphan_position: 1" in summary.summary and summary.details["findings"]["missing_sl"] == 1


def test_phantom_position_closed_in_db_and_its_orders_cancelled(sim, db, tmp_path) -> None:
    w = make_worker(sim, tmp_path)
    M.Position.create(symbol="BTCUSDT", side="long", status="open", quantity=D("0.010"), entry_price=price(sim),
                      opened_ms=1, details={"decision_id": "5"})
    below = (price(sim) * D("0.95")).quantize(D("0.1"))
    w.ex.place_order(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.010"), below, client_order_id="capi_entry_5"))
    w.start()
    w.run_once()
    row = M.Position.get()
    assert row.status == "closed" and row.details["close_reason"] == "phantom"
    assert sim.venue.core.order("capi_entry_5").status == "CANCELED"
    assert sim.venue.core.open_orders() == []
    assert notes()["reconcile_phantom_position"] == "ERROR"
    assert "phantom_position: 1" in M.ReconciliationEvent.get(M.ReconciliationEvent.kind == "summary").summary


def test_missing_sl_placed_at_once_with_critical_alert(sim, db, tmp_path) -> None:
    w = make_worker(sim, tmp_path)
    w.start()
    p = float(price(sim))
    w.decisions.current = decision(7, sim.venue.market.now_ms, "long", (p * 0.999, p * 1.002), p * 0.99,
                                   p * 1.01, p * 1.02, size_usdt=0.0101 * p * 1.002)
    w.run_once()  # entry at the middle of the zone, above the price: fills at once
    assert sim.venue.core.ledger.qty == D("0.010")
    w.run_once()  # protection
    assert sim.venue.core.order("capi_sl_7").status == "NEW"
    w.ex.cancel_order("BTCUSDT", "capi_sl_7")  # someone removed the SL by hand
    w._last_reconcile_ms = None  # the hourly reconciliation is due
    out = w.run_once()
    assert sim.venue.core.order("capi_sl_7_2").status == "NEW"
    assert sim.venue.core.order("capi_sl_7_2").stop_price == D(str(p * 0.99)).quantize(D("0.1"), "ROUND_UP")
    assert "reconcile_missing_sl" in [e.code for e in out["events"]] or notes().get("reconcile_missing_sl")
    assert notes()["reconcile_missing_sl"] == "CRITICAL"
    assert len([o for o in sim.venue.core.open_orders() if o.type == "STOP_MARKET"]) == 1
    # the step alone heals it too, between reconciliations
    w.ex.cancel_order("BTCUSDT", "capi_sl_7_2")
    step_market(sim)
    out = w.run_once()
    assert "sl_recreated" in [e.code for e in out["events"]]
    assert sim.venue.core.order("capi_sl_7_3").status == "NEW"


def test_orphan_order_cancelled(sim, db, tmp_path) -> None:
    w = make_worker(sim, tmp_path)
    below = (price(sim) * D("0.95")).quantize(D("0.1"))
    w.ex.place_order(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.010"), below, client_order_id="manual_1"))
    w.start()
    w.run_once()
    assert sim.venue.core.order("manual_1").status == "CANCELED"
    assert notes()["reconcile_orphan_order"] == "WARNING"
    ev = M.ReconciliationEvent.get(M.ReconciliationEvent.kind == "summary")
    assert ev.details["findings"] == {"orphan_order": 1}


def test_agreement_gives_a_clean_summary(sim, db, tmp_path) -> None:
    w = make_worker(sim, tmp_path)
    w.start()
    w.run_once()
    ev = M.ReconciliationEvent.get(M.ReconciliationEvent.kind == "summary")
    assert ev.summary == "exchange and records agree" and ev.details["findings"] == {}
    assert not list(M.Notification.select())
