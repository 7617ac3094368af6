"""A site as a replay leaves it (issue 13): the real snapshot and flow of 2025-12-07 12:00
(tests/fixtures), decisions with real traces from the default rules, an open position and
closed trades with the raw Decimal tails the ledger writes, a chatty reconciliation, a
ruleset row with an old epoch-ms note, a shadow disagreement, and a backtest run whose
metrics hold the regime breakdowns. Models are bound already (an app context)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent.parent / "fixtures" / "analytics_2025-12-07T12-00Z.json"
T_MS = 1765108800000  # 2025-12-07T12:00:00Z, the replay clock
FIVE_MIN = 300_000


def _decide_variants(n: int) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """n cycles ending at T: the fixture's facts with a few fields moved, each decided by
    the default rules (durable_rules), as the analysis loop does."""
    from connectors.files.rules_files import read_rules_dir
    from engine.config import load_config
    from engine.cycle import account_facts, position_fact
    from engine.decision import decide
    from engine.paths import PROJECT_DIR
    from engine.rules.compiler import compile_texts
    from engine.rules.durable_backend import DurableRules

    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    compiled = compile_texts(read_rules_dir(PROJECT_DIR / "rules")[0], load_config(env={}))
    engine = DurableRules(compiled)
    out = []
    try:
        for i in range(n):
            snap, flow = copy.deepcopy(doc["snapshot"]), copy.deepcopy(doc["flow"])
            t = T_MS - (n - 1 - i) * FIVE_MIN
            snap["timestamp_ms"] = flow["timestamp_ms"] = t
            flow["etp_summary"]["last_3d_total"] = -122_200_000.0 + i * 37_123_456.789
            flow["trap_index"]["score"] = 0.176010613453467 + i * 0.0412345678
            flow["crowd"]["bias_side"] = "short" if i % 2 else "long"
            facts = {"snapshot": snap, "flow": flow,
                     "account": account_facts(10024.85285910, 10011.123456, 9990.987654, i % 3, False, False, 10000),
                     "position": position_fact(None)}
            decision, trace = decide(compiled, facts, engine)
            out.append((t, decision, trace))
    finally:
        engine.close()
    return out


def seed_replay(symbol: str = "BTCUSDT") -> dict[str, Any]:
    from connectors.db import models as m
    from engine.backtest.metrics import compute_metrics

    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    m.BotState.create(symbol=symbol, component="market_data", state="REPLAY", heartbeat_ms=T_MS,
                      details={"source": "replay", "label": "replaying 2025-12-06 → 2025-12-10 at 60×"})
    base = T_MS - 300 * FIVE_MIN
    m.Candle.insert_many([
        {"symbol": symbol, "timeframe": tf, "open_time_ms": base + i * step, "open": 89000.1 + i * 0.37,
         "high": 89050.35 + i * 0.37, "low": 88950.15 + i * 0.37, "close": 89010.45 + i * 0.37, "volume": 57.265 + i}
        for tf, step in (("5m", FIVE_MIN), ("1m", 60_000)) for i in range(300)]).execute()
    snap = m.Snapshot.create(symbol=symbol, as_of_ms=T_MS, document=doc["snapshot"])
    flow_doc = copy.deepcopy(doc["flow"])
    flow_doc["derivatives"]["funding"]["current"] = 3.0093333333333332e-05
    flow_doc["derivatives"]["oi"] = {"value": 84123.456789, "change_24h": 1.1359030011037239}
    flow_doc["derivatives"]["basis"] = {"value": 35.123456789, "pct": 0.0394123456}
    flow_doc["warning_list"].append({"type": "etf_strong_outflow", "severity": "high", "message": "ETF 3-day −122 M"})
    flow = m.Flow.create(symbol=symbol, as_of_ms=T_MS, document=flow_doc)
    ids = []
    for t, decision, trace in _decide_variants(12):
        tr = m.DecisionTrace.create(symbol=symbol, trace=trace)
        d = m.Decision.create(symbol=symbol, decided_at_ms=t, action=decision["action"], reason=decision["reason"],
                              snapshot=snap, flow=flow, ruleset_version=trace["ruleset"]["version"], trace=tr,
                              document=decision)
        ids.append(d.id)
    long_doc = {"action": "long", "reason": "long_setup", "confidence": 0.7234567891234, "risk_mode": "neutral",
                "entry_zone": [89150.12345678, 89170.98765432], "sl": 88712.3456789, "tp1": 89712.98765,
                "tp2": 90310.123456, "position_size_usdt": 1783.2098765, "leverage": 3,
                "risk_checks": {"daily_dd_ok": True, "session_ok": True}}
    long_dec = m.Decision.create(symbol=symbol, decided_at_ms=T_MS - 13 * FIVE_MIN, action="long",
                                 reason="long_setup", ruleset_version="e9490c6fa00f", document=long_doc,
                                 trace=m.DecisionTrace.create(symbol=symbol, trace=_decide_variants(1)[0][2]))
    m.RiskEvent.create(symbol=symbol, kind="shadow_disagreement", message="active flat vs shadow long",
                       details={"decision_id": ids[-1], "timestamp_iso": "2025-12-07T12:00:00Z",
                                "active": "e9490c6fa00f76af", "shadow": "0123456789abcdef",
                                "active_decision": {"action": "flat", "reason": "both_sides_weak", "confidence": 0.2384},
                                "shadow_decision": {"action": "long", "reason": "long_setup",
                                                    "confidence": 0.61234567891}})
    m.Position.create(symbol=symbol, decision=long_dec, side="long", status="open", quantity=Decimal("0.02000000"),
                      entry_price=Decimal("89160.40000000"), sl_price=Decimal("88712.30000000"),
                      tp1_price=Decimal("89713.00000000"), tp2_price=Decimal("90310.10000000"),
                      fees=Decimal("0.71328320"), opened_ms=T_MS - 12 * FIVE_MIN)
    m.Order.create(symbol=symbol, decision=long_dec, client_order_id=f"capi_sl_{long_dec.id}", role="sl",
                   side="SELL", type="STOP_MARKET", status="NEW", stop_price=Decimal("88712.30000000"),
                   quantity=Decimal("0.02000000"), filled_quantity=Decimal("0E-8"), reduce_only=True,
                   created_ms=T_MS - 12 * FIVE_MIN, updated_ms=T_MS - 12 * FIVE_MIN)
    closed = [("short", "89560.10000000", "89710.70000000", "-38.65865784", "0.35678912", 3),
              ("long", "88400.00000000", "88991.30000000", "10.89123456", "0.35120001", 30),
              ("long", "88100.50000000", "88760.20000000", "12.20304050", "0.34999999", 300)]
    for side, entry, exit_, pnl, fees, hours_ago in closed:
        t_close = T_MS - hours_ago * 3_600_000
        m.Trade.create(symbol=symbol, decision=long_dec, side=side, quantity=Decimal("0.02000000"),
                       entry_price=Decimal(entry), exit_price=Decimal(exit_), pnl=Decimal(pnl), fees=Decimal(fees),
                       funding=Decimal("0.01234567"), r_multiple=-0.8645678901234567, exit_reason="sl",
                       opened_ms=t_close - 47 * 60_000, closed_ms=t_close)
    m.EquityPoint.insert_many([{"symbol": symbol, "time_ms": T_MS - (288 - i) * FIVE_MIN,
                                "equity": Decimal("10000") + Decimal(i) * Decimal("0.08663819"),
                                "balance": Decimal("10000.00000000")} for i in range(288)]).execute()
    m.BotState.create(symbol=symbol, component="analytics", state="RUNNING", risk_mode="cautious_risk_on",
                      heartbeat_ms=T_MS - 30_000, details={"last_cycle": "2025-12-07T12:00:00Z"})
    m.BotState.create(symbol=symbol, component="execution", state="RUNNING", heartbeat_ms=T_MS - 1_000, details={
        "phase": "IN_POSITION", "time_ms": T_MS,
        "account": {"equity": 10024.85285910, "daily_pnl_pct": 0.137123456789, "weekly_pnl_pct": 0.3412345678},
        "position": {"side": "long", "quantity": 0.02, "entry_price": 89160.4, "unrealized_pnl": 1.4812345678,
                     "mark_price": "89234.56000000", "liquidation_price": "71234.56780000"}})
    for i in range(30):
        m.ReconciliationEvent.create(symbol=symbol, kind="summary", summary="exchange and records agree",
                                     created_ms=T_MS - i * 120_000)
    m.ReconciliationEvent.create(symbol=symbol, kind="summary", summary="missing_stop: 1",
                                 created_ms=T_MS - 31 * 120_000)
    m.Ruleset.create(hash="e9490c6fa00f76af" + "0" * 48, yaml=json.dumps({"files": {}, "tests": {}}),
                     activated_by="watcher", activated_at_ms=1796190727928,
                     note="1796190727928 activated by watcher")
    m.LogRecord.create(created_ms=T_MS - 5_000, level="INFO", component="analytics", logger="engine.analytics",
                       message="analytics cycle done")
    # a backtest of 18 days, 5-minute equity points, its metrics as compute_metrics writes them
    bt0 = T_MS - 18 * 86_400_000
    equity = [(bt0 + i * FIVE_MIN, Decimal("10000") + Decimal(i % 977) * Decimal("0.03812345") - Decimal(i // 977),
               Decimal("10000")) for i in range(18 * 288)]
    trades = [{"pnl": p, "r_multiple": r, "entry_ms": bt0 + k * 86_400_000, "exit_ms": bt0 + k * 86_400_000 + 5_400_000,
               "session": s, "volatility_regime": v, "etf_regime": e, "crowd_trap": c, "fees": "0.35678912",
               "sl_distance_pct": 0.4123456789, "tp_distance_pct": 0.8234567891}
              for k, (p, r, s, v, e, c) in enumerate([("12.34567891", 1.2345678901234567, "EU", "low", "inflow", "none"),
                                                       ("-8.76543219", -0.9876543210987654, "US", "high", "outflow",
                                                        "longs_at_risk")])]
    metrics = compute_metrics(trades, equity, Decimal("10000"))
    metrics["final_equity"] = 10024.96330074  # as an older run stored it: the curve's last point
    run = m.BacktestRun.create(ruleset_version="e9490c6fa00f76af", period_start_ms=bt0, period_end_ms=T_MS,
                               initial_equity=Decimal("10000"), final_equity=Decimal("10024.85285910"), status="done",
                               max_dd_pct=metrics["max_dd_pct"], sharpe=metrics["sharpe"], sortino=metrics["sortino"],
                               win_rate=metrics["win_rate"], trade_count=2, metrics=metrics,
                               params={"fill": "hybrid", "fees": [0.0002, 0.0004], "slippage": "none"})
    m.EquityPointBacktest.insert_many([{"run": run.id, "symbol": symbol, "time_ms": t, "equity": e}
                                       for t, e, _ in equity]).execute()
    m.TradeBacktest.create(run=run.id, symbol=symbol, side="short", quantity=Decimal("0.01000000"),
                           entry_price=Decimal("61000.10000000"), exit_price=Decimal("60000.20000000"),
                           pnl=Decimal("9.65865784"), fees=Decimal("0.34134216"), r_multiple=1.2345678901234567,
                           opened_ms=bt0, closed_ms=bt0 + 600_000, exit_reason="tp2")
    return {"decision_ids": ids, "long_decision_id": long_dec.id, "run_id": run.id}
