"""Rows in every table the admin site reads, for page and API tests (models bound already)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any


def seed(symbol: str = "BTCUSDT", log_message: str = "analytics cycle done") -> dict[str, Any]:
    from connectors.db import models as m

    now = int(time.time() * 1000)
    t0 = now - now % 60_000 - 300 * 60_000
    m.Candle.insert_many([
        {"symbol": symbol, "timeframe": "5m", "open_time_ms": t0 + i * 300_000, "open": 60000 + i,
         "high": 60050 + i, "low": 59950 + i, "close": 60010 + i, "volume": 10.0}
        for i in range(60)]).execute()
    snap = m.Snapshot.create(symbol=symbol, as_of_ms=now - 60_000, document={
        "symbol": symbol, "price": 60059.5, "session": {"current": "EU", "volatility_regime": "normal"},
        "market_structure": {"tf_5m": "HH-HL", "tf_15m": "range", "tf_1h": "LL-LH"},
        "momentum": {"tf_5m": {"state": "impulse_up", "score": 0.7}}})
    flow = m.Flow.create(symbol=symbol, as_of_ms=now - 60_000, document={
        "risk": {"global_score": 0.6, "mode": "neutral"},
        "etp_summary": {"last_7d_total": 1.2e9, "last_3d_total": 3e8, "trend": "up", "signal": "bullish", "comment": "x"},
        "warnings": [{"type": "extreme_funding", "severity": "medium", "message": "funding high"}],
        "liquidation_zones": {"below_price": [{"price": 59000, "zone": [58800, 59200], "side": "long", "strength": 0.8}],
                              "above_price": [], "as_of": "2024-05-01T00:00:00Z"}})
    trace = m.DecisionTrace.create(symbol=symbol, trace={"rules": [
        {"rule": "long_structure", "fired": True, "conditions": [{"path": "market_structure.tf_5m", "value": "HH-HL"}]},
        {"rule": "short_structure", "fired": False}]})
    dec = m.Decision.create(symbol=symbol, decided_at_ms=now - 60_000, action="long", reason="trend_pullback_long",
                            snapshot=snap, flow=flow, ruleset_version="abc123def456", trace=trace, document={
                                "action": "long", "entry_zone": [59990, 60020], "sl": 59800, "tp1": 60300,
                                "tp2": 60600, "confidence": 0.72, "risk_checks": {"daily_dd_ok": True, "session_ok": True}})
    m.Decision.create(symbol=symbol, decided_at_ms=now - 360_000, action="flat", reason="conflict",
                      ruleset_version="abc123def456", document={"action": "flat", "confidence": 0.1})
    pos = m.Position.create(symbol=symbol, decision=dec, side="long", status="open", quantity=Decimal("0.010"),
                            entry_price=Decimal("60005.1"), sl_price=Decimal("59800"), opened_ms=now - 50_000)
    m.Order.create(symbol=symbol, decision=dec, client_order_id=f"capi_sl_{dec.id}", role="sl", side="SELL",
                   type="STOP_MARKET", status="NEW", stop_price=Decimal("59800"), quantity=Decimal("0.010"),
                   reduce_only=True)
    m.Trade.create(symbol=symbol, side="long", quantity=Decimal("0.01"), entry_price=Decimal("60000"),
                   exit_price=Decimal("60300"), pnl=Decimal("2.76"), fees=Decimal("0.24"), opened_ms=now - 90_000,
                   closed_ms=now - 80_000)
    m.BotState.create(symbol=symbol, component="analytics", state="RUNNING", risk_mode="neutral", heartbeat_ms=now - 30_000)
    m.BotState.create(symbol=symbol, component="execution", state="RUNNING", heartbeat_ms=now - 1_000)
    m.LogRecord.create(created_ms=now - 5_000, level="INFO", component="analytics", logger="engine.analytics",
                       message=log_message)
    m.LogRecord.create(created_ms=now - 4_000, level="ERROR", component="execution", logger="engine.execution",
                       message="order rejected")
    m.Notification.create(level="WARNING", source="risk", code="risk_mode_change", message="neutral → cautious")
    m.ReconciliationEvent.create(symbol=symbol, kind="summary", summary="in sync: 1 position, 1 order")
    run = m.BacktestRun.create(ruleset_version="abc123def456", period_start_ms=t0, period_end_ms=now,
                               initial_equity=Decimal("10000"), final_equity=Decimal("10100"), status="done",
                               metrics={"net_profit": 100.0})
    m.EquityPointBacktest.insert_many([{"run": run.id, "symbol": symbol, "time_ms": t0 + i * 3_600_000,
                                        "equity": Decimal(10000 + i * 20)} for i in range(5)]).execute()
    m.TradeBacktest.create(run=run.id, symbol=symbol, side="short", quantity=Decimal("0.01"), entry_price=Decimal("61000"),
                           exit_price=Decimal("60000"), pnl=Decimal("10"), opened_ms=t0, closed_ms=t0 + 600_000)
    return {"decision_id": dec.id, "trace_id": trace.id, "run_id": run.id, "position_id": pos.id}
