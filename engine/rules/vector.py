"""Rules over a whole period at once: the `fast` backtest engine (issue 16).

The compiled conditions split three ways by the fact they read:
- market facts (snapshot, flow, the ruleset's declared indicators / expressions): the
  same for every account, so each condition is tested for ALL cycles at once — a numpy
  comparison on the column of its values (numbers), or its own test mapped over the
  column (strings, enums, booleans) — and each rule gets a mask "its market conditions
  hold" over the cycles;
- account facts (account, position, protections): they depend on what the run did so
  far, so they are tested per cycle, and only for rules whose market mask holds there;
- derived facts (score, candidate, outcome): functions of what earlier stages fired.

The result of runtime.evaluate is a function of WHICH rules' non-derived conditions hold
(the derived facts follow from the fired sets, every action is a constant) and of whether
a position is open (the manage stage): so it is computed once per distinct pattern, by
evaluate itself through a session that answers from the pattern, and reused. A flat
result becomes the flat decision document directly; anything else (a trade, a manage
request) goes through decide() on that cycle's full facts with the reference evaluator.
The durable_rules path stays what live runs; the differential tests hold the two equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from engine.rules.compiler import CompiledRules, Rule
from engine.rules.conditions import Condition
from engine.rules.runtime import _LEAF_TYPES, _plan, evaluate, facts_of

ACCOUNT_FACTS = frozenset(("account", "position", "protections"))
DERIVED_FACTS = frozenset(("score", "candidate", "outcome"))
_NUMERIC_OPS = {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def market_columns(compiled: CompiledRules, column: Callable[[str, str], Sequence[Any]],
                   floats: Callable[[str, str], np.ndarray | None] | None = None) -> MarketColumns:
    """{(fact, path): [value per cycle]} for every market path the rules read.

    `column(fact, path)` gives that field's raw values over the cycles. Values go through
    the same typed reading as runtime.read_facts (a wrong type is unknown, None).
    `floats(fact, path)`, when given, may answer a field's values as the float64 array they
    are kept in (NaN unknown): for a `number` field the typed reading is then done on the
    array (a number is a finite float there), and the array is what the masks compare.
    Each column is read when first asked for (MarketColumns)."""
    plans: dict[tuple[str, str], Callable[[], list[Any]]] = {}
    for fact in facts_of(compiled):
        if fact in ACCOUNT_FACTS or fact not in compiled.paths:
            continue
        for path, _, ok in _plan(compiled, fact, ()):
            number = floats is not None and _LEAF_TYPES.get(fact, {}).get(path) == "number"
            plans[(fact, path)] = partial(_market_column, column, floats if number else None, fact, path, ok)
    return MarketColumns(plans)


def _market_column(column: Callable[[str, str], Sequence[Any]], floats: Callable[[str, str], np.ndarray | None] | None,
                   fact: str, path: str, ok: Callable[[Any], bool]) -> list[Any]:
    arr = floats(fact, path) if floats is not None else None
    if arr is not None:
        finite = np.isfinite(arr)
        col: list[Any] = arr.tolist()
        for pos in np.flatnonzero(~finite).tolist():
            col[pos] = None
        _FLOATS[id(col)] = (col, np.where(finite, arr, math.nan))
        return col
    return [None if v is not None and not ok(v) else v for v in column(fact, path)]


class MarketColumns(Mapping[tuple[str, str], list[Any]]):
    """market_columns' answer: a column is read when first asked for and kept until released
    (VectorRules lets each go after its last condition's mask: a year's ~20 columns of Python
    values, ~3.5 MB apiece, were all held at once, the backtest's peak)."""

    def __init__(self, plans: Mapping[tuple[str, str], Callable[[], list[Any]]]):
        self._plans = dict(plans)
        self._kept: dict[tuple[str, str], list[Any]] = {}

    def __getitem__(self, key: tuple[str, str]) -> list[Any]:
        col = self._kept.get(key)
        if col is None:
            col = self._kept[key] = self._plans[key]()
        return col

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)

    def release(self, key: tuple[str, str]) -> None:
        """Forget a column read (and the masks' caches of it); asked again, it is read again."""
        col = self._kept.pop(key, None)
        if col is not None:
            _FLOATS.pop(id(col), None)
            _FACTORIZED.pop(id(col), None)


def doc_column(docs: Sequence[Any], compiled: CompiledRules, fact: str, path: str) -> list[Any]:
    """A field's values read from per-cycle documents, as runtime.read_facts reads them."""
    get = next(g for p, g, _ in _plan(compiled, fact, (path,)) if p == path)
    return [get(d) for d in docs]


def condition_mask(c: Condition, col: list[Any]) -> tuple[np.ndarray, str]:
    """c over every cycle's value: (mask, how) — "numpy" (a comparison on the numbers),
    "categorical" (its test once per distinct string / boolean) or "mapped" (its test per
    value: numbers beyond a float's exact range, mixed types)."""
    n = len(col)
    if c.op in ("is_known", "is_unknown"):
        known = np.fromiter((v is not None for v in col), dtype=bool, count=n)
        return (known if c.op == "is_known" else ~known), "numpy"
    bounds: tuple[Any, ...] = tuple(c.value) if c.op == "between" else (c.value,)
    numeric = c.op in _NUMERIC_OPS or c.op == "between"
    arr = _floats(col) if numeric and all(_is_number(b) and abs(b) < 2**53 for b in bounds) else None
    if arr is not None:
        with np.errstate(invalid="ignore"):
            if c.op == "between":
                return (arr >= bounds[0]) & (arr <= bounds[1]), "numpy"
            return _NUMERIC_OPS[c.op](arr, c.value), "numpy"   # NaN (unknown) compares false
    test = c.test
    codes, uniques = _factorized(col)
    if codes is not None:
        # each distinct value tested once (strings, enums, booleans: a handful)
        table = np.fromiter((test(u) for u in (*uniques, None)), dtype=bool, count=len(uniques) + 1)
        return table[codes], "categorical"        # code -1 (unknown) reads the last entry
    return np.fromiter((test(v) for v in col), dtype=bool, count=n), "mapped"


_FACTORIZED: dict[int, tuple[list[Any], Any, Any]] = {}
_FLOATS: dict[int, tuple[list[Any], Any]] = {}


def _floats(col: list[Any]) -> np.ndarray | None:
    """The column as float64 (NaN where unknown) when every value converts exactly (floats,
    ints within 2**53), else None. Cached per column object (while one ruleset's masks are built)."""
    hit = _FLOATS.get(id(col))
    if hit is not None and hit[0] is col:
        return hit[1]
    arr = None
    if all(v is None or (v.__class__ is float or (v.__class__ is int and abs(v) < 2**53)) for v in col):
        arr = np.fromiter((math.nan if v is None else v for v in col), dtype=np.float64, count=len(col))
    _FLOATS[id(col)] = (col, arr)
    return arr


def _factorized(col: list[Any]) -> tuple[Any, list[Any]]:
    """(codes, distinct values) of a column of strings, booleans or numbers (None: code -1), else
    (None, []). Cached per column object (while one ruleset's masks are built)."""
    hit = _FACTORIZED.get(id(col))
    if hit is not None and hit[0] is col:
        return hit[1], hit[2]
    kinds = {v.__class__ for v in col if v is not None}
    # one kind only (True == 1 must not share a code); -0.0 and 0.0 may: every test agrees on them
    if not (kinds <= {str} or kinds <= {bool} or kinds <= {int, float}):
        return None, []
    index: dict[Any, int] = {}
    codes = np.fromiter((-1 if v is None else index.setdefault(v, len(index)) for v in col),
                        dtype=np.int64, count=len(col))
    uniques = list(index)
    _FACTORIZED[id(col)] = (col, codes, uniques)
    return codes, uniques


class _PatternSession:
    """A stage session for runtime.evaluate that fires, per stage, the rules whose
    non-derived conditions hold (`holds[j]`) and whose derived conditions hold on the view."""

    def __init__(self, rules: VectorRules, holds: Sequence[bool]):
        self.v, self.holds = rules, holds

    def run_stage(self, stage: str, view: Mapping[str, Mapping[str, Any]]) -> list[str]:
        out = []
        for j in self.v.stage_index[stage]:
            if self.holds[j] and all(c.test((view.get(c.fact) or {}).get(c.path)) for c in self.v.derived[j]):
                out.append(self.v.rules[j].id)
        return out

    def close(self) -> None:
        pass


class VectorRules:
    """One ruleset over one period's market columns."""

    def __init__(self, compiled: CompiledRules, columns: Mapping[tuple[str, str], list[Any]], n: int):
        self.compiled = compiled
        self.rules: tuple[Rule, ...] = compiled.rules
        self.stage_index = {s: [j for j, r in enumerate(self.rules) if r.stage == s] for s in compiled.by_stage}
        self.derived: list[list[Condition]] = []
        # per rule: its account conditions as (index of the value read, test), tested per cycle
        self.account: list[list[tuple[int, Any]]] = []
        self.reads: list[tuple[str, Any, Any]] = []       # (fact, getter, typed check) per account path
        read_at: dict[tuple[str, str], int] = {}
        self.how: dict[str, list[str]] = {"numpy": [], "categorical": [], "mapped": [], "per_cycle": []}
        market = np.ones((n, len(self.rules)), dtype=bool)
        # each column's conditions left to mask: a released column is not held to the end
        uses: dict[tuple[str, str], int] = {}
        for r in self.rules:
            for c in r.conditions:
                if c.fact not in DERIVED_FACTS and c.fact not in ACCOUNT_FACTS:
                    uses[(c.fact, c.path)] = uses.get((c.fact, c.path), 0) + 1
        release = getattr(columns, "release", None)
        acct_plans = {f: {p: (g, ok) for p, g, ok in _plan(compiled, f, ())}
                      for f in ACCOUNT_FACTS if f in compiled.paths}
        for j, r in enumerate(self.rules):
            der, acc = [], []
            for c in r.conditions:
                if c.fact in DERIVED_FACTS:
                    der.append(c)
                elif c.fact in ACCOUNT_FACTS:
                    k = read_at.get((c.fact, c.path))
                    if k is None:
                        k = read_at[(c.fact, c.path)] = len(self.reads)
                        self.reads.append((c.fact, *acct_plans[c.fact][c.path]))
                    acc.append((k, c.test))
                    self.how["per_cycle"].append(f"{r.id}: {c.label}")
                else:
                    mask, how = condition_mask(c, columns[(c.fact, c.path)])
                    uses[(c.fact, c.path)] -= 1
                    if not uses[(c.fact, c.path)] and release is not None:
                        release((c.fact, c.path))
                    market[:, j] &= mask
                    self.how[how].append(f"{r.id}: {c.label}")
            self.derived.append(der)
            self.account.append(acc)
        self.market = market
        _FLOATS.clear()         # the per-column caches live for one ruleset's masks only
        _FACTORIZED.clear()
        self.account_rules = [j for j, acc in enumerate(self.account) if acc]
        self._fails: dict[tuple[Any, ...], tuple[int, ...]] = {}   # account values -> rules they fail
        # a cycle's market row as packed bits, made into its key (bytes) when asked: a year's
        # 105,000 bytes objects and lists of the account rules' bits were ~21 MB of the peak
        self._packed = np.packbits(market, axis=1)
        self._memo: dict[tuple[bytes, tuple[int, ...], bool], dict[str, Any]] = {}   # see result()
        self._last_read: tuple[Any, Any, Any, tuple[int, ...], Any] | None = None

    def market_key(self, i: int) -> bytes:
        """Cycle i's market row (which market conditions hold) as the bytes results are memoised by."""
        return bytes(self._packed[i].tobytes())

    def describe(self) -> dict[str, Any]:
        """How each condition is evaluated (for the run's params): market conditions at once
        ("numpy" comparisons or "mapped" tests), account conditions per cycle."""
        return {"conditions_numpy": len(self.how["numpy"]), "conditions_categorical": len(self.how["categorical"]),
                "conditions_mapped": self.how["mapped"],
                "conditions_per_cycle": self.how["per_cycle"], "patterns": len(self._memo)}

    def result(self, i: int, facts: Mapping[str, Any]) -> dict[str, Any]:
        """runtime.evaluate's result for cycle i, given that cycle's account facts (only
        account / position / protections are read from `facts`)."""
        acct, pos, prot = facts.get("account"), facts.get("position"), facts.get("protections")
        last = self._last_read
        if last is not None and last[0] is acct and last[1] is pos and last[2] is prot:
            # the same account documents as the cycle before (a flat stretch: the loop reuses
            # them unchanged): the same values, so the same failing rules and side
            fails, side = last[3], last[4]
        else:
            vals = []
            for fact, get, ok in self.reads:
                v = get(facts.get(fact))
                vals.append(None if v is not None and not ok(v) else v)
            key_vals = tuple(vals)
            got = self._fails.get(key_vals)     # positions in account_rules
            if got is None:
                got = tuple(p for p, j in enumerate(self.account_rules)
                            if not all(test(vals[k]) for k, test in self.account[j]))
                if len(self._fails) > 65536:     # account values seen in a run: few while flat, bounded anyway
                    self._fails.clear()
                self._fails[key_vals] = got
            fails = got
            side = pos.get("side") if isinstance(pos, Mapping) else None
            self._last_read = (acct, pos, prot, fails, side)
        in_position = side in ("long", "short")
        # the market row (its packed bytes) and the rules an account value fails decide which
        # rules hold: the result's key
        key = (self._packed[i].tobytes(), fails, in_position)
        res = self._memo.get(key)
        if res is None:
            # the rules an account value fails, among those whose market conditions hold here
            market = self.market[i, self.account_rules].tolist()
            failed = [self.account_rules[p] for p in fails if market[p]]
            holds = self.market[i].copy()
            holds[failed] = False
            view: dict[str, dict[str, Any]] = {"position": {"side": side if in_position else None}}
            res, _ = evaluate(self.compiled, {}, _PatternSession(self, holds.tolist()), (view, []), trace=False)
            self._memo[key] = res
        return res
