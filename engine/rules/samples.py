"""Fact sets for tests and benchmarks: a typical long setup, and random fact sets that
conform to engine/facts.py (None mixed in), biased towards the rules' own thresholds so
that boundaries (equal, just above, just below) are exercised."""

from __future__ import annotations

import copy
import random
from typing import Any

from engine import facts as F
from engine.rules.compiler import CompiledRules

TYPICAL_LONG: dict[str, Any] = {
    "snapshot": {
        "symbol": "BTCUSDT", "timestamp_iso": "2025-01-06T14:05:00Z", "timestamp_ms": 1736172300000,
        "price": 60000.0,
        "market_structure": {"tf_5m": "HH-HL", "tf_15m": "HH-HL", "tf_1h": "range"},
        "swings": {"tf_5m": {"high": 60400.0, "low": 59700.0}, "tf_15m": {"high": 60900.0, "low": 59200.0},
                   "tf_1h": {"high": 61500.0, "low": 58000.0}},
        "momentum": {"tf_5m": {"state": "impulse_up", "score": 0.7}, "tf_15m": {"state": "neutral", "score": 0.4},
                     "tf_1h": {"state": "neutral", "score": 0.3}},
        "volatility": {"atr": {"tf_5m": 120.0, "tf_15m": 220.0, "tf_1h": 450.0},
                       "atr_pct": {"tf_5m": 0.2, "tf_15m": 0.37, "tf_1h": 0.75}},
        "session": {"current": "US", "time_utc": "14:05", "volatility_regime": "normal", "restricted": False},
        "orderbook": {"available": True, "spread_pct": 0.002, "imbalance_pct": 10.0},
        "data_age_s": 20.0,
    },
    "flow": {
        "derivatives": {"oi": {"value": 8.1e10, "change_24h": 3.0}, "funding": {"current": 0.0001, "avg_24h": 0.0001},
                        "cvd": {"tf_1h": {"value": 1200.0, "direction": "up"}, "tf_4h": {"value": 3000.0, "direction": "up"}}},
        "etp_summary": {"last_7d_total": 900000000.0, "last_3d_total": 250000000.0, "signal": "bullish", "stale": False},
        "liquidation": {"nearest_below_price": 59500.0, "nearest_below_strength": 0.6, "nearest_below_distance_pct": 0.8,
                        "nearest_above_price": 61500.0, "nearest_above_strength": 0.4, "nearest_above_distance_pct": 2.5,
                        "max_strength_below": 0.65, "max_strength_above": 0.4, "stale": False},
        "crowd": {"bias_score": 0.6, "bias_side": "short"},
        "trap_index": {"score": 0.55, "side": "short"},
        "news_sentiment": {"score": 0.5, "label": "neutral", "stale": False},
        "warnings": {},
        "warning_counts": {"high": 0, "medium": 0, "low": 0},
        "risk": {"global_score": 0.6, "mode": "neutral"},
    },
    "account": {"equity": 10000.0, "start_of_day_equity": 10000.0, "daily_pnl_pct": 0.0, "weekly_pnl_pct": 0.0,
                "trades_today": 0, "safe_mode": False, "entries_paused": False},
    "position": {"side": "flat", "quantity": 0.0, "entry_price": None, "unrealized_pnl": 0.0},
}


def typical_long() -> dict[str, Any]:
    return copy.deepcopy(TYPICAL_LONG)


def typical_short() -> dict[str, Any]:
    """The mirror image of TYPICAL_LONG (same as the short_setup rule-test fixture)."""
    f = copy.deepcopy(TYPICAL_LONG)
    s, fl = f["snapshot"], f["flow"]
    s["market_structure"] = {"tf_5m": "LL-LH", "tf_15m": "LL-LH", "tf_1h": "range"}
    s["momentum"]["tf_5m"] = {"state": "impulse_down", "score": 0.7}
    fl["derivatives"]["funding"] = {"current": -0.0001, "avg_24h": -0.0001}
    fl["derivatives"]["cvd"] = {"tf_1h": {"value": -1200.0, "direction": "down"},
                                "tf_4h": {"value": -3000.0, "direction": "down"}}
    fl["etp_summary"].update({"last_7d_total": -900000000.0, "last_3d_total": -250000000.0, "signal": "bearish"})
    fl["liquidation"].update({"nearest_below_strength": 0.4, "nearest_below_distance_pct": 2.5,
                              "nearest_above_strength": 0.6, "nearest_above_distance_pct": 0.8,
                              "max_strength_below": 0.4, "max_strength_above": 0.65})
    fl["crowd"]["bias_side"] = "long"
    fl["trap_index"]["side"] = "long"
    fl["news_sentiment"]["score"] = -0.5
    return f


def _constants(compiled: CompiledRules | None) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    if compiled is None:
        return out
    for r in compiled.rules:
        for c in r.conditions:
            vals = c.value if isinstance(c.value, tuple) else (c.value,)
            for v in vals:
                if isinstance(v, int | float) and not isinstance(v, bool):
                    out.setdefault(f"{c.fact}.{c.path}", []).append(float(v))
    return out


def _number(rng: random.Random, consts: list[float], integer: bool) -> float | int:
    if consts and rng.random() < 0.6:
        c = rng.choice(consts)
        v = rng.choice([c, c, c * 1.01 + 0.01, c * 0.99 - 0.01, c + abs(c) * rng.uniform(-2, 2)])
    else:
        v = rng.choice([rng.uniform(-1, 1), rng.uniform(-100, 100), rng.uniform(0, 1), rng.uniform(-1e9, 1e9),
                        rng.uniform(-1e-4, 1e-4)])
    return int(round(v)) if integer else float(v)


def random_facts(rng: random.Random, compiled: CompiledRules | None = None, none_rate: float = 0.1,
                 base: dict[str, Any] | None = None, keep: float = 0.5) -> dict[str, Any]:
    """A random fact set conforming to engine/facts.py; a share of leaves is None."""
    consts = _constants(compiled)
    out: dict[str, Any] = {}

    # The position's management fields draw from their own generator (seeded from the main
    # one's state without consuming it): fact sets of the other fields stay what they were
    # before these fields existed, so earlier seeds keep reaching the same outcomes.
    side_rng = random.Random(str(rng.getstate()[1][:4]))

    def fill(schema: dict[str, Any], prefix: str, base_node: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for key, sub in schema.items():
            path = f"{prefix}.{key}"
            b = base_node.get(key) if isinstance(base_node, dict) else None
            if isinstance(sub, dict):
                doc[key] = fill(sub, path, b)
                continue
            g = side_rng if prefix == "position" and key in F.MANAGE_FIELDS else rng
            if g.random() < none_rate:
                doc[key] = None
            elif b is not None and g.random() < keep:
                doc[key] = b
            elif isinstance(sub, tuple):
                doc[key] = g.choice(sub)
            elif sub == "boolean":
                doc[key] = g.random() < 0.5
            elif sub in ("number", "integer"):
                doc[key] = _number(g, consts.get(path, []), sub == "integer")
            else:
                doc[key] = g.choice(["", "x", "BTCUSDT", "1e-05 text"])
        return doc

    schemas: dict[str, dict[str, Any]] = dict(F.FACTS)
    if compiled is not None:           # the ruleset's declared indicators and expressions
        for fact, leaves in compiled.declared.leaves.items():
            if leaves:
                schemas[fact] = _nested(leaves)
    for fact, schema in schemas.items():
        if rng.random() < none_rate / 5:
            out[fact] = None            # a whole fact missing
        else:
            out[fact] = fill(schema, fact, (base or {}).get(fact))
    return out


def _nested(leaves: dict[str, Any]) -> dict[str, Any]:
    """{"bb.upperband": "number"} -> {"bb": {"upperband": "number"}}."""
    out: dict[str, Any] = {}
    for path, code in leaves.items():
        node = out
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = code
    return out
