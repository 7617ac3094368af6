"""A backtest's metrics as the tables a quant reads (pure): headline figures, the regime
breakdowns, the R distribution, the deepest drawdown periods and the trades, every number
formatted by its meaning (engine.format). Used by report.html and the admin site."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine import format as fmt

HEADLINE = (
    ("net profit", "net_profit", "money"), ("return", "return_pct", "pct"), ("final equity", "final_equity", "money"),
    ("max drawdown", "max_dd_pct", "pct"), ("max daily drawdown", "max_daily_dd_pct", "pct"),
    ("Sharpe", "sharpe", "ratio"), ("Sortino", "sortino", "ratio"), ("Calmar", "calmar", "ratio"),
    ("trades", "trades", "int"), ("win rate", "win_rate", "pct1"), ("profit factor", "profit_factor", "ratio"),
    ("average R (gross)", "avg_r", "r"), ("median R (gross)", "median_r", "r"),
    ("average R (net of fees and funding)", "avg_r_net", "r"), ("median R (net)", "median_r_net", "r"),
    ("average stop distance", "avg_sl_distance_pct", "pct"), ("average target distance", "avg_tp_distance_pct", "pct"),
    ("fees", "fees", "money"), ("funding", "funding", "money"),
)
BREAKDOWNS = (("by session", "by_session"), ("by volatility regime", "by_volatility_regime"),
              ("by ETF regime", "by_etf_regime"), ("by crowd trap", "by_crowd_trap"))


def _show(kind: str, v: Any) -> str:
    if v is None:
        return fmt.NONE
    return {"money": lambda x: fmt.money(x), "pct": lambda x: fmt.pct(x, 2), "pct1": lambda x: fmt.pct(x, 1),
            "ratio": lambda x: fmt.number(x, 2), "int": lambda x: str(int(x)), "r": fmt.r_multiple}[kind](v)


FEW_TRADES_KEYS = ("sharpe", "sortino", "profit_factor")


def _show_metric(metrics: Mapping[str, Any], key: str, kind: str) -> str:
    v = metrics.get(key)
    text = v if isinstance(v, str) else _show(kind, v)   # "∞ (no losing trade)" as it is
    if key in FEW_TRADES_KEYS and metrics.get("warnings") and v is not None:
        text += f" (few trades: {int(metrics.get('trades') or 0)})"
    return text


def headline(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [(label, _show_metric(metrics, key, kind)) for label, key, kind in HEADLINE if key in metrics]
    d = metrics.get("duration_min") or {}
    if d:
        rows.append(("trade duration avg / median / max",
                     " / ".join(fmt.duration(None if d.get(k) is None else d[k] * 60_000)
                                for k in ("avg", "median", "max"))))
    return rows


def summary_line(run_id: int, version: str, minutes: int, metrics: Mapping[str, Any]) -> str:
    """The command's one-line result, every figure by its meaning: money to the cent, percents
    and ratios to 2 places (the raw floats read -132.05109152 USDT, Sharpe -3.685084)."""
    m = metrics
    return (f"run {run_id}: rules {version[:12]}, {minutes:,} minutes, {int(m.get('trades') or 0)} trades, "
            f"net {fmt.money(m.get('net_profit'), signed=True)} USDT ({fmt.pct(m.get('return_pct'), 2, signed=True)}), "
            f"max DD {fmt.pct(m.get('max_dd_pct'), 2)}, Sharpe {_show('ratio', m.get('sharpe'))}, "
            f"win rate {fmt.pct(m.get('win_rate'), 2)}")


def compare_value(key: str, value: Any) -> str:
    """A metric of the compare lines (net_profit, return_pct, sharpe...) by its meaning."""
    kind = next((k for _, name, k in HEADLINE if name == key), None)
    return value if isinstance(value, str) else _show(kind, value) if kind else fmt.field(key, value)


def breakdowns(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each regime breakdown as a table: group, trades, win rate, net P&L, average R."""
    out = []
    for title, key in BREAKDOWNS:
        groups = metrics.get(key)
        if not isinstance(groups, Mapping):
            continue
        out.append({"title": title, "key": key, "rows": [
            {"group": g, "trades": str(v.get("trades", 0)), "win_rate": fmt.pct(v.get("win_rate"), 1),
             "net_pnl": fmt.money(v.get("net_pnl"), signed=True), "avg_r": fmt.r_multiple(v.get("avg_r")),
             "sign": fmt.signed_class(v.get("net_pnl"))}
            for g, v in groups.items() if isinstance(v, Mapping)]})
    return out


def r_distribution(metrics: Mapping[str, Any]) -> list[tuple[str, int]]:
    hist = metrics.get("r_distribution")
    return [(str(k), int(v)) for k, v in hist.items()] if isinstance(hist, Mapping) else []


def drawdown_periods(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"start": p.get("start", ""), "valley": p.get("valley", ""), "end": p.get("end", ""),
             "days": str(p.get("days", "")), "depth": fmt.pct(p.get("max_drawdown_pct"), 2)}
            for p in metrics.get("drawdown_periods") or [] if isinstance(p, Mapping)]


def trade_rows(trades: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Backtest trades (engine.backtest.loop shape): times ISO (the decision is named by
    its time, not by the epoch seconds it is keyed on), prices to the tick, money to cents."""
    out = []
    for t in trades:
        decided = t.get("decision_id")
        decided_at = fmt.time_iso(int(decided) * 1000) if isinstance(decided, str) and decided.isdigit() else (
            str(decided) if decided is not None else fmt.NONE)
        out.append({"decided": decided_at, "side": str(t.get("side")), "quantity": fmt.qty(t.get("quantity")),
                    "entry": fmt.price(t.get("entry_price")), "exit": fmt.price(t.get("exit_price")),
                    "opened": fmt.time_iso(t.get("entry_ms")), "closed": fmt.time_iso(t.get("exit_ms")),
                    "duration": fmt.duration(int(t["exit_ms"]) - int(t["entry_ms"]))
                    if t.get("exit_ms") is not None and t.get("entry_ms") is not None else fmt.NONE,
                    "reason": str(t.get("exit_reason") or ""), "pnl": fmt.money(t.get("pnl"), signed=True),
                    "fees": fmt.money(t.get("fees")), "r": fmt.r_multiple(t.get("r_multiple")),
                    "r_net": fmt.r_multiple(t.get("r_multiple_net")),
                    "session": str(t.get("session") or ""), "sign": fmt.signed_class(t.get("pnl"))})
    return out
