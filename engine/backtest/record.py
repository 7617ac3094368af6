"""What a backtest keeps of each cycle's decision, kept small (issue 16: bounded memory).

A run records one {t_ms, id, decision, account, position} per cycle: 105,000 of them a
year of 5-minute cycles, nearly all flat, and consecutive flat records differ only in
their time. Kept as dicts they cost ~3 KB each; here each part is frozen into a tuple
and interned, so the records of a quiet day share one decision, one account and one
position part, and a record costs its time, its id, its timestamp and three references.
Reading gives the same dicts back (key order, types and values: a bool stays a bool,
0 and 0.0 stay apart), so every consumer (exports, compare, the store) reads what it
read before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class _Dict(tuple):  # type: ignore[type-arg]
    """A frozen dict: ((key, frozen value), ...)."""

    __slots__ = ()


class _List(tuple):  # type: ignore[type-arg]
    __slots__ = ()


class _Tuple(tuple):  # type: ignore[type-arg]
    __slots__ = ()


class _Scalar(tuple):  # type: ignore[type-arg]
    """(type, value): 1, 1.0 and True are equal keys, their types keep them apart."""

    __slots__ = ()


def freeze(v: Any) -> Any:
    """A hashable, type-exact stand-in for a JSON-like value (thaw gives it back)."""
    if isinstance(v, dict):
        return _Dict((k, freeze(x)) for k, x in v.items())
    if isinstance(v, list):
        return _List(freeze(x) for x in v)
    if isinstance(v, tuple):
        return _Tuple(freeze(x) for x in v)
    if isinstance(v, bool | int | float):
        return _Scalar((type(v), v))
    return v


def thaw(v: Any) -> Any:
    if type(v) is _Dict:
        return {k: thaw(x) for k, x in v}
    if type(v) is _List:
        return [thaw(x) for x in v]
    if type(v) is _Scalar:
        return v[1]
    if type(v) is _Tuple:
        return tuple(thaw(x) for x in v)
    return v


class DecisionLog:
    """The run's decision records in time order: append a record, iterate or index to read
    them (rebuilt on demand, fresh dicts each time), len() to count them."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, str, Any, bool, Any, Any, Any]] = []
        self._pool: dict[Any, Any] = {}

    def _intern(self, v: Any) -> Any:
        f = freeze(v)
        try:
            return self._pool.setdefault(f, f)
        except TypeError:   # something unhashable inside (not JSON-like): kept as it is
            return f

    def append(self, rec: Mapping[str, Any]) -> None:
        doc, did = rec["decision"], rec["id"]
        ts = doc.get("timestamp_iso")   # with the id, what changes every cycle: kept beside
        rest = {k: (None if k == "timestamp_iso" or (k == "id" and x == did) else x) for k, x in doc.items()}
        self._rows.append((rec["t_ms"], did, ts, doc.get("id") == did, self._intern(rest),
                           self._intern(rec["account"]), self._intern(rec["position"])))

    @staticmethod
    def _record(row: tuple[int, str, Any, bool, Any, Any, Any]) -> dict[str, Any]:
        t, did, ts, same_id, doc, account, position = row
        decision = thaw(doc)
        if "timestamp_iso" in decision:
            decision["timestamp_iso"] = ts
        if same_id:
            decision["id"] = did
        return {"t_ms": t, "id": did, "decision": decision, "account": thaw(account), "position": thaw(position)}

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._record(r) for r in self._rows)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self._record(r) for r in self._rows[i]]
        return self._record(self._rows[i])

    def __bool__(self) -> bool:
        return bool(self._rows)

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, DecisionLog | list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]
