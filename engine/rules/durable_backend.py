"""The compiled rules on durable_rules 2.0.28, used in its safe subset (spec/RULES.md).

- No joins at all: each stage asserts ONE fact holding every value that stage's rules
  read (`{"_f": "risk", "snapshot": {...}, "candidate": {...}}`), and every rule is a
  single condition on it: constants only, `_f` naming the stage. Cross-fact joins are
  unsafe in this version, and even type-only joins cost ~5 µs per rule per fact.
  (A fact holds at most 255 flattened properties: the compiler checks each stage.)
- A sentinel rule fires on every cycle (on the signal-stage fact): deleting the state
  of a session where nothing fired crashes the process on a fresh ruleset.
- One session (unique sid) per cycle, `delete_state` afterwards.
- JSON is written here, never by durable_rules: numbers without exponent form.
- A Host subclass without the timer threads; a new Host per ruleset version, its C
  ruleset freed with `delete_ruleset` when the version is retired.
- Actions run in a lean loop of our own: they only record the rule id. Any failure is
  raised as RuleEngineError naming the rule, never swallowed.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import durable_rules_engine as dre
from durable.engine import Host, Ruleset

from engine.rules.compiler import CompiledRules, Problem, Rule, RulesRefused
from engine.rules.conditions import Condition

SENTINEL = "__sentinel"
_EXP = re.compile(r"\d[eE][-+]?\d")
_names = itertools.count(1)


class RuleEngineError(RuntimeError):
    """durable_rules failed during a cycle (an action error, a bad fact, an engine code)."""


# -- JSON without exponents ---------------------------------------------------------------
def _num(x: float) -> str:
    r = repr(x)
    if "e" in r or "E" in r:
        r = format(Decimal(r), "f")
    return r


def dumps(obj: Any) -> str:
    """JSON for durable_rules: plain decimal numbers, no NaN/inf."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if not _EXP.search(text):
        return text
    return _slow_dumps(obj)


def _slow_dumps(obj: Any) -> str:
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + _slow_dumps(v) for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_slow_dumps(v) for v in obj) + "]"
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"non-finite number {obj!r}")
        return _num(obj)
    return json.dumps(obj, ensure_ascii=False)


# -- conditions -> durable_rules JSON ----------------------------------------------------
def condition_json(c: Condition) -> list[dict[str, Any]]:
    p, v = f"{c.fact}.{c.path}", c.value
    if c.op == "eq":
        return [{p: v}]
    if c.op == "neq":
        return [{"$neq": {p: v}}]           # `$ne` would be read as a property name
    if c.op == "in":
        return [{p: v[0]}] if len(v) == 1 else [{"$or": [{p: x} for x in v]}]
    if c.op == "not_in":
        return [{"$neq": {p: x}} for x in v]
    if c.op in ("gt", "gte", "lt", "lte"):
        return [{"$" + c.op: {p: v}}]
    if c.op == "between":
        return [{"$gte": {p: v[0]}}, {"$lte": {p: v[1]}}]
    if c.op == "is_known":
        return [{"$ex": {p: 1}}]
    if c.op == "is_unknown":
        return [{"$nex": {p: 1}}]
    raise ValueError(f"unknown operator {c.op!r}")


def rule_json(rule: Rule) -> dict[str, Any]:
    conds: list[dict[str, Any]] = [{"_f": rule.stage}]
    for c in rule.conditions:
        conds.extend(condition_json(c))
    return {"all": [{"m": {"$and": conds}}]}


def ruleset_json(rules: Iterable[Rule], with_sentinel: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if with_sentinel:
        out[SENTINEL] = {"all": [{"m": {"_f": "signal"}}]}
    for r in rules:
        out[r.id] = rule_json(r)
    return out


# -- Host and ruleset --------------------------------------------------------------------
class QuietHost(Host):
    """durable_rules Host without the self-rescheduling timer threads (which would run
    actions on another thread about a second later)."""

    def _run(self) -> None:
        self._d_timer = None
        self._t_timer = None


class _CompiledRuleset(Ruleset):
    """A durable_rules Ruleset whose C side gets our JSON (no exponents) and no actions:
    the runtime reads which rules fired from the action queue directly."""

    def __init__(self, name: str, host: Host, definition_json: str):
        self._actions: dict[str, Any] = {}
        self._name = name
        self._host = host
        self._definition = json.loads(definition_json)
        self._handle = dre.create_ruleset(name, definition_json)


def _create(name: str, definition: dict[str, Any]) -> int:
    return dre.create_ruleset(name, dumps(definition))


def _locate_failure(compiled: CompiledRules, exc: Exception) -> list[Problem]:
    """durable_rules reports bare numeric codes: find the rule(s) that cause them."""
    problems = []
    for r in compiled.rules:
        try:
            h = _create(f"probe_{next(_names)}", ruleset_json([r]))
        except Exception as one:
            file, line, col = r.where.rsplit(":", 2)
            problems.append(Problem(file, int(line), int(col),
                                    f"rule {r.id}: durable_rules refused it ({one}) (expected conditions it accepts)"))
        else:
            dre.delete_ruleset(h)
    return problems or [Problem("rules", 1, 1, f"durable_rules refused the ruleset: {exc}")]


class DurableRules:
    """One compiled version on its own Host. Thread-safe: cycles are serialised."""

    def __init__(self, compiled: CompiledRules):
        self.compiled = compiled
        self.name = f"{compiled.name}_{compiled.version}_{next(_names)}"
        text = dumps(ruleset_json(compiled.rules))
        self.host = QuietHost()
        try:
            self.ruleset = _CompiledRuleset(self.name, self.host, text)
        except Exception as exc:
            raise RulesRefused(_locate_failure(compiled, exc)) from exc
        self.host._ruleset_directory[self.name] = self.ruleset
        self.host._ruleset_list.append(self.ruleset)
        self.handle = self.ruleset._handle
        self.lock = threading.Lock()
        self.closed = False
        self._sids = itertools.count(1)
        self.stage_of = {r.id: r.stage for r in compiled.rules}

    def close(self) -> None:
        """Free the C ruleset (else each reload leaks ~0.6 MB). Waits for a running cycle."""
        with self.lock:
            if not self.closed:
                self.closed = True
                dre.delete_ruleset(self.handle)

    def session(self) -> DurableSession:
        return DurableSession(self)


class DurableSession:
    """One cycle: assert facts, run stages, read fired rules; always `close()`."""

    def __init__(self, engine: DurableRules):
        self.e = engine
        self.h = engine.handle
        engine.lock.acquire()
        if engine.closed:
            engine.lock.release()
            raise RuleEngineError("ruleset version already retired")
        self.sid = str(next(engine._sids))
        self.fired: list[str] = []
        self.stage_fired: dict[str, list[str]] = {}

    def assert_fact(self, stage: str, doc: dict[str, Any]) -> None:
        doc["_f"] = stage
        doc["id"] = stage               # explicit identity: one fact per stage per cycle
        doc["sid"] = self.sid
        try:
            result = dre.assert_fact(self.h, dumps(doc))
        except Exception as exc:
            raise RuleEngineError(f"durable_rules refused the {stage} fact: {exc}") from exc
        if result[0] == 1:              # matched no rule: nothing fires in this stage
            return
        if result[0] == 2:
            raise RuleEngineError(f"{stage} fact asserted twice in one cycle")
        self._run_actions(result[1])

    def _run_actions(self, state_handle: int) -> None:
        res = dre.start_action_for_state(self.h, state_handle)
        msg = res[1] if res else None
        while msg:
            name = msg[2:msg.index('"', 2)]
            try:
                if name != SENTINEL:
                    self.fired.append(name)
                msg = dre.complete_and_start_action(self.h, state_handle)
            except Exception as exc:
                dre.abandon_action(self.h, state_handle)
                raise RuleEngineError(f"rule {name}: action failed: {exc}") from exc

    def assert_json(self, stage: str, fields_json: str) -> None:
        """Like assert_fact, with the fact's fields already encoded (`"k":v,...`, no braces)."""
        head = f'{{"_f":"{stage}","id":"{stage}","sid":"{self.sid}"'
        text = head + ("," + fields_json if fields_json else "") + "}"
        try:
            result = dre.assert_fact(self.h, text)
        except Exception as exc:
            raise RuleEngineError(f"durable_rules refused the {stage} fact: {exc}") from exc
        if result[0] == 1:
            return
        if result[0] == 2:
            raise RuleEngineError(f"{stage} fact asserted twice in one cycle")
        self._run_actions(result[1])

    def run_stage_json(self, stage: str, fields_json: str) -> list[str]:
        start = len(self.fired)
        self.assert_json(stage, fields_json)
        return self._fired_since(start, stage)

    def run_stage(self, stage: str, doc: dict[str, Any]) -> list[str]:
        """Assert the stage's fact (the values its rules read); return the rules fired."""
        start = len(self.fired)
        self.assert_fact(stage, doc)
        return self._fired_since(start, stage)

    def _fired_since(self, start: int, stage: str) -> list[str]:
        new = list(dict.fromkeys(self.fired[start:]))   # `$or` branches may fire a rule twice
        wrong = [r for r in new if self.e.stage_of.get(r) != stage]
        if wrong:
            raise RuleEngineError(f"rules {wrong} fired outside their stage {stage}")
        return new

    def close(self) -> None:
        try:
            state = dre.get_state(self.h, self.sid)
            dre.delete_state(self.h, self.sid)
            if '"exception"' in state:
                raise RuleEngineError(f"durable_rules recorded an action exception: {state}")
        finally:
            self.e.lock.release()
