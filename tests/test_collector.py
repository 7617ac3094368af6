"""The collector against exchange-sim over HTTP (real python-binance): gap backfill,
resume after restart, and identical results under 5 % mixed faults."""

import time

import pytest
import requests

from connectors.exchange_sim.market import MINUTE
from connectors.loops.collector import Collector
from tests.simnet import exchange_for, start_sim

TFS = ("1m", "5m", "15m", "1h")


def control(sim, method, path, body=None):
    r = requests.request(method, sim.url + path, json=body, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def store(request, tmp_path):
    """The collector's store: the real database, on both backends."""
    from connectors.db import open_database
    from connectors.db.migrations import upgrade
    from connectors.stores.collector_db import DbStore
    from engine.config import load_config
    from tests.conftest import _empty_tables, _sqlite, make_home, mariadb_env
    where = make_home(tmp_path)
    if request.param == "sqlite":
        config = _sqlite(where).config
    else:
        env = {**mariadb_env(), "DB_NAME": request.getfixturevalue("mariadb_session_db")}
        config = load_config(where, env)
        _empty_tables(config, where)
    database = open_database(config, where, create_missing=True)
    upgrade(database)
    try:
        yield DbStore()
    finally:
        database.close()


def content(store) -> tuple:
    """Everything the collector wrote, in a comparable form."""
    from connectors.db.models import Candle, Derivative
    candles = list(Candle.select(Candle.symbol, Candle.timeframe, Candle.open_time_ms, Candle.open, Candle.high,
                                 Candle.low, Candle.close, Candle.volume, Candle.quote_volume, Candle.trade_count,
                                 Candle.taker_buy_volume)
                   .order_by(Candle.timeframe, Candle.open_time_ms).tuples())
    derivs = list(Derivative.select(Derivative.symbol, Derivative.kind, Derivative.time_ms, Derivative.value,
                                    Derivative.details).order_by(Derivative.kind, Derivative.time_ms).tuples())
    return candles, derivs


def wipe(store) -> None:
    from connectors.db.models import Candle, Derivative
    Candle.delete().execute()
    Derivative.delete().execute()


@pytest.fixture
def sim():
    running = start_sim(history_minutes=2 * 1440)
    yield running
    running.stop()


def collector(sim, store, **kw) -> Collector:
    # Binance's own ceiling: the weight governor is tested on its own (test_weights.py)
    ex = exchange_for(sim, max_weight_per_minute=2400)
    ex.t.backoff_s = 0.01  # fast retries in tests; the policy is the same
    return Collector(ex, store, timeframes=TFS, **kw)


def expected_1m(sim, start, end):
    return {r[0]: r for r in sim.venue.market.rows if start <= r[0] < end}


def test_backfills_a_three_hour_gap_without_duplicates(sim, store) -> None:
    m = sim.venue.market
    gap = (m.now_ms - 6 * 60 * MINUTE, m.now_ms - 3 * 60 * MINUTE)  # 3 hours the exchange does not serve
    control(sim, "POST", "/_sim/gap", {"start_ms": gap[0], "end_ms": gap[1]})
    c = collector(sim, store)
    first = c.cycle()
    assert not first.errors, first.errors
    ts = store.open_times("BTCUSDT", "1m", 0, 2**62)
    assert not any(gap[0] <= t < gap[1] for t in ts)
    control(sim, "DELETE", "/_sim/gap")  # the exchange serves the window again
    second = c.cycle()
    assert second.backfilled["1m"] == 180 and second.backfilled["1h"] == 3
    ts = store.open_times("BTCUSDT", "1m", 0, 2**62)
    assert len(ts) == len(set(ts)) == (ts[-1] - ts[0]) // MINUTE + 1  # contiguous, no duplicates
    assert ts[-1] == m.now_ms - MINUTE  # up to the last closed candle, not the one forming
    src = expected_1m(sim, ts[0], m.now_ms)
    stored = {row[2]: row for row in content(store)[0] if row[1] == "1m"}
    assert len(stored) == len(ts)
    for t in range(gap[0], gap[1], MINUTE):
        assert tuple(stored[t][3:8]) == src[t][1:]
    for tf in ("5m", "15m", "1h"):
        t2 = store.open_times("BTCUSDT", tf, 0, 2**62)
        step = {"5m": 5, "15m": 15, "1h": 60}[tf] * MINUTE
        assert len(t2) == (t2[-1] - t2[0]) // step + 1


def test_stores_the_order_book_each_pass(sim, store) -> None:
    from connectors.db.models import Derivative
    report = collector(sim, store, depth_levels=20).cycle()
    assert not report.errors, report.errors
    row = Derivative.get(Derivative.kind == "depth")
    bids, asks = row.details["bids"], row.details["asks"]
    assert len(bids) == len(asks) == 20
    assert bids[0][0] < asks[0][0] and row.value == pytest.approx((bids[0][0] + asks[0][0]) / 2)
    assert row.time_ms == sim.venue.market.now_ms  # the exchange's time of the book, not ours
    old = row.time_ms - 24 * 60 * MINUTE - 1
    Derivative.create(symbol="BTCUSDT", kind="depth", time_ms=old, value=1.0, details={"bids": [], "asks": []})
    collector(sim, store, depth_levels=20).cycle()
    assert not Derivative.select().where((Derivative.kind == "depth") & (Derivative.time_ms == old)).exists()
    assert Derivative.select().where(Derivative.kind == "depth").count() == 1  # a day kept; same book re-upserted
    Derivative.delete().execute()
    assert not collector(sim, store, depth_levels=0).cycle().errors
    assert not Derivative.select().where(Derivative.kind == "depth").exists()  # --no-book


def test_resumes_after_restart(sim, store) -> None:
    collector(sim, store).cycle()
    before = store.last_open_time("BTCUSDT", "1m")
    control(sim, "POST", "/_sim/step", {"minutes": 95})
    report = collector(sim, store).cycle()  # a new process: only the database remembers
    assert report.candles["1m"] == 95
    assert store.last_open_time("BTCUSDT", "1m") == before + 95 * MINUTE


def run_collection(store, faults: dict | None, cycles: int) -> tuple[tuple, int, float]:
    sim = start_sim(history_minutes=2 * 1440)
    try:
        wipe(store)
        c = collector(sim, store)
        if faults:
            c.exchange.server_time_ms()
            control(sim, "POST", "/_sim/faults", faults)
        t0 = time.monotonic()
        for _ in range(cycles):
            report = c.cycle()
            assert not report.errors, report.errors
            control(sim, "POST", "/_sim/step", {"minutes": 3})
        final = c.cycle()
        assert not final.errors
        return content(store), sim.venue.requests_served, time.monotonic() - t0
    finally:
        sim.stop()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # MariaDB: same code, 2x slower; gap tests cover it
def test_five_percent_faults_give_the_same_database(store) -> None:
    clean, n_clean, _ = run_collection(store, None, 260)
    faults = {"error_rates": {"-1001": 0.01, "503": 0.01, "-1003": 0.005, "-1021": 0.005},
              "timeout_rate": 0.01, "timeout_sleep_s": 0.02, "lost_response_rate": 0.01,
              "retry_after_s": 0.05, "seed": 7}
    faulty, n_faulty, secs = run_collection(store, faults, 260)
    assert n_clean >= 2000, n_clean
    assert n_faulty > n_clean  # the failures were retried
    assert n_faulty - n_clean >= 80  # ~5 % of >2,000 requests failed and were retried
    assert len(clean[0]) > 2000 and faulty == clean
