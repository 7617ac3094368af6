"""End to end: the REAL python-binance client over HTTP against exchange-sim in-process."""

import time
from decimal import Decimal as D

import pytest
import requests

from engine.exchange.errors import DuplicateClientOrderId, MinNotional, ReduceOnlyRejected, UnknownOrder
from engine.exchange.types import OrderRequest
from tests.simnet import exchange_for, start_sim


@pytest.fixture
def sim():
    running = start_sim()
    yield running
    running.stop()


def price(sim) -> D:
    return D(str(sim.venue.market.last_price()))


def control(sim, method: str, path: str, body=None):
    r = requests.request(method, sim.url + path, json=body, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def test_place_query_cancel(sim) -> None:
    ex = exchange_for(sim)
    below = (price(sim) * D("0.98")).quantize(D("0.1"))
    placed = ex.place_order(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.010"), below, client_order_id="capi_entry_1"))
    assert (placed.status, placed.client_order_id, placed.quantity, placed.price) == (
        "NEW", "capi_entry_1", D("0.010"), below)
    assert ex.order("BTCUSDT", "capi_entry_1").status == "NEW"
    assert [o.client_order_id for o in ex.open_orders("BTCUSDT")] == ["capi_entry_1"]
    cancelled = ex.cancel_order("BTCUSDT", "capi_entry_1")
    assert cancelled.status == "CANCELED"
    assert ex.open_orders("BTCUSDT") == []
    # cancelling again (a retry after a lost answer) is idempotent: it reports the cancelled order
    assert ex.cancel_order("BTCUSDT", "capi_entry_1").status == "CANCELED"
    with pytest.raises(UnknownOrder):
        ex.cancel_order("BTCUSDT", "never_placed")
    with pytest.raises(UnknownOrder):
        ex.order("BTCUSDT", "never_placed")


def test_duplicate_client_order_id_refused_without_second_order(sim) -> None:
    ex = exchange_for(sim)
    below = (price(sim) * D("0.97")).quantize(D("0.1"))
    req = OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.010"), below, client_order_id="capi_entry_7")
    ex.place_order(req)
    with pytest.raises(DuplicateClientOrderId) as e:
        ex.place_order(req)
    assert e.value.code == -4116
    assert len(ex.open_orders("BTCUSDT")) == 1 and len(sim.venue.core.orders) == 1


def test_reduce_only_that_would_increase_refused(sim) -> None:
    ex = exchange_for(sim)
    with pytest.raises(ReduceOnlyRejected):  # flat: nothing to reduce
        ex.place_order(OrderRequest("BTCUSDT", "SELL", "MARKET", D("0.010"), reduce_only=True))
    ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="capi_entry_2"))
    assert ex.positions("BTCUSDT")[0].quantity == D("0.010")
    with pytest.raises(ReduceOnlyRejected) as e:
        ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), reduce_only=True))
    assert e.value.code == -2022
    assert ex.positions("BTCUSDT")[0].quantity == D("0.010")


def test_stop_market_triggers_when_replay_crosses_it(sim) -> None:
    ex = exchange_for(sim)
    ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="capi_entry_3"))
    m = sim.venue.market
    now = m.now_ms
    nxt = [r for r in m.rows if now <= r[0] < now + 600 * 60_000]
    # a stop 0.1 % above the lowest low of the next 10 hours, but below the current price: it must trigger
    stop = (D(str(min(r[3] for r in nxt))) * D("1.001")).quantize(D("0.1"))
    assert stop < price(sim)
    ex.place_order(OrderRequest("BTCUSDT", "SELL", "STOP_MARKET", stop_price=stop, close_position=True,
                                client_order_id="capi_sl_3"))
    assert ex.order("BTCUSDT", "capi_sl_3").status == "NEW"
    assert [o.client_order_id for o in ex.open_orders("BTCUSDT")] == ["capi_sl_3"]
    control(sim, "POST", "/_sim/step", {"minutes": 600})
    sl = ex.order("BTCUSDT", "capi_sl_3")
    assert sl.status == "FILLED" and sl.filled_qty == D("0.010")
    assert sl.avg_price <= stop
    assert ex.positions("BTCUSDT")[0].quantity == 0
    assert ex.open_orders("BTCUSDT") == []


def test_quantity_off_step_rounded_down_before_sending(sim) -> None:
    ex = exchange_for(sim)
    below = (price(sim) * D("0.9712345")).quantize(D("0.001"))
    o = ex.place_order(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.0129999"), below, client_order_id="capi_q"))
    assert o.quantity == D("0.012")
    sent = sim.venue.core.order("capi_q")
    assert sent.quantity == D("0.012") and sent.price == below.quantize(D("0.1"))
    low = (D("99") / D("0.001")).quantize(D("0.1"))  # 0.0019 → 0.001 × 99,000 = 99 USDT < 100
    assert low < price(sim)
    with pytest.raises(MinNotional):  # caught locally: nothing sent
        ex.place_order(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.0019"), low, client_order_id="capi_small"))
    assert "capi_small" not in sim.venue.core.orders


def test_429_retry_after_is_honoured(sim) -> None:
    ex = exchange_for(sim)
    ex.server_time_ms()
    control(sim, "POST", "/_sim/faults", {"rate_limit_next": 1, "retry_after_s": 1.2})
    t0 = time.monotonic()
    pi = ex.premium_index("BTCUSDT")
    waited = time.monotonic() - t0
    assert pi.mark_price > 0
    assert 1.2 <= waited < 3.0, waited
    assert ex.t.stats["rate_limited"] == 1


def test_timestamp_drift_resyncs_once_and_succeeds(sim) -> None:
    ex = exchange_for(sim)
    ex.balance()
    control(sim, "POST", "/_sim/faults", {"clock_skew_ms": 30_000})  # server clock jumps 30 s ahead
    b = ex.balance()
    assert b.wallet_balance == D("10000") and ex.t.stats["resyncs"] == 1


def test_lost_response_on_place_does_not_duplicate(sim) -> None:
    ex = exchange_for(sim)
    below = (price(sim) * D("0.97")).quantize(D("0.1"))
    ex.server_time_ms()
    sim.venue.faults.lost_response_rate = 1.0
    sim.venue.faults.rng.seed(1)

    def heal(*_a, **_k):  # after the first lost answer, the network heals
        sim.venue.faults.lost_response_rate = 0.0
    ex.t.sleep = heal
    orig_call = ex.t.call

    def call(method, *a, **k):
        if method == "futures_get_order":
            sim.venue.faults.lost_response_rate = 0.0
        return orig_call(method, *a, **k)
    ex.t.call = call
    o = ex.place_order(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.010"), below, client_order_id="capi_lost"))
    assert o.client_order_id == "capi_lost" and o.status == "NEW"
    assert len(sim.venue.core.orders) == 1


def test_account_setup_calls(sim) -> None:
    ex = exchange_for(sim)
    ex.ensure_one_way_mode()
    ex.set_leverage("BTCUSDT", 3)
    ex.set_margin_type("BTCUSDT", "ISOLATED")
    ex.set_margin_type("BTCUSDT", "ISOLATED")  # no change needed: not an error
    assert sim.venue.core.ledger.leverage == 3 and sim.venue.core.ledger.margin_type == "ISOLATED"
    f = ex.symbol_filters("BTCUSDT")
    assert (f.tick_size, f.step_size, f.min_notional) == (D("0.10"), D("0.001"), D("100"))
    ks = ex.klines("BTCUSDT", "5m", limit=10)
    assert len(ks) == 10 and all(b.open_time_ms - a.open_time_ms == 300_000 for a, b in zip(ks, ks[1:]))
    assert ex.depth("BTCUSDT", 5).bids[0][0] < ex.depth("BTCUSDT", 5).asks[0][0]
    assert ex.funding_history("BTCUSDT", limit=3)[-1].funding_time_ms <= sim.venue.market.now_ms
    assert len(ex.open_interest_history("BTCUSDT", "5m", limit=12)) == 12
