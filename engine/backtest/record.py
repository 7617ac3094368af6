"""What a backtest keeps of each cycle's decision, kept small (issue 16: bounded memory).

A run records one {t_ms, id, decision, account, position} per cycle: 105,000 of them a
year of 5-minute cycles, nearly all flat, and consecutive flat records differ only in
their time. Kept as they come they cost ~2 KB each. Here each part of a record that
equals (same keys, values and value types: 0, 0.0 and False stay apart) the same part
of one of the last records kept is not kept again: the records of a quiet day share one
decision, one account and one position part, and a record costs its time, its id, its
timestamp and three references. Comparing with the last few parts only costs the
records that do change (a strategy in a trade every cycle) next to nothing; a pool of
every part ever seen would freeze each one to hash it, a quarter of such a run's CPU.
Reading gives fresh dicts (key order, types and values as appended), so every consumer
(exports, compare, the store) reads what it read before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from operator import is_
from typing import Any

RECENT = 8  # parts compared with, per kind: flat stretches alternating between a few reasons share too


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal, key order and value types included (== alone says 1 == 1.0 == True)."""
    if a is b or (list(a) == list(b) and all(map(is_, a.values(), b.values()))):
        return True     # the same objects (a flat stretch's decisions share theirs): no deeper look
    return a == b and list(a) == list(b) and _typed(list(a.values()), list(b.values()))


def _typed(xs: list[Any], ys: list[Any]) -> bool:
    """Two equal (==) sequences hold values of the same types, at every level. The types are
    compared in one go (map in C) and only containers are looked into: a flat decision's record
    parts are compared at every cycle (issue 16: per-cycle overhead)."""
    if list(map(type, xs)) != list(map(type, ys)):
        return False
    for x, y in zip(xs, ys, strict=True):
        if isinstance(x, dict):
            if not (list(x) == list(y) and _typed(list(x.values()), list(y.values()))):
                return False
        elif isinstance(x, list | tuple) and not _typed(list(x), list(y)):
            return False
    return True


def _fresh(v: Any) -> Any:
    """A copy a reader may change without touching the log (dicts and lists, all levels)."""
    if isinstance(v, dict):
        return {k: _fresh(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_fresh(x) for x in v]
    return v


class DecisionLog:
    """The run's decision records in time order: append a record, iterate or index to read
    them (fresh dicts each time), len() to count them."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, str, Any, bool, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        self._recent: tuple[list[dict[str, Any]], ...] = ([], [], [])
        self._last: list[tuple[Mapping[str, Any], dict[str, Any]] | None] = [None, None, None]

    def _share(self, kind: int, part: dict[str, Any]) -> dict[str, Any]:
        recent = self._recent[kind]
        for k, seen in enumerate(recent):
            if _same(seen, part):
                if k:       # the most recently matched first: a stretch's decision is found at once
                    recent.insert(0, recent.pop(k))
                return seen
        recent.insert(0, part)
        del recent[RECENT:]
        return part

    def append(self, rec: Mapping[str, Any]) -> None:
        doc, did = rec["decision"], rec["id"]
        ts = doc.get("timestamp_iso")   # with the id, what changes every cycle: kept beside
        same_id = doc.get("id") == did
        rest = {k: (None if k == "timestamp_iso" or (k == "id" and same_id) else x) for k, x in doc.items()}
        self._rows.append((rec["t_ms"], did, ts, same_id, self._share(0, rest),
                           self._given(1, rec["account"]), self._given(2, rec["position"])))

    def _given(self, kind: int, part: Mapping[str, Any]) -> dict[str, Any]:
        """The kept part for an account or position document. The same document object as
        in the last record is taken as unchanged (the loop hands a flat stretch one pair of
        documents, engine/backtest/loop.py own_facts, and changes none): no copy, no compare."""
        last = self._last[kind]
        if last is not None and last[0] is part:
            return last[1]
        kept = self._share(kind, dict(part))
        self._last[kind] = (part, kept)
        return kept

    @staticmethod
    def _record(row: tuple[int, str, Any, bool, dict[str, Any], dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
        t, did, ts, same_id, doc, account, position = row
        decision = _fresh(doc)
        if "timestamp_iso" in decision:
            decision["timestamp_iso"] = ts
        if same_id:
            decision["id"] = did
        return {"t_ms": t, "id": did, "decision": decision, "account": _fresh(account), "position": _fresh(position)}

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
