"""The backtest's results into their tables (connectors/stores/backtest_store.py): values
every row shares (`same`) are converted once, and the rows stored are the ones insert_many
would store (issue 16: the decisions' insert was a tenth of the command's CPU)."""

from __future__ import annotations

from decimal import Decimal

from connectors.db import models as M  # noqa: N812
from connectors.stores.backtest_store import insert_rows


def _run() -> int:
    return int(M.BacktestRun.create(symbol="BTCUSDT", ruleset_version="v1", period_start_ms=0, period_end_ms=1,
                                    initial_equity=Decimal("10000")).id)


def _rows(run: int) -> list[tuple]:
    q = M.DecisionBacktest.select().where(M.DecisionBacktest.run == run).order_by(M.DecisionBacktest.id)
    return [(d.symbol, d.decided_at_ms, d.action, d.reason, d.ruleset_version, d.document, d.snapshot_id, d.trace_id)
            for d in q]


def test_same_values_stored_as_insert_many_stores_them(db) -> None:
    docs = [{"action": "flat", "reason": "no_setup", "id": str(t), "risk_checks": {"ok": True}, "zone": [1.5, None]}
            for t in range(5)] + [{"action": "long", "reason": "trend", "id": "9", "sl": "95000.1"}]
    a, b = _run(), _run()
    M.DecisionBacktest.insert_many([{"run": a, "symbol": "BTCUSDT", "decided_at_ms": i * 300_000,
                                     "action": d["action"], "reason": d["reason"], "ruleset_version": "v1",
                                     "document": d} for i, d in enumerate(docs)]).execute()
    insert_rows(M.DecisionBacktest, ({"decided_at_ms": i * 300_000, "action": d["action"], "reason": d["reason"],
                                      "document": d} for i, d in enumerate(docs)),
                chunk=4, same={"run": b, "symbol": "BTCUSDT", "ruleset_version": "v1"})
    assert _rows(b) == _rows(a) and len(_rows(a)) == 6
    insert_rows(M.EquityPointBacktest, ({"time_ms": t, "equity": Decimal("10000.5"), "balance": Decimal("10000"),
                                         "unrealized_pnl": Decimal("0.5")} for t in range(3)),
                same={"run": b, "symbol": "BTCUSDT"})
    got = [(p.run_id, p.symbol, p.time_ms, p.equity, p.unrealized_pnl) for p in M.EquityPointBacktest.select()]
    assert got == [(b, "BTCUSDT", t, Decimal("10000.5"), Decimal("0.5")) for t in range(3)]
