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

from array import array
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

DAY_MS = 86_400_000
RECENT = 8  # parts compared with, per kind: flat stretches alternating between a few reasons share too


_LEAVES = frozenset({float, int, str, bool, type(None)})   # equal (a == b said so) and of one type: same


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal, key order and value types included (== alone says 1 == 1.0 == True). Runs for
    every part of every cycle: values that are the same object (the fast engine reuses a
    pattern's result) are taken as they are, the others checked inline, not by a call a
    leaf (this was a third of the default rules' loop, issue 16)."""
    if a is b:
        return True
    if a != b or list(a) != list(b):
        return False
    for x, y in zip(a.values(), b.values(), strict=True):
        if x is y:
            continue
        t = type(x)
        if t is not type(y):
            return False
        if t not in _LEAVES and not _typed(x, y):
            return False
    return True


def _typed(x: Any, y: Any) -> bool:
    if type(x) is not type(y):
        return False
    if isinstance(x, dict):
        return _same(x, y)
    if isinstance(x, list | tuple):
        return all(p is q or _typed(p, q) for p, q in zip(x, y, strict=True))
    return True


def _fresh(v: Any) -> Any:
    """A copy a reader may change without touching the log (dicts and lists, all levels)."""
    if isinstance(v, dict):
        return {k: _fresh(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_fresh(x) for x in v]
    return v


_Row = tuple[int, str, Any, bool, dict[str, Any], dict[str, Any], dict[str, Any]]


class _Iso:
    """Epoch ms (whole seconds) as engine.analytics.snapshot.iso_utc writes it, the date
    part made once a day: the usual timestamp_iso of a cycle, compared at each append."""

    def __init__(self) -> None:
        self.day, self.prefix = -1, ""

    def __call__(self, t: int) -> str | None:
        if t % 1000:
            return None
        day, ms = divmod(t, DAY_MS)
        if day != self.day:
            d = datetime.fromtimestamp(day * 86_400, UTC)
            self.day, self.prefix = day, f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"
        h, rem = divmod(ms // 1000, 3600)
        return f"{self.prefix}{h:02d}:{rem // 60:02d}:{rem % 60:02d}Z"


class DecisionLog:
    """The run's decision records in time order: append a record, iterate or index to read
    them (fresh dicts each time), len() to count them.

    Kept as columns: the times in an int64 array and three lists of references to the
    shared parts (~32 B a record). A record's id, timestamp_iso and `id` field are not kept
    when they are the usual ones of its time (id = epoch seconds, timestamp_iso = the
    time's ISO form, the decision's id = the record's): a tuple, an id and a timestamp a
    record cost ~270 B, ~28 MB over a year of 5-minute cycles (issue 16). Anything else
    is kept as it came, beside (`_odd`)."""

    def __init__(self) -> None:
        self._t = array("q")
        self._doc: list[dict[str, Any]] = []
        self._account: list[dict[str, Any]] = []
        self._position: list[dict[str, Any]] = []
        self._odd: dict[int, tuple[int, str, Any, bool]] = {}   # index -> (t, id, timestamp_iso, same id)
        self._recent: tuple[list[dict[str, Any]], ...] = ([], [], [])
        self._iso = _Iso()
        self._last: list[tuple[Mapping[str, Any], dict[str, Any]] | None] = [None, None, None]
        self._flat_kept: dict[int, tuple[Mapping[str, Any], dict[str, Any]]] = {}   # see append_flat

    def _share(self, kind: int, part: dict[str, Any]) -> dict[str, Any]:
        recent = self._recent[kind]
        for seen in recent:
            if _same(seen, part):
                return seen
        recent.insert(0, part)
        del recent[RECENT:]
        return part

    def append(self, rec: Mapping[str, Any]) -> None:
        doc, did, t = rec["decision"], rec["id"], rec["t_ms"]
        ts = doc.get("timestamp_iso")   # with the id, what changes every cycle: kept beside
        same_id = doc.get("id") == did
        rest = {k: (None if k == "timestamp_iso" or (k == "id" and same_id) else x) for k, x in doc.items()}
        usual = (type(t) is int and same_id and type(did) is str and did == str(t // 1000)
                 and ("timestamp_iso" not in doc or (type(ts) is str and ts == self._iso(t))))
        if not usual:
            self._odd[len(self._doc)] = (t, did, ts, same_id)
        self._t.append(t if type(t) is int else 0)
        self._doc.append(self._share(0, rest))
        self._account.append(self._given(1, rec["account"]))
        self._position.append(self._given(2, rec["position"]))

    def append_flat(self, t: int, did: str, flat: Mapping[str, Any], ts: Any,
                    account: Mapping[str, Any], position: Mapping[str, Any]) -> None:
        """append() of {t_ms: t, id: did, decision: {**flat, timestamp_iso: ts, id: did}, account,
        position}, the same record kept, without building the decision: `flat` is a shared
        document nobody changes (the fast engine's flat decision of a pattern), so its kept
        part is worked out once per document, not compared again every cycle of a flat
        stretch (issue 16: the decision log was the largest per-cycle cost left)."""
        hit = self._flat_kept.get(id(flat))
        if hit is None or hit[0] is not flat:
            doc = {**flat, "timestamp_iso": ts, "id": did}
            rest = {k: (None if k in ("timestamp_iso", "id") else x) for k, x in doc.items()}
            hit = self._flat_kept[id(flat)] = (flat, self._share(0, rest))
        if not (type(t) is int and type(did) is str and did == str(t // 1000) and type(ts) is str
                and ts == self._iso(t)):
            self._odd[len(self._doc)] = (t, did, ts, True)
        self._t.append(t if type(t) is int else 0)
        self._doc.append(hit[1])
        self._account.append(self._given(1, account))
        self._position.append(self._given(2, position))

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

    def _row(self, i: int) -> _Row:
        odd = self._odd.get(i)
        if odd is None:
            t = self._t[i]
            t, did, ts, same_id = t, str(t // 1000), self._iso(t), True
        else:
            t, did, ts, same_id = odd
        return t, did, ts, same_id, self._doc[i], self._account[i], self._position[i]

    def _rows(self, picked: range | None = None) -> Iterator[_Row]:
        return (self._row(i) for i in (picked if picked is not None else range(len(self._doc))))

    @staticmethod
    def _record(row: _Row) -> dict[str, Any]:
        t, did, ts, same_id, doc, account, position = row
        decision = _fresh(doc)
        if "timestamp_iso" in decision:
            decision["timestamp_iso"] = ts
        if same_id:
            decision["id"] = did
        return {"t_ms": t, "id": did, "decision": decision, "account": _fresh(account), "position": _fresh(position)}

    def read_only(self) -> Iterator[dict[str, Any]]:
        """The records for a reader that changes nothing (the store writing them): each
        decision a new dict, its nested parts, the account and the position the log's own
        (shared) objects, not copies: copying them was half of storing a run's decisions."""
        for t, did, ts, same_id, doc, account, position in self._rows():
            decision = dict(doc)
            if "timestamp_iso" in decision:
                decision["timestamp_iso"] = ts
            if same_id:
                decision["id"] = did
            yield {"t_ms": t, "id": did, "decision": decision, "account": account, "position": position}

    def __len__(self) -> int:
        return len(self._doc)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._record(r) for r in self._rows())

    def __getitem__(self, i: int | slice) -> Any:
        n = len(self._doc)
        if isinstance(i, slice):
            return [self._record(r) for r in self._rows(range(n)[i])]
        if not -n <= i < n:
            raise IndexError("decision log index out of range")
        return self._record(self._row(i % n))

    def __bool__(self) -> bool:
        return bool(self._doc)

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, DecisionLog | list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]
