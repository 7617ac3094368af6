"""Backtest metrics (PRODUCT.md §11): a pure function of the trades and the equity curve.

Sharpe, Sortino, Calmar and the drawdown periods come from QuantStats (quantstats.stats),
on the daily returns of the equity curve (last point of each UTC day, the first return
from the initial equity), 365 periods a year (crypto trades every day), risk-free rate 0.
The max drawdown is from the running peak of the 5-minute equity curve (finer than the
daily series QuantStats sees); the max daily drawdown is the worst fall within one UTC day
from that day's opening equity.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

DAY_MS = 86_400_000
# Below this many trades Sharpe, Sortino and the profit factor say more about luck than about
# the strategy: they are still computed, with a warning beside them (`warnings`).
MIN_TRADES_FOR_RATIOS = 20
NO_LOSING_TRADE = "∞ (no losing trade)"
R_BINS = (-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, nd)


def drawdowns(equity: Sequence[tuple[Any, ...]]) -> tuple[list[float], float]:
    """(drawdown % at each point, max drawdown %) of (time, equity, ...) points — negative
    numbers, 0 at a new peak."""
    peak, out, worst = -math.inf, [], 0.0
    for point in equity:
        v = float(point[1])
        peak = max(peak, v)
        dd = (v / peak - 1) * 100 if peak > 0 else 0.0
        out.append(dd)
        worst = min(worst, dd)
    return out, worst


def _daily(equity: Sequence[tuple[Any, ...]]) -> list[tuple[int, float, float, float]]:
    """(day, open, low, close) per UTC day."""
    days: dict[int, list[float]] = {}
    for point in equity:
        t, v = int(point[0]), float(point[1])
        d = days.get(t // DAY_MS)
        if d is None:
            days[t // DAY_MS] = [v, v, v]
        else:
            d[1], d[2] = min(d[1], v), v
    return [(k, o, lo, c) for k, (o, lo, c) in sorted(days.items())]


def _group(trades: Sequence[Mapping[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for t in trades:
        g = out.setdefault(str(t.get(key) or "unknown"), {"trades": 0, "wins": 0, "net_pnl": 0.0, "r_sum": 0.0})
        pnl = float(t["pnl"])
        g["trades"] += 1
        g["wins"] += pnl > 0
        g["net_pnl"] += pnl
        g["r_sum"] += float(t.get("r_multiple") or 0.0)
    for g in out.values():
        g["win_rate"] = _r(g["wins"] / g["trades"] * 100, 4)
        g["avg_r"] = _r(g.pop("r_sum") / g["trades"], 4)
        g["net_pnl"] = _r(g["net_pnl"], 8)
    return dict(sorted(out.items()))


def daily_ratios(init: float, daily: Sequence[tuple[int, float, float, float]]) -> dict[str, Any]:
    """Sharpe, Sortino, Calmar and the five deepest drawdown periods by QuantStats over the
    daily returns (None where fewer than two days or no variation)."""
    import pandas as pd

    from engine.backtest.quantstats_import import quantstats_stats

    qs = quantstats_stats()   # without its plotting, SciPy and yfinance until used

    out: dict[str, Any] = {"sharpe": None, "sortino": None, "calmar": None, "drawdown_periods": []}
    closes = [init] + [c for _, _, _, c in daily]
    if len(daily) < 2 or init <= 0:
        return out
    index = pd.to_datetime([(daily[0][0] - 1) * DAY_MS] + [d * DAY_MS for d, _, _, _ in daily], unit="ms")
    rets = pd.Series(closes, index=index).pct_change().dropna()
    if float(rets.std(ddof=1)) > 0:
        out["sharpe"] = float(qs.sharpe(rets, periods=365))
    downside = rets[rets < 0]
    if len(downside):
        out["sortino"] = float(qs.sortino(rets, periods=365))
    dd = qs.to_drawdown_series(rets)
    if float(dd.min()) < 0:
        out["calmar"] = float(qs.calmar(rets, periods=365))
        details = qs.drawdown_details(dd).sort_values("max drawdown").head(5)
        out["drawdown_periods"] = [
            {"start": str(r["start"])[:10], "valley": str(r["valley"])[:10], "end": str(r["end"])[:10],
             "days": int(r["days"]), "max_drawdown_pct": _r(float(r["max drawdown"]), 4)}
            for _, r in details.iterrows()]
    return out


def compute_metrics(trades: Sequence[Mapping[str, Any]], equity: Sequence[tuple[Any, ...]],
                    initial_equity: Decimal | float, final_equity: Decimal | float | None = None) -> dict[str, Any]:
    """`final_equity`: the run's own final equity (after the end-of-period close), so the
    metrics and the run row never show two different figures; default the curve's last point."""
    init = float(initial_equity)
    final = float(equity[-1][1]) if equity else init
    _, max_dd = drawdowns(equity)
    daily = _daily(equity)
    max_daily_dd = min(((lo / o - 1) * 100 for _, o, lo, _ in daily if o > 0), default=0.0)
    ratios = daily_ratios(init, daily)
    if final_equity is not None:
        final = float(final_equity)
    pnls = [float(t["pnl"]) for t in trades]
    wins, losses = [p for p in pnls if p > 0], [p for p in pnls if p <= 0]
    rs = [float(t["r_multiple"]) for t in trades if t.get("r_multiple") is not None]
    rs_net = [float(t["r_multiple_net"]) for t in trades if t.get("r_multiple_net") is not None]
    durations = [(int(t["exit_ms"]) - int(t["entry_ms"])) / 60_000 for t in trades]
    sl_d = [float(t["sl_distance_pct"]) for t in trades if t.get("sl_distance_pct") is not None]
    tp_d = [float(t["tp_distance_pct"]) for t in trades if t.get("tp_distance_pct") is not None]
    hist = {f"<{R_BINS[0]}": 0, **{f"[{a},{b})": 0 for a, b in zip(R_BINS, R_BINS[1:], strict=False)},
            f">={R_BINS[-1]}": 0}
    for r in rs:
        if r < R_BINS[0]:
            hist[f"<{R_BINS[0]}"] += 1
        elif r >= R_BINS[-1]:
            hist[f">={R_BINS[-1]}"] += 1
        else:
            for a, b in zip(R_BINS, R_BINS[1:], strict=False):
                if a <= r < b:
                    hist[f"[{a},{b})"] += 1
                    break
    gross_loss = -sum(losses)
    profit_factor: float | str | None = _r(sum(wins) / gross_loss) if gross_loss > 0 else (
        NO_LOSING_TRADE if wins else None)
    warnings = [f"only {len(trades)} trades (< {MIN_TRADES_FOR_RATIOS}): Sharpe, Sortino and profit factor "
                "are not meaningful"] if len(trades) < MIN_TRADES_FOR_RATIOS else []
    return {
        "warnings": warnings,
        "net_profit": _r(final - init, 8), "return_pct": _r((final / init - 1) * 100 if init else None),
        "initial_equity": init, "final_equity": _r(final, 8),
        "max_dd_pct": _r(max_dd), "max_daily_dd_pct": _r(max_daily_dd),
        "sharpe": _r(ratios["sharpe"]), "sortino": _r(ratios["sortino"]), "calmar": _r(ratios["calmar"]),
        "drawdown_periods": ratios["drawdown_periods"],
        "trades": len(trades), "win_rate": _r(len(wins) / len(pnls) * 100 if pnls else None, 4),
        "profit_factor": profit_factor,
        "avg_r": _r(statistics.fmean(rs) if rs else None), "median_r": _r(statistics.median(rs) if rs else None),
        "avg_r_net": _r(statistics.fmean(rs_net) if rs_net else None),
        "median_r_net": _r(statistics.median(rs_net) if rs_net else None),
        "avg_sl_distance_pct": _r(statistics.fmean(sl_d) if sl_d else None),
        "avg_tp_distance_pct": _r(statistics.fmean(tp_d) if tp_d else None),
        "r_distribution": hist,
        "duration_min": {"avg": _r(statistics.fmean(durations) if durations else None, 2),
                         "median": _r(statistics.median(durations) if durations else None, 2),
                         "max": _r(max(durations) if durations else None, 2)},
        "fees": _r(sum(float(t.get("fees") or 0) for t in trades), 8),
        "funding": _r(sum(float(t.get("funding") or 0) for t in trades), 8),
        "by_session": _group(trades, "session"),
        "by_volatility_regime": _group(trades, "volatility_regime"),
        "by_etf_regime": _group(trades, "etf_regime"),
        "by_crowd_trap": _group(trades, "crowd_trap"),
    }
