"""Backtest metrics from QuantStats, cross-checked against the textbook formulas, and the
report's numbers formatted by meaning (issue 13, points 5 and 10)."""

from __future__ import annotations

import math
import re
import statistics

import pytest

from engine.backtest.metrics import DAY_MS, compute_metrics

EQUITY = [1000.0, 1010.0, 1004.0, 1030.0, 1001.0, 990.0, 1015.0, 1040.0, 1032.0, 1060.0]


def _curve(values: list[float]) -> list[tuple[int, float, float]]:
    # one point at the end of each UTC day (the day's close)
    return [(d * DAY_MS + DAY_MS - 300_000, v, v) for d, v in enumerate(values, start=20000)]


def test_ratios_are_quantstats_and_match_the_textbook():
    m = compute_metrics([], _curve(EQUITY[1:]), EQUITY[0])
    rets = [b / a - 1 for a, b in zip(EQUITY, EQUITY[1:], strict=False)]
    n = len(rets)
    mean = statistics.fmean(rets)
    sharpe = mean / statistics.stdev(rets) * math.sqrt(365)
    sortino = mean / math.sqrt(sum(min(r, 0.0) ** 2 for r in rets) / n) * math.sqrt(365)
    peak, worst = EQUITY[0], 0.0
    for v in EQUITY:
        peak = max(peak, v)
        worst = min(worst, v / peak - 1)
    cagr = (EQUITY[-1] / EQUITY[0]) ** (365 / n) - 1
    assert m["sharpe"] == pytest.approx(sharpe, rel=1e-6)
    assert m["sortino"] == pytest.approx(sortino, rel=1e-6)
    assert m["calmar"] == pytest.approx(cagr / abs(worst), rel=1e-6)
    deepest = m["drawdown_periods"][0]
    # 1030 -> 990 is the deepest fall: -3.88 %, from day 3's close until the new high on day 7
    assert deepest["max_drawdown_pct"] == pytest.approx((990 / 1030 - 1) * 100, abs=1e-3)
    assert deepest["days"] >= 3 and deepest["start"] <= deepest["valley"] <= deepest["end"]


def test_final_equity_is_the_runs_own():
    m = compute_metrics([], _curve(EQUITY[1:]), EQUITY[0], final_equity=1059.89)
    assert m["final_equity"] == 1059.89 and m["net_profit"] == pytest.approx(59.89)


def test_too_short_a_curve_has_no_ratio():
    m = compute_metrics([], _curve([1000.0]), 1000.0)
    assert m["sharpe"] is None and m["sortino"] is None and m["calmar"] is None and m["drawdown_periods"] == []


RAW_FLOAT = re.compile(r"\d\.\d{5,}|\de[-+]\d")
REPR = re.compile(r"[{\[]['\"]")


QS_PROBE = """
import json, sys
from engine.backtest.metrics import compute_metrics
m = compute_metrics([], CURVE, 1000.0)
loaded = sorted({k.split('.')[0] for k in sys.modules} & {'scipy', 'yfinance', 'bs4', 'matplotlib', 'seaborn'})
loaded += ['scipy.stats'] if 'scipy.stats' in sys.modules else []
import pandas as pd
import quantstats.stats as qs
rets = pd.Series([0.01, -0.02, 0.015, -0.005, 0.02, -0.01], index=pd.date_range('2025-01-01', periods=6))
var = float(qs.value_at_risk(rets))       # SciPy's norm, through the deferred name
import scipy.stats
from scipy.stats import norm
mu, sd = float(rets.mean()), float(rets.std())
print(json.dumps({'loaded': loaded, 'sharpe': m['sharpe'], 'var': var, 'scipy_var': float(norm.ppf(0.05, mu, sd)),
                  'real': type(scipy.stats).__name__ == 'module' and hasattr(scipy.stats, 'ttest_ind'),
                  'yf': hasattr(sys.modules['quantstats._compat'].yf, 'download')}))
"""


def test_metrics_load_neither_scipy_nor_yfinance_and_quantstats_still_whole():
    """Issue 16: quantstats.stats imported the plain way loads scipy.stats and yfinance
    (~0.6 s CPU, ~50 MB of a `showdown backtest`) for ratios we never compute; the metrics
    now load neither, and QuantStats' SciPy-based functions still answer SciPy's figures."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    code = f"CURVE = {_curve(EQUITY[1:])!r}\n" + QS_PROBE
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["loaded"] == [], got
    assert got["sharpe"] == compute_metrics([], _curve(EQUITY[1:]), EQUITY[0])["sharpe"]
    assert got["var"] == pytest.approx(got["scipy_var"], rel=1e-12) and got["real"] and got["yf"], got
