"""JSON Schema of rule files (rules/schema.json), generated from the fact contract and
the language so it never drifts: editors autocomplete fact paths, operators, actions.

    python -m engine.rules.json_schema > rules/schema.json
"""

from __future__ import annotations

import json
from typing import Any

from engine import facts as F
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
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Showdown rule file",
        "type": "object",
        "additionalProperties": False,
        "required": ["ruleset", "rules"],
        "properties": {
            "ruleset": {"type": "string", "pattern": L.NAME_RE.pattern},
            "description": {"type": "string"},
            "rules": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"}},
        },
        "$defs": {
            "rule": {
                "type": "object", "additionalProperties": False, "required": list(L.RULE_KEYS),
                "properties": {
                    "id": {"type": "string", "pattern": L.ID_RE.pattern},
                    "stage": {"enum": list(L.STAGES)},
                    "when": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": facts},
                    "then": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": actions},
                    "why": {"type": "string", "minLength": 1},
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
