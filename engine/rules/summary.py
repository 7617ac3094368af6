"""A stored trace read at a glance (pure): the scores against the threshold, the rule
that decided or blocked first, and the rules that came nearest to firing.

`summarize(trace)` answers plain data; `render_summary(summary)` the text that
`showdown rules trace` prints above the full trace. Every value goes through
engine.format by its field's name.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from engine import format as fmt

# A failing condition on the stage gate (no candidate yet, a flat outcome) says only that
# an earlier stage did not produce a trade: that earlier rule's own miss is the one to read.
STAGE_GATES = ("candidate.side", "outcome.side")
NUMERIC_OPS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "between": "between", "eq": "=", "neq": "≠",
               "in": "in", "not_in": "not in", "is_known": "known", "is_unknown": "unknown"}
_LABEL = re.compile(r"^(?P<path>\S+) (?P<op>[a-z_]+)(?: (?P<shown>.*))?$")
_CONFIG = re.compile(r"^(?P<src>.+?) \(= (?P<value>.*)\)$")


def parse_condition(label: str) -> dict[str, Any] | None:
    """'score.long gte ${risk.min_score} (= 0.55)' -> {path, op, value, source}; None when
    the label is not one the compiler writes."""
    m = _LABEL.match(label or "")
    if not m:
        return None
    shown, source = m.group("shown"), None
    value: Any = None
    if shown is not None:
        c = _CONFIG.match(shown)
        if c:
            source, shown = c.group("src"), c.group("value")
        try:
            value = ast.literal_eval(shown)
        except (ValueError, SyntaxError):
            value = shown
    return {"path": m.group("path"), "op": m.group("op"), "value": value, "source": source}


def _value_text(path: str, value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(path, v) for v in value)
    return fmt.field(path, value)


def readable_condition(label: str) -> str:
    """A compiled condition's label as a trader reads it: 'score.long ≥ 0.55 (risk.min_score)',
    'position.side in long, short' — no Python reprs."""
    cond = parse_condition(label)
    if cond is None:
        return label
    path, op, value = cond["path"], cond["op"], cond["value"]
    sym = NUMERIC_OPS.get(op, op)
    if op in ("is_known", "is_unknown"):
        return f"{path} is {sym}"
    if op == "between" and isinstance(value, list | tuple) and len(value) == 2:
        text = f"{path} between {_value_text(path, value[0])} and {_value_text(path, value[1])}"
    else:
        text = f"{path} {sym} {_value_text(path, value)}"
    if not cond["source"]:
        return text
    refs = re.findall(r"\$\{([^}]+)\}", cond["source"])
    return f"{text} ({', '.join(refs)})" if refs else text


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def gap(op: str, value: Any, needed: Any) -> float | None:
    """How far `value` is from satisfying `op needed`, relative to the threshold's size
    (0 = at the threshold); None when it cannot be measured (unknown, not numeric)."""
    v = _num(value)
    if v is None:
        return None
    if op == "between" and isinstance(needed, list | tuple) and len(needed) == 2:
        lo, hi = _num(needed[0]), _num(needed[1])
        if lo is None or hi is None:
            return None
        t = lo if v < lo else hi
    elif op in ("gt", "gte", "lt", "lte"):
        t_ = _num(needed)
        if t_ is None:
            return None
        t = t_
    else:
        return None
    scale = abs(t) if t != 0 else max(abs(v), 1.0)
    return abs(v - t) / scale


def _needed_text(path: str, op: str, needed: Any) -> str:
    sym = NUMERIC_OPS.get(op, op)
    if op in ("is_known", "is_unknown"):
        return f"needed {sym}"
    if op in ("between",) and isinstance(needed, list | tuple):
        return f"needed between {fmt.field(path, needed[0])} and {fmt.field(path, needed[1])}"
    return f"needed {sym} {_value_text(path, needed)}"


def explain_miss(rule: str, label: str | None, value: Any) -> dict[str, Any]:
    """One rule that did not fire: its first failing condition, formatted by field."""
    cond = parse_condition(label or "") if label else None
    if cond is None:
        return {"rule": rule, "path": None, "text": f"{rule}: (no failing condition recorded)", "gap": None}
    path, op, needed = cond["path"], cond["op"], cond["value"]
    was = "unknown" if value is None else fmt.field(path, value)
    text = f"{rule}: {path} {was}, {_needed_text(path, op, needed)}"
    return {"rule": rule, "path": path, "op": op, "was": was, "needed": _needed_text(path, op, needed),
            "source": cond["source"], "text": text, "gap": gap(op, value, needed)}


def _family(rule: str, effect: str | None) -> str:
    """The family a miss stands for: its effect's kind (veto, block, candidate, score, mode,
    warning, close, reduce), else — a trace stored before effects were recorded — the rule
    name's prefix (long, short, risk, filter, ...)."""
    return effect.split(" ", 1)[0] if effect else str(rule).split(".", 1)[0]


def nearest_misses(trace: Mapping[str, Any], limit: int = 6) -> list[dict[str, Any]]:
    """The rules that came nearest to firing, among every family that decides or blocks
    (signals, candidates, vetoes, risk blocks, modes, warnings, exits): the nearest of each
    family first (so a veto that nearly fired shows beside the signal that nearly did),
    then the next nearest overall; smallest relative gap first, unmeasurable ones last."""
    effects = trace.get("not_fired_effects")
    pool = []
    for r, c, v in trace.get("not_fired") or []:
        if isinstance(effects, Mapping) and r not in effects:
            continue  # a rule that only shapes a trade (size, leverage, levels): no miss of a decision
        m = explain_miss(r, c, v)
        if m["path"] is None or str(m["path"]).startswith(STAGE_GATES):
            continue
        effect = effects.get(r) if isinstance(effects, Mapping) else None
        pool.append(dict(m, effect=effect, family=_family(r, effect)))

    def key(m: Mapping[str, Any]) -> tuple[bool, float, str]:
        return (m["gap"] is None, m["gap"] if m["gap"] is not None else 0.0, m["rule"])

    pool.sort(key=key)
    chosen: dict[str, dict[str, Any]] = {}
    for m in pool:
        chosen.setdefault(m["family"], m)
    picked = sorted(chosen.values(), key=key)[:limit]
    for m in pool:
        if len(picked) >= limit:
            break
        if m not in picked:
            picked.append(m)
    return sorted(picked, key=key)


def _config_value(trace: Mapping[str, Any], key: str) -> Any:
    values = (trace.get("ruleset") or {}).get("config_values") or {}
    if isinstance(values, Mapping):
        return values.get(key, values.get(f"${{{key}}}"))
    return None


def deciding_rule(trace: Mapping[str, Any]) -> dict[str, Any] | None:
    """The rule that decided the outcome: for a trade the candidate rule; for a flat the
    first veto whose reason is the decision's, else the first block, else the first veto."""
    result = trace.get("result") or trace.get("decision") or {}
    action, reason = result.get("action"), result.get("reason")
    fired = [(st.get("stage"), e) for st in trace.get("stages") or [] if "stage" in st
             for e in st.get("fired") or []]

    def out(stage: Any, e: Mapping[str, Any], kind: str) -> dict[str, Any]:
        conds = [f"{readable_condition(str(c))} (was {fmt.field(str(c).split(' ', 1)[0], v)})"
                 for c, v in e.get("conditions") or []]
        return {"rule": e.get("rule"), "stage": stage, "kind": kind, "why": e.get("why"), "conditions": conds}

    if action in ("long", "short"):
        for stage, e in fired:
            cand = (e.get("asserted") or {}).get("candidate")
            if cand and cand.get("side") == action:
                return out(stage, e, "candidate")
        return None
    for stage, e in fired:
        veto = (e.get("asserted") or {}).get("veto")
        if veto and veto.get("reason") == reason:
            return out(stage, e, "veto")
    for stage, e in fired:
        if (e.get("asserted") or {}).get("block"):
            return out(stage, e, "block")
    for stage, e in fired:
        if (e.get("asserted") or {}).get("veto"):
            return out(stage, e, "veto")
    return None


def summarize(trace: Mapping[str, Any], misses: int = 6) -> dict[str, Any]:
    """The glance: decision, both scores and the threshold, the deciding rule, the nearest
    misses (smallest relative gap first; unknown values last), the warnings."""
    result = trace.get("result") or trace.get("decision") or {}
    agg: Mapping[str, Any] = next((s for s in trace.get("stages") or [] if s.get("step") == "aggregation"), {})
    threshold = _config_value(trace, "risk.min_score")
    long_, short = agg.get("score_long", result.get("score_long")), agg.get("score_short", result.get("score_short"))
    return {
        "action": result.get("action"), "reason": result.get("reason"),
        "confidence": result.get("confidence"), "confidence_text": fmt.score(result.get("confidence")),
        "risk_mode": result.get("risk_mode"),
        "threshold": threshold, "threshold_text": fmt.score(threshold),
        "scores": [{"side": side, "value": v, "text": fmt.score(v),
                    "reaches": threshold is not None and v is not None and v >= threshold}
                   for side, v in (("long", long_), ("short", short))],
        "contributions": [{"side": c.get("side"), "rule": c.get("rule"), "factor": c.get("factor"),
                           "weight_text": fmt.number(c.get("weight"), 2, signed=True)}
                          for c in agg.get("contributions") or []],
        "warnings": [{"code": w.get("code"), "penalty_text": fmt.score(w.get("penalty"))}
                     for w in agg.get("warnings") or []],
        "decided_by": deciding_rule(trace),
        "nearest_misses": nearest_misses(trace, misses),
        "checks_failed": [k for k, ok in (result.get("risk_checks") or {}).items() if not ok],
    }


def render_summary(s: Mapping[str, Any]) -> str:
    """The summary as the text block `showdown rules trace` prints first."""
    lines = [f"SUMMARY  {str(s['action']).upper()}  ({s['reason']})  confidence {s['confidence_text']}"
             f"  mode {s.get('risk_mode') or fmt.NONE}"]
    for sc in s["scores"]:
        v = sc["value"] if isinstance(sc["value"], int | float) else 0.0
        bar = "#" * round(max(0.0, min(1.0, v)) * 20)
        mark = "reaches" if sc["reaches"] else "below"
        lines.append(f"  {sc['side']:<5} {sc['text']:>5} |{bar:<20}| {mark} threshold {s['threshold_text']}")
    d = s.get("decided_by")
    if d:
        lines.append(f"  decided by {d['rule']} ({d['kind']}, stage {d['stage']}): {d.get('why') or ''}")
        for c in d["conditions"]:
            lines.append(f"      {c}")
    if s.get("checks_failed"):
        lines.append("  risk checks failed: " + ", ".join(s["checks_failed"]))
    if s.get("warnings"):
        lines.append("  warnings: " + ", ".join(f"{w['code']} (-{w['penalty_text']})" for w in s["warnings"]))
    if s.get("nearest_misses"):
        lines.append("  nearest misses:")
        for m in s["nearest_misses"]:
            lines.append(f"    {m['text']}" + (f"  [{m['effect']}]" if m.get("effect") else ""))
    return "\n".join(lines)
