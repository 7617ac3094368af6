"""JSON Schema of rule files (rules/schema.json), generated from the fact contract and
the language so it never drifts: editors autocomplete fact paths, operators, actions.

    python -m engine.rules.json_schema > rules/schema.json
"""

from __future__ import annotations

import json
from typing import Any

from engine import facts as F
from engine.analytics import declared as D
from engine.rules import expressions as X
from engine.rules import language as L

REF = {"type": "string", "pattern": L.REF_RE.pattern, "description": "a config value, e.g. ${risk.max_funding_8h}"}


def _ops(value: dict[str, Any], ops: tuple[str, ...]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for op in ops:
        if op in ("is_known", "is_unknown"):
            props[op] = {"const": True}
        elif op in ("in", "not_in"):
            props[op] = {"type": "array", "items": value, "minItems": 1}
        elif op == "between":
            props[op] = {"type": "array", "items": value, "minItems": 2, "maxItems": 2}
        else:
            props[op] = value
    return {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": props}


def _cond(code: Any) -> dict[str, Any]:
    if isinstance(code, tuple):
        return _ops({"enum": list(code)}, L.ops_for(code))
    if code == "number":
        return {"$ref": "#/$defs/number_ops"}
    if code == "integer":
        return {"$ref": "#/$defs/integer_ops"}
    if code == "boolean":
        return {"$ref": "#/$defs/boolean_ops"}
    return {"$ref": "#/$defs/string_ops"}


def _param(kind: Any) -> dict[str, Any]:
    if kind == "name":
        return {"type": "string", "pattern": L.NAME_RE.pattern}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "field":
        return {"type": "string", "description": "a numeric snapshot field, e.g. swings.tf_5m.low"}
    if isinstance(kind, tuple) and len(kind) == 3 and kind[0] in ("number", "integer"):
        return {"anyOf": [{"type": kind[0], "minimum": kind[1], "maximum": kind[2]}, REF]}
    return {"enum": list(kind)}


EXPRESSION_HELP = ("e.g. crosses_above(ema_fast, ema_slow) and close_1h > ema_200; functions: "
                   + ", ".join(X.FUNCTIONS) + "; operators: + - * / > >= < <= == != and or not")


def _indicator_schema(number: dict[str, Any], integer: dict[str, Any]) -> dict[str, Any]:
    """A declared indicator: TA-Lib's function list, and per function its own parameters
    and single-series inputs (all read from TA-Lib's metadata)."""
    per_function = []
    for name in D.function_names():
        info = D.function_info(name)
        params = {p: {**(integer if kind == "integer" else number), "description": f"default {default}"}
                  for p, (kind, default) in info["parameters"].items()}
        single = [i for i, series in info["inputs"].items() if isinstance(series, str)]
        per_function.append({
            "if": {"properties": {"function": {"const": name}}, "required": ["function"]},
            "then": {"properties": {
                "params": {"type": "object", "additionalProperties": False, "properties": params},
                "inputs": {"type": "object", "additionalProperties": False,
                           "properties": {i: {"enum": list(D.series_names())} for i in single}}}}})
    return {
        "type": "object", "additionalProperties": False, "required": ["function", "timeframe"],
        "properties": {
            "function": {"enum": list(D.function_names()), "description": "a TA-Lib function"},
            "timeframe": {"enum": list(D.TIMEFRAMES)},
            "params": {"type": "object"},
            "input": {"enum": list(D.series_names()), "description": "the series of a one-input function"},
            "inputs": {"type": "object"},
            "why": {"type": "string"},
        },
        "allOf": per_function,
    }


def build_schema() -> dict[str, Any]:
    facts = {}
    for fact, schema in L.FACT_SCHEMAS.items():
        leaves = F.leaf_types(schema)
        facts[fact] = {"type": "object", "additionalProperties": False, "minProperties": 1,
                       "properties": {p: _cond(t) for p, t in leaves.items()}}
    actions = {}
    for name, (stages, spec) in L.ACTIONS.items():
        actions[name] = {"type": "object", "additionalProperties": False,
                         "description": f"stages: {', '.join(stages)}",
                         "required": [k for k, (req, _) in spec.items() if req],
                         "properties": {k: _param(kind) for k, (_, kind) in spec.items()}}
    number = {"anyOf": [{"type": "number"}, REF]}
    integer = {"anyOf": [{"type": "integer"}, REF]}
    declared_cond = {"anyOf": [{"$ref": "#/$defs/number_ops"}, {"$ref": "#/$defs/boolean_ops"}]}
    facts["indicators"] = {"type": "object", "minProperties": 1, "additionalProperties": declared_cond,
                           "description": "declared indicators of this ruleset (`indicators:`), e.g. rsi_7, bb.upperband"}
    facts["expressions"] = {"type": "object", "minProperties": 1, "additionalProperties": declared_cond,
                            "description": "declared expressions of this ruleset (`expressions:`)"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Showdown rule file",
        "type": "object",
        "additionalProperties": False,
        "required": ["ruleset", "rules"],
        "properties": {
            "ruleset": {"type": "string", "pattern": L.NAME_RE.pattern},
            "description": {"type": "string"},
            "cycle": {"enum": list(D.TIMEFRAMES), "description": "decide at each close of this timeframe"},
            "indicators": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": L.NAME_RE.pattern},
                           "additionalProperties": {"$ref": "#/$defs/indicator"}},
            "expressions": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": L.NAME_RE.pattern},
                            "additionalProperties": {"type": "string", "minLength": 1, "description": EXPRESSION_HELP}},
            "rules": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"}},
        },
        "$defs": {
            "indicator": _indicator_schema(number, integer),
            "rule": {
                "type": "object", "additionalProperties": False, "required": list(L.RULE_KEYS),
                "properties": {
                    "id": {"type": "string", "pattern": L.ID_RE.pattern, "maxLength": L.MAX_ID_LENGTH},
                    "stage": {"enum": list(L.STAGES)},
                    "when": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": facts},
                    "then": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": actions},
                    "why": {"type": "string", "minLength": 1, "maxLength": L.MAX_WHY_LENGTH},
                },
            },
            "number_ops": _ops(number, L.ops_for("number")),
            "integer_ops": _ops(integer, L.ops_for("integer")),
            "string_ops": _ops({"type": "string"}, L.ops_for("string")),
            "boolean_ops": _ops({"type": "boolean"}, L.ops_for("boolean")),
            "testfile": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "fixtures": {"type": "object", "additionalProperties": {"type": "object"}},
                    "cases": {"type": "array", "items": {
                        "type": "object", "additionalProperties": False, "required": ["name", "expect"],
                        "properties": {"name": {"type": "string"}, "base": {"type": "string"},
                                       "set": {"type": "object"}, "facts": {"type": "object"},
                                       "expect": {"type": "object"}}}},
                },
            },
        },
    }


if __name__ == "__main__":
    print(json.dumps(build_schema(), indent=1))
