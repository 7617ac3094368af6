"""What a compiled condition means, in plain Python: the reference semantics.

The durable_rules translation (durable_backend.py) must agree with `holds` on every
input; the differential tests check it. None means unknown: every operator is false on
an unknown value except `is_unknown`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Condition:
    fact: str          # snapshot | flow | account | position | score | candidate | outcome
    path: str          # dotted path inside the fact
    op: str
    value: Any         # resolved constant (config references already substituted)
    where: str         # file:line:col of the path in the rule file
    source: str        # the value as written, e.g. "${risk.max_funding_8h}"

    @cached_property
    def test(self) -> Callable[[Any], bool]:
        """`holds(op, actual, value)` as one closure, built once (every cycle runs it)."""
        return predicate(self.op, self.value)

    @cached_property
    def label(self) -> str:
        """The condition as the trader wrote it (computed once: traces use it every cycle)."""
        return self.text()

    def text(self) -> str:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        shown = f"{self.source} (= {value!r})" if self.source else repr(value)
        if self.op in ("is_known", "is_unknown"):
            return f"{self.fact}.{self.path} {self.op}"
        return f"{self.fact}.{self.path} {self.op} {shown}"


def holds(op: str, actual: Any, value: Any) -> bool:
    if op == "is_unknown":
        return actual is None
    if actual is None:
        return False
    if op == "is_known":
        return True
    if op == "eq":
        return actual == value
    if op == "neq":
        return actual != value
    if op == "in":
        return actual in value
    if op == "not_in":
        return actual not in value
    if op == "gt":
        return actual > value
    if op == "gte":
        return actual >= value
    if op == "lt":
        return actual < value
    if op == "lte":
        return actual <= value
    if op == "between":
        return value[0] <= actual <= value[1]
    raise ValueError(f"unknown operator {op!r}")


def predicate(op: str, value: Any) -> Callable[[Any], bool]:
    """A closure equal to `lambda actual: holds(op, actual, value)`, without the dispatch."""
    if op == "is_unknown":
        return lambda a: a is None
    if op == "is_known":
        return lambda a: a is not None
    if op == "eq":
        return lambda a: a is not None and a == value
    if op == "neq":
        return lambda a: a is not None and a != value
    if op == "in":
        return lambda a: a is not None and a in value
    if op == "not_in":
        return lambda a: a is not None and a not in value
    if op == "gt":
        return lambda a: a is not None and a > value
    if op == "gte":
        return lambda a: a is not None and a >= value
    if op == "lt":
        return lambda a: a is not None and a < value
    if op == "lte":
        return lambda a: a is not None and a <= value
    if op == "between":
        lo, hi = value
        return lambda a: a is not None and lo <= a <= hi
    raise ValueError(f"unknown operator {op!r}")


def get_path(doc: Any, path: str) -> Any:
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
        if node is None:
            return None
    return node
