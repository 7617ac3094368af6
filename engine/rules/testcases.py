"""Rule test cases: YAML files under rules/tests/ ("given these facts, expect ...").

    fixtures:                      # named fact sets (any file; shared by all files)
      long_setup: {snapshot: {...}, flow: {...}, account: {...}, position: {...}}
    cases:
      - name: clean long setup
        base: long_setup           # start from a fixture (optional)
        set:                       # then change leaves by dotted path (null = unknown)
          flow.derivatives.funding.current: 0.001
        expect:
          action: long             # a decision field: a value (equal) or {op: value}
          confidence: {gte: 0.6}
          risk_checks.daily_dd_ok: true
          fired: [long.structure]  # these rules fired
          not_fired: [flat.weak]   # these did not
          flags: [market_fallback_allowed]   # these flags were raised

A version only goes live when every case passes; together the cases must make every
rule fire at least once (`coverage`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.error import MarkedYAMLError

from engine.decision import decide
from engine.rules import language as L
from engine.rules.compiler import CompiledRules, parse_yaml
from engine.rules.conditions import holds


class TestFileError(ValueError):
    pass


@dataclass
class CaseResult:
    file: str
    name: str
    where: str
    failures: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    decision: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class TestReport:
    results: list[CaseResult]
    problems: list[str]            # files that could not be read as test files
    rules: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.results)

    def covered(self) -> set[str]:
        return {rid for r in self.results for rid in r.fired}

    def uncovered(self) -> list[str]:
        cov = self.covered()
        return [r for r in self.rules if r not in cov]

    def summary(self) -> str:
        failed = [r for r in self.results if not r.ok]
        return (f"{len(self.results) - len(failed)}/{len(self.results)} cases passed, "
                f"{len(self.rules) - len(self.uncovered())}/{len(self.rules)} rules fired at least once"
                + (f", {len(self.problems)} file problems" if self.problems else ""))


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    raise TestFileError(f"unsupported value {node!r}")


def _set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if len(parts) == 1:
        doc[parts[0]] = copy.deepcopy(value)
        return
    node = doc.setdefault(parts[0], {})
    if node is None:
        node = doc[parts[0]] = {}
    for part in parts[1:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = node[part] = {}
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


def _get_path(doc: Any, dotted: str) -> Any:
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def load_cases(files: Mapping[str, str]) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]], list[str]]:
    doc: Any
    raw_cases: Any
    """Parse test files -> (fixtures, [(file, where, case)], problems)."""
    fixtures: dict[str, Any] = {}
    cases: list[tuple[str, str, dict[str, Any]]] = []
    problems: list[str] = []
    for name in sorted(files):
        try:
            doc = parse_yaml(files[name])
        except MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
            problems.append(f"{where}: not valid YAML: {exc.problem}")
            continue
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            problems.append(f"{name}:1:1: expected a mapping with fixtures: and/or cases:")
            continue
        lc: Any = getattr(doc, "lc", None)
        for k in doc:
            if k not in ("fixtures", "cases"):
                line, col = lc.key(k) if lc is not None else (0, 0)
                problems.append(f"{name}:{line + 1}:{col + 1}: unknown key {k!r} (expected fixtures or cases)")
        for fname, fx in (doc.get("fixtures") or {}).items():
            if fname in fixtures:
                problems.append(f"{name}: fixture {fname!r} defined twice")
            fixtures[str(fname)] = _plain(fx)
        raw_cases = doc.get("cases") or []
        for i, case in enumerate(raw_cases):
            line, col = raw_cases.lc.item(i)
            where = f"{name}:{line + 1}:{col + 1}"
            if not isinstance(case, Mapping) or "name" not in case or "expect" not in case:
                problems.append(f"{where}: a case needs name: and expect: (and base: / set: for its facts)")
                continue
            extra = set(case) - {"name", "base", "set", "facts", "expect"}
            if extra:
                problems.append(f"{where}: unknown case keys {sorted(extra)} (expected name, base, set, facts, expect)")
                continue
            cases.append((name, where, _plain(case)))
    return fixtures, cases, problems


def build_facts(case: Mapping[str, Any], fixtures: Mapping[str, Any]) -> dict[str, Any]:
    base = case.get("base")
    if base is not None and base not in fixtures:
        raise TestFileError(f"unknown fixture {base!r} (expected one of {', '.join(sorted(fixtures))})")
    facts = copy.deepcopy(fixtures[base]) if base else {}
    for k, v in (case.get("facts") or {}).items():
        facts[k] = copy.deepcopy(v)
    for path, v in (case.get("set") or {}).items():
        _set_path(facts, path, v)
    return facts


def _check(expect_key: str, expected: Any, actual: Any) -> str | None:
    if isinstance(expected, Mapping):
        for op, val in expected.items():
            if op not in L.OPERATORS:
                return f"{expect_key}: unknown operator {op!r}"
            val = tuple(val) if isinstance(val, list) else val
            try:
                ok = holds(op, actual, val)
            except TypeError:
                ok = False
            if not ok:
                return f"{expect_key}: expected {op} {val!r}, got {actual!r}"
        return None
    if actual != expected:
        return f"{expect_key}: expected {expected!r}, got {actual!r}"
    return None


def run_case(compiled: CompiledRules, engine: Any, case: Mapping[str, Any], fixtures: Mapping[str, Any],
             file: str, where: str) -> CaseResult:
    res = CaseResult(file=file, name=str(case["name"]), where=where)
    try:
        facts = build_facts(case, fixtures)
    except TestFileError as exc:
        res.failures.append(str(exc))
        return res
    decision, trace = decide(compiled, facts, engine)
    res.decision = decision
    result = trace.get("result", {})
    fired = [e["rule"] for st in trace.get("stages", []) if "fired" in st for e in st["fired"]]
    res.fired = fired
    for key, expected in (case.get("expect") or {}).items():
        if key == "fired":
            missing = [r for r in expected if r not in fired]
            if missing:
                res.failures.append(f"expected these rules to fire: {missing}")
        elif key == "not_fired":
            extra = [r for r in expected if r in fired]
            if extra:
                res.failures.append(f"expected these rules not to fire: {extra}")
        elif key == "flags":
            missing = [f for f in expected if f not in result.get("flags", [])]
            if missing:
                res.failures.append(f"expected flags {missing}, got {result.get('flags')}")
        elif key in ("score_long", "score_short", "size_mult", "leverage_cap"):
            msg = _check(key, expected, result.get(key))
            if msg:
                res.failures.append(msg)
        else:
            msg = _check(key, expected, _get_path(decision, key))
            if msg:
                res.failures.append(msg)
    if trace.get("disagreements"):
        res.failures.append(f"engine disagreement: {trace['disagreements']}")
    return res


def run_tests(compiled: CompiledRules, engine: Any, files: Mapping[str, str]) -> TestReport:
    fixtures, cases, problems = load_cases(files)
    results = [run_case(compiled, engine, case, fixtures, f, where) for f, where, case in cases]
    return TestReport(results=results, problems=problems, rules=tuple(r.id for r in compiled.rules))
