"""The fact contract: every field the rules may read, with its type.

Analytics produces the snapshot and flow documents (PRODUCT.md §5, §6); the rules see
them as facts. Field names here are that contract: rule files refer to them by dotted
path, the rule compiler checks paths and literal types against this schema, and the
analytics tests check that what they produce conforms.

Facts are flat-ish dicts of scalars: durable_rules cannot take lists as facts and
limits a fact to 255 flattened properties, so list-shaped documents (liquidation
zones, warnings) are exposed to rules through scalar summaries defined below.
A value of None means "unknown": every condition on an unknown value is false.

Type codes: "number", "integer", "string", "boolean", or a tuple of allowed strings
(an enum). Every leaf may also be None.
"""

from __future__ import annotations

from typing import Any

from engine.protections import SCHEMA as _PROTECTIONS_SCHEMA

TIMEFRAMES_SNAPSHOT = ("tf_1m", "tf_5m", "tf_15m", "tf_1h")
TIMEFRAMES_ANALYSED = ("tf_5m", "tf_15m", "tf_1h")

STRUCTURE = ("HH-HL", "LL-LH", "range", "transition")
MOMENTUM_STATE = ("impulse_up", "impulse_down", "fading", "choppy", "neutral")
SESSION = ("ASIA", "EU", "US")
VOL_REGIME = ("low", "normal", "high")
DIRECTION = ("up", "down", "flat")
SIDE = ("long", "short")
BIAS_SIDE = ("long", "short", "neutral")
SEVERITY = ("low", "medium", "high")
ETF_SIGNAL = ("bullish", "bearish", "bullish_reversal", "bearish_exhaustion", "neutral")
RISK_MODE = ("risk_off", "neutral", "cautious_risk_on", "aggressive_risk_on")
SENTIMENT_LABEL = ("bearish", "neutral", "bullish")
POSITION_SIDE = ("long", "short", "flat")
WARNING_TYPES = (
    "extreme_funding", "extreme_oi", "liq_cluster_above", "liq_cluster_below",
    "etf_strong_outflow", "etf_strong_inflow", "sentiment_extreme", "etf_data_invalid",
    "etf_data_stale", "liq_data_stale", "sentiment_missing", "sentiment_stale",
    "market_data_stale", "cvd_unknown",
)

_OHLCV = {"o": "number", "h": "number", "l": "number", "c": "number", "v": "number"}
_INDICATORS = {
    "macd": "number", "macd_signal": "number", "macd_hist": "number", "rsi": "number",
    "ema_20": "number", "ema_50": "number", "ema_200": "number",
    # (EMA20 - EMA50) / EMA50 in %: rules compare fields with constants only, so an
    # EMA cross is read as the sign of this spread.
    "ema_20_50_pct": "number",
}

SNAPSHOT: dict[str, Any] = {
    "symbol": "string",
    "timestamp_iso": "string",
    "timestamp_ms": "integer",
    "price": "number",
    "candles": {tf: dict(_OHLCV) for tf in TIMEFRAMES_SNAPSHOT},
    "market_structure": {tf: STRUCTURE for tf in TIMEFRAMES_ANALYSED},
    # Last confirmed swing high / low price per timeframe (for structural stops).
    "swings": {tf: {"high": "number", "low": "number"} for tf in TIMEFRAMES_ANALYSED},
    "momentum": {tf: {"state": MOMENTUM_STATE, "score": "number"} for tf in TIMEFRAMES_ANALYSED},
    # ATR (TA-Lib, period in config) in price units and as % of price.
    "volatility": {
        "atr": {tf: "number" for tf in TIMEFRAMES_ANALYSED},
        "atr_pct": {tf: "number" for tf in TIMEFRAMES_ANALYSED},
    },
    "session": {
        "current": SESSION,
        "time_utc": "string",
        "volatility_regime": VOL_REGIME,
        "restricted": "boolean",
    },
    "indicators": {tf: dict(_INDICATORS) for tf in TIMEFRAMES_ANALYSED},
    "orderbook": {
        "available": "boolean",
        "spread_pct": "number",
        "bid_volume": "number",
        "ask_volume": "number",
        "imbalance_pct": "number",
        "largest_bid_wall_price": "number",
        "largest_ask_wall_price": "number",
        "slippage_pct": "number",
    },
    "data_age_s": "number",
}

FLOW: dict[str, Any] = {
    "symbol": "string",
    "timestamp_iso": "string",
    "derivatives": {
        "oi": {"value": "number", "change_24h": "number"},  # change_24h in %
        "funding": {"current": "number", "avg_24h": "number"},  # fraction per 8 h
        "cvd": {tf: {"value": "number", "direction": DIRECTION} for tf in ("tf_1h", "tf_4h")},
        "basis": {"value": "number", "pct": "number"},
        "taker": {"buy_volume": "number", "sell_volume": "number", "ratio": "number"},
    },
    "etp_summary": {
        "last_7d_total": "number",
        "last_3d_total": "number",
        "trend": "string",
        "signal": ETF_SIGNAL,
        "comment": "string",
        "stale": "boolean",
    },
    # Scalar view of liquidation_zones (the document keeps the full lists).
    "liquidation": {
        "nearest_below_price": "number",
        "nearest_below_strength": "number",
        "nearest_below_distance_pct": "number",
        "nearest_above_price": "number",
        "nearest_above_strength": "number",
        "nearest_above_distance_pct": "number",
        "max_strength_below": "number",
        "max_strength_above": "number",
        "stale": "boolean",
    },
    "crowd": {"bias_score": "number", "bias_side": BIAS_SIDE, "description": "string"},
    "trap_index": {"score": "number", "side": SIDE, "comment": "string"},
    "news_sentiment": {"score": "number", "label": SENTIMENT_LABEL, "stale": "boolean"},
    # Scalar view of warnings[]: highest severity per warning type (None = absent).
    "warnings": {t: SEVERITY for t in WARNING_TYPES},
    "warning_counts": {"high": "integer", "medium": "integer", "low": "integer"},
    "risk": {"global_score": "number", "mode": RISK_MODE},
}

ACCOUNT: dict[str, Any] = {
    "equity": "number",
    "start_of_day_equity": "number",
    "daily_pnl_pct": "number",
    "weekly_pnl_pct": "number",
    "trades_today": "integer",
    "safe_mode": "boolean",
    "entries_paused": "boolean",
}

POSITION: dict[str, Any] = {
    "side": POSITION_SIDE,
    "quantity": "number",
    "entry_price": "number",
    "unrealized_pnl": "number",
    # Management facts (engine/execution/manage.py), unknown while flat: minutes since the
    # position opened; the price move since entry in the position's favour, % of entry;
    # that move in units of the initial stop distance (R) now, at its best and at its worst
    # so far; whether TP1 has filled; the stop price on the exchange now.
    "age_min": "number",
    "profit_pct": "number",
    "r_now": "number",
    "r_best": "number",
    "r_worst": "number",
    "tp1_done": "boolean",
    "stop": "number",
}
MANAGE_FIELDS = ("age_min", "profit_pct", "r_now", "r_best", "r_worst", "tp1_done", "stop")

# Recent trades as scalars (engine/protections.py builds it): cooldowns and loss limits.
PROTECTIONS: dict[str, Any] = dict(_PROTECTIONS_SCHEMA)

FACTS: dict[str, dict[str, Any]] = {
    "snapshot": SNAPSHOT,
    "flow": FLOW,
    "account": ACCOUNT,
    "position": POSITION,
    "protections": PROTECTIONS,
}


def leaf_types(schema: dict[str, Any] | None = None, prefix: str = "") -> dict[str, Any]:
    """Flatten a schema into {"fact.path.to.leaf": type}."""
    out: dict[str, Any] = {}
    for key, sub in (schema if schema is not None else FACTS).items():
        path = f"{prefix}{key}"
        if isinstance(sub, dict):
            out.update(leaf_types(sub, path + "."))
        else:
            out[path] = sub
    return out


def conformance_problems(doc: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Fields of `doc` the schema lacks, or whose value has the wrong type.

    Extra keys holding lists or nested documents not in the schema are allowed (the
    JSON documents carry more than the rules see); scalar leaves must match.
    """
    problems: list[str] = []
    for key, sub in schema.items():
        path = f"{prefix}{key}"
        if key not in doc:
            problems.append(f"{path}: missing")
            continue
        val = doc[key]
        if isinstance(sub, dict):
            if val is None:
                continue
            if not isinstance(val, dict):
                problems.append(f"{path}: expected a mapping, got {type(val).__name__}")
                continue
            problems.extend(conformance_problems(val, sub, path + "."))
        elif val is not None and not type_ok(val, sub):
            problems.append(f"{path}: expected {sub}, got {val!r}")
    return problems


def type_ok(value: Any, code: Any) -> bool:
    if isinstance(code, tuple):
        return value in code
    if code == "boolean":
        return isinstance(value, bool)
    if code == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if code == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if code == "string":
        return isinstance(value, str)
    return False
