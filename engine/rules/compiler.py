"""Rule files (YAML) -> a validated, compiled ruleset.

Everything is checked here, before durable_rules sees anything: YAML syntax, keys,
stages, fact paths against engine/facts.py, literal types against each path's type,
operators, config references, duplicate ids, rules that can never fire. Each problem
is reported as `file:line:col: what is wrong (expected ...)`; all problems of all
files are collected, not just the first. Pure: texts and config in, ruleset out.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine import facts as F
from engine import yaml_bounded
from engine.rules import language as L
from engine.rules.conditions import Condition, holds
from engine.rules.declarations import FACTS as DECLARED_FACTS
from engine.rules.declarations import Declared, collect


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class RulesRefused(Exception):
    """The rule files are invalid; nothing was compiled. `problems` lists every one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("rules refused:\n  " + "\n  ".join(map(str, problems)))


@dataclass(frozen=True)
class Rule:
    id: str
    stage: str
    conditions: tuple[Condition, ...]
    actions: Mapping[str, Mapping[str, Any]]
    why: str
    where: str
    order: int                     # position across all files: the trace order within a stage


@dataclass
class CompiledRules:
    name: str
    version: str                   # content hash of the rule files
    rules: tuple[Rule, ...]
    files: dict[str, str]          # relative file name -> YAML text
    config_values: dict[str, Any]  # every ${...} used, with its value at compile time
    modes: dict[str, dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)  # sizing parameters from config risk:
    by_stage: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)  # fact -> paths rules read
    # stage -> fact -> paths that stage's rules read (the content of the stage's fact)
    stage_paths: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    by_id: dict[str, Rule] = field(default_factory=dict)
    # per rule: its conditions as (fact, path, test, label) — what every trace walks
    checks: tuple[tuple[Rule, tuple[tuple[str, str, Any, str], ...]], ...] = ()
    # indicators, expressions and cycle the files declare (engine/rules/declarations.py)
    declared: Declared = field(default_factory=Declared)
    warnings: list[Problem] = field(default_factory=list)   # accepted, but worth a look (unused declarations)

    def __post_init__(self) -> None:
        self.by_stage = {s: tuple(r for r in self.rules if r.stage == s) for s in L.STAGES}
        self.by_id = {r.id: r for r in self.rules}
        self.checks = tuple((r, tuple((c.fact, c.path, c.test, c.label) for c in r.conditions)) for r in self.rules)
        used: dict[str, set[str]] = {}
        per_stage: dict[str, dict[str, set[str]]] = {s: {} for s in L.STAGES}
        for r in self.rules:
            for c in r.conditions:
                used.setdefault(c.fact, set()).add(c.path)
                per_stage[r.stage].setdefault(c.fact, set()).add(c.path)
        self.paths = {k: tuple(sorted(v)) for k, v in sorted(used.items())}
        self.stage_paths = {s: {f: tuple(sorted(p)) for f, p in sorted(d.items())} for s, d in per_stage.items()}

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def content_hash(files: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


_LEAVES: dict[str, dict[str, Any]] = {f: F.leaf_types(s) for f, s in L.FACT_SCHEMAS.items()}
_GROUPS: dict[str, set[str]] = {
    f: {".".join(p.split(".")[:i]) for p in leaves for i in range(1, p.count(".") + 1)}
    for f, leaves in _LEAVES.items()
}
_MISSING = object()
SETTINGS_KEYS = ("symbol", "risk.risk_percent", "risk.sl_atr_k", "risk.tp1_r", "risk.tp2_r", "risk.entry_zone_atr",
                 "risk.sl_structure")
SETTINGS_DEFAULTS = {"symbol": "BTCUSDT", "risk.entry_zone_atr": 0.25, "risk.sl_structure": True}
MAX_FIELDS_PER_STAGE = 240     # durable_rules: 255 flattened properties per fact, minus ours
# Compiling a whole set may take this much CPU time (this thread's) before it is refused:
# the shipped set takes ~0.3 s; parsing is bounded per file by engine/yaml_bounded.py.
COMPILE_BUDGET_S = 3.0
MAX_MESSAGE = 300              # a problem quotes at most this much of the file
MAX_PROBLEMS = 100             # listed per refusal (each one travels to logs, pages, Telegram)


def _cfg_get(config: Any, dotted: str) -> Any:
    if hasattr(config, "values"):
        config = config.values
    node = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _plain(v: Any) -> Any:
    """ruamel scalar subclasses -> plain Python values."""
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    return v


def _hint(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@functools.lru_cache(maxsize=64)
def parse_yaml(text: str) -> Any:
    """Round-trip parse (keeps line/column), cached by content: a reload re-parses only the
    files that changed (ruamel's pure-Python parser costs ~100 ms per large file).
    Bounded (size, depth, aliases, expanded nodes: engine/yaml_bounded.py) before anything
    walks the result. Callers must not mutate the result."""
    return yaml_bounded.load(text, "rt")


class _FileCompiler:
    def __init__(self, name: str, config: Any, problems: list[Problem], refs: dict[str, Any],
                 deadline: float = math.inf):
        self.name = name
        self.config = config
        self.problems = problems
        self.refs = refs
        self.deadline = deadline
        self.leaves: dict[str, dict[str, Any]] = _LEAVES
        self.groups: dict[str, set[str]] = _GROUPS
        self.refused: frozenset[str] = frozenset()

    def declare(self, declared: Declared) -> None:
        """Make the declared indicators and expressions readable as facts."""
        self.leaves = {**_LEAVES, **declared.leaves}
        self.refused = declared.refused
        self.groups = {**_GROUPS, **{f: {p.split(".")[0] for p in leaves if "." in p}
                                      for f, leaves in declared.leaves.items()}}

    # -- positions -------------------------------------------------------------------
    def err(self, pos: tuple[int, int], msg: str) -> None:
        if len(msg) > MAX_MESSAGE:
            msg = msg[:MAX_MESSAGE - 1] + "…"
        self.problems.append(Problem(self.name, pos[0], pos[1], msg))

    @staticmethod
    def key_pos(m: Any, k: Any, default: tuple[int, int]) -> tuple[int, int]:
        try:
            line, col = m.lc.key(k)
            return line + 1, col + 1
        except Exception:
            return default

    @staticmethod
    def val_pos(m: Any, k: Any, default: tuple[int, int]) -> tuple[int, int]:
        try:
            line, col = m.lc.value(k)
            return line + 1, col + 1
        except Exception:
            return default

    @staticmethod
    def item_pos(s: Any, i: int, default: tuple[int, int]) -> tuple[int, int]:
        try:
            line, col = s.lc.item(i)
            return line + 1, col + 1
        except Exception:
            return default

    @staticmethod
    def node_pos(n: Any, default: tuple[int, int]) -> tuple[int, int]:
        try:
            return n.lc.line + 1, n.lc.col + 1
        except Exception:
            return default

    def where(self, pos: tuple[int, int]) -> str:
        return f"{self.name}:{pos[0]}:{pos[1]}"

    # -- values ----------------------------------------------------------------------
    def number(self, raw: Any, pos: tuple[int, int], what: str, integer: bool = False,
               lo: float | None = None, hi: float | None = None) -> Any:
        """A number literal or a ${config.path} reference; returns _MISSING when invalid."""
        expected = "an integer" if integer else "a number"
        value = raw
        if isinstance(raw, str):
            m = L.REF_RE.match(raw.strip())
            if not m:
                if raw.strip().startswith("${") or "${" in raw:
                    self.err(pos, f"{what}: {_excerpt(raw)} is not a valid config reference "
                                  "(expected ${section.key}, e.g. ${risk.max_funding_8h})")
                else:
                    self.err(pos, f"{what}: got the text {_excerpt(raw)} (expected {expected} or a "
                                  "config reference like ${risk.max_funding_8h})")
                return _MISSING
            neg, dotted = m.group(1), m.group(2)
            value = _cfg_get(self.config, dotted)
            if value is _MISSING:
                top = dotted.split(".")[0]
                section = _cfg_get(self.config, top)
                keys = list(section) if isinstance(section, Mapping) else []
                hint = _hint(dotted.split(".")[-1], keys)
                self.err(pos, f"{what}: ${{{dotted}}} is not a configuration value{hint} "
                              "(expected a key of config/config.yaml)")
                return _MISSING
            if not _is_number(value):
                self.err(pos, f"{what}: ${{{dotted}}} is {_show(value)}, not a number "
                              f"(expected a config value that is {expected})")
                return _MISSING
            self.refs[dotted] = value
            value = -value if neg else value
        elif not _is_number(raw):
            self.err(pos, f"{what}: got {_show(raw)} (expected {expected})")
            return _MISSING
        value = _plain(value)
        if isinstance(value, float) and not math.isfinite(value):
            self.err(pos, f"{what}: {value} is not a finite number (expected {expected})")
            return _MISSING
        if integer and not isinstance(value, int):
            self.err(pos, f"{what}: got {value!r} (expected {expected})")
            return _MISSING
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.err(pos, f"{what}: {value!r} is out of range (expected {expected} in [{lo}, {hi}])")
            return _MISSING
        return value

    def literal(self, raw: Any, type_code: Any, pos: tuple[int, int], what: str) -> Any:
        if type_code in ("number", "integer"):
            return self.number(raw, pos, what, integer=type_code == "integer")
        if isinstance(raw, CommentedMap | CommentedSeq | list | dict) or raw is None:
            self.err(pos, f"{what}: got {_show(raw)} (expected {L.describe_type(type_code)})")
            return _MISSING
        if type_code == "boolean":
            if not isinstance(raw, bool):
                self.err(pos, f"{what}: got {_show(raw)} (expected true or false)")
                return _MISSING
            return bool(raw)
        if not isinstance(raw, str):
            self.err(pos, f"{what}: got {_show(raw)} (expected {L.describe_type(type_code)})")
            return _MISSING
        if isinstance(type_code, tuple) and raw not in type_code:
            self.err(pos, f"{what}: {_excerpt(raw)} is not a possible value{_hint(raw, type_code)} "
                          f"(expected one of {', '.join(type_code)})")
            return _MISSING
        return str(raw)

    # -- file ------------------------------------------------------------------------
    def load(self, text: str) -> CommentedMap | None:
        """Parse the file and check its top level; None when it cannot be read at all."""
        try:
            doc = parse_yaml(text)
        except yaml_bounded.YamlTooComplex as exc:
            mark = exc.problem_mark
            self.err((mark.line + 1, mark.column + 1) if mark else (1, 1), yaml_bounded.describe(exc)
                     + " (expected a plain rule file: see README, Rules)")
            return None
        except RecursionError:   # a limit above should have caught it first: still a refusal
            self.err((1, 1), "not valid YAML: nested too deeply (expected a plain rule file)")
            return None
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            what = exc.problem or exc.context or "syntax error"
            if "duplicate key" in str(what) or type(exc).__name__ == "DuplicateKeyError":
                what = "a key appears twice in the same mapping"
            self.err(pos, f"not valid YAML: {what} (expected well-formed YAML, indented with spaces)")
            return None
        except YAMLError as exc:
            self.err((1, 1), f"not valid YAML: {exc} (expected well-formed YAML)")
            return None
        if doc is None:
            self.err((1, 1), "the file is empty (expected `ruleset:` and a `rules:` list)")
            return None
        if not isinstance(doc, CommentedMap):
            self.err((1, 1), f"the top level is {_show(doc)} (expected a mapping with `ruleset:` and `rules:`)")
            return None
        self.no_tags(doc, (1, 1))
        for k in doc:
            if k not in L.FILE_KEYS:
                self.err(self.key_pos(doc, k, (1, 1)),
                         f"unknown top-level key {_q(k)}{_hint(str(k), L.FILE_KEYS)} (expected one of {', '.join(L.FILE_KEYS)})")
        return doc

    def compile(self, doc: CommentedMap, rules_out: list[tuple[Rule, tuple[int, int]]]) -> str | None:
        name = doc.get("ruleset")
        if name is None:
            self.err((1, 1), "missing `ruleset:` (expected the ruleset name, e.g. ruleset: btc_default)")
        elif not isinstance(name, str) or len(name) > L.MAX_ID_LENGTH or not L.NAME_RE.fullmatch(name):
            self.err(self.val_pos(doc, "ruleset", (1, 1)),
                     f"ruleset name {_q(name)} is not valid (expected lowercase letters, digits and _)")
            name = None
        rules = doc.get("rules")
        if "rules" not in doc:
            self.err((1, 1), "missing `rules:` (expected a list of rules)")
        elif not isinstance(rules, CommentedSeq) or not rules:
            self.err(self.val_pos(doc, "rules", self.key_pos(doc, "rules", (1, 1))),
                     f"`rules:` is {_show(rules)} (expected a non-empty list of rules, each starting with `- id:`)")
        else:
            for i, raw in enumerate(rules):
                pos = self.item_pos(rules, i, (1, 1))
                if time.thread_time() > self.deadline:
                    self.err(pos, f"compiling took more than {COMPILE_BUDGET_S:g} s of CPU; stopped at rule "
                                  f"#{i + 1} (expected a smaller rule set)")
                    break
                rule = self.rule(raw, pos, i)
                if rule is not None:
                    rules_out.append((rule, self.val_pos(raw, "id", pos)))
        return str(name) if name else None

    def no_tags(self, node: Any, pos: tuple[int, int]) -> None:
        """YAML tags (`!!python/object`, `!foo`) could smuggle types in: refuse them."""
        tag = getattr(node, "tag", None)
        tag_value = getattr(tag, "value", tag) if tag is not None else None
        if tag_value and not str(tag_value).startswith("tag:yaml.org,2002:"):
            self.err(pos, f"YAML tag {_q(str(tag_value))} is not allowed (rule files are plain data)")
        if isinstance(node, CommentedMap):
            for k, v in node.items():
                self.no_tags(v, self.val_pos(node, k, pos))
        elif isinstance(node, CommentedSeq):
            for i, v in enumerate(node):
                self.no_tags(v, self.item_pos(node, i, pos))

    # -- rule ------------------------------------------------------------------------
    def rule(self, raw: Any, pos: tuple[int, int], index: int) -> Rule | None:
        if not isinstance(raw, CommentedMap):
            self.err(pos, f"rule #{index + 1} is {_show(raw)} (expected a mapping with id, stage, when, then, why)")
            return None
        ok = True
        for k in raw:
            if k not in L.RULE_KEYS:
                self.err(self.key_pos(raw, k, pos),
                         f"unknown rule key {_q(k)}{_hint(str(k), L.RULE_KEYS)} (expected one of {', '.join(L.RULE_KEYS)})")
                ok = False
        for k in L.RULE_KEYS:
            if k not in raw:
                self.err(pos, f"rule #{index + 1}{_label(raw)} has no `{k}:` (expected {_RULE_KEY_HELP[k]})")
                ok = False
        rid = raw.get("id")
        if "id" in raw and isinstance(rid, str) and len(rid) > L.MAX_ID_LENGTH:
            self.err(self.val_pos(raw, "id", pos),
                     f"rule id of {len(rid)} characters is too long (expected at most {L.MAX_ID_LENGTH})")
            ok = False
        elif "id" in raw and (not isinstance(rid, str) or not L.ID_RE.fullmatch(rid)):
            self.err(self.val_pos(raw, "id", pos),
                     f"rule id {_q(rid)} is not valid (expected lowercase words joined by . or _, e.g. long.structure_up)")
            ok = False
        stage = raw.get("stage")
        if "stage" in raw and stage not in L.STAGES:
            self.err(self.val_pos(raw, "stage", pos),
                     f"unknown stage {_q(stage)}{_hint(str(stage), L.STAGES)} (expected one of {', '.join(L.STAGES)}, which run in that order)")
            ok = False
            stage = None
        why = raw.get("why")
        if "why" in raw and (not isinstance(why, str) or not why.strip()):
            self.err(self.val_pos(raw, "why", pos), f"`why:` is {_show(why)} (expected a sentence explaining the rule)")
            ok = False
        elif "why" in raw and len(why.strip()) > L.MAX_WHY_LENGTH:
            self.err(self.val_pos(raw, "why", pos), f"`why:` has {len(why.strip())} characters "
                                                    f"(expected a sentence of at most {L.MAX_WHY_LENGTH})")
            ok = False
        conds = self.when(raw, pos, stage) if "when" in raw else None
        actions = self.then(raw, pos, stage) if "then" in raw else None
        if not ok or conds is None or actions is None or stage is None:
            return None
        rule = Rule(id=str(rid), stage=str(stage), conditions=tuple(conds), actions=actions,
                    why=str(why).strip(), where=self.where(pos), order=0)
        self.satisfiable(rule, raw, pos)
        return rule

    def when(self, raw: CommentedMap, pos: tuple[int, int], stage: str | None) -> list[Condition] | None:
        when = raw["when"]
        wpos = self.val_pos(raw, "when", pos)
        facts_allowed = [*L.FACT_SCHEMAS, *DECLARED_FACTS]
        if not isinstance(when, CommentedMap) or not when:
            self.err(wpos, f"`when:` is {_show(when)} (expected a mapping of facts ({', '.join(facts_allowed)}) to conditions)")
            return None
        out: list[Condition] = []
        ok = True
        for fact, conds in when.items():
            fpos = self.key_pos(when, fact, wpos)
            if fact not in L.FACT_SCHEMAS and fact not in DECLARED_FACTS:
                self.err(fpos, f"unknown fact {_q(fact)}{_hint(str(fact), facts_allowed)} (expected one of {', '.join(facts_allowed)})")
                ok = False
                continue
            first = L.fact_first_stage(fact) if fact in L.FACT_SCHEMAS else L.STAGES[0]
            if stage is not None and L.STAGES.index(first) > L.STAGES.index(stage):
                self.err(fpos, f"`{fact}` does not exist yet in stage {stage}: it is decided before stage {first}, "
                               f"so this rule could never fire (expected stage {first} or later)")
                ok = False
                continue
            cpos = self.val_pos(when, fact, fpos)
            if not isinstance(conds, CommentedMap) or not conds:
                self.err(cpos, f"conditions on {fact} are {_show(conds)} (expected a mapping of field path to {{operator: value}}, "
                               f"e.g. {_example(fact)})")
                ok = False
                continue
            for path, opmap in conds.items():
                ppos = self.key_pos(conds, path, cpos)
                c = self.field(fact, str(path), opmap, ppos, self.val_pos(conds, path, ppos))
                if c is None:
                    ok = False
                else:
                    out.extend(c)
        return out if ok else None

    def field(self, fact: str, path: str, opmap: Any, ppos: tuple[int, int], vpos: tuple[int, int]) -> list[Condition] | None:
        leaves = self.leaves[fact]
        if path not in leaves:
            if fact in DECLARED_FACTS and path.split(".")[0] in self.refused:
                return None         # its declaration was refused, with its own position
            if fact in DECLARED_FACTS and path not in self.groups[fact]:
                kind = "indicator" if fact == "indicators" else "expression"
                known = ", ".join(leaves) or "none declared"
                self.err(ppos, f"{fact}.{path}: no {kind} {path!r} is declared{_hint(path, list(leaves))} "
                               f"(expected one declared under `{fact}:` in a rule file: {known})")
                return None
            if path in self.groups[fact]:
                subs = sorted({p[len(path) + 1:].split(".")[0] for p in leaves if p.startswith(path + ".")})
                self.err(ppos, f"{fact}.{path} is a group of fields, not a value (expected one of {path}.{', {path}.'.join(subs)})".replace("{path}", path))
            else:
                self.err(ppos, f"unknown field {fact}.{path}{_hint(path, list(leaves))} "
                               f"(expected a field of {fact} listed in engine/facts.py)")
            return None
        type_code = leaves[path]
        if not isinstance(opmap, CommentedMap) or not opmap:
            self.err(vpos, f"{fact}.{path}: got {_show(opmap)} (expected {{operator: value}}, operators: {', '.join(L.ops_for(type_code))})")
            return None
        out: list[Condition] = []
        ok = True
        for op, raw in opmap.items():
            opos = self.key_pos(opmap, op, vpos)
            valpos = self.val_pos(opmap, op, opos)
            allowed = L.ops_for(type_code)
            if op not in L.OPERATORS:
                self.err(opos, f"{fact}.{path}: unknown operator {_q(op)}{_hint(str(op), list(L.OPERATORS))} (expected one of {', '.join(allowed)})")
                ok = False
                continue
            if op not in allowed:
                self.err(opos, f"{fact}.{path}: operator {op} does not apply to {L.describe_type(type_code)} "
                               f"(expected one of {', '.join(allowed)})")
                ok = False
                continue
            what = f"{fact}.{path} {op}"
            value: Any = _MISSING
            if op in ("is_known", "is_unknown"):
                if raw is not True:
                    self.err(valpos, f"{what}: got {_show(raw)} (expected true)")
                else:
                    value = True
            elif op in ("in", "not_in"):
                if not isinstance(raw, CommentedSeq) or not raw:
                    self.err(valpos, f"{what}: got {_show(raw)} (expected a non-empty list like [a, b] of {L.describe_type(type_code)})")
                else:
                    vals = [self.literal(v, type_code, self.item_pos(raw, i, valpos), what) for i, v in enumerate(raw)]
                    if all(v is not _MISSING for v in vals):
                        value = tuple(dict.fromkeys(vals))  # duplicates would fire twice in durable_rules
            elif op == "between":
                if not isinstance(raw, CommentedSeq) or len(raw) != 2:
                    self.err(valpos, f"{what}: got {_show(raw)} (expected a list [low, high] of two numbers)")
                else:
                    lo = self.literal(raw[0], type_code, self.item_pos(raw, 0, valpos), what)
                    hi = self.literal(raw[1], type_code, self.item_pos(raw, 1, valpos), what)
                    if lo is not _MISSING and hi is not _MISSING:
                        if lo > hi:
                            self.err(valpos, f"{what}: low {lo} is above high {hi} (expected [low, high] with low <= high)")
                        else:
                            value = (lo, hi)
            else:
                value = self.literal(raw, type_code, valpos, what)
            if value is _MISSING:
                ok = False
                continue
            source = _source(raw)
            out.append(Condition(fact=fact, path=path, op=str(op), value=value, where=self.where(ppos), source=source))
        return out if ok else None

    def then(self, raw: CommentedMap, pos: tuple[int, int], stage: str | None) -> dict[str, dict[str, Any]] | None:
        then = raw["then"]
        tpos = self.val_pos(raw, "then", pos)
        if not isinstance(then, CommentedMap) or not then:
            self.err(tpos, f"`then:` is {_show(then)} (expected one or more actions: {', '.join(L.ACTIONS)})")
            return None
        out: dict[str, dict[str, Any]] = {}
        ok = True
        for action, params in then.items():
            apos = self.key_pos(then, action, tpos)
            if action not in L.ACTIONS:
                self.err(apos, f"unknown action {_q(action)}{_hint(str(action), list(L.ACTIONS))} (expected one of {', '.join(L.ACTIONS)})")
                ok = False
                continue
            stages, spec = L.ACTIONS[action]
            if stage is not None and stage not in stages:
                self.err(apos, f"action {action} means nothing in stage {stage}: it would never take effect "
                               f"(expected stage {' or '.join(stages)})")
                ok = False
                continue
            ppos = self.val_pos(then, action, apos)
            if not isinstance(params, CommentedMap):
                self.err(ppos, f"{action}: got {_show(params)} (expected a mapping with {', '.join(spec)})")
                ok = False
                continue
            vals: dict[str, Any] = {}
            for k in params:
                if k not in spec:
                    self.err(self.key_pos(params, k, ppos),
                             f"{action}: unknown parameter {_q(k)}{_hint(str(k), list(spec))} (expected {', '.join(spec)})")
                    ok = False
            for k, (required, kind) in spec.items():
                if k not in params:
                    if required:
                        self.err(ppos, f"{action}: missing `{k}` (expected {_kind_help(kind)})")
                        ok = False
                    continue
                v = self.param(params[k], kind, self.val_pos(params, k, ppos), f"{action}.{k}")
                if v is _MISSING:
                    ok = False
                else:
                    vals[k] = v
            if ok and action == "score" and vals.get("weight") == 0:
                self.err(self.val_pos(params, "weight", ppos), "score.weight: 0 changes nothing (expected a non-zero weight in [-1, 1])")
                ok = False
            if ok and action in ("multiplier", "cap") and not vals:
                self.err(ppos, f"{action}: no parameter given (expected at least one of {', '.join(spec)})")
                ok = False
            if ok and not self.one_way(str(action), vals, params, ppos):
                ok = False
            out[str(action)] = vals
        return out if ok else None

    def one_way(self, action: str, vals: dict[str, Any], params: CommentedMap, ppos: tuple[int, int]) -> bool:
        """levels / stop / target: one way per group, the companions they need, something set."""
        ok = True
        for i, group in enumerate(L.ONE_OF.get(action, ())):
            given = [k for k in group if k in vals]
            if len(given) > 1:
                self.err(self.key_pos(params, given[1], ppos),
                         f"{action}: {' and '.join(given)} both given (expected one of {', '.join(group)})")
                ok = False
            elif not given and L.ONE_REQUIRED.get(action) == i:
                self.err(ppos, f"{action}: nothing to do (expected one of {', '.join(group)})")
                ok = False
        for (act, key), needs in L.NEEDS.items():
            if act == action and key in vals and needs not in vals:
                self.err(self.key_pos(params, key, ppos), f"{action}.{key} means nothing without {needs} "
                                                          f"(expected {needs} beside it, or remove {key})")
                ok = False
        if action == "levels" and not vals:
            self.err(ppos, "levels: no parameter given (expected a stop and/or targets)")
            ok = False
        if vals.get("break_even") is False:
            self.err(self.key_pos(params, "break_even", ppos), "stop.break_even: false does nothing (expected true)")
            ok = False
        return ok

    def param(self, raw: Any, kind: Any, pos: tuple[int, int], what: str) -> Any:
        if kind == "field":
            return self.field_ref(raw, pos, what)
        if isinstance(kind, tuple) and kind and kind[0] in ("number", "integer") and len(kind) == 3:
            return self.number(raw, pos, what, integer=kind[0] == "integer", lo=kind[1], hi=kind[2])
        if kind == "name":
            if not isinstance(raw, str) or len(raw) > L.MAX_ID_LENGTH or not L.NAME_RE.fullmatch(raw):
                self.err(pos, f"{what}: got {_show(raw)} (expected a snake_case label like funding_extreme)")
                return _MISSING
            return str(raw)
        return self.literal(raw, kind, pos, what)

    def satisfiable(self, rule: Rule, raw: CommentedMap, pos: tuple[int, int]) -> None:
        """Refuse a rule whose conditions on one field contradict each other."""
        groups: dict[tuple[str, str], list[Condition]] = {}
        for c in rule.conditions:
            groups.setdefault((c.fact, c.path), []).append(c)
        for (fact, path), conds in groups.items():
            if len(conds) < 2:
                continue
            type_code = self.leaves[fact][path]
            if any(c.op == "is_unknown" for c in conds):
                ok = False
            else:
                candidates = _candidates(type_code, conds)
                ok = any(all(holds(c.op, v, c.value) for c in conds) for v in candidates)
            if not ok:
                text = " and ".join(c.text() for c in conds)
                self.problems.append(Problem(self.name, *_parse_pos(conds[0].where),
                                             f"rule {rule.id} can never fire: {text} cannot all be true "
                                             "(expected conditions on one field that can hold together)"))


    def field_ref(self, raw: Any, pos: tuple[int, int], what: str) -> Any:
        """A price level to read: a numeric snapshot field (swings.tf_5m.low, optionally
        snapshot.-prefixed) or a declared indicator / expression (indicators.bb.lowerband,
        expressions.stop_level). Returned as fact.path."""
        numbers = [p for p, t in _LEAVES["snapshot"].items() if t == "number"]
        declared = [f"{fact}.{p}" for fact in ("indicators", "expressions")
                    for p, t in self.leaves.get(fact, {}).items() if t == "number"]
        if not isinstance(raw, str):
            self.err(pos, f"{what}: got {_show(raw)} (expected a snapshot field path such as swings.tf_5m.low)")
            return _MISSING
        text = str(raw)
        fact, _, path = text.partition(".")
        if fact in ("indicators", "expressions"):
            if self.leaves.get(fact, {}).get(path) != "number":
                self.err(pos, f"{what}: {text!r} is not a declared numeric {fact[:-1]}{_hint(text, declared)} "
                              f"(expected one of {', '.join(declared) or 'none declared'})")
                return _MISSING
            return text
        path = text.removeprefix("snapshot.")
        if _LEAVES["snapshot"].get(path) != "number":
            self.err(pos, f"{what}: {text!r} is not a numeric snapshot field{_hint(path, numbers + declared)} "
                          "(expected a snapshot field path such as swings.tf_5m.low, or a declared "
                          "indicators.name / expressions.name)")
            return _MISSING
        return f"snapshot.{path}"


def _candidates(type_code: Any, conds: list[Condition]) -> list[Any]:
    """Values worth trying to see whether the conditions on one field can all hold."""
    vals: list[Any] = []
    for c in conds:
        if c.op in ("eq", "neq"):
            vals.append(c.value)
        elif c.op in ("in", "not_in", "between"):
            vals.extend(c.value)
        elif c.op in ("gt", "gte", "lt", "lte"):
            vals.append(c.value)
    if isinstance(type_code, tuple):
        return list(type_code)
    if type_code == "boolean":
        return [True, False]
    if type_code in ("number", "integer"):
        nums = sorted({float(v) for v in vals if _is_number(v)})
        out: list[Any] = list(nums)
        step = 1 if type_code == "integer" else 1e-9
        for v in nums:
            out += [v - step, v + step]
        for a, b in zip(nums, nums[1:], strict=False):
            out.append((a + b) / 2)
        if type_code == "integer":
            out = [int(math.floor(v)) for v in out] + [int(math.ceil(v)) for v in out]
        return out or [0]
    return vals + ["\0any other text"]


def _parse_pos(where: str) -> tuple[int, int]:
    parts = where.rsplit(":", 2)
    return int(parts[1]), int(parts[2])


def _source(raw: Any) -> str:
    if isinstance(raw, str) and "${" in raw:
        return raw
    if isinstance(raw, CommentedSeq) and any(isinstance(v, str) and "${" in v for v in raw):
        return "[" + ", ".join(_source(v) or repr(_plain(v)) for v in raw) + "]"
    return ""


def _show(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, CommentedMap | dict):
        return "a mapping"
    if isinstance(v, CommentedSeq | list):
        return "a list"
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, str):
        return f"the text {_excerpt(v)}"
    if _is_number(v):
        return f"the number {_plain(v)!r}"
    return type(v).__name__


def _excerpt(text: str, limit: int = 40) -> str:
    """A short quote of a value from the file: refusals go to logs, pages and Telegram."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text)} characters)"


def _q(v: Any) -> str:
    return _excerpt(str(v)) if isinstance(v, str) else _show(v)


def _label(raw: CommentedMap) -> str:
    rid = raw.get("id")
    return f" ({rid})" if isinstance(rid, str) else ""


def _example(fact: str) -> str:
    return {"snapshot": "market_structure.tf_5m: {in: [HH-HL, range]}",
            "flow": "derivatives.funding.current: {lte: ${risk.max_funding_8h}}",
            "account": "daily_pnl_pct: {lte: ${risk.daily_dd_limit_pct}}",
            "position": "side: {eq: flat}", "score": "long: {gte: 0.55}",
            "candidate": "side: {eq: long}", "outcome": "confidence: {gte: 0.7}"}.get(fact, "path: {eq: value}")


def _kind_help(kind: Any) -> str:
    if kind == "name":
        return "a snake_case label"
    if kind == "field":
        return "a snapshot field path"
    if isinstance(kind, tuple) and len(kind) == 3 and kind[0] in ("number", "integer"):
        return f"{'an integer' if kind[0] == 'integer' else 'a number'} in [{kind[1]}, {kind[2]}]"
    return L.describe_type(kind)


_RULE_KEY_HELP = {
    "id": "a unique id such as long.structure_up",
    "stage": f"one of {', '.join(L.STAGES)}",
    "when": "a mapping of facts to conditions",
    "then": f"one or more actions: {', '.join(L.ACTIONS)}",
    "why": "a sentence explaining the rule",
}


def _bounds_problems(files: Mapping[str, str]) -> list[Problem]:
    """Every file through the bounded parser first (unchanged files come from the cache)."""
    out = []
    for fname in sorted(files):
        try:
            parse_yaml(files[fname])
        except yaml_bounded.YamlTooComplex as exc:
            mark = exc.problem_mark
            out.append(Problem(fname, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1,
                               yaml_bounded.describe(exc) + " (expected a plain rule file: see README, Rules)"))
        except (YAMLError, RecursionError):
            continue     # reported with its position by the file's own compile below
    return out


def compile_texts(files: Mapping[str, str], config: Any, budget_s: float = COMPILE_BUDGET_S) -> CompiledRules:
    """Validate and compile rule files {relative name: YAML text}; raise RulesRefused.
    Refused too when it takes more than `budget_s` of CPU (no input may hold a lock long)."""
    problems: list[Problem] = []
    refs: dict[str, Any] = {}
    rules: list[tuple[Rule, tuple[int, int], str]] = []
    names: list[tuple[str, str]] = []
    if not files:
        raise RulesRefused([Problem("rules", 1, 1, "no rule files found (expected *.yaml files with `ruleset:` and `rules:`)")])
    deadline = time.thread_time() + budget_s
    bounds = _bounds_problems(files)
    if bounds:   # a bomb or an oversize file: refused before any file is walked
        raise RulesRefused(bounds)
    docs: list[tuple[_FileCompiler, CommentedMap, str]] = []
    for fname in sorted(files):
        fc = _FileCompiler(fname, config, problems, refs, deadline)
        doc = fc.load(files[fname])
        if doc is not None:
            docs.append((fc, doc, files[fname]))
    declared = collect(docs, lambda f, raw, pos, what: f.number(raw, pos, what))
    for fc, doc, _ in docs:
        fc.declare(declared)
        out: list[tuple[Rule, tuple[int, int]]] = []
        name = fc.compile(doc, out)
        if name:
            names.append((fc.name, name))
        rules.extend((r, p, fc.name) for r, p in out)
    if names:
        first_file, first = names[0]
        for fname, name in names[1:]:
            if name != first:
                problems.append(Problem(fname, 1, 1, f"ruleset {name!r} differs from {first!r} in {first_file} "
                                                     "(expected one ruleset name across the rule files)"))
    if len(rules) > L.MAX_RULES:
        rule, pos, fname = rules[L.MAX_RULES]
        problems.append(Problem(fname, pos[0], pos[1], f"{len(rules)} rules (expected at most {L.MAX_RULES} "
                                                       "across the rule files)"))
    seen: dict[str, str] = {}
    for rule, pos, fname in rules:
        if rule.id in seen:
            problems.append(Problem(fname, pos[0], pos[1],
                                    f"duplicate rule id {rule.id!r}, first defined at {seen[rule.id]} "
                                    "(expected every id to be unique: traces and tests refer to it)"))
        else:
            seen[rule.id] = rule.where
    per_stage: dict[str, set[tuple[str, str]]] = {}
    for rule, _, _ in rules:
        per_stage.setdefault(rule.stage, set()).update((c.fact, c.path) for c in rule.conditions)
    for stage, used in per_stage.items():
        if len(used) > MAX_FIELDS_PER_STAGE:
            first_rule = next(r for r, _, _ in rules if r.stage == stage)
            problems.append(Problem(first_rule.where.rsplit(":", 2)[0], *_parse_pos(first_rule.where),
                                    f"stage {stage} reads {len(used)} different fields "
                                    f"(expected at most {MAX_FIELDS_PER_STAGE}: durable_rules limits a fact to 255 properties)"))
    modes = _cfg_get(config, "risk.modes")
    if not isinstance(modes, Mapping) or any(m not in modes for m in F.RISK_MODE):
        problems.append(Problem("config/config.yaml", 1, 1, "risk.modes is missing or incomplete "
                                                             f"(expected parameters for {', '.join(F.RISK_MODE)})"))
        modes = {}
    settings = {}
    for key in SETTINGS_KEYS:
        v = _cfg_get(config, key)
        if v is _MISSING and key in SETTINGS_DEFAULTS:
            v = SETTINGS_DEFAULTS[key]
        if v is _MISSING:
            problems.append(Problem("config/config.yaml", 1, 1, f"{key} is missing (expected it in config/config.yaml)"))
        settings[key.split(".")[-1]] = v
    if problems:
        problems.sort(key=lambda p: (p.file, p.line, p.col))
        if len(problems) > MAX_PROBLEMS:
            last = problems[MAX_PROBLEMS - 1]
            problems[MAX_PROBLEMS:] = [Problem(last.file, last.line, last.col,
                                               f"... and {len(problems) - MAX_PROBLEMS} more problem(s) not listed")]
        raise RulesRefused(problems)
    warnings = _unused(declared, [r for r, _, _ in rules])
    ordered = tuple(Rule(**{**r.__dict__, "order": i}) for i, (r, _, _) in enumerate(rules))
    return CompiledRules(name=names[0][1], version=content_hash(files), rules=ordered, files=dict(files),
                         config_values=dict(sorted(refs.items())),
                         modes={m: dict(modes[m]) for m in F.RISK_MODE}, settings=settings,
                         declared=declared, warnings=warnings)


def _unused(declared: Declared, rules: list[Rule]) -> list[Problem]:
    """Declared indicators and expressions that no rule and no expression reads."""
    from engine.rules.expressions import references
    read = {(c.fact, c.path) for r in rules for c in r.conditions}
    for r in rules:                    # a level an action reads (levels / stop / target: fact.path)
        for params in r.actions.values():
            for k, v in params.items():
                if isinstance(v, str) and (k == "field" or k.endswith("_field")):
                    read.add(tuple(v.split(".", 1)))  # type: ignore[arg-type]
    by_expr = set().union(*(references(e.node) for e in declared.expressions)) if declared.expressions else set()
    out = []
    for s in declared.indicators:
        if not any(("indicators", f) in read or f in by_expr for f in s.fields):
            out.append(Problem(*_split_where(s.where), f"indicator {s.name} is declared but no rule or expression "
                                                       "reads it (computed every cycle for nothing)"))
    for e in declared.expressions:
        if ("expressions", e.name) not in read and e.name not in by_expr:
            out.append(Problem(*_split_where(e.where), f"expression {e.name} is declared but no rule reads it"))
    return out


def _split_where(where: str) -> tuple[str, int, int]:
    f, line, col = where.rsplit(":", 2)
    return f, int(line), int(col)
