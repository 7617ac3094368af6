"""Backtest exports: trades.csv, equity.csv, two PNG charts and one self-contained HTML
report (images inlined as base64). File I/O and matplotlib live here, at the edge."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from engine.backtest.export import equity_csv, trades_csv  # noqa: E402
from engine.backtest.loop import BacktestResult  # noqa: E402
from engine.backtest.metrics import drawdowns  # noqa: E402
from engine.candles import ms_to_iso  # noqa: E402


def _equity_png(result: BacktestResult, path: Path) -> None:
    times = pd.to_datetime([t for t, _, _ in result.equity], unit="ms", utc=True)
    eq = [float(e) for _, e, _ in result.equity]
    dd, _ = drawdowns([(t, e) for t, e, _ in result.equity])
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    a1.plot(times, eq, color="#1f77b4", lw=1)
    a1.set_ylabel("equity (USDT)")
    a1.set_title(f"Equity — rules {result.version[:12]}, {ms_to_iso(result.t_from)} → {ms_to_iso(result.t_to)} UTC")
    a1.grid(alpha=0.3)
    for t in result.trades:
        a1.axvline(pd.to_datetime(t["entry_ms"], unit="ms", utc=True), color="#2ca02c" if float(t["pnl"]) > 0
                   else "#d62728", alpha=0.25, lw=0.8)
    a2.fill_between(times, dd, 0, color="#d62728", alpha=0.4)
    a2.set_ylabel("drawdown %")
    a2.grid(alpha=0.3)
    a2.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _r_png(result: BacktestResult, path: Path) -> None:
    rs = [float(t["r_multiple"]) for t in result.trades if t.get("r_multiple") is not None]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if rs:
        ax.hist(rs, bins=[x / 2 for x in range(-8, 13)], color="#1f77b4", edgecolor="white")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("R multiple")
    ax.set_ylabel("trades")
    ax.set_title(f"R distribution ({len(rs)} trades)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _table(rows: Mapping[str, Any]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v) if isinstance(v, dict) else str(v))}"
                    "</td></tr>" for k, v in rows.items())
    return f"<table>{cells}</table>"


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
    flat = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    groups = "".join(f"<h3>{html.escape(k)}</h3>{_table(v)}" for k, v in metrics.items() if isinstance(v, dict))
    trades = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(t.get(c, '')))}</td>" for c in
                         ("decision_id", "side", "quantity", "entry_price", "exit_price", "exit_reason", "pnl",
                          "r_multiple", "session")) + f"<td>{ms_to_iso(t['entry_ms'])}</td></tr>"
        for t in result.trades)
    cmp_html = ""
    if compare:
        cmp_html = (f"<h2>Compare {html.escape(compare['a'][:12])} vs {html.escape(compare['b'][:12])}</h2>"
                    f"<p>{compare['decisions_differing']} of {compare['decisions_compared']} decisions differ</p>"
                    + _table({k: f"{v['a']} | {v['b']}" for k, v in compare["metrics"].items()}))
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>Backtest {run_id or ''}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}}th{{background:#f4f4f4}}</style></head>
<body><h1>Backtest {'run ' + str(run_id) if run_id else ''} — rules {html.escape(result.version[:12])}</h1>
<p>{ms_to_iso(result.t_from)} → {ms_to_iso(result.t_to)} UTC, {result.candles} minutes, params
{html.escape(json.dumps(result.params, sort_keys=True))}</p>
<h2>Metrics</h2>{_table(flat)}
<img alt="equity and drawdown" src="data:image/png;base64,{img['equity_png']}">
<img alt="R histogram" src="data:image/png;base64,{img['r_png']}">
{groups}{cmp_html}
<h2>Trades</h2><table><tr><th>decision</th><th>side</th><th>qty</th><th>entry</th><th>exit</th><th>reason</th>
<th>pnl</th><th>R</th><th>session</th><th>opened UTC</th></tr>{trades}</table></body></html>"""
    paths["html"].write_text(doc, encoding="utf-8")
    return paths
