"""Hypothesis strategies for hostile human inputs (shared by the tests and the fuzz bench)."""

from __future__ import annotations

import copy
import math

from hypothesis import strategies as st

from engine.inputs import VALIDATORS, Problem, parse_json

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["2025-12-07T12:00:00Z", "2025-12-07", "1,000", "NaN", "bullish", "BTC", "long", "-0",
                     "2025-02-30T00:00:00Z", "2025-12-07T12:00:00+00:00", "\u202e\U0001f4a5", ""]),
)
json_like = st.recursive(scalars, lambda ch: st.one_of(st.lists(ch, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), ch, max_size=4)),
                         max_leaves=25)


def deep(n: int) -> object:
    v: object = 1
    for i in range(n):
        v = [v] if i % 2 else {"a": v}
    return v


GOOD = {
    "etf": {"symbol": "BTC", "as_of": "2025-12-06T00:00:00Z",
            "history": [{"date": "2025-12-04", "net_flow_usd": -194600000}, {"date": "2025-12-05", "net_flow_usd": 87300000}],
            "summary": {"last_7d_total": -107300000, "last_3d_total": -107300000, "trend": "mixed",
                        "signal": "neutral", "comment": ""}},
    "liquidations": {"symbol": "BTC", "as_of": "2025-12-07T11:55:01Z", "current_price": 89000,
                     "below_price": [{"price": 88000, "zone": [87800, 88200], "side": "long", "strength": 0.6}],
                     "above_price": [{"price": 91700, "zone": [91500, 92000], "side": "short", "strength": 0.8, "comment": "x"}]},
    "sentiment": {"as_of": "2025-12-07T00:00:00Z", "score": 1, "label": "bullish", "comment": "ok"},
}


@st.composite
def mutated(draw, kind: str):
    """A valid document with one to three hostile edits at random places."""
    doc = copy.deepcopy(GOOD[kind])
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        path = []
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
            path.append(key)
            if not isinstance(node[key], dict | list):
                break
            node = node[key]
        if not isinstance(node, dict | list) or not node:
            continue
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        action = draw(st.sampled_from(["replace", "delete", "add", "deep"]))
        if action == "replace":
            node[key] = draw(json_like)
        elif action == "delete":
            del node[key]
        elif action == "add" and isinstance(node, dict):
            node[draw(st.text(max_size=8))] = draw(json_like)
        elif action == "deep":
            node[key] = deep(draw(st.integers(50, 3000)))
    return doc


any_payload = {k: st.one_of(json_like, mutated(k)) for k in VALIDATORS}


def check_outcome(kind: str, obj: object) -> bool:
    """Run the validator; it must never raise and must either accept or explain. Returns accepted."""
    doc, problems = VALIDATORS[kind](obj)
    if doc is None:
        assert problems, f"{kind}: refused without a reason"
        assert all(isinstance(p, Problem) and p.path.startswith("$") and p.message for p in problems)
        return False
    assert problems == []
    again, again_problems = VALIDATORS[kind](doc)  # canonical output is itself valid
    assert again_problems == [] and again == doc
    for v in _leaves(doc):
        assert not (isinstance(v, float) and not math.isfinite(v))
    return True


def check_text(kind: str, raw: str | bytes) -> bool:
    obj, problems = parse_json(raw)
    if obj is None and problems:
        assert all(p.path == "$" for p in problems)
        return False
    return check_outcome(kind, obj)


def _leaves(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _leaves(v)
    elif isinstance(x, list):
        for v in x:
            yield from _leaves(v)
    else:
        yield x
