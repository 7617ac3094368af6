"""The fast backtest engine (issue 16) equals durable_rules, on a few days of each real 1m
file; every cycle of both files runs in tests/bench/bench_fast_rules.py."""

from __future__ import annotations

import pytest

from engine.backtest.fast import rebuild_trace
from engine.backtest.loop import cycle_facts, run_backtest
from engine.backtest.params import BacktestParams
from engine.decision import decide
from engine.paths import shared_data_dir
from engine.rules.conditions import Condition
from engine.rules.durable_backend import DurableRules
from engine.rules.vector import condition_mask
from tests import fast_differential as D


@pytest.fixture(scope="module", params=D.FILES)
def candles(request):
    path = shared_data_dir() / request.param
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    df = D.load(path)
    t_from, t_to = D.period(df, days=2, skip_days=7)
    return df.loc[:t_to], t_from, t_to


def test_default_rules_fast_equals_durable(candles):
    df, t_from, t_to = candles
    name, files, cfg = next(D.rulesets())
    compiled = D.compile_ruleset(files, cfg)
    cycles = D.market_cycles(df, t_from, t_to, compiled, cfg)
    bt = D.backtests(df, t_from, t_to, compiled, cfg)
    print(name, {k: v for k, v in bt.items() if k != "fast_rules"})
    assert bt["decisions"] == len(cycles) > 500
    assert bt["mismatches"] == 0, bt["first"]
    assert bt["trades_csv_same"] and bt["equity_csv_same"]
    assert bt["fast_rules"]["conditions_numpy"] > 0 and bt["fast_rules"]["conditions_per_cycle"]
    columns = D.market_cycles(df, t_from, t_to, compiled, cfg, columns=True)
    v = D.varied(compiled, cycles, columns, trace_at=range(0, len(cycles), 50))
    print(name, "varied", v)
    assert v["mismatches"] == 0, v["first"]
    assert v["traces"] >= 10 and v["trace_mismatches"] == 0


def test_every_example_ruleset_fast_equals_durable(candles):
    df, t_from, t_to = candles
    t_to = t_from + D.DAY
    seen = 0
    for name, files, cfg in list(D.rulesets())[1:]:
        compiled = D.compile_ruleset(files, cfg)
        cycles = D.market_cycles(df, t_from, t_to, compiled, cfg)
        bt = D.backtests(df, t_from, t_to, compiled, cfg)
        assert bt["mismatches"] == 0, (name, bt["first"])
        assert bt["trades_csv_same"] and bt["equity_csv_same"], name
        columns = D.market_cycles(df, t_from, t_to, compiled, cfg, columns=True)
        v = D.varied(compiled, cycles, columns, trace_at=(0, len(cycles) // 2))
        assert v["mismatches"] == 0 and v["trace_mismatches"] == 0, (name, v["first"])
        seen += 1
    assert seen >= 6


@pytest.mark.parametrize("op,value", [("gt", 1.5), ("gte", 2), ("lt", 0.0), ("lte", 2.0), ("between", (1, 2.5)),
                                      ("eq", 2.0), ("neq", 2.0), ("in", (1.0, 3.0)), ("is_known", None),
                                      ("is_unknown", None)])
def test_condition_masks_equal_the_reference_test(op, value):
    col = [None, 0.0, 1.0, 1.5, 2, 2.0, 2.5, 3.0, -1e300, 7]
    c = Condition("snapshot", "price", op, value, "x", "")
    mask, how = condition_mask(c, col)
    assert mask.tolist() == [c.test(v) for v in col]
    assert how in ("numpy", "categorical")
    # unknown values never hold but for is_unknown
    assert mask[0] == (op == "is_unknown")


def test_strings_and_booleans_are_tested_once_per_distinct_value():
    c = Condition("snapshot", "session.current", "in", ("london", "ny"), "x", "")
    col = ["asia", None, "london", "ny", "asia", "london"]
    mask, how = condition_mask(c, col)
    assert how == "categorical" and mask.tolist() == [c.test(v) for v in col]
    b = Condition("snapshot", "session.restricted", "eq", True, "x", "")
    mask, how = condition_mask(b, [True, False, None, True])
    assert how == "categorical" and mask.tolist() == [True, False, False, True]


def test_a_number_too_large_for_a_float_is_tested_exactly():
    big = 2**60 + 1
    c = Condition("snapshot", "timestamp_ms", "gt", 2**60, "x", "")
    mask, how = condition_mask(c, [big, 2**60, None])
    assert how == "categorical" and mask.tolist() == [True, False, False]
    assert float(big) == float(2**60)      # what a float comparison would have got wrong


def test_atr_slippage_and_hybrid_fills_equal_durable(candles):
    """The atr slippage model reads the 5m ATR% column on the fast path, the document on durable's."""
    df, t_from, t_to = candles
    name, files, cfg = next(r for r in D.rulesets() if r[0] == "ema_cross_managed")
    compiled = D.compile_ruleset(files, cfg)
    bt = D.backtests(df, t_from, t_from + D.DAY, compiled, cfg,
                     D.BacktestParams(slippage_kind="atr", slippage_value=0.5, fill="hybrid"))
    assert bt["trades"] > 5 and bt["mismatches"] == 0, bt["first"]
    assert bt["trades_csv_same"] and bt["equity_csv_same"]


def test_a_recorded_decision_s_trace_is_rebuilt_equal_to_durable_s(candles):
    """After a fast run, any cycle's trace rebuilt from its decision record (the columns'
    document + the recorded account and position) equals durable_rules' on the same facts,
    and reproduces the recorded decision."""
    df, t_from, t_to = candles
    name, files, cfg = next(r for r in D.rulesets() if r[0] == "ema_trend_roi")   # trades: positions open
    compiled = D.compile_ruleset(files, cfg)
    t_to = t_from + D.DAY
    res = run_backtest(df.loc[:t_to - D.MINUTE], t_from, t_to, cfg, compiled, BacktestParams(), "fast")
    cols = D.market_cycles(df, t_from, t_to, compiled, cfg, columns=True)
    durable = DurableRules(compiled)
    picked = [r for r in res.decisions if r["decision"]["action"] != "flat" or r["position"]["side"] != "flat"][:5]
    picked += res.decisions[::60]
    assert any(r["position"]["side"] != "flat" for r in picked)
    try:
        for rec in picked:
            mine = rebuild_trace(compiled, cols, rec)
            facts = cycle_facts(cols[cols.times.index(rec["t_ms"])], rec["account"], rec["position"])
            theirs = decide(compiled, facts, durable)[1]
            assert {**mine, "engine": None} == {**theirs, "engine": None}, rec["t_ms"]
            assert {**mine["decision"], "id": rec["id"]} == rec["decision"]
    finally:
        durable.close()


def test_flat_stretches_reuse_account_and_position_facts_equal_to_fresh_ones(candles, monkeypatch):
    """_Run.own_facts hands a flat idle stretch the same two documents (issue 16): both
    engines take them from there, so the differential cannot see a stale one. Here every
    cycle's answer is checked against one built afresh (cache dropped), across trades (the
    wallet moves) and UTC days (the counters roll)."""
    import json

    from engine.backtest import loop as L

    df, t_from, t_to = candles
    original = L._Run.own_facts
    seen = {"reused": 0, "cycles": 0, "days": set(), "wallets": set()}
    fresh_at: dict[int, str] = {}

    def checked(self, t):
        before = self._idle
        account, position = original(self, t)
        self._idle = None
        fresh = original(self, t)
        assert json.dumps([account, position]) == json.dumps(list(fresh)), t
        assert [type(v) for v in account.values()] == [type(v) for v in fresh[0].values()]
        self._idle = None if self._idle is None else (self._idle[0], self._idle[1], account, position)
        seen["cycles"] += 1
        seen["reused"] += before is not None and before[2] is account
        seen["days"].add(t // D.DAY)
        seen["wallets"].add(str(self.ex.core.ledger.wallet))
        fresh_at[t] = json.dumps(list(fresh))
        return account, position

    monkeypatch.setattr(L._Run, "own_facts", checked)
    trades = decisions = 0
    for name, files, cfg in D.rulesets():      # the default rules: long flat stretches;
        if name in ("default", "ema_cross"):   # the EMA cross: trades, so the wallet moves
            res = run_backtest(df, t_from, t_to, cfg, D.compile_ruleset(files, cfg),
                               BacktestParams(engine="fast"), "fast")
            trades, decisions = trades + len(res.trades), decisions + len(res.decisions)
            # the log keeps a reused document once (by identity): what it gives back is the fresh facts
            assert all(json.dumps([r["account"], r["position"]]) == fresh_at[r["t_ms"]] for r in res.decisions)
    assert trades and len(seen["wallets"]) > 1 and len(seen["days"]) > 1
    assert seen["cycles"] == decisions and seen["reused"] > decisions // 4


def test_flat_idle_stretches_handled_together_record_what_the_cycle_by_cycle_loop_does(candles, monkeypatch):
    """_Run.flat_stretch records runs of flat idle cycles in one pass (issue 16): decisions,
    equity points, trades, orders and events equal the loop's cycle by cycle (stretches
    off), for the default rules (long flat stretches) and the EMA trend with ROI exits
    (trades between them, so stretches stop at entries, exits and UTC days)."""
    from engine.backtest import loop as L
    from engine.backtest.export import equity_csv, trades_csv

    df, t_from, t_to = candles
    original = L._Run.flat_stretch
    taken = {"cycles": 0}

    def counted(self, fast, times, k, *rest):
        end, last = original(self, fast, times, k, *rest)
        taken["cycles"] += end - k
        return end, last

    for name, files, cfg in D.rulesets():
        if name not in ("default", "ema_trend_roi"):
            continue
        compiled = D.compile_ruleset(files, cfg)
        taken["cycles"] = 0
        monkeypatch.setattr(L._Run, "flat_stretch", counted)
        together = run_backtest(df, t_from, t_to, cfg, compiled, BacktestParams(engine="fast"), "fast")
        monkeypatch.setattr(L._Run, "flat_stretch", lambda self, fast, times, k, *rest: (k, None))
        one_by_one = run_backtest(df, t_from, t_to, cfg, compiled, BacktestParams(engine="fast"), "fast")
        n = len(one_by_one.decisions)
        assert taken["cycles"] > n // 5, (name, taken, n)   # many cycles went through a stretch
        assert list(together.decisions) == list(one_by_one.decisions), name
        assert [(t, str(e), str(w)) for t, e, w in together.equity] == \
            [(t, str(e), str(w)) for t, e, w in one_by_one.equity], name
        assert trades_csv(together.trades) == trades_csv(one_by_one.trades), name
        assert equity_csv(together.equity) == equity_csv(one_by_one.equity), name
        assert together.orders == one_by_one.orders and together.events == one_by_one.events, name
        assert together.final_equity == one_by_one.final_equity, name
        if name == "ema_trend_roi":
            assert len(one_by_one.trades) > 5, "it trades in these days"


def test_market_columns_are_read_when_asked_and_let_go_after_their_last_mask():
    """Bounded memory (issue 16): each market column is read on first use, once, and is let
    go (with the masks' float cache of it) after its last condition's mask."""
    from engine.rules.vector import _FLOATS, MarketColumns

    reads = []

    def plan():
        reads.append(1)
        col = [1.0, None, 3.0]
        _FLOATS[id(col)] = (col, None)
        return col
    cols = MarketColumns({("snapshot", "price"): plan})
    first = cols[("snapshot", "price")]
    assert cols[("snapshot", "price")] is first and len(reads) == 1 and list(cols) == [("snapshot", "price")]
    cols.release(("snapshot", "price"))
    assert id(first) not in _FLOATS and cols._kept == {}
    assert cols[("snapshot", "price")] == first and len(reads) == 2
