"""One cycle from the database equals the same cycle from memory; records share one timestamp (both backends)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from connectors.db.candles import upsert_candles
from connectors.db.models import Candle, Derivative, Flow, Snapshot
from connectors.stores.analytics_io import load_cycle_inputs, record_cycle
from connectors.stores.input_history import append
from engine.analytics import build_flow, build_snapshot
from engine.analytics.batch import per_cycle_frames
from engine.candles import aggregate
from engine.inputs import validate_liquidations, validate_sentiment
from tests.analytics_data import config, synthetic_1m
from tests.input_fuzz import GOOD

DAY = 86_400_000
HOUR = 3_600_000


@pytest.fixture()
def stored(db):
    """5 synthetic days of 1m (with taker-buy volume) and what the importer derives; funding,
    OI, mark/index; two sentiment versions and a liquidation map."""
    df = synthetic_1m(days=5, start_ms=1_765_065_600_000 - 4 * DAY)  # ends 2025-12-07 24:00
    upsert_candles(df, symbol="BTCUSDT", timeframe="1m")
    for tf in ("5m", "15m", "1h"):
        upsert_candles(aggregate(df, tf), symbol="BTCUSDT", timeframe=tf)
    t0 = int(df.index[0])
    rng = np.random.default_rng(3)
    rows = [("funding_rate", t, float(rng.normal(0, 2e-4))) for t in range(t0, t0 + 5 * DAY, 8 * HOUR)]
    rows += [("open_interest", t, 80_000 + float(rng.normal(0, 500))) for t in range(t0, t0 + 5 * DAY, 5 * 60_000)]
    rows += [(k, t, 90_000 + float(rng.normal(0, 10))) for k in ("mark_price", "index_price")
             for t in range(t0, t0 + 5 * DAY, 60_000)]
    Derivative.insert_many([{"symbol": "BTCUSDT", "kind": k, "time_ms": t, "value": v} for k, t, v in rows]).execute()
    s1, _ = validate_sentiment(GOOD["sentiment"])  # as_of 2025-12-07T00:00Z
    s2, _ = validate_sentiment({"as_of": "2025-12-07T18:00:00Z", "score": -2, "label": "bearish", "comment": "later"})
    liq, _ = validate_liquidations(GOOD["liquidations"])  # as_of 2025-12-07T11:55:01Z
    for kind, doc in (("sentiment", s1), ("sentiment", s2), ("liquidations", liq)):
        append(kind, doc)
    raw = {k: [(t, v) for kk, t, v in rows if kk == k] for k in ("funding_rate", "open_interest")}
    mark = [(t, v) for k, t, v in rows if k == "mark_price"]
    index = dict((t, v) for k, t, v in rows if k == "index_price")
    derivs = {"funding": raw["funding_rate"], "open_interest": raw["open_interest"],
              "mark_index": [(t, m, index[t]) for t, m in mark], "candles_1m": df}
    return df, derivs, {"sentiment": s1, "liquidations": liq}


T = 1_765_108_800_000 + 35 * 60_000  # 2025-12-07T12:35Z: mid-hour, mid-15m


def test_cycle_from_db_equals_cycle_from_memory(stored):
    df, derivs, in_force = stored
    cfg = config()
    frames, deriv, inputs = load_cycle_inputs("BTCUSDT", T, cfg)
    assert inputs["sentiment"] == in_force["sentiment"]  # the 18:00 version is after T
    assert inputs["liquidations"] == in_force["liquidations"] and inputs["etf"] is None
    assert len(frames["tf_1m"]) == 240 and int(frames["tf_1m"].index[-1]) == T - 60_000
    snap = build_snapshot(frames, T, cfg)
    want = build_snapshot(per_cycle_frames(df, T, cfg), T, cfg)
    assert snap == want and snap["price"] is not None
    flow = build_flow(snap, deriv, inputs, T, cfg)
    assert flow == build_flow(want, derivs, inputs, T, cfg)
    for path in (("oi", "change_24h"), ("funding", "avg_24h"), ("basis", "pct"), ("cvd", "tf_4h")):
        assert flow["derivatives"][path[0]][path[1]] is not None
    assert flow["derivatives"]["cvd"]["tf_4h"]["value"] is not None


def test_missing_higher_timeframes_derived_from_1m(stored):
    df, _, _ = stored
    cfg = config()
    # The last 90 minutes of 5m/15m/1h not built yet (e.g. the collector has only stored 1m).
    Candle.delete().where((Candle.timeframe != "1m") & (Candle.open_time_ms >= T - 90 * 60_000)).execute()
    frames, _, _ = load_cycle_inputs("BTCUSDT", T, cfg)
    assert int(frames["tf_5m"].index[-1]) == T - 5 * 60_000  # the last closed 5m bar is there
    assert build_snapshot(frames, T, cfg) == build_snapshot(per_cycle_frames(df, T, cfg), T, cfg)


def test_record_cycle_links_one_timestamp(stored, tmp_path):
    cfg = config()
    frames, deriv, inputs = load_cycle_inputs("BTCUSDT", T, cfg)
    snap = build_snapshot(frames, T, cfg)
    flow = build_flow(snap, deriv, inputs, T, cfg)
    rec = record_cycle(snap, flow, data_dir=tmp_path)
    s, f = Snapshot.get_by_id(rec.snapshot_id), Flow.get_by_id(rec.flow_id)
    files = [json.loads((tmp_path / n).read_text()) for n in ("btc_snapshot.json", "btc_flow.json")]
    stamps = {s.document["timestamp_iso"], f.document["timestamp_iso"], *(d["timestamp_iso"] for d in files),
              rec.timestamp_iso}
    assert stamps == {"2025-12-07T12:35:00Z"}
    assert s.as_of_ms == f.as_of_ms == T
    assert s.document == json.loads(json.dumps(snap)) and files[1]["risk"] == flow["risk"]
    again = record_cycle(snap, {**flow, "risk": {"global_score": 0.0, "mode": "risk_off"}}, data_dir=tmp_path)
    assert (again.snapshot_id, again.flow_id) == (rec.snapshot_id, rec.flow_id)  # a re-run replaces, same ids
    assert Flow.get_by_id(rec.flow_id).document["risk"]["mode"] == "risk_off" and Flow.select().count() == 1
    with pytest.raises(ValueError, match="same cycle"):
        record_cycle(snap, build_flow(snap, deriv, inputs, T + 300_000, cfg), data_dir=tmp_path)
    assert Snapshot.select().count() == 1


def test_order_book_the_collector_stored_feeds_the_snapshot_only_when_fresh(stored):
    """The freshest book stored in (T − 2 min, T] becomes the snapshot's order-book metrics; a
    book from after T (look-ahead) or an old one (stalled collector) is never used."""
    cfg = config()

    def book(t_ms: int, bid_qty: float) -> dict:
        return {"symbol": "BTCUSDT", "kind": "depth", "time_ms": t_ms, "value": 90_000.05,
                "details": {"bids": [[90_000.0 - i * 0.1, bid_qty] for i in range(20)],
                            "asks": [[90_000.1 + i * 0.1, 1.0] for i in range(20)]}}

    Derivative.insert_many([book(T - 5 * 60_000, 1.0), book(T - 30_000, 4.0), book(T + 10_000, 1.0)]).execute()
    frames, deriv, _ = load_cycle_inputs("BTCUSDT", T, cfg)
    assert deriv["depth"]["time_ms"] == T - 30_000
    ob = build_snapshot(frames, T, cfg, depth=deriv["depth"])["orderbook"]
    assert ob["available"] is True
    assert ob["imbalance_pct"] == pytest.approx((80 - 20) / 100 * 100)  # 20 levels × 4 BTC bid vs × 1 BTC ask
    assert ob["spread_pct"] == pytest.approx(0.1 / 90_000.05 * 100)
    Derivative.delete().where((Derivative.kind == "depth") & (Derivative.time_ms == T - 30_000)).execute()
    assert load_cycle_inputs("BTCUSDT", T, cfg)[1]["depth"] is None  # only a stale and a future book left


@pytest.mark.parametrize("slice_rows", [20_000, 2])  # one packed answer, or a window read in slices
def test_candle_windows_come_back_bit_for_bit(db, slice_rows, monkeypatch):
    """The cycle's candle reads (on MariaDB one packed text value per window) return every
    double exactly, NULL as NaN, in time order, and nothing outside the window."""
    from connectors.stores import analytics_io
    from connectors.stores.analytics_io import MINUTE_COLUMNS, _candles

    monkeypatch.setattr(analytics_io, "PACKED_ROWS", slice_rows)
    awkward = [0.1 + 0.2, 1 / 3, 1e-7, 123456.78901234567, 2.0 ** -40, 9007199254740993.0, 5e-324, 1e300]
    t0 = 1_765_065_600_000
    rows = [{"symbol": "BTCUSDT", "timeframe": "1m", "open_time_ms": t0 + i * 60_000, "open": v, "high": v * 3,
             "low": v / 7, "close": -v, "volume": v + 1, "taker_buy_volume": None if i % 2 else v / 3}
            for i, v in enumerate(awkward)]
    Candle.insert_many(rows).execute()
    got = _candles("BTCUSDT", "1m", t0 + 60_000, t0 + 7 * 60_000, MINUTE_COLUMNS)
    want = rows[1:7]
    assert list(got.index) == [r["open_time_ms"] for r in want]
    for col in MINUTE_COLUMNS:
        expected = [np.nan if r[col] is None else r[col] for r in want]
        np.testing.assert_array_equal(got[col].to_numpy(), np.array(expected, dtype=np.float64))
    assert _candles("BTCUSDT", "1m", t0 - 60_000, t0, MINUTE_COLUMNS).empty


def test_sqlite_candles_come_as_float_arrays_a_chunk_at_a_time(db, monkeypatch):
    """Issue 16, bounded memory: SQLite's candles were fetched as one list of tuples of
    Python floats (~390 B a candle at the peak: ~200 MB for a year, the peak of `showdown backtest`);
    now a chunk at a time into float64 (56 B a candle), the same values."""
    import tracemalloc

    from connectors.stores import analytics_io

    if db.param != "?":
        pytest.skip("MariaDB reads candles as packed text (_packed_candles)")
    df = synthetic_1m(days=20, start_ms=1_765_065_600_000 - 19 * DAY)
    upsert_candles(df, symbol="BTCUSDT", timeframe="1m")
    monkeypatch.setattr(analytics_io, "SQLITE_CHUNK", 1000, raising=False)
    cols = ("open", "high", "low", "close", "volume", "taker_buy_volume")
    tracemalloc.start()
    try:
        got = analytics_io._candles("BTCUSDT", "1m", int(df.index[0]), int(df.index[-1]) + 60_000, cols)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert list(got.index) == list(df.index) and got.dtypes.unique().tolist() == [np.float64]
    assert np.array_equal(got[list(cols)].to_numpy(), df[list(cols)].to_numpy(dtype=np.float64), equal_nan=True)
    print(f"peak {peak / len(df):.0f} B a candle")
    assert peak < 160 * len(df), f"{peak / len(df):.0f} B a candle"
