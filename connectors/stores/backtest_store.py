"""The backtest's edges: history out of the database, results into the *_backtest tables.

Reads: 1m candles (with the indicator warm-up before the period), funding history
(`derivatives` kind funding_rate), open interest and mark/index when stored, and the
human inputs in force over the period. Writes: one `backtest_runs` row and its
decisions / orders / trades / equity twins, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

from connectors.db import database_proxy
from connectors.db import models as M  # noqa: N812
from connectors.stores.analytics_io import _candles, _series
from engine.analytics.params import anchor_ms, section
from engine.backtest.loop import BacktestResult
from engine.backtest.record import DecisionLog
from engine.facts import TIMEFRAMES_ANALYSED

COLUMNS = ("open", "high", "low", "close", "volume", "taker_buy_volume")


def load_history(symbol: str, t_from: int, t_to: int, config: Any, warmup_days: int = 0,
                 ) -> tuple[pd.DataFrame, dict[str, Any], list[tuple[int, str]]]:
    """(1m candles from the earliest anchor to t_to, derivatives for build_flow, funding schedule).
    `warmup_days`: days before t_from's day the ruleset's declared indicators start from."""
    a = section(config, "analytics")
    start = min(anchor_ms(t_from, tf, a) for tf in TIMEFRAMES_ANALYSED)
    if warmup_days:
        start = min(start, (t_from // 86_400_000 - int(warmup_days)) * 86_400_000)
    candles = _candles(symbol, "1m", start, t_to, COLUMNS)
    if candles["taker_buy_volume"].isna().all():
        candles = candles.drop(columns=["taker_buy_volume"])
    lo = start - 2 * 86_400_000
    funding = _series(symbol, "funding_rate", lo, t_to)
    oi = _series(symbol, "open_interest", lo, t_to)
    mark = dict(_series(symbol, "mark_price", lo, t_to))
    index = dict(_series(symbol, "index_price", lo, t_to))
    mi = [(t, mark[t], index[t]) for t in sorted(mark.keys() & index.keys())]
    derivatives = {"funding": funding or None, "open_interest": oi or None, "mark_index": mi or None,
                   "candles_1m": candles}
    schedule = [(t, repr(r)) for t, r in funding if t_from <= t <= t_to]
    return candles, derivatives, schedule


def save_run(result: BacktestResult, metrics: Mapping[str, Any], symbol: str, notes: str = "",
             status: str = "done") -> int:
    with database_proxy.atomic():
        run = M.BacktestRun.create(
            symbol=symbol, ruleset_version=result.version, period_start_ms=result.t_from,
            period_end_ms=result.t_to, initial_equity=result.initial_equity, final_equity=result.final_equity,
            max_dd_pct=metrics.get("max_dd_pct"), sharpe=metrics.get("sharpe"), sortino=metrics.get("sortino"),
            win_rate=metrics.get("win_rate"), trade_count=metrics.get("trades"), status=status,
            params=result.params, metrics=dict(metrics), notes=notes)
        rid = run.id
        version = result.version
        decisions = result.decisions
        records = decisions.read_only() if isinstance(decisions, DecisionLog) else iter(decisions)
        insert_rows(M.DecisionBacktest, ({"decided_at_ms": d["t_ms"], "action": d["decision"]["action"],
                                          "reason": d["decision"]["reason"], "document": d["decision"]}
                                         for d in records),
                    same={"run": rid, "symbol": symbol, "ruleset_version": version})
        ids = {str(t // 1000): i for i, t in M.DecisionBacktest.select(
            M.DecisionBacktest.id, M.DecisionBacktest.decided_at_ms).where(M.DecisionBacktest.run == rid).tuples()}
        insert_rows(M.OrderBacktest, (
            {"run": rid, "symbol": symbol, "decision": ids.get(o["decision_id"]),
             "client_order_id": o["client_order_id"], "role": o["role"], "side": o["side"], "type": o["type"],
             "status": o["status"], "price": o["price"], "stop_price": o["stop_price"],
             "quantity": o["quantity"], "filled_quantity": o["filled_quantity"],
             "avg_fill_price": o["avg_fill_price"], "reduce_only": o["reduce_only"],
             "created_ms": o["created_ms"], "updated_ms": o["updated_ms"]} for o in result.orders))
        insert_rows(M.PositionBacktest, (
            {"run": rid, "symbol": symbol, "decision": ids.get(t["decision_id"]), "side": t["side"],
             "status": "closed", "quantity": Decimal(t["quantity"]), "entry_price": Decimal(t["entry_price"]),
             "sl_price": Decimal(t["sl"]) if t.get("sl") else None,
             "tp2_price": Decimal(t["tp"]) if t.get("tp") else None, "realized_pnl": Decimal(t["pnl"]),
             "fees": Decimal(t["fees"]), "funding": Decimal(t["funding"]), "opened_ms": t["entry_ms"],
             "closed_ms": t["exit_ms"]} for t in result.trades))
        positions = [i for (i,) in M.PositionBacktest.select(M.PositionBacktest.id).where(
            M.PositionBacktest.run == rid).order_by(M.PositionBacktest.id).tuples()]
        insert_rows(M.TradeBacktest, (
            {"run": rid, "symbol": symbol, "decision": ids.get(t["decision_id"]), "position": pos,
             "side": t["side"], "quantity": Decimal(t["quantity"]), "entry_price": Decimal(t["entry_price"]),
             "exit_price": Decimal(t["exit_price"]), "pnl": Decimal(t["pnl"]), "fees": Decimal(t["fees"]),
             "funding": Decimal(t["funding"]), "r_multiple": t["r_multiple"], "exit_reason": t["exit_reason"],
             "opened_ms": t["entry_ms"], "closed_ms": t["exit_ms"], "details": dict(t)}
            for t, pos in zip(result.trades, positions, strict=True)))
        insert_rows(M.EquityPointBacktest, ({"time_ms": t, "equity": e, "balance": w, "unrealized_pnl": e - w}
                                            for t, e, w in result.equity), same={"run": rid, "symbol": symbol})
    return int(rid)


def insert_rows(model: Any, rows: Iterable[Mapping[str, Any]], chunk: int = 1000,
                same: Mapping[str, Any] | None = None) -> None:
    """Rows into `model`'s table by one prepared INSERT run over them (executemany), values
    converted by the model's own fields (db_value) and defaults filled as peewee would: what
    insert_many stores, without building SQL text for every value — for a year of cycles
    that text took longer than the backtest (issue 16). `same`: the values every row has
    (run, symbol...), converted once instead of once a row (a third of the decisions' cost)."""
    db = model._meta.database
    fields = [f for f in model._meta.sorted_fields if not f.primary_key]
    q = db.quote
    sql = (f"INSERT INTO {q[0]}{model._meta.table_name}{q[1]} ("
           + ", ".join(f"{q[0]}{f.column_name}{q[1]}" for f in fields)
           + ") VALUES (" + ", ".join([db.param] * len(fields)) + ")")
    same = same or {}
    template = [f.db_value(same[f.name]) if f.name in same else None for f in fields]
    varying = [(i, f.name, f.default() if callable(f.default) else f.default, f.db_value)
               for i, f in enumerate(fields) if f.name not in same]
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        values = template.copy()
        for i, name, default, conv in varying:
            values[i] = conv(row.get(name, default))
        batch.append(tuple(values))
        if len(batch) >= chunk:
            db.cursor().executemany(sql, batch)
            batch = []
    if batch:
        db.cursor().executemany(sql, batch)


def recorded_decisions(symbol: str, t_from: int, t_to: int) -> Iterator[dict[str, Any]]:
    """Live/paper decisions with their stored trace (which carries the facts seen)."""
    # The trace document under its own name: as `trace` it would collide with the
    # decisions.trace_id foreign key and come back as the id, not the document.
    q = (M.Decision.select(M.Decision, M.DecisionTrace.trace.alias("trace_doc"))
         .join(M.DecisionTrace, on=(M.Decision.trace == M.DecisionTrace.id))
         .where((M.Decision.symbol == symbol) & (M.Decision.decided_at_ms >= t_from)
                & (M.Decision.decided_at_ms <= t_to))
         .order_by(M.Decision.decided_at_ms, M.Decision.id))
    stored = {name: {r.as_of_ms: r.document for r in model.select(model.as_of_ms, model.document).where(
        (model.symbol == symbol) & (model.as_of_ms >= t_from) & (model.as_of_ms <= t_to))}
        for name, model in (("snapshot", M.Snapshot), ("flow", M.Flow))}
    for d in q.objects():
        trace = d.trace_doc if isinstance(d.trace_doc, dict) else {}
        yield {"id": d.id, "t_ms": d.decided_at_ms, "facts": trace.get("facts") or {}, "decision": d.document,
               "trace": trace, "version": (trace.get("ruleset") or {}).get("version"),
               "ruleset_version": d.ruleset_version,
               # the stored `snapshots` / `flows` rows of that cycle (None: no row)
               "stored": {name: rows.get(d.decided_at_ms) for name, rows in stored.items()}}


def recorded_cycle_times(symbol: str, t_from: int, t_to: int) -> list[int]:
    """Cycle times the analytics loop recorded (a `snapshots` row each), for parity's set
    of cycles: a decision missing for one of them is a difference."""
    return [int(r.as_of_ms) for r in M.Snapshot.select(M.Snapshot.as_of_ms).where(
        (M.Snapshot.symbol == symbol) & (M.Snapshot.as_of_ms >= t_from) & (M.Snapshot.as_of_ms <= t_to))]
