"""Issue 16: the backtest loop visits only the minutes something can happen in
(engine/backtest/visits.py). Every output is the same as visiting every minute and
stepping the core at each, on real candles, with funding and ATR slippage."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from engine.backtest import loop as L
from engine.backtest.export import equity_csv, trades_csv
from engine.backtest.params import BacktestParams
from engine.paths import shared_data_dir
from engine.rules.compiler import compile_texts

T_FROM = {"ema_cross_managed": 1746921600000, "default_rules": 1749859200000}  # 2025-05-11, 2025-06-14
RULES = Path(__file__).resolve().parents[1] / "rules"
FILE = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"


@pytest.fixture(scope="module")
def real_candles() -> pd.DataFrame:
    path = shared_data_dir() / FILE
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    return pd.read_csv(path).set_index("open_time_ms")


def _funding() -> list[tuple[int, str]]:
    f = pd.read_csv(shared_data_dir() / "btcusdt-perp-funding-8h.csv.gz")
    return [(int(t), str(r)) for t, r in zip(f["funding_time_ms"], f["rate"], strict=True)]


def _run(df: pd.DataFrame, files: dict[str, str], cfg: object, params: BacktestParams, t_from: int,
         days: int) -> L.BacktestResult:
    t_to = t_from + days * 86_400_000
    compiled = compile_texts(files, cfg)
    return L.run_backtest(df.loc[:t_to - 60_000], t_from, t_to, cfg, compiled, params, "python", funding=_funding())


def _outputs(r: L.BacktestResult) -> tuple[str, ...]:
    return (trades_csv(r.trades), equity_csv(r.equity), json.dumps(list(r.decisions), default=str, sort_keys=True),
            json.dumps([r.orders, r.funding, r.events, r.open_position, str(r.final_equity)], default=str))


@pytest.mark.parametrize("case", ["ema_cross_managed", "default_rules"])
def test_visiting_only_busy_minutes_changes_no_output(real_candles: pd.DataFrame, case: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import backtest_peer as P
    from tests.rules_support import config, rule_files

    if case == "default_rules":   # flat nearly always: the loop jumps from cycle to cycle
        files, cfg, days = rule_files(), config(), 3
        params = BacktestParams(fill="hybrid", slippage_kind="bps", slippage_value=2.0)
    else:                         # in a position most minutes, a stop moved by rules
        p = RULES / "examples" / "ema_cross_managed.yaml"
        files, cfg, days = {p.name: p.read_text(encoding="utf-8")}, P.peer_config(config()), 3
        params = BacktestParams(fill="ideal", slippage_kind="atr", slippage_value=0.1, maker_fee=Decimal(0))
    visits = {"n": 0}
    set_clock = L.SimClock.set

    def counting(self: L.SimClock, ms: int) -> None:
        visits["n"] += 1
        set_clock(self, ms)
    monkeypatch.setattr(L.SimClock, "set", counting)
    fast = _run(real_candles, files, cfg, params, T_FROM[case], days)
    jumped = visits["n"]
    monkeypatch.setattr(L, "next_visit", lambda run, now, next_cycle, t_to: now + 60_000)
    monkeypatch.setattr(L._Run, "quiet", lambda self, now: False)
    visits["n"] = 0
    slow = _run(real_candles, files, cfg, params, T_FROM[case], days)
    assert visits["n"] >= fast.candles and jumped < fast.candles / 3, (jumped, visits["n"], fast.candles)
    assert len(slow.trades) >= (2 if case == "default_rules" else 20), len(slow.trades)
    assert slow.funding and any(d["decision"]["action"] != "flat" for d in slow.decisions)
    for a, b in zip(_outputs(fast), _outputs(slow), strict=True):
        assert a == b


def test_cyclic_gc_paused_during_a_run_and_back_after() -> None:
    import gc

    from engine.backtest.gc_pause import without_cyclic_gc

    seen = []

    @without_cyclic_gc
    def run(fail: bool) -> None:
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("boom")
    assert gc.isenabled()
    run(False)
    with pytest.raises(ValueError):
        run(True)
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        run(False)               # paused by the caller: left paused
        assert not gc.isenabled()
    finally:
        gc.enable()
