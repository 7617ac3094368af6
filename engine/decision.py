"""The decision (PRODUCT.md §8.1): facts in, decision + trace out. Pure.

The rules decide the side, the risk checks, the mode and the confidence; this module
sizes the trade (engine/risk/sizing.py) and writes the decision object. A flat
decision has every trade field null and size 0. Anything unexpected (the rules engine
failing, sizing inputs missing) is a flat decision with confidence 0 and a reason,
never an exception in the trading loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.cycle import iso_to_ms
from engine.exchange.filters import BTCUSDT_PERP, SymbolFilters, round_price
from engine.risk.levels import LevelRefused, entry_distances, price_manage
from engine.risk.sizing import SizingRefused, plan_trade
from engine.rules import language as L
from engine.rules.compiler import CompiledRules
from engine.rules.durable_backend import RuleEngineError
from engine.rules.runtime import evaluate, read_facts

# risk_level (0-5) of a trade, by risk mode; flat is 0.
RISK_LEVEL = {"risk_off": 0, "cautious_risk_on": 2, "neutral": 3, "aggressive_risk_on": 5}

# Facts the sizing reads besides what the rules read.
SIZING_PATHS = {
    "snapshot": ("price", "volatility.atr.tf_5m", "swings.tf_5m.low", "swings.tf_5m.high", "timestamp_iso"),
    "account": ("equity",),
}

# (A decision made while a position is open may also carry `manage`: what the manage stage
# asked of that position, priced — engine/execution/manage.py carries it out.)
DECISION_FIELDS = ("symbol", "timestamp_iso", "action", "reason", "entry_zone", "sl", "tp1", "tp2", "risk_level",
                   "position_size_usdt", "leverage", "confidence", "risk_checks", "risk_mode", "ruleset_version",
                   "trace_id")


def _flat(symbol: str, ts: Any, reason: str, confidence: float, checks: dict[str, bool], mode: str,
          version: str) -> dict[str, Any]:
    return {"symbol": symbol, "timestamp_iso": ts, "action": "flat", "reason": reason, "entry_zone": None,
            "sl": None, "tp1": None, "tp2": None, "risk_level": 0, "position_size_usdt": 0.0, "leverage": None,
            "confidence": confidence, "risk_checks": checks, "risk_mode": mode, "ruleset_version": version,
            "trace_id": None}


def decide(compiled: CompiledRules, facts: Mapping[str, Any], engine: Any = None,
           filters: SymbolFilters = BTCUSDT_PERP,
           result: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """One cycle. `engine`: the DurableRules of `compiled`, or "python" (reference).
    `result`: the rules' result when the caller already has it (the fast backtest engine,
    engine/rules/vector.py): only the sizing runs, and the trace holds no rule stages."""
    symbol = compiled.settings.get("symbol", "BTCUSDT")
    read = read_facts(compiled, facts, SIZING_PATHS)   # once: the rules and the sizing share it
    view = read[0]
    snap, acct = view["snapshot"], view["account"]
    ts = snap.get("timestamp_iso")
    try:
        result, trace = (result, {}) if result is not None else evaluate(compiled, facts, engine, read)
    except RuleEngineError as exc:
        checks = dict.fromkeys(L.RISK_CHECKS, False)
        decision = _flat(symbol, ts, "rules_engine_error", 0.0, checks, "risk_off", compiled.version)
        trace = {"ruleset": {"name": compiled.name, "version": compiled.version}, "engine": "durable_rules",
                 "facts": dict(facts), "errors": [str(exc)], "decision": decision}
        return decision, trace
    errors = [f"{v['rule']}: {v['reason']}" for v in result["vetoes"] if v["error"]]
    checks, mode, conf = result["risk_checks"], result["risk_mode"], result["confidence"]
    sizing: dict[str, Any] = {}
    if result["action"] == "flat":
        decision = _flat(symbol, ts, result["reason"], conf, checks, mode, compiled.version)
    else:
        side = result["action"]
        swing = snap.get("swings.tf_5m.low" if side == "long" else "swings.tf_5m.high")
        mp = compiled.modes[mode]
        try:
            stop_d, tps, tp_r = _rule_levels(result.get("levels"), side, snap.get("price"), facts)
            plan = plan_trade(side, snap.get("price"), snap.get("volatility.atr.tf_5m"), swing, acct.get("equity"),
                              compiled.settings, result["size_mult"], result["leverage_cap"], filters,
                              stop_distance=stop_d, tp_distances=tps, tp_r=tp_r)
        except SizingRefused as exc:
            sizing = {"refused": exc.reason, "detail": exc.detail}
            if exc.reason == "missing_sizing_inputs":
                conf = 0.0
                errors.append(exc.detail)
            decision = _flat(symbol, ts, exc.reason, conf, checks, mode, compiled.version)
        else:
            sizing = {"entry": float(plan.entry), "sl_distance": round(plan.sl_distance, 8),
                      "swing_level": swing, "risk_usdt": round(plan.risk_usdt, 8), "quantity": str(plan.quantity),
                      "notional": float(plan.notional), "capped_by_leverage": plan.capped_by_leverage,
                      "size_mult": result["size_mult"], "mode_max_leverage": mp["max_leverage"],
                      "leverage_cap": result["leverage_cap"]}
            decision = {"symbol": symbol, "timestamp_iso": ts, "action": side, "reason": result["reason"],
                        "entry_zone": [float(plan.entry_zone[0]), float(plan.entry_zone[1])],
                        "sl": float(plan.sl), "tp1": float(plan.tp1), "tp2": float(plan.tp2),
                        "risk_level": RISK_LEVEL[mode], "position_size_usdt": float(plan.notional),
                        "leverage": plan.leverage, "confidence": conf, "risk_checks": checks, "risk_mode": mode,
                        "ruleset_version": compiled.version, "trace_id": None}
    if result.get("levels"):
        sizing["levels"] = result["levels"]
    if result.get("manage"):
        pos_side = view["position"].get("side") or (facts.get("position") or {}).get("side")
        manage, problems = price_manage(result["manage"], str(pos_side), snap.get("price"), facts)
        errors.extend(problems)
        for item in (*manage.get("stops", ()), *manage.get("targets", ())):
            if "price" in item:        # on the tick grid, as the exchange will hold it
                item["price"] = float(round_price(item["price"], filters))
        if manage:
            # which position it was decided for: the execution core carries it out on that one only
            age = (facts.get("position") or {}).get("age_min")
            opened = None
            if isinstance(age, int | float) and not isinstance(age, bool) and isinstance(ts, str):
                opened = int(iso_to_ms(ts) - age * 60_000)
            decision["manage"] = {"side": pos_side, "opened_ms": opened, **manage}
    trace["sizing"] = sizing
    trace["errors"] = errors
    trace["decision"] = decision
    return decision, trace


def _rule_levels(levels: Any, side: str, price: Any, facts: Any
                 ) -> tuple[float | None, tuple[float | None, float | None], tuple[float | None, float | None]]:
    """The stop and target distances the rules set (None: the config's)."""
    if not levels:
        return None, (None, None), (None, None)
    if not isinstance(price, int | float) or isinstance(price, bool) or price <= 0:
        raise SizingRefused("missing_sizing_inputs", f"price is {price!r} (expected a positive number)")
    try:
        return entry_distances(levels, side, float(price), facts)
    except LevelRefused as exc:
        raise SizingRefused("levels_unknown", str(exc)) from exc
