"""Spot-ETF flow input: the canonical layout, and the per-fund daily layout converted to it.

Canonical: {symbol: "BTC", as_of, history[] {date, net_flow_usd}, summary {last_7d_total,
last_3d_total, trend, signal, comment}}. Totals are over trading days as listed: the
last 7 (3) history entries. They must agree with the history (within `TOTALS_TOLERANCE_USD`).

Per-fund (a Farside table transcribed): {symbol, days[] {date_iso, funds[] {ticker,
flow_usd}, total_flow_usd, date_display?, timestamp_ms?}, source?, notes?, as_of?}.
Each day's funds must sum to its total. Without as_of, the data is taken as known at
the end of its last day (next day 00:00Z); the summary is computed (summarise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from engine.facts import ETF_SIGNAL
from engine.inputs.common import (
    MAX_USD,
    Problem,
    choice,
    day,
    day_ms,
    describe,
    fields,
    iso_from_ms,
    iso_time,
    key_path,
    number,
    text,
)

TOTALS_TOLERANCE_USD = 1.0
DEFAULTS = {"neutral_band_usd": 100_000_000.0, "exhaustion_ratio": 0.5}


def totals(flows: list[float]) -> tuple[float, float]:
    """(last 7 entries, last 3 entries) — exact sums (fsum), independent of order."""
    return math.fsum(flows[-7:]), math.fsum(flows[-3:])


def summarise(flows: list[float], params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Totals, trend, signal and a comment from daily net flows (oldest first). See README."""
    p = {**DEFAULTS, **(params or {})}
    l7, l3 = totals(flows)
    if l3 > 0 and l7 > 0:
        trend = "inflows"
    elif l3 < 0 and l7 < 0:
        trend = "outflows"
    elif l3 > 0 >= l7:
        trend = "turning_up"
    elif l3 < 0 <= l7:
        trend = "turning_down"
    else:
        trend = "flat"
    band = float(p["neutral_band_usd"])
    last = flows[-1] if flows else 0.0
    n3 = min(3, len(flows)) or 1
    if abs(l7) < band and abs(l3) < band:
        signal = "neutral"
    elif l3 > 0 and l7 > 0:
        signal = "bullish"
    elif l3 > 0:
        signal = "bullish_reversal"
    elif l3 < 0 and l7 < 0:
        fading = last >= 0 or abs(last) < float(p["exhaustion_ratio"]) * abs(l3) / n3
        signal = "bearish_exhaustion" if fading else "bearish"
    else:
        signal = "neutral"
    comment = (f"7 trading days {l7 / 1e6:+.1f}M USD, 3 days {l3 / 1e6:+.1f}M USD, "
               f"last day {last / 1e6:+.1f}M USD")
    return {"last_7d_total": l7, "last_3d_total": l3, "trend": trend, "signal": signal, "comment": comment}


def _as_number(x: float) -> int | float:
    """Whole USD amounts stay integers in the canonical document."""
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def validate_etf(obj: Any, params: Mapping[str, Any] | None = None) -> tuple[dict[str, Any] | None, list[Problem]]:
    """(canonical document, []) when valid, else (None, every problem found)."""
    if isinstance(obj, dict) and "days" in obj and "history" not in obj:
        return _from_per_fund(obj, params)
    return _canonical(obj)


def _canonical(obj: Any) -> tuple[dict[str, Any] | None, list[Problem]]:
    out: list[Problem] = []
    if not fields(obj, "$", {"symbol", "as_of", "history", "summary"}, set(), out, "ETF flow document"):
        return None, out
    if "symbol" in obj and obj["symbol"] != "BTC":
        out.append(Problem("$.symbol", f"expected \"BTC\", got {describe(obj['symbol'])}"))
    as_of = iso_time(obj["as_of"], "$.as_of", out) if "as_of" in obj else None
    flows: list[float] | None = []
    dates: list[date | None] = []
    hist = obj.get("history")
    if "history" in obj and not isinstance(hist, list):
        out.append(Problem("$.history", "expected an array of {date, net_flow_usd}"))
        flows = None
    for i, item in enumerate(hist if isinstance(hist, list) else []):
        path = f"$.history[{i}]"
        if not fields(item, path, {"date", "net_flow_usd"}, set(), out, "ETF day"):
            flows = None
            continue
        d = day(item["date"], path + ".date", out) if "date" in item else None
        f = number(item["net_flow_usd"], path + ".net_flow_usd", out, -MAX_USD, MAX_USD) if "net_flow_usd" in item else None
        if d is not None and dates and dates[-1] is not None and d <= dates[-1]:
            what = "duplicate date" if d == dates[-1] else f"dates must be ascending (previous {dates[-1]})"
            out.append(Problem(path + ".date", f"{what}: {d}"))
        dates.append(d)
        if f is None or d is None or flows is None:
            flows = None
        else:
            flows.append(f)
    summary = obj.get("summary")
    if "summary" in obj and fields(summary, "$.summary",
                                   {"last_7d_total", "last_3d_total", "trend", "signal", "comment"},
                                   set(), out, "ETF summary"):
        given = {}
        for k in ("last_7d_total", "last_3d_total"):
            if k in summary:
                given[k] = number(summary[k], f"$.summary.{k}", out, -7 * MAX_USD, 7 * MAX_USD)
        if "trend" in summary:
            text(summary["trend"], "$.summary.trend", out, allow_empty=False)
        if "signal" in summary:
            choice(summary["signal"], "$.summary.signal", ETF_SIGNAL, out)
        if "comment" in summary:
            text(summary["comment"], "$.summary.comment", out)
        if flows is not None:
            l7, l3 = totals(flows)
            for k, want in (("last_7d_total", l7), ("last_3d_total", l3)):
                got = given.get(k)
                if got is not None and abs(got - want) > TOTALS_TOLERANCE_USD:
                    out.append(Problem(f"$.summary.{k}", f"{got:.0f} does not agree with history (sum of the last "
                                                         f"{7 if '7' in k else 3} days = {want:.0f})"))
    elif "summary" in obj:
        pass  # fields() reported it
    if as_of is not None and dates and dates[-1] is not None and as_of < day_ms(dates[-1]):
        out.append(Problem("$.as_of", f"before the last history date {dates[-1]}"))
    if out:
        return None, out
    return {
        "symbol": "BTC",
        "as_of": obj["as_of"],
        "history": [{"date": h["date"], "net_flow_usd": h["net_flow_usd"]} for h in obj["history"]],
        "summary": dict(obj["summary"]),
    }, []


def _from_per_fund(obj: dict[str, Any], params: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, list[Problem]]:
    out: list[Problem] = []
    fields(obj, "$", {"symbol", "days"}, {"source", "notes", "as_of"}, out, "per-fund ETF document")
    if "symbol" in obj and obj["symbol"] != "BTC":
        out.append(Problem("$.symbol", f"expected \"BTC\", got {describe(obj['symbol'])}"))
    for k in ("source", "notes"):
        if k in obj:
            text(obj[k], f"$.{k}", out)
    as_of = iso_time(obj["as_of"], "$.as_of", out) if "as_of" in obj else None
    days = obj["days"]
    history: list[dict[str, Any]] = []
    if not isinstance(days, list):
        out.append(Problem("$.days", "expected an array of days"))
        days = []
    prev = None
    for i, item in enumerate(days):
        path = f"$.days[{i}]"
        if not fields(item, path, {"date_iso", "funds", "total_flow_usd"}, {"date_display", "timestamp_ms"}, out, "day"):
            continue
        d = day(item["date_iso"], path + ".date_iso", out) if "date_iso" in item else None
        if d is not None and prev is not None and d <= prev:
            what = "duplicate date" if d == prev else f"dates must be ascending (previous {prev})"
            out.append(Problem(path + ".date_iso", f"{what}: {d}"))
        prev = d if d is not None else prev
        if "date_display" in item:
            text(item["date_display"], path + ".date_display", out)
        if "timestamp_ms" in item and d is not None:
            ts = item["timestamp_ms"]
            if isinstance(ts, bool) or not isinstance(ts, int) or ts != day_ms(d):
                out.append(Problem(path + ".timestamp_ms", f"expected {day_ms(d)} (00:00Z of {d}), got {describe(ts)}"))
        total = number(item["total_flow_usd"], path + ".total_flow_usd", out, -MAX_USD, MAX_USD) if "total_flow_usd" in item else None
        funds = item.get("funds")
        fund_sum: float | None = None
        if "funds" in item:
            if not isinstance(funds, list):
                out.append(Problem(path + ".funds", "expected an array of {ticker, flow_usd}"))
            else:
                vals: list[float] | None = []
                seen: set[str] = set()
                for j, f in enumerate(funds):
                    fp = f"{path}.funds[{j}]"
                    if not fields(f, fp, {"ticker", "flow_usd"}, set(), out, "fund"):
                        vals = None
                        continue
                    t = text(f["ticker"], fp + ".ticker", out, allow_empty=False) if "ticker" in f else None
                    if t is not None and t in seen:
                        out.append(Problem(fp + ".ticker", f"duplicate ticker {describe(t)}"))
                    seen.add(t or "")
                    v = number(f["flow_usd"], fp + ".flow_usd", out, -MAX_USD, MAX_USD) if "flow_usd" in f else None
                    if v is None or vals is None:
                        vals = None
                    else:
                        vals.append(v)
                fund_sum = math.fsum(vals) if vals is not None else None
        if total is not None and fund_sum is not None and funds and abs(fund_sum - total) > TOTALS_TOLERANCE_USD:
            out.append(Problem(path + ".total_flow_usd", f"{total:.0f} does not equal the sum of its funds {fund_sum:.0f}"))
        if d is not None and total is not None:
            history.append({"date": d.isoformat(), "net_flow_usd": _as_number(total)})
    if as_of is None and "as_of" not in obj:
        if prev is None:
            if not out:
                out.append(Problem("$.as_of", "required when there are no days"))
        else:
            as_of = day_ms(prev + timedelta(days=1))
    if as_of is not None and prev is not None and as_of < day_ms(prev):
        out.append(Problem("$.as_of", f"before the last day {prev}"))
    if out or as_of is None:
        return None, out
    summary = summarise([float(h["net_flow_usd"]) for h in history], params)
    summary["last_7d_total"] = _as_number(summary["last_7d_total"])
    summary["last_3d_total"] = _as_number(summary["last_3d_total"])
    doc = {"symbol": "BTC", "as_of": obj.get("as_of") or iso_from_ms(as_of), "history": history, "summary": summary}
    return _canonical(doc)


__all__ = ["validate_etf", "summarise", "totals", "key_path"]
