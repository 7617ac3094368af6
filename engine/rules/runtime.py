"""One evaluation: facts in, result and trace out. Synchronous and deterministic.

Stages run in order: signal -> aggregation (score_long / score_short) -> candidate ->
risk -> decision. After each stage the runtime interprets what the fired rules asserted
(all effects are sums, products, minima or "most restrictive wins", so the order in
which durable_rules fires them cannot change the result) and asserts the derived fact
the next stage reads.

Two engines run the same compiled conditions: durable_rules (production) and a plain
Python reference evaluator (`engine="python"`) — the oracle of the differential tests.
The reference semantics also give the "why not" of every rule that did not fire.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine import facts as F
from engine.rules import language as L
from engine.rules.compiler import CompiledRules, Rule

BASE_FACTS = tuple(F.FACTS)
_LEAF_TYPES = {f: F.leaf_types(s) for f, s in F.FACTS.items()}
_SPLIT: dict[str, tuple[str, ...]] = {}


def _parts(path: str) -> tuple[str, ...]:
    p = _SPLIT.get(path)
    if p is None:
        p = _SPLIT[path] = tuple(path.split("."))
    return p


_PLANS: dict[tuple[int, str], list[tuple[str, Any, Any]]] = {}


def _checker(code: Any) -> Any:
    if isinstance(code, tuple):
        allowed = frozenset(code)
        return lambda v: isinstance(v, str) and v in allowed
    if code == "boolean":
        return lambda v: v is True or v is False
    if code == "integer":
        return lambda v: type(v) is int
    if code == "number":
        return lambda v: (type(v) is float and math.isfinite(v)) or type(v) is int
    return lambda v: type(v) is str


def _getter(parts: tuple[str, ...]) -> Any:
    """doc -> the value at `parts`, or None when any step is missing or not a mapping.
    Specialised by depth: plain subscripts, with the rare miss caught as an exception."""
    if len(parts) == 1:
        (a,) = parts

        def g1(d: Any) -> Any:
            try:
                return d[a]
            except (KeyError, TypeError, IndexError):
                return None
        return g1
    if len(parts) == 2:
        a, b = parts

        def g2(d: Any) -> Any:
            try:
                return d[a][b]
            except (KeyError, TypeError, IndexError):
                return None
        return g2
    if len(parts) == 3:
        a, b, c = parts

        def g3(d: Any) -> Any:
            try:
                return d[a][b][c]
            except (KeyError, TypeError, IndexError):
                return None
        return g3

    def gn(d: Any) -> Any:
        try:
            for part in parts:
                d = d[part]
            return d
        except (KeyError, TypeError, IndexError):
            return None
    return gn


def _plan(compiled: CompiledRules, fact: str, extra: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    key = (id(compiled), fact + "|" + ",".join(extra))
    plan = _PLANS.get(key)
    if plan is None:
        types = _LEAF_TYPES[fact] if fact in _LEAF_TYPES else compiled.declared.leaves[fact]
        paths = sorted(set(compiled.paths.get(fact, ())) | set(extra))
        plan = [(p, _getter(_parts(p)), _checker(types[p])) for p in paths]
        if len(_PLANS) > 256:          # one entry per (ruleset version, fact): bounded
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def read_facts(compiled: CompiledRules, facts: Mapping[str, Any],
               extra_paths: Mapping[str, tuple[str, ...]] | None = None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The values rules read, per fact, as {path: value}; wrong types become None.

    Returns (view, problems). A value of the wrong type is never compared loosely (in
    durable_rules "9" > 10 is true): it is treated as unknown and reported. A string
    inside a path (where a mapping was expected) reads as unknown, like a missing key.
    """
    view: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for fact in facts_of(compiled):
        doc = facts.get(fact)
        out: dict[str, Any] = {}
        for path, get, ok in _plan(compiled, fact, extra_paths.get(fact, ()) if extra_paths else ()):
            node = get(doc)
            if node is not None and not ok(node):
                problems.append(f"{fact}.{path}: expected {(_LEAF_TYPES.get(fact) or compiled.declared.leaves[fact])[path]}, "
                                f"got {node!r}; treated as unknown")
                node = None
            out[path] = node
        view[fact] = out
    return view, problems


def facts_of(compiled: CompiledRules) -> tuple[str, ...]:
    """The facts a ruleset reads: the base ones, and its declared indicators / expressions."""
    if compiled.declared.empty:
        return BASE_FACTS
    return BASE_FACTS + tuple(f for f, leaves in compiled.declared.leaves.items() if leaves)


class ReferenceSession:
    """The plain Python evaluator: same compiled conditions, same stage protocol."""

    def __init__(self, compiled: CompiledRules):
        self.compiled = compiled

    def run_stage(self, stage: str, view: dict[str, dict[str, Any]]) -> list[str]:
        fired = []
        for r in self.compiled.by_stage[stage]:
            for c in r.conditions:
                if not c.test(view[c.fact].get(c.path)):
                    break
            else:
                fired.append(r.id)
        return fired

    def close(self) -> None:
        pass


class _DurableStages:
    """Adapts a DurableSession: each stage's single fact, written straight to JSON.

    The fact is flat — {"snapshot.momentum.tf_5m.score": 0.61, ...}: durable_rules
    flattens nested facts to exactly these dotted names, so conditions on "a.b.c" read
    them the same (the differential tests hold it to that). Keys are constant per
    stage, so they are encoded once; values are scalars, encoded here without exponents.
    """

    def __init__(self, compiled: CompiledRules, session: Any):
        self.compiled = compiled
        self.session = session
        self.keys = _stage_keys(compiled)

    def run_stage(self, stage: str, view: dict[str, dict[str, Any]]) -> list[str]:
        parts = []
        for fact, items in self.keys[stage]:
            vals = view[fact]
            for path, key in items:
                v = vals.get(path)
                if v is None:
                    continue
                enc = _STRINGS.get(v) if v.__class__ is str else None
                parts.append(key + (enc if enc is not None else _value_json(v)))
        return list(self.session.run_stage_json(stage, ",".join(parts)))

    def close(self) -> None:
        self.session.close()


_KEYS: dict[int, tuple[CompiledRules, dict[str, list[tuple[str, list[tuple[str, str]]]]]]] = {}


def _stage_keys(compiled: CompiledRules) -> dict[str, list[tuple[str, list[tuple[str, str]]]]]:
    hit = _KEYS.get(id(compiled))
    if hit is not None and hit[0] is compiled:
        return hit[1]
    keys = {stage: [(fact, [(p, json.dumps(f"{fact}.{p}") + ":") for p in paths])
                    for fact, paths in per_fact.items()]
            for stage, per_fact in compiled.stage_paths.items()}
    if len(_KEYS) > 64:
        _KEYS.clear()
    _KEYS[id(compiled)] = (compiled, keys)
    return keys


_STRINGS: dict[str, str] = {}


def _value_json(v: Any) -> str:
    t = v.__class__
    if t is float:
        r = repr(v)
        if "e" in r or "n" in r:       # exponent form (durable_rules rejects it), nan / inf
            if not math.isfinite(v):
                raise ValueError(f"non-finite number {v!r} in a fact")
            r = format(Decimal(r), "f")
        return r
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is str:
        enc = _STRINGS.get(v)
        if enc is None:
            enc = json.dumps(v, ensure_ascii=False)
            if len(_STRINGS) < 4096:     # enum-like values repeat every cycle
                _STRINGS[v] = enc
        return enc
    return json.dumps(v, ensure_ascii=False, allow_nan=False)


def _r9(x: float) -> float:
    # Sums of weights like 0.1 + 0.2 must compare equal to 0.3 against thresholds.
    return round(x, 9)


def _order(r: Rule) -> int:
    return r.order


def _clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


class _Cycle:
    """Interprets fired rules stage by stage; collects the trace."""

    def __init__(self, compiled: CompiledRules):
        self.c = compiled
        self.rule_by_id: dict[str, Rule] = compiled.by_id
        self.warnings: list[dict[str, Any]] = []
        self.vetoes: list[dict[str, Any]] = []
        self.flags: list[str] = []
        self.size_mult = 1.0
        self.sentiment = 1.0
        self.caps: list[int] = []

    def ordered(self, ids: list[str]) -> list[Rule]:
        if not ids:
            return []
        by_id = self.rule_by_id
        return sorted((by_id[i] for i in ids), key=_order)

    def common(self, rules: list[Rule]) -> None:
        for r in rules:
            a = r.actions
            if "warning" in a:
                self.warnings.append({"rule": r.id, **a["warning"]})
            if "veto" in a:
                self.vetoes.append({"rule": r.id, "reason": a["veto"]["reason"],
                                    "error": bool(a["veto"].get("error", False)),
                                    "zero_confidence": bool(a["veto"].get("error", False)
                                                            or a["veto"].get("zero_confidence", False))})
            if "multiplier" in a:
                self.size_mult *= a["multiplier"].get("size", 1.0)
                self.sentiment *= a["multiplier"].get("sentiment", 1.0)
            if "cap" in a and "leverage" in a["cap"]:
                self.caps.append(a["cap"]["leverage"])
            if "flag" in a and a["flag"]["set"] not in self.flags:
                self.flags.append(a["flag"]["set"])

    def penalty(self) -> float:
        return _r9(_clamp(sum(w["penalty"] for w in self.warnings)))


def evaluate(compiled: CompiledRules, facts: Mapping[str, Any], engine: Any = None,
             read: tuple[dict[str, dict[str, Any]], list[str]] | None = None,
             trace: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the rules over one cycle's facts.

    `engine`: a DurableRules for `compiled` (production), or "python" for the reference
    evaluator. `read`: read_facts' result when the caller already has it (it may hold
    more paths than the rules read). Returns (result, trace); both plain dicts.
    `engine` may also be a stage session itself (run_stage / close: engine/rules/vector.py
    answers from precomputed masks); `trace=False` skips building the trace ({}).
    """
    view, problems = read if read is not None else read_facts(compiled, facts)
    view = dict(view)
    if engine == "python":
        session: Any = ReferenceSession(compiled)
        engine_name = "python"
    elif hasattr(engine, "run_stage"):
        session, engine_name = engine, "fast"
    else:
        if engine is None:
            raise ValueError("evaluate needs a DurableRules engine or engine='python'")
        session = _DurableStages(compiled, engine.session())
        engine_name = "durable_rules"
    cyc = _Cycle(compiled)
    fired: dict[str, list[Rule]] = {}
    steps: list[dict[str, Any]] = []
    try:
        # signal ---------------------------------------------------------------------
        fired["signal"] = cyc.ordered(session.run_stage("signal", view))
        cyc.common(fired["signal"])
        contributions = []
        sums = {"long": 0.0, "short": 0.0}
        for r in fired["signal"]:
            s = r.actions.get("score")
            if s:
                contributions.append({"rule": r.id, "side": s["side"], "factor": s["factor"], "weight": s["weight"]})
                sums[s["side"]] += s["weight"]
        long_, short = _r9(_clamp(sums["long"])), _r9(_clamp(sums["short"]))
        best = max(long_, short)
        score = {"long": long_, "short": short, "best": best,
                 "best_side": "long" if long_ > short else "short" if short > long_ else "none",
                 "margin": _r9(abs(long_ - short)), "warning_penalty": cyc.penalty(),
                 "warning_count": len(cyc.warnings)}
        steps.append({"step": "aggregation", "score_long": long_, "score_short": short,
                      "raw_long": _r9(sums["long"]), "raw_short": _r9(sums["short"]),
                      "contributions": contributions, "warnings": list(cyc.warnings), "score": score})
        view["score"] = score

        # candidate ------------------------------------------------------------------
        fired["candidate"] = cyc.ordered(session.run_stage("candidate", view))
        cyc.common(fired["candidate"])
        sides = []
        for r in fired["candidate"]:
            if "candidate" in r.actions:
                side = r.actions["candidate"]["side"]
                sides.append((side, r.actions["candidate"].get("reason") or f"{side}_setup", r.id))
        if cyc.vetoes:
            cand = {"side": "flat", "reason": cyc.vetoes[0]["reason"]}
        elif len({s for s, _, _ in sides}) > 1:
            cand = {"side": "flat", "reason": "conflict"}
        elif sides:
            cand = {"side": sides[0][0], "reason": sides[0][1]}
        else:
            cand = {"side": "flat", "reason": "no_setup"}
        steps.append({"step": "candidate", **cand})
        view["candidate"] = cand

        # risk -----------------------------------------------------------------------
        fired["risk"] = cyc.ordered(session.run_stage("risk", view))
        cyc.common(fired["risk"])
        checks = dict.fromkeys(L.RISK_CHECKS, True)
        check_reasons: dict[str, str] = {}
        modes_set: list[str] = []
        for r in fired["risk"]:
            a = r.actions
            if "block" in a:
                chk = a["block"]["check"]
                if checks[chk]:
                    check_reasons[chk] = a["block"].get("reason") or f"{chk.removesuffix('_ok')}_failed"
                checks[chk] = False
            if "mode" in a:
                modes_set.append(a["mode"]["set"])
        mode = min(modes_set, key=L.MODE_ORDER.index) if modes_set else L.DEFAULT_MODE
        mp = compiled.modes[mode]
        leverage_cap = int(min([mp["max_leverage"], *cyc.caps]))
        side, reason = cand["side"], cand["reason"]
        checks_ok = all(checks.values())
        if side != "flat":
            if cyc.vetoes:
                side, reason = "flat", cyc.vetoes[0]["reason"]
            elif not checks_ok:
                first = next(k for k in L.RISK_CHECKS if not checks[k])
                side, reason = "flat", check_reasons[first]
            elif mode == "risk_off":
                side, reason = "flat", "risk_off"
        error = any(v["error"] for v in cyc.vetoes)
        confidence = _r9(_clamp(best * mp["confidence_mult"] * cyc.sentiment * (1 - cyc.penalty())))
        if any(v["zero_confidence"] for v in cyc.vetoes):
            confidence = 0.0
        outcome = {"side": side, "mode": mode, "confidence": confidence,
                   "size_mult": _r9(mp["size_mult"] * cyc.size_mult), "leverage_cap": leverage_cap,
                   "checks_ok": checks_ok}
        steps.append({"step": "risk", "checks": checks, "modes_set": modes_set,
                      "sentiment_modifier": _r9(cyc.sentiment), "warning_penalty": cyc.penalty(),
                      "outcome": dict(outcome), "reason": reason})
        view["outcome"] = outcome

        # decision -------------------------------------------------------------------
        n_vetoes = len(cyc.vetoes)
        sent_before = cyc.sentiment
        fired["decision"] = cyc.ordered(session.run_stage("decision", view))
        cyc.common(fired["decision"])
        if side != "flat" and len(cyc.vetoes) > n_vetoes:
            side, reason = "flat", cyc.vetoes[n_vetoes]["reason"]
        error = any(v["error"] for v in cyc.vetoes)
        if sent_before:
            confidence = _r9(_clamp(confidence * cyc.sentiment / sent_before))
        if any(v["zero_confidence"] for v in cyc.vetoes):
            confidence = 0.0
        leverage_cap = int(min([mp["max_leverage"], *cyc.caps]))
        levels = _levels(fired)

        # manage (only while a position is open) -------------------------------------
        manage: dict[str, Any] = {}
        if view["position"].get("side") in ("long", "short") and compiled.by_stage.get("manage"):
            fired["manage"] = cyc.ordered(session.run_stage("manage", view))
            manage = _manage(fired["manage"])
            steps.append({"step": "manage", **manage})
        result = {"action": side, "reason": reason, "risk_mode": mode, "confidence": confidence,
                  "score_long": long_, "score_short": short, "risk_checks": checks,
                  "size_mult": _r9(mp["size_mult"] * cyc.size_mult), "leverage_cap": leverage_cap,
                  "flags": sorted(cyc.flags), "error": error, "warnings": cyc.warnings,
                  "vetoes": cyc.vetoes,
                  "fired": {s: [r.id for r in rs] for s, rs in fired.items()}}
        if levels:
            result["levels"] = levels
        if manage:
            result["manage"] = manage
    finally:
        session.close()
    if not trace:
        return result, {}
    return result, _trace(compiled, facts, view, problems, fired, steps, result, engine_name)


def _levels(fired: Mapping[str, list[Rule]]) -> dict[str, Any]:
    """The entry levels the fired entry rules set: per group (stop, tp1, tp2) the first rule
    in file order that sets it wins, whatever order durable_rules fired them in."""
    rules = sorted((r for st in L.ENTRY_STAGES for r in fired.get(st, ()) if "levels" in r.actions), key=_order)
    out: dict[str, Any] = {}
    for group in L.ONE_OF["levels"]:
        for r in rules:
            params = r.actions["levels"]
            key = next((k for k in group if k in params), None)
            if key is not None:
                out[key] = params[key]
                if key == "stop_atr":
                    out["atr_timeframe"] = params.get("atr_timeframe", "tf_5m")
                out.setdefault("rules", []).append(r.id)
                break
    if "rules" in out:
        out["rules"] = sorted(set(out["rules"]), key=out["rules"].index)
    return out


def _manage(rules: list[Rule]) -> dict[str, Any]:
    """What the manage stage asks of the open position (rules in file order): the first
    close; else the largest reduce; every stop and target move (the execution side keeps
    the tightest stop and the nearest target, priced from the facts)."""
    out: dict[str, Any] = {}
    for r in rules:
        a = r.actions
        if "close" in a and "close" not in out:
            out["close"] = {"rule": r.id, "reason": a["close"]["reason"]}
        if "reduce" in a and a["reduce"]["fraction"] > out.get("reduce", {}).get("fraction", 0):
            out["reduce"] = {"rule": r.id, **a["reduce"]}
        if "stop" in a:
            out.setdefault("stops", []).append({"rule": r.id, **a["stop"]})
        if "target" in a:
            out.setdefault("targets", []).append({"rule": r.id, **a["target"]})
    if "close" in out:
        out.pop("reduce", None)        # closing the whole position makes a reduce moot
    return out


# Actions that decide or block an outcome, in the order a rule's effect is named by; the
# others (multiplier, cap, flag, levels, stop, target) shape a trade but decide none.
_DECIDING = ("veto", "block", "candidate", "score", "mode", "warning", "close", "reduce")


def rule_effect(actions: Mapping[str, Mapping[str, Any]]) -> str | None:
    """'veto both_sides_weak', 'block daily_dd_ok', 'candidate long', 'score long +0.10',
    'mode risk_off', 'warning etf_stale', 'close time_stop'; None for a rule that only shapes."""
    for name in _DECIDING:
        a = actions.get(name)
        if a is None:
            continue
        if name == "score":
            return f"score {a.get('side')} {float(a.get('weight') or 0):+.2f}"
        detail = {"veto": "reason", "block": "check", "candidate": "side", "mode": "set", "warning": "code",
                  "close": "reason", "reduce": "reason"}[name]
        return f"{name} {a.get(detail)}" if a.get(detail) is not None else name
    return None


def _trace(compiled: CompiledRules, facts: Mapping[str, Any], view: dict[str, dict[str, Any]],
           problems: list[str], fired: dict[str, list[Rule]], steps: list[dict[str, Any]],
           result: dict[str, Any], engine_name: str) -> dict[str, Any]:
    fired_ids = set()
    stages_out: list[dict[str, Any]] = []
    disagreements: list[dict[str, Any]] = []
    by_step = {s["step"]: s for s in steps}
    for stage in L.STAGES:
        if stage == "manage" and "manage" not in fired:
            continue                   # no position open (or no manage rules): the stage did not run
        entries = []
        for r in fired.get(stage, ()):
            fired_ids.add(r.id)
            conds = []
            for c in r.conditions:
                v = view[c.fact].get(c.path)
                conds.append((c.label, v))
                if not c.test(v):
                    disagreements.append({"rule": r.id, "condition": c.label, "value": v,
                                          "problem": "fired although this condition is false"})
            entries.append({"rule": r.id, "why": r.why, "conditions": conds, "asserted": r.actions})
        stages_out.append({"stage": stage, "fired": entries})
        step = _STEP_AFTER.get(stage)
        if step in by_step:
            stages_out.append(by_step[step])
    not_fired: list[tuple[str, str | None, Any]] = []
    effects: dict[str, str] = {}
    for r, checks in compiled.checks:
        if r.id in fired_ids:
            continue
        effect = rule_effect(r.actions)
        if effect:
            effects[r.id] = effect
        if r.stage == "manage" and "manage" not in fired:
            not_fired.append((r.id, "a position is open (stage manage runs only then)", view["position"].get("side")))
            continue
        for fact, path, test, label in checks:
            v = view[fact].get(path)
            if not test(v):
                not_fired.append((r.id, label, v))
                break
        else:
            disagreements.append({"rule": r.id, "problem": "all conditions hold but it did not fire"})
            not_fired.append((r.id, None, None))
    return {
        "ruleset": {"name": compiled.name, "version": compiled.version,
                    "config_values": compiled.config_values},
        "engine": engine_name,
        "facts": {f: facts.get(f) for f in facts_of(compiled)},
        "input_problems": problems,
        "stages": stages_out,
        # (rule id, first failing condition, the value it saw): the "why not".
        "not_fired": not_fired,
        # what each rule that did not fire would have done (deciding actions only): the
        # summary's nearest misses cover every family that decides or blocks
        "not_fired_effects": effects,
        "disagreements": disagreements,
        "result": {k: v for k, v in result.items() if k != "fired"},
        **_declared_trace(compiled, facts),
    }


def _declared_trace(compiled: CompiledRules, facts: Mapping[str, Any]) -> dict[str, Any]:
    """Each declared indicator and expression with the value this cycle saw (none: nothing)."""
    d = compiled.declared
    if d.empty:
        return {}
    ind = facts.get("indicators") or {}
    ex = facts.get("expressions") or {}

    def value(field: str) -> Any:
        name, _, sub = field.partition(".")
        v = ind.get(name) if isinstance(ind, Mapping) else None
        return (v.get(sub) if isinstance(v, Mapping) else None) if sub else v
    return {"indicators": [{"name": f, "function": s.function, "timeframe": s.timeframe, "params": dict(s.params),
                            "inputs": dict(s.inputs), "value": value(f)} for s in d.indicators for f in s.fields],
            "expressions": [{"name": e.name, "expression": e.text, "type": e.type,
                             "value": ex.get(e.name) if isinstance(ex, Mapping) else None}
                            for e in d.expressions]}


_STEP_AFTER = {"signal": "aggregation", "candidate": "candidate", "risk": "risk", "manage": "manage"}
