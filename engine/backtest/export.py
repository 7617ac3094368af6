"""Trades and equity as CSV text (pure). Fixed column order, Decimal money as written by
the ledger, floats as repr: the same run gives the same bytes."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from engine.backtest.metrics import drawdowns

TRADE_COLUMNS = ("decision_id", "side", "quantity", "entry_ms", "entry_price", "exit_ms", "exit_price",
                 "exit_reason", "gross_pnl", "pnl", "fees", "funding", "r_multiple", "r_multiple_net", "sl", "tp",
                 "sl_distance_pct", "tp_distance_pct", "session", "volatility_regime", "etf_regime", "crowd_trap")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(round(v, 10))
    return str(v)


def trades_csv(trades: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TRADE_COLUMNS)
    for t in trades:
        w.writerow([_cell(t.get(c)) for c in TRADE_COLUMNS])
    return buf.getvalue()


def equity_csv(equity: Sequence[tuple[int, Decimal, Decimal]]) -> str:
    dd, _ = drawdowns([(t, e) for t, e, _ in equity])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("time_ms", "equity", "wallet", "drawdown_pct"))
    for (t, e, wallet), d in zip(equity, dd, strict=True):
        w.writerow((t, str(e), str(wallet), repr(round(d, 8))))
    return buf.getvalue()
