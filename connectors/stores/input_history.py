"""History of the human inputs (PRODUCT.md §7): every accepted version into its table,
and the version in force at a time (live: now; replay and backtest: T).

| kind | table | one row per |
|---|---|---|
| etf | etp_flows | trading day (fund `ALL`); a re-sent day takes the new figure |
| liquidations | liquidation_zones_history | map (as_of); a re-sent map with the same as_of replaces it |
| sentiment | news_sentiment_history | accepted version |

`latest(kind, as_of_ms=T)` gives the newest version whose as_of <= T, as the canonical
document the validators return (what build_flow takes), or None. For the ETF the table
keeps days, not versions: the document is rebuilt from the days up to T's day, with
as_of = T (or, live, the newest day's entry time) and the summary recomputed from the
flows (engine.inputs.etf.summarise) — the operator's own trend/signal/comment words are
kept in data/btc_etp_flow.json only (etp_flows has no column for them). build_flow
counts a day only once it is over, so no day after T is ever used.

Works on the database the models are bound to (connectors.db.open_database).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from connectors.db import database_proxy
from connectors.db.models import EtpFlow, LiquidationZones, NewsSentiment, now_ms
from connectors.files import json_files
from engine.inputs.common import day_ms, iso_from_ms, iso_time
from engine.inputs.etf import summarise

KINDS = ("etf", "liquidations", "sentiment")
ALL_FUNDS = "ALL"
ETF_DAYS_KEPT = 30  # days rebuilt into the ETF document: the 7-day total needs 7 trading days


def _ms(text: str) -> int:
    problems: list[Any] = []
    ms = iso_time(text, "$.as_of", problems)
    if ms is None:
        raise ValueError(f"not a validated input document: {problems[0]}")
    return ms


def _whole(x: float) -> int | float:
    """Whole numbers back as int, as the validators keep them."""
    return int(x) if float(x).is_integer() else float(x)


def append(kind: str, doc: Mapping[str, Any], symbol: str = "BTCUSDT", entered_by: str | None = None,
           source: str | None = "input") -> str | None:
    """Record an accepted (validated, canonical) document. Returns None, or why it was not
    recorded (kind unknown) — database errors raise."""
    if kind not in KINDS:
        return f"unknown input kind {kind!r} (known: {', '.join(KINDS)})"
    with database_proxy.atomic():
        if kind == "etf":
            _append_etf(doc, symbol, entered_by, source)
        elif kind == "liquidations":
            _append_liquidations(doc, symbol, entered_by, source)
        else:
            NewsSentiment.insert(symbol=symbol, as_of_ms=_ms(doc["as_of"]), score=float(doc["score"]),
                                 label=doc["label"], comment=doc["comment"], entered_by=entered_by,
                                 created_ms=now_ms()).execute()
    return None


def accept(kind: str, doc: Mapping[str, Any], data_dir: Path, symbol: str = "BTCUSDT",
           entered_by: str | None = None, source: str | None = "input") -> Path:
    """Put an accepted document in force: history row first (the cycle reads the version in
    force from the database), then the JSON file. Database errors raise before the file is
    written, so a file never claims a version the cycle does not see."""
    why = append(kind, doc, symbol=symbol, entered_by=entered_by, source=source)
    if why:
        raise ValueError(why)
    return json_files.write_input(data_dir, kind, dict(doc))


def _append_etf(doc: Mapping[str, Any], symbol: str, entered_by: str | None, source: str | None) -> None:
    days = {h["date"]: float(h["net_flow_usd"]) for h in doc["history"]}
    if not days:
        return
    known = {r.date: r for r in EtpFlow.select().where(
        (EtpFlow.symbol == symbol) & (EtpFlow.fund == ALL_FUNDS) & EtpFlow.date.in_(list(days)))}
    stamp = now_ms()
    new = []
    for d, flow in days.items():
        row = known.get(d)
        if row is None:
            new.append({"symbol": symbol, "date": d, "fund": ALL_FUNDS, "flow_usd": flow, "source": source,
                        "entered_by": entered_by, "created_ms": stamp})
        elif row.flow_usd != flow:  # a correction: the newest accepted figure stands
            EtpFlow.update(flow_usd=flow, source=source, entered_by=entered_by, created_ms=stamp).where(
                EtpFlow.id == row.id).execute()
    if new:
        EtpFlow.insert_many(new).execute()


def _append_liquidations(doc: Mapping[str, Any], symbol: str, entered_by: str | None,
                         source: str | None) -> None:
    at = _ms(doc["as_of"])
    # The two lists as sent (a zone on the "wrong" side stays where the operator put it),
    # with the document's own symbol and as_of text, so `latest` gives the document back.
    zones = {"symbol": doc["symbol"], "as_of": doc["as_of"],
             "below_price": list(doc["below_price"]), "above_price": list(doc["above_price"])}
    values = {"current_price": float(doc["current_price"]), "zones": zones, "source": source,
              "entered_by": entered_by, "created_ms": now_ms()}
    updated = LiquidationZones.update(**values).where(
        (LiquidationZones.symbol == symbol) & (LiquidationZones.captured_at_ms == at)).execute()
    if not updated:
        LiquidationZones.insert(symbol=symbol, captured_at_ms=at, **values).execute()


def latest(kind: str, as_of_ms: int | None = None, symbol: str = "BTCUSDT",
           etf_params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The version in force at `as_of_ms` (None: the newest), or None when there is none.

    etf_params: config `analytics.etf` (thresholds of the recomputed ETF summary).
    """
    if kind == "etf":
        return _latest_etf(as_of_ms, symbol, etf_params)
    if kind == "liquidations":
        q = LiquidationZones.select().where(LiquidationZones.symbol == symbol)
        if as_of_ms is not None:
            q = q.where(LiquidationZones.captured_at_ms <= as_of_ms)
        row = q.order_by(LiquidationZones.captured_at_ms.desc()).first()
        if row is None:
            return None
        z = row.zones
        return {"symbol": z["symbol"], "as_of": z["as_of"], "current_price": _whole(row.current_price),
                "below_price": z["below_price"], "above_price": z["above_price"]}
    if kind == "sentiment":
        q = NewsSentiment.select().where(NewsSentiment.symbol == symbol)
        if as_of_ms is not None:
            q = q.where(NewsSentiment.as_of_ms <= as_of_ms)
        # Same as_of sent twice: the later entry (higher id) is the correction.
        s = q.order_by(NewsSentiment.as_of_ms.desc(), NewsSentiment.id.desc()).first()
        if s is None:
            return None
        return {"as_of": iso_from_ms(s.as_of_ms), "score": _whole(s.score), "label": s.label, "comment": s.comment}
    raise ValueError(f"unknown input kind {kind!r} (known: {', '.join(KINDS)})")


def _latest_etf(as_of_ms: int | None, symbol: str, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    q = EtpFlow.select(EtpFlow.date, EtpFlow.flow_usd, EtpFlow.created_ms).where(
        (EtpFlow.symbol == symbol) & (EtpFlow.fund == ALL_FUNDS))
    if as_of_ms is not None:
        # ISO dates compare as text: days up to and including T's day.
        q = q.where(EtpFlow.date <= iso_from_ms(as_of_ms)[:10])
    rows = list(q.order_by(EtpFlow.date.desc()).limit(ETF_DAYS_KEPT))[::-1]
    if not rows:
        return None
    flows = [float(r.flow_usd) for r in rows]
    last_day = day_ms(date.fromisoformat(rows[-1].date))
    at = as_of_ms if as_of_ms is not None else max(max(r.created_ms for r in rows), last_day)
    summary = summarise(flows, params)
    # Rebuilt from validated days in the canonical shape; build_flow validates what it gets.
    return {"symbol": "BTC", "as_of": iso_from_ms(max(at, last_day)),
           "history": [{"date": r.date, "net_flow_usd": _whole(r.flow_usd)} for r in rows],
           "summary": {**summary, "last_7d_total": _whole(summary["last_7d_total"]),
                       "last_3d_total": _whole(summary["last_3d_total"])}}
