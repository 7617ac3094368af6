"""Backtest exports: trades.csv, equity.csv, two PNG charts and one self-contained HTML
report (images inlined as base64). File I/O and matplotlib live here, at the edge."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from engine import format as fmt
from engine.backtest import present
from engine.backtest.export import equity_csv, trades_csv
from engine.backtest.loop import BacktestResult
from engine.backtest.metrics import drawdowns
from engine.candles import ms_to_iso

CHART_POINTS = 1200  # about the chart's width in pixels: more points draw nothing more


def _figure(**kw: Any) -> Any:
    """A bare Agg figure: matplotlib imported only when a chart is drawn, and without pyplot
    (its import and figure manager cost a third of a second the command does not need)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


def _thin(times: Sequence[int], values: Sequence[float], n: int = CHART_POINTS) -> tuple[list[int], list[float]]:
    """At most ~2n points: each bucket's lowest and highest value in time order, so no dip
    or peak the full curve shows goes missing from the picture."""
    if len(times) <= 2 * n:
        return list(times), list(values)
    step = -(-len(times) // n)
    out_t: list[int] = []
    out_v: list[float] = []
    for i in range(0, len(times), step):
        vs = values[i:i + step]
        lo, hi = min(range(len(vs)), key=vs.__getitem__), max(range(len(vs)), key=vs.__getitem__)
        for j in sorted({lo, hi}):
            out_t.append(times[i + j])
            out_v.append(vs[j])
    return out_t, out_v


def _equity_png(result: BacktestResult, path: Path) -> None:
    import matplotlib.dates as mdates

    ts = [t for t, _, _ in result.equity]
    eq_t, eq = _thin(ts, [float(e) for _, e, _ in result.equity])
    dd_full, _ = drawdowns([(t, e) for t, e, _ in result.equity])
    dd_t, dd = _thin(ts, [float(x) for x in dd_full])
    fig = _figure(figsize=(11, 6))
    a1, a2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    a1.plot(pd.to_datetime(eq_t, unit="ms", utc=True), eq, color="#1f77b4", lw=1)
    a1.set_ylabel("equity (USDT)")
    a1.set_title(f"Equity — rules {result.version[:12]}, {ms_to_iso(result.t_from)} → {ms_to_iso(result.t_to)} UTC")
    a1.grid(alpha=0.3)
    for won, color in ((True, "#2ca02c"), (False, "#d62728")):   # one collection per colour, not a line a trade
        at = [t["entry_ms"] for t in result.trades if (float(t["pnl"]) > 0) == won]
        if at:
            a1.vlines(pd.to_datetime(at, unit="ms", utc=True), 0, 1, transform=a1.get_xaxis_transform(),
                      color=color, alpha=0.25, lw=0.8)
    a2.fill_between(pd.to_datetime(dd_t, unit="ms", utc=True), dd, 0, color="#d62728", alpha=0.4)
    a2.set_ylabel("drawdown %")
    a2.grid(alpha=0.3)
    a2.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    # fixed margins, not tight_layout(): that draws the whole figure once more to measure it
    # (~40 % of the chart's CPU); these fit the labels at this size
    fig.subplots_adjust(left=0.085, right=0.985, top=0.94, bottom=0.06, hspace=0.08)
    fig.savefig(path, dpi=90)


def _r_png(result: BacktestResult, path: Path) -> None:
    rs = [float(t["r_multiple"]) for t in result.trades if t.get("r_multiple") is not None]
    fig = _figure(figsize=(7, 3.6))
    ax = fig.subplots()
    if rs:
        ax.hist(rs, bins=[x / 2 for x in range(-8, 13)], color="#1f77b4", edgecolor="white")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("R multiple")
    ax.set_ylabel("trades")
    ax.set_title(f"R distribution ({len(rs)} trades)")
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.91, bottom=0.14)
    fig.savefig(path, dpi=90)


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    return "<table class=\"kv\">" + "".join(f"<tr><th>{_esc(k)}</th><td class=\"num\">{_esc(v)}</td></tr>"
                                            for k, v in rows) + "</table>"


def _grid(head: Sequence[str], rows: Sequence[Sequence[str]], num_from: int = 1,
          classes: Sequence[str] | None = None) -> str:
    th = "".join(f"<th{' class=num' if i >= num_from else ''}>{_esc(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        f"<tr class=\"{_esc(classes[n]) if classes else ''}\">" + "".join(
            f"<td{' class=num' if i >= num_from else ''}>{_esc(c)}</td>" for i, c in enumerate(r)) + "</tr>"
        for n, r in enumerate(rows))
    return f"<table><tr>{th}</tr>{body}</table>"


STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#1d2733}
h1{font-size:22px}h2{font-size:16px;margin-top:1.6em;border-bottom:2px solid #1f77b4;padding-bottom:3px}
h3{font-size:14px;margin:1em 0 .3em;color:#444}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:13px}td,th{padding:4px 10px;border-bottom:1px solid #e2e6ea;text-align:left}
th{background:#f4f6f8;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{width:16em}tr:nth-child(even) td{background:#fafbfc}
tr.pos td:nth-child(11){color:#1a7f4b}tr.neg td:nth-child(11){color:#c62828}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:0 2em}img{max-width:100%}"""


def write_exports(result: BacktestResult, metrics: Mapping[str, Any], out: Path, run_id: int | None = None,
                  compare: Mapping[str, Any] | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"trades": out / "trades.csv", "equity": out / "equity.csv", "equity_png": out / "equity.png",
             "r_png": out / "r_histogram.png", "html": out / "report.html", "metrics": out / "metrics.json"}
    paths["trades"].write_text(trades_csv(result.trades), encoding="utf-8")
    paths["equity"].write_text(equity_csv(result.equity), encoding="utf-8")
    paths["metrics"].write_text(json.dumps(metrics, indent=1, sort_keys=True), encoding="utf-8")
    _equity_png(result, paths["equity_png"])
    _r_png(result, paths["r_png"])
    img = {k: base64.b64encode(paths[k].read_bytes()).decode() for k in ("equity_png", "r_png")}
    groups = "".join(
        f"<div><h3>{_esc(b['title'])}</h3>"
        + _grid(("group", "trades", "win rate", "net P&L USDT", "avg R"),
                [(r["group"], r["trades"], r["win_rate"], r["net_pnl"], r["avg_r"]) for r in b["rows"]]) + "</div>"
        for b in present.breakdowns(metrics))
    dd_rows = present.drawdown_periods(metrics)
    dd_html = _grid(("start", "valley", "end", "days", "depth"),
                    [(d["start"], d["valley"], d["end"], d["days"], d["depth"]) for d in dd_rows], num_from=3) \
        if dd_rows else "<p>no drawdown</p>"
    hist = _grid(("R", "trades"), present.r_distribution(metrics))
    rows = present.trade_rows(result.trades)
    trades = _grid(("decided", "opened", "closed", "duration", "side", "qty", "entry", "exit", "reason", "fees",
                    "P&L USDT", "R gross", "R net", "session"),
                   [(t["decided"], t["opened"], t["closed"], t["duration"], t["side"], t["quantity"], t["entry"],
                     t["exit"], t["reason"], t["fees"], t["pnl"], t["r"], t["r_net"], t["session"]) for t in rows],
                   num_from=5, classes=[t["sign"] for t in rows])
    cmp_html = ""
    if compare:
        cmp_html = (f"<h2>Compare {_esc(compare['a'][:12])} vs {_esc(compare['b'][:12])}</h2>"
                    f"<p>{compare['decisions_differing']} of {compare['decisions_compared']} decisions differ</p>"
                    + _grid(("metric", "A", "B"), [(k, fmt.field(k, v["a"]), fmt.field(k, v["b"]))
                                                   for k, v in compare["metrics"].items()
                                                   if not isinstance(v.get("a"), dict)]))
    params = ", ".join(f"{k} {v}" for k, v in sorted(result.params.items()))
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>Backtest {run_id or ''}</title>
<style>{STYLE}</style></head>
<body><h1>Backtest {'run ' + str(run_id) if run_id else ''} — rules {_esc(result.version[:12])}</h1>
<p>{ms_to_iso(result.t_from)} → {ms_to_iso(result.t_to)} UTC, {result.candles:,} minutes · {_esc(params)}</p>
<div class="grid"><div><h2>Performance</h2>{_kv(present.headline(metrics))}</div>
<div><h2>Deepest drawdown periods</h2>{dd_html}<h2>R distribution</h2>{hist}</div></div>
<img alt="equity and drawdown" src="data:image/png;base64,{img['equity_png']}">
<img alt="R histogram" src="data:image/png;base64,{img['r_png']}">
<h2>Breakdowns</h2><div class="grid">{groups}</div>{cmp_html}
<h2>Trades ({len(rows)})</h2>{trades}</body></html>"""
    paths["html"].write_text(doc, encoding="utf-8")
    return paths
