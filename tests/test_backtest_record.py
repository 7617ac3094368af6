"""Issue 16, bounded memory: a run keeps its decision records compactly
(engine/backtest/record.py) and gives back exactly the dicts it was given."""

from __future__ import annotations

import gc
import json
import tracemalloc

import pandas as pd
import pytest

from engine.backtest.record import DecisionLog
from engine.paths import shared_data_dir

FILE = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"


def _rec(t: int, **over: object) -> dict:
    doc = {"symbol": "BTCUSDT", "timestamp_iso": f"T{t}", "action": "flat", "reason": "no_setup", "entry_zone": None,
           "confidence": 0.0, "leverage": None, "risk_level": 0, "risk_checks": {"a": True, "b": False},
           "zone": [1, 1.0, True], "pair": (0, 0.0), "id": str(t)} | over
    return {"t_ms": t, "id": str(t), "decision": doc,
            "account": {"equity": 10000.0, "trades_today": 0, "safe_mode": False},
            "position": {"side": "flat", "quantity": 0.0, "tp1_done": None}}


def test_records_come_back_equal_in_value_type_and_key_order() -> None:
    log = DecisionLog()
    recs = [_rec(1), _rec(2, confidence=0, risk_level=0.0, leverage=True, id="other"), _rec(3, reason="x")]
    for r in recs:
        log.append(r)
    back = list(log)
    assert back == recs and len(log) == 3 and log[1] == recs[1] and log[1:] == recs[1:]
    for a, b in zip(back, recs, strict=True):
        assert json.dumps(a) == json.dumps(b)      # key order and 0 / 0.0 / True kept apart
        assert [type(v) for v in a["decision"].values()] == [type(v) for v in b["decision"].values()]
        assert type(a["decision"]["pair"]) is tuple
    back[0]["decision"]["risk_checks"]["a"] = False   # a reader's change stays in its copy
    assert log[0]["decision"]["risk_checks"]["a"] is True


def test_read_only_records_equal_the_copies_without_copying_the_shared_parts() -> None:
    """The store reads every record once to write it: read_only() gives the same records
    (key order and types too) with the shared parts as they are (copying them was half of
    storing a run's decisions, issue 16)."""
    log = DecisionLog()
    recs = [_rec(1), _rec(2), _rec(3, reason="x", id="other")]
    for r in recs:
        log.append(r)
    back = list(log.read_only())
    assert back == recs and [json.dumps(a) for a in back] == [json.dumps(b) for b in recs]
    assert back[0]["account"] is back[1]["account"] and back[0]["position"] is back[2]["position"]
    assert back[0]["decision"]["risk_checks"] is back[1]["decision"]["risk_checks"]
    assert back[0]["decision"] is not back[1]["decision"]     # its time and id are its own


def test_sharing_checks_leaves_inline_and_same_objects_not_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """The part comparison runs for every part of every cycle (a third of the default rules'
    loop): plain values (numbers, text, None) are checked inline and parts the fast engine
    hands over again (same objects) are not walked; nested ones still are, typed."""
    from engine.backtest import record

    calls = []
    typed = record._typed
    monkeypatch.setattr(record, "_typed", lambda x, y: calls.append(1) or typed(x, y))
    log = DecisionLog()
    first = _rec(1)
    log.append(first)
    calls.clear()
    again = {**first, "t_ms": 2, "id": "2", "decision": {**first["decision"], "id": "2", "timestamp_iso": "T2"},
             "account": {**first["account"], "equity": 10000.0 + 0.0}}   # equal values, fresh float
    log.append(again)
    assert calls == []
    log.append(_rec(3, risk_checks={"a": True, "b": 0}))                 # fresh nested dict: walked, typed
    assert calls and list(log)[2]["decision"]["risk_checks"]["b"] == 0 and type(list(log)[2]["decision"]["risk_checks"]["b"]) is int


def test_quiet_cycles_share_their_parts() -> None:
    log = DecisionLog()
    for t in range(2000):
        log.append(_rec(t, reason="no_setup" if t % 2 else "missing_atr"))
    log.append(_rec(9, confidence=0))            # equal to 0.0, but an int: kept apart
    log.append(_rec(10, risk_checks={"a": 1, "b": False}))
    parts = {kind: {id(r[4 + kind]) for r in log._rows()} for kind in range(3)}
    assert len(parts[0]) == 4 and len(parts[1]) == len(parts[2]) == 1, parts
    assert type(log[-2]["decision"]["confidence"]) is int and log[-1]["decision"]["risk_checks"]["a"] == 1
    assert type(log[-1]["decision"]["risk_checks"]["a"]) is int


def test_a_usual_record_costs_its_time_and_three_references() -> None:
    """A year of 5-minute cycles is 105,000 records: a tuple, an id and a timestamp a record
    were ~270 B of them (~28 MB); the usual id and timestamp (those of the record's time)
    are not kept, and records with other ones come back as they were."""
    from engine.analytics.snapshot import iso_utc

    def rec(t: int) -> dict:
        r = _rec(t)
        r["decision"] |= {"timestamp_iso": iso_utc(t), "id": str(t // 1000)}
        return r | {"id": str(t // 1000)}

    t0 = 1746489600000
    recs = [rec(t0 + i * 300_000) for i in range(6000)]
    odd = [_rec(7), rec(t0 - 300_000) | {"id": "x"}, {**rec(t0), "t_ms": float(t0)}]
    log = DecisionLog()
    log.append(recs[0])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for r in recs[1:]:
            log.append(r)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept / len(recs) < 64, kept / len(recs)
    for r in odd:
        log.append(r)
    assert list(log) == recs + odd and log[-1]["t_ms"] == float(t0) and type(log[-1]["t_ms"]) is float
    assert log[3] == recs[3] and log[-3:] == odd and log[5000:5002] == recs[5000:5002]
    assert [json.dumps(x) for x in log.read_only()] == [json.dumps(x) for x in recs + odd]


def test_backtest_keeps_under_400_bytes_per_flat_cycle() -> None:
    """A dict per record (the code before) kept ~2.5 KB per cycle of the default rules."""
    path = shared_data_dir() / FILE
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    from engine.analytics.batch import build_cycles
    from engine.backtest.loop import run_backtest
    from engine.backtest.params import BacktestParams
    from tests.rules_support import config, default_rules

    df = pd.read_csv(path).set_index("open_time_ms")
    t_from = 1746921600000  # 2025-05-11
    t_to = t_from + 2 * 86_400_000
    compiled, _ = default_rules()
    cycles = build_cycles(df.loc[:t_to - 60_000], t_from, t_to, config(), with_flow=True)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        res = run_backtest(df.loc[:t_to - 60_000], t_from, t_to, config(), compiled, BacktestParams(), "python",
                           cycles=cycles)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(res.decisions) == len(cycles) == 577
    assert kept / len(cycles) < 400, kept / len(cycles)


def test_decisions_never_entered_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The EMA strategy decides long or short every cycle, in a trade or not: the run kept
    each such decision's tags and plan for the whole period (only entered ones are read)."""
    path = shared_data_dir() / FILE
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    from engine.backtest import loop as L
    from tests import backtest_peer as P
    from tests.rules_support import config

    runs: list[L._Run] = []
    init = L._Run.__init__

    def keep(self: L._Run, *a: object, **k: object) -> None:
        init(self, *a, **k)  # type: ignore[arg-type]
        runs.append(self)
    monkeypatch.setattr(L._Run, "__init__", keep)
    df = pd.read_csv(path).set_index("open_time_ms")
    t_from = 1746921600000
    res = P.run_ours(df, t_from, t_from + 2 * 86_400_000, P.peer_config(config()), engine="python")
    entries = sum(1 for d in res.decisions if d["decision"]["action"] != "flat")
    assert entries > 400 and len(res.trades) > 10
    assert len(runs[0].by_decision) <= len(res.trades) + 2, (len(runs[0].by_decision), len(res.trades))


def test_column_feed_answers_as_the_tuple_feed_in_a_fifth_of_the_memory() -> None:
    path = shared_data_dir() / FILE
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    from engine.backtest.feed import Candles, ColumnFeed
    from engine.backtest.loop import _rows
    from engine.exchange.sim.exchange import CandleFeed

    df = pd.read_csv(path).set_index("open_time_ms")
    tuples = list(zip(df.index.to_numpy().tolist(), *(df[c].to_numpy().tolist()
                                                      for c in ("open", "high", "low", "close", "volume")), strict=True))
    old, new = CandleFeed(tuples), ColumnFeed(Candles(df))
    assert list(new.times) == old.times and new.rows[5] == old.rows[5] and len(new.rows) == len(old.rows)
    t0 = old.times[0]
    for a, b in ((t0 - 60_000, t0 + 60_000), (t0 + 10 * 60_000, t0 + 200 * 60_000), (t0, t0), (old.times[-1], 2**62)):
        assert new.closed_between(a, b) == old.closed_between(a, b)
    assert [type(x) for x in new.rows[0]] == [int, float, float, float, float, float]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = _rows(df)
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(kept) == len(df) and size / len(df) < 60, size / len(df)   # a tuple a candle: ~250 B
