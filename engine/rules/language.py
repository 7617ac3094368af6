"""The rule language: stages, operators, actions and the derived facts each stage sees.

Everything a rule file may say is listed here, so the compiler, the JSON Schema for
editors and the documentation all read from one place.
"""

from __future__ import annotations

import re
from typing import Any

from engine import facts as F

# Stages run in this order. Between `signal` and `candidate` the runtime sums the score
# contributions per side (the aggregation step); after `candidate` and after `risk` it
# asserts what was decided so far as a derived fact the next stages can read.
# `manage` runs last and only while a position is open: it reads the position's facts
# (age, R, TP1 done ...) and everything decided before it, and acts on the open position.
STAGES: tuple[str, ...] = ("signal", "candidate", "risk", "decision", "manage")
ENTRY_STAGES: tuple[str, ...] = ("candidate", "risk", "decision")
ATR_TIMEFRAMES = F.TIMEFRAMES_ANALYSED

RISK_CHECKS = ("daily_dd_ok", "weekly_dd_ok", "max_trades_per_day_ok", "session_ok", "no_major_news")
FLAGS = ("no_market_entry", "market_fallback_allowed")
CANDIDATE_SIDE = ("long", "short", "flat")
BEST_SIDE = ("long", "short", "none")

# Derived facts: name -> (first stage that can read it, schema in engine.facts style).
DERIVED: dict[str, tuple[str, dict[str, Any]]] = {
    # The aggregation step, after `signal`.
    "score": ("candidate", {
        "long": "number",              # sum of long weights, clamped to [0, 1]
        "short": "number",
        "best": "number",              # max(long, short)
        "best_side": BEST_SIDE,        # "none" when equal
        "margin": "number",            # |long - short|
        "warning_penalty": "number",   # sum of warning penalties, clamped to [0, 1]
        "warning_count": "integer",
    }),
    # What the candidate stage concluded (flat when no side, a conflict or a veto).
    "candidate": ("risk", {"side": CANDIDATE_SIDE, "reason": "string"}),
    # After the risk stage: the trade as it stands, with the confidence formula applied.
    "outcome": ("decision", {
        "side": CANDIDATE_SIDE,
        "mode": F.RISK_MODE,
        "confidence": "number",
        "size_mult": "number",
        "leverage_cap": "integer",
        "checks_ok": "boolean",
    }),
}

FACT_SCHEMAS: dict[str, dict[str, Any]] = {**F.FACTS, **{k: v[1] for k, v in DERIVED.items()}}


def fact_first_stage(fact: str) -> str:
    return DERIVED[fact][0] if fact in DERIVED else STAGES[0]


# Operators: name -> (which type kinds accept it, what the value must be).
NUMERIC_OPS = ("gt", "gte", "lt", "lte", "between")
OPERATORS: dict[str, str] = {
    "eq": "a value of the field's type",
    "neq": "a value of the field's type",
    "in": "a list of values of the field's type",
    "not_in": "a list of values of the field's type",
    "gt": "a number", "gte": "a number", "lt": "a number", "lte": "a number",
    "between": "a list [low, high] of two numbers, low <= high (both inclusive)",
    "is_known": "true",
    "is_unknown": "true",
}


def ops_for(type_code: Any) -> tuple[str, ...]:
    if type_code in ("number", "integer"):
        return tuple(OPERATORS)
    if type_code == "boolean":
        return ("eq", "neq", "is_known", "is_unknown")
    return ("eq", "neq", "in", "not_in", "is_known", "is_unknown")


def describe_type(type_code: Any) -> str:
    if isinstance(type_code, tuple):
        return "one of " + ", ".join(type_code)
    return {"number": "a number", "integer": "an integer", "string": "a string",
            "boolean": "true or false"}[type_code]


# Actions: name -> (stages where it means something, parameter spec).
# Parameter spec: key -> (required, kind) with kind "side" | "number" | ... see compiler.
ACTIONS: dict[str, tuple[tuple[str, ...], dict[str, tuple[bool, Any]]]] = {
    "score": (("signal",), {"side": (True, F.SIDE), "factor": (True, "name"),
                            "weight": (True, ("number", -1.0, 1.0))}),
    "warning": (("signal", "candidate", "risk"), {"code": (True, "name"),
                                                 "penalty": (True, ("number", 0.0, 1.0))}),
    "candidate": (("candidate",), {"side": (True, F.SIDE), "reason": (False, "name")}),
    # error: inputs missing/stale, logged as an error; error or zero_confidence -> confidence 0.
    "veto": (("candidate", "risk", "decision"), {"reason": (True, "name"), "error": (False, "boolean"),
                                                 "zero_confidence": (False, "boolean")}),
    "block": (("risk",), {"check": (True, RISK_CHECKS), "reason": (False, "name")}),
    "mode": (("risk",), {"set": (True, F.RISK_MODE)}),
    "multiplier": (("risk", "decision"), {"size": (False, ("number", 0.0, 3.0)),
                                          "sentiment": (False, ("number", 0.0, 2.0))}),
    "cap": (("risk", "decision"), {"leverage": (False, ("integer", 0, 125))}),
    "flag": (("risk", "decision"), {"set": (True, FLAGS)}),
    # Entry levels in place of the config defaults (risk.sl_atr_k, tp1_r, tp2_r): one way
    # for the stop (k x ATR of a timeframe, a percent of the entry, or a snapshot field's
    # level), targets as R multiples, percents or a field's level.
    "levels": (ENTRY_STAGES, {"stop_atr": (False, ("number", 0.05, 50.0)),
                              "atr_timeframe": (False, ATR_TIMEFRAMES),
                              "stop_percent": (False, ("number", 0.01, 50.0)),
                              "stop_field": (False, "field"),
                              "tp1_r": (False, ("number", 0.05, 100.0)),
                              "tp2_r": (False, ("number", 0.05, 100.0)),
                              "tp1_percent": (False, ("number", 0.01, 100.0)),
                              "tp2_percent": (False, ("number", 0.01, 100.0)),
                              "tp1_field": (False, "field"),
                              "tp2_field": (False, "field")}),
    # Position management (stage manage). A time stop is `close` on position.age_min.
    "close": (("manage",), {"reason": (True, "name")}),
    "reduce": (("manage",), {"fraction": (True, ("number", 0.01, 0.99)), "reason": (True, "name")}),
    # Move the stop, never wider: to the entry (break-even), k x ATR or a percent behind
    # the price, or to a snapshot field's level. Several rules: the tightest stop wins.
    "stop": (("manage",), {"break_even": (False, "boolean"),
                           "trail_atr": (False, ("number", 0.05, 50.0)),
                           "atr_timeframe": (False, ATR_TIMEFRAMES),
                           "trail_percent": (False, ("number", 0.01, 50.0)),
                           "field": (False, "field")}),
    # Move the take-profit (the whole remaining position): a percent or R multiple from
    # the entry, or a field's level. Several rules: the nearest target wins.
    "target": (("manage",), {"percent": (False, ("number", 0.01, 100.0)),
                             "r": (False, ("number", 0.05, 100.0)),
                             "field": (False, "field")}),
}

# Actions whose parameters name one way among several: exactly one of each group.
ONE_OF: dict[str, tuple[tuple[str, ...], ...]] = {
    "levels": (("stop_atr", "stop_percent", "stop_field"), ("tp1_r", "tp1_percent", "tp1_field"),
               ("tp2_r", "tp2_percent", "tp2_field")),
    "stop": (("break_even", "trail_atr", "trail_percent", "field"),),
    "target": (("percent", "r", "field"),),
}
# Groups where one parameter is required (levels may set only a stop, or only targets).
ONE_REQUIRED = {"stop": 0, "target": 0}
# A parameter that only means something beside another one.
NEEDS = {("levels", "atr_timeframe"): "stop_atr", ("stop", "atr_timeframe"): "trail_atr"}

RULE_KEYS = ("id", "stage", "when", "then", "why")
FILE_KEYS = ("ruleset", "rules", "description", "cycle", "indicators", "expressions")
ID_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Ids and explanations travel into every trace, page and notification: keep them bounded.
MAX_ID_LENGTH = 80
MAX_WHY_LENGTH = 500
MAX_RULES = 400                # across all files; the shipped set has ~60
REF_RE = re.compile(r"^(-)?\$\{([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)\}$")

# Mode precedence when several rules set one: the most restrictive wins, so a signal can
# never loosen a hard limit. With no rule setting a mode the mode is `neutral`.
MODE_ORDER = ("risk_off", "cautious_risk_on", "neutral", "aggressive_risk_on")
DEFAULT_MODE = "neutral"
