"""Position management in the backtest (issue 11 item 3): the managed EMA example over a few
real days — rules close, reduce, move the stop and the exits carry the rules' reasons; the
stop of every trade only ever tightens and is on the exchange while the position is open."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from engine.backtest.loop import run_backtest
from engine.backtest.params import BacktestParams
from engine.execution.model import parse_client_id
from engine.paths import shared_data_dir
from engine.rules.compiler import compile_texts
from engine.rules.durable_backend import DurableRules
from tests.rules_support import config

FILE = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
EXAMPLE = Path(__file__).resolve().parents[1] / "rules" / "examples" / "ema_cross_managed.yaml"
DAY = 86_400_000
T_FROM = 1747872000000  # 2025-05-22


@pytest.fixture(scope="module")
def result():
    path = shared_data_dir() / FILE
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    df = pd.read_csv(path).set_index("open_time_ms").loc[:T_FROM + 3 * DAY - 60_000]
    compiled = compile_texts({EXAMPLE.name: EXAMPLE.read_text(encoding="utf-8")}, config())
    engine = DurableRules(compiled)
    try:
        return run_backtest(df, T_FROM, T_FROM + 3 * DAY, config(), compiled, BacktestParams(), engine)
    finally:
        engine.close()


def test_rules_manage_the_open_positions(result) -> None:
    reasons = {t["exit_reason"] for t in result.trades}
    assert result.trades and reasons & {"opposite_signal", "time_stop"}, reasons
    assert result.events.get("sl_moved", 0) > 0          # break-even / trail moved stops
    managed = [d for d in result.decisions if d["decision"].get("manage")]
    assert managed and all(d["position"]["side"] != "flat" for d in managed)
    # the position facts the manage stage saw are those of the open trade
    for d in managed:
        p = d["position"]
        assert p["age_min"] is not None and p["age_min"] >= 0 and p["r_best"] >= p["r_now"] >= p["r_worst"]


def test_stops_only_tighten_and_never_leave_the_exchange(result) -> None:
    by_trade: dict[str, list[tuple[int, Decimal, str]]] = {}
    for o in result.orders:
        p = parse_client_id(o["client_order_id"])
        if p and p[0] == "sl":
            by_trade.setdefault(p[1], []).append((p[2], Decimal(str(o["stop_price"])), o["side"]))
    assert by_trade
    for did, stops in by_trade.items():
        stops.sort()
        levels = [s for _, s, _ in stops]
        long = stops[0][2] == "SELL"
        assert levels == (sorted(levels) if long else sorted(levels, reverse=True)), (did, levels)
    assert result.events.get("sl_recreated", 0) == 0 and result.events.get("order_rejected", 0) == 0
