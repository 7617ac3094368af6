"""Backtest metrics (PRODUCT.md §11): a pure function of the trades and the equity curve.

Sharpe and Sortino are on daily returns of the equity curve (last point of each UTC day),
annualised with √365 (crypto trades every day), risk-free rate 0. Drawdowns are from the
running peak of the 5-minute equity curve; the max daily drawdown is the worst fall within
one UTC day from that day's opening equity.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

DAY_MS = 86_400_000
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


def compute_metrics(trades: Sequence[Mapping[str, Any]], equity: Sequence[tuple[Any, ...]],
                    initial_equity: Decimal | float) -> dict[str, Any]:
    init = float(initial_equity)
    final = float(equity[-1][1]) if equity else init
    _, max_dd = drawdowns(equity)
    daily = _daily(equity)
    max_daily_dd = min(((lo / o - 1) * 100 for _, o, lo, _ in daily if o > 0), default=0.0)
    closes = [init] + [c for _, _, _, c in daily]
    rets = [b / a - 1 for a, b in zip(closes, closes[1:], strict=False) if a > 0]
    sharpe = sortino = None
    if len(rets) >= 2:
        mean, sd = statistics.fmean(rets), statistics.pstdev(rets)
        sharpe = mean / sd * math.sqrt(365) if sd > 0 else None
        downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in rets) / len(rets))
        sortino = mean / downside * math.sqrt(365) if downside > 0 else None
    pnls = [float(t["pnl"]) for t in trades]
    wins, losses = [p for p in pnls if p > 0], [p for p in pnls if p <= 0]
    rs = [float(t["r_multiple"]) for t in trades if t.get("r_multiple") is not None]
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
    return {
        "net_profit": _r(final - init, 8), "return_pct": _r((final / init - 1) * 100 if init else None),
        "initial_equity": init, "final_equity": _r(final, 8),
        "max_dd_pct": _r(max_dd), "max_daily_dd_pct": _r(max_daily_dd),
        "sharpe": _r(sharpe), "sortino": _r(sortino),
        "trades": len(trades), "win_rate": _r(len(wins) / len(pnls) * 100 if pnls else None, 4),
        "profit_factor": _r(sum(wins) / gross_loss if gross_loss > 0 else None),
        "avg_r": _r(statistics.fmean(rs) if rs else None), "median_r": _r(statistics.median(rs) if rs else None),
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
