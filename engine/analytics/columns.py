"""Columnar analytics: every snapshot field of every cycle as a column (issue 16).

The batch builder (batch.py) computes each timeframe's features for a whole UTC day at
once, then assembles one snapshot document per cycle: most of its time goes to those
documents. Here the same per-day feature arrays are read into one column per field
(a list over the period's cycles), and a cycle's document is assembled — by the very
same assemble_snapshot — only when something needs it (a trade, a trace, a tag, a
parity check). The flow still runs per cycle (build_flow), from the few snapshot fields
it reads. Values are the batch builder's, bit for bit (tests/test_analytics_columns.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.analytics.batch import cycle_times, derive_timeframes
from engine.analytics.features import timeframe_features
from engine.analytics.orderbook import orderbook_metrics
from engine.analytics.params import DAY_MS, TF_MS, anchor_ms, plain, section
from engine.analytics.session import session_at
from engine.analytics.snapshot import (
    CANDLE_KEYS,
    MOMENTUM_NAMES,
    ROW_FLOATS,
    STRUCTURE_NAMES,
    Row,
    assemble_snapshot,
    closed_rows,
    iso_utc,
)
from engine.facts import FACTS, TIMEFRAMES_ANALYSED, TIMEFRAMES_SNAPSHOT, leaf_types

FEATURE_KEYS = (*ROW_FLOATS, "open_time", "swing_high_open_time", "swing_low_open_time", "structure",
                "momentum_state")
ROW_KEYS = {"tf_1m": (*CANDLE_KEYS, "open_time"), **dict.fromkeys(TIMEFRAMES_ANALYSED, FEATURE_KEYS)}


_NO_INT = np.iinfo(np.int64).min       # an unknown integer (open times) in a packed column
_NAMES = {"structure": STRUCTURE_NAMES, "momentum_state": MOMENTUM_NAMES}


def _finite(a: np.ndarray) -> np.ndarray:
    """float64, NaN where unknown (NaN / inf): what snapshot._values reads as None."""
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def _feature_arrays(feats: Mapping[str, np.ndarray], rows: np.ndarray, unknown: int) -> dict[str, np.ndarray]:
    """snapshot.feature_rows' values for `rows`, after `unknown` cycles with no closed candle,
    as one array per key (floats NaN, open times _NO_INT, names as their codes; 0 = unknown)."""
    out = {k: np.concatenate((np.full(unknown, np.nan), _finite(feats[k][rows]))) for k in ROW_FLOATS}
    ot = np.asarray(feats["open_time"]).astype(np.int64)
    out["open_time"] = np.concatenate((np.full(unknown, _NO_INT, dtype=np.int64), ot[rows]))
    for k in ("swing_high_row", "swing_low_row"):
        r = np.asarray(feats[k][rows]).astype(np.int64)
        vals = np.where(r >= 0, ot[np.maximum(r, 0)], _NO_INT)
        out[k.replace("_row", "_open_time")] = np.concatenate((np.full(unknown, _NO_INT, dtype=np.int64), vals))
    for k in _NAMES:
        out[k] = np.concatenate((np.zeros(unknown, dtype=np.int64), np.asarray(feats[k][rows]).astype(np.int64)))
    return out


def _empty_arrays(keys: Sequence[str], n: int) -> dict[str, np.ndarray]:
    return {k: np.zeros(n, dtype=np.int64) if k in _NAMES else
            np.full(n, _NO_INT, dtype=np.int64) if k.endswith("open_time") else np.full(n, np.nan) for k in keys}


def _candle_arrays(frame: pd.DataFrame | None, times: list[int]) -> dict[str, np.ndarray]:
    """snapshot.candle_rows for tf_1m as arrays (unknown in every key where no candle closed)."""
    n = len(times)
    if frame is None or frame.empty:
        return _empty_arrays(ROW_KEYS["tf_1m"], n)
    ot = frame.index.to_numpy(dtype=np.int64)
    pos = np.searchsorted(ot, np.asarray(times, dtype=np.int64) - TF_MS["tf_1m"], side="right") - 1
    idx = np.maximum(pos, 0)
    missing = pos < 0
    out = {k: np.where(missing, np.nan, _finite(frame[k].to_numpy(dtype=np.float64)[idx])) for k in CANDLE_KEYS}
    out["open_time"] = np.where(missing, _NO_INT, ot[idx])
    return out


class Packed:
    """One timeframe's row values over the cycles, stored compactly: numbers as float64
    (NaN: unknown) or int64 arrays, names as codes or lists. Python values come back exactly
    (the floats were float64 to begin with): `get(key)` a whole column, `at(key, i)` one value."""

    def __init__(self, cols: Mapping[str, Any], taking: bool = False):
        """`taking`: `cols` is a dict of this object's own, emptied column by column as they
        are packed, so a list and its array are not both held for every column at once."""
        self.arrays: dict[str, Any] = {}
        self.kinds: dict[str, str] = {}
        for k in list(cols):
            col = cols.pop(k) if taking and isinstance(cols, dict) else cols[k]
            if isinstance(col, np.ndarray):
                self.arrays[k] = col
                self.kinds[k] = "c" if k in _NAMES else "i" if col.dtype == np.int64 else "f"
                continue
            kinds = set(map(type, col))      # (C loops: the flow's 58 columns come through here)
            kinds.discard(type(None))
            if kinds <= {float}:
                self.arrays[k], self.kinds[k] = np.array(col, dtype=np.float64), "f"   # None -> NaN
            elif kinds <= {int}:
                self.arrays[k], self.kinds[k] = np.array([_NO_INT if v is None else v for v in col],
                                                         dtype=np.int64), "i"
            else:
                self.arrays[k], self.kinds[k] = col, "s"

    def __contains__(self, key: str) -> bool:
        return key in self.arrays

    def get(self, key: str) -> list[Any]:
        arr, kind = self.arrays[key], self.kinds[key]
        if kind == "s":
            return list(arr)
        if kind == "c":
            names = _NAMES[key]
            return [names.get(c) for c in arr.tolist()]
        out: list[Any] = arr.tolist()
        for pos in np.flatnonzero(np.isnan(arr) if kind == "f" else arr == _NO_INT).tolist():
            out[pos] = None
        return out

    def at(self, key: str, i: int) -> Any:
        arr, kind = self.arrays[key], self.kinds[key]
        if kind == "s":
            return arr[i]
        v = arr.item(i)
        if kind == "c":
            return _NAMES[key].get(v)
        return None if (v != v if kind == "f" else v == _NO_INT) else v
class SnapshotColumns:
    """The snapshot of every cycle, as columns; `doc(i)` assembles cycle i's document."""

    def __init__(self, times: list[int], rows: Mapping[str, Mapping[str, Any]], config: Any):
        self.times, self.config = times, config
        self.rows = {tf: Packed(cols) for tf, cols in rows.items()}
        self._cols: dict[str, list[Any]] = {}

    def __len__(self) -> int:
        return len(self.times)

    def row(self, tf: str, i: int) -> Row | None:
        packed = self.rows[tf]
        if packed.at("open_time", i) is None:
            return None
        return {k: packed.at(k, i) for k in packed.arrays}

    def doc(self, i: int) -> dict[str, Any]:
        rows = {tf: self.row(tf, i) for tf in TIMEFRAMES_ANALYSED}
        return assemble_snapshot(self.times[i], rows, self.row("tf_1m", i), self.config)

    def flow_view(self, i: int) -> dict[str, Any]:
        """The snapshot fields build_flow reads (flow.py), nothing else."""
        return {"price": self.column("price")[i], "data_age_s": self.column("data_age_s")[i],
                "swings": {"tf_1h": {"high": self.rows["tf_1h"].at("swing_high", i),
                                     "low": self.rows["tf_1h"].at("swing_low", i)}},
                "momentum": {"tf_15m": {"state": self.rows["tf_15m"].at("momentum_state", i)}},
                "session": {"volatility_regime": self.column("session.volatility_regime")[i]}}

    def column(self, path: str) -> list[Any]:
        """The values of snapshot field `path` over the cycles (any leaf of the snapshot).
        The fields of one row value are unpacked at each call; the others are kept."""
        col = self._cols.get(path)
        if col is None:
            col = self._compute(path)
            if not isinstance(col, _Unpacked):
                self._cols[path] = col
        return col

    def float_array(self, path: str) -> np.ndarray | None:
        """The float64 array a number field is stored as (NaN: unknown), when it is one row
        value kept as floats; else None (read its column)."""
        parts = path.split(".")
        direct = _DIRECT.get(parts[0])
        key = None
        if direct is not None and len(parts) == direct[0] and parts[1] in self.rows:
            key, packed = direct[1](parts), self.rows[parts[1]]
        elif parts[0] == "volatility" and len(parts) == 3 and parts[2] in self.rows and parts[1] in (
                "atr", "atr_pct", "atr_pct_rank"):
            key, packed = parts[1], self.rows[parts[2]]
        if key is None or key not in packed or packed.kinds[key] != "f":
            return None
        return packed.arrays[key]  # type: ignore[no-any-return]

    def _compute(self, path: str) -> list[Any]:
        n, parts = len(self.times), path.split(".")
        direct = _DIRECT.get(parts[0])
        if direct is not None and len(parts) == direct[0] and parts[1] in self.rows:
            key = direct[1](parts)
            if key is not None and key in self.rows[parts[1]]:
                return _Unpacked(self.rows[parts[1]].get(key))
        if parts[0] == "volatility" and len(parts) == 3 and parts[2] in self.rows and parts[1] in (
                "atr", "atr_pct", "atr_pct_rank"):
            return _Unpacked(self.rows[parts[2]].get(parts[1]))
        if path == "timestamp_ms":
            return list(self.times)
        if path == "timestamp_iso":
            return _iso_column(self.times)
        if path == "symbol":
            return [plain(self.config).get("symbol", "BTCUSDT")] * n
        if path in ("price", "data_age_s"):
            self._fresh()
            return self._cols[path]
        if parts[0] == "session" and len(parts) == 2:
            return self._session(parts[1])
        if parts[0] == "indicators" and len(parts) == 3 and parts[2] == "ema_20_50_pct" and parts[1] in self.rows:
            c = self.rows[parts[1]]
            return [None if e20 is None or e50 is None or not e50 else (e20 - e50) / e50 * 100.0
                    for e20, e50 in zip(c.get("ema_20"), c.get("ema_50"), strict=True)]
        if parts[0] == "orderbook" and len(parts) == 2:   # no book in a backtest: the same every cycle
            ob = section(self.config, "analytics")["orderbook"]
            value = orderbook_metrics(None, int(ob["top_n"]), float(ob["typical_order_usdt"])).get(parts[1])
            return [value] * n
        return [_get(self.doc(i), parts) for i in range(n)]   # anything else: from the documents

    def _fresh(self) -> None:
        """price and data_age_s: the close of the freshest closed candle (assemble_snapshot's rule:
        the latest close time among the timeframes with an open time and a close; on a tie the
        first in TIMEFRAMES_SNAPSHOT order), over all cycles at once."""
        n = len(self.times)
        ends = np.full((len(TIMEFRAMES_SNAPSHOT), n), _NO_INT, dtype=np.int64)
        closes = np.full((len(TIMEFRAMES_SNAPSHOT), n), np.nan)
        for k, tf in enumerate(TIMEFRAMES_SNAPSHOT):
            packed = self.rows[tf]
            ot, close = packed.arrays["open_time"], packed.arrays["close"]
            known = (ot != _NO_INT) & ~np.isnan(close)
            ends[k] = np.where(known, np.where(known, ot, 0) + TF_MS[tf], _NO_INT)
            closes[k] = close
        pick = ends.argmax(axis=0)         # the first of the latest
        cols = np.arange(n)
        best, known = ends[pick, cols], (ends != _NO_INT).any(axis=0)
        price: list[Any] = closes[pick, cols].tolist()
        age: list[Any] = ((np.asarray(self.times, dtype=np.int64) - best).astype(np.float64) / 1000.0).tolist()
        for pos in np.flatnonzero(~known).tolist():
            price[pos] = age[pos] = None
        self._cols["price"], self._cols["data_age_s"] = price, age

    def _session(self, key: str) -> list[Any]:
        if key == "volatility_regime":
            vr = section(self.config, "analytics")["volatility_regime"]
            ranks = self.rows[vr["timeframe"]].get("atr_pct_rank")
            return [None if r is None else "low" if r < vr["low_percentile"] else "high"
                    if r > vr["high_percentile"] else "normal" for r in ranks]
        hours = [(t // 3_600_000) % 24 for t in self.times]
        if key == "time_utc":
            return [f"{h:02d}:{(t // 60_000) % 60:02d}" for h, t in zip(hours, self.times, strict=True)]
        by_hour = [session_at(h, section(self.config, "sessions")) for h in range(24)]
        if key == "current":
            return [by_hour[h][0] for h in hours]
        if key == "restricted":
            return [by_hour[h][1] for h in hours]
        return [_get(self.doc(i), ["session", key]) for i in range(len(self.times))]


def _iso_column(times: list[int]) -> list[str]:
    """[iso_utc(t) for t in times], by numpy when every time is a whole second (cycle times)."""
    arr = np.asarray(times, dtype=np.int64)
    if len(arr) and (arr % 1000 == 0).all() and arr.min() >= 0 and arr.max() < 253_402_300_800_000:
        text = np.datetime_as_string(arr.astype("datetime64[ms]").astype("datetime64[s]"), unit="s")
        return [f"{s}Z" for s in text.tolist()]
    return [iso_utc(t) for t in times]


class _Unpacked(list):  # type: ignore[type-arg]
    """A column unpacked from a Packed store at each call (not kept: the store is the copy)."""


def _get(doc: Any, parts: Sequence[str]) -> Any:
    for p in parts:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(p)
    return doc


def _sub(doc: Any, parts: Sequence[str]) -> Any:
    """_get by plain subscripts (a column reads 14,000 documents): a missing key or a
    non-mapping on the way is unknown, as the rules' reading has it."""
    try:
        for p in parts:
            doc = doc[p]
        return doc
    except (KeyError, TypeError, IndexError):
        return None


_SWING_KEYS = {"high": "swing_high", "low": "swing_low", "high_open_time_ms": "swing_high_open_time",
               "low_open_time_ms": "swing_low_open_time"}
_CANDLE_KEYS = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
# first part -> (number of parts, parts -> row key): fields that are one row value as it is
_DIRECT: dict[str, tuple[int, Callable[[list[str]], str | None]]] = {
    "candles": (3, lambda p: _CANDLE_KEYS.get(p[2])),
    "candle_open_time_ms": (2, lambda p: "open_time"),
    "market_structure": (2, lambda p: "structure"),
    "swings": (3, lambda p: _SWING_KEYS.get(p[2])),
    "momentum": (3, lambda p: {"state": "momentum_state", "score": "momentum_score"}.get(p[2])),
    "indicators": (3, lambda p: p[2] if p[2] != "ema_20_50_pct" else None),
}


FLOW_LEAVES = tuple(leaf_types(FACTS["flow"]))


def _leaf_reader(paths: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """doc -> the values at `paths`, as one generated function of plain subscripts (a flow
    document has every key: 58 lookups in one call); a miss falls back to path by path."""
    body = ", ".join("d" + "".join(f"[{p!r}]" for p in path.split(".")) for path in paths)
    scope: dict[str, Any] = {}
    exec(f"def fast(d):\n    return ({body},)", scope)   # noqa: S102 (code built from the fact schema)
    fast = scope["fast"]
    split = [path.split(".") for path in paths]

    def read(doc: Any) -> tuple[Any, ...]:
        try:
            return fast(doc)  # type: ignore[no-any-return]
        except (KeyError, TypeError, IndexError):
            return tuple(_sub(doc, parts) for parts in split)
    return read


class CycleColumns(Sequence[dict[str, Any]]):
    """A period's cycles: snapshot columns, flow columns and declared values; item i is
    cycle i's {"t_ms", "snapshot", "flow"(, "declared")} document, assembled when asked for
    (the flow document is rebuilt by build_flow from the same arguments: the columns keep
    only the fields rules can read, 58 values a cycle instead of an ~8 KB document)."""

    def __init__(self, snapshot: SnapshotColumns, flow_columns: Packed | None,
                 flow_at: Callable[[int], dict[str, Any]] | None):
        self.snapshot = snapshot
        self.times = snapshot.times
        self.flow_columns = flow_columns
        self.flow_at = flow_at
        self.declared: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.times)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        out = {"t_ms": self.times[i], "snapshot": self.snapshot.doc(i),
               "flow": self.flow_at(i) if self.flow_at is not None else None}
        if self.declared is not None:
            out["declared"] = self.declared[i]
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def with_declared(self, declared: list[dict[str, Any]]) -> CycleColumns:
        """The same cycles with the ruleset's declared values (this object is left as it is)."""
        out = CycleColumns(self.snapshot, self.flow_columns, self.flow_at)
        out.declared = declared
        return out

    def float_array(self, fact: str, path: str) -> np.ndarray | None:
        """A number field's values as the float64 array they are kept in (NaN: unknown), when
        they are kept so (most snapshot and flow numbers); else None."""
        if fact == "snapshot":
            return self.snapshot.float_array(path)
        cols = self.flow_columns
        if fact == "flow" and cols is not None and path in cols and cols.kinds[path] == "f":
            return cols.arrays[path]  # type: ignore[no-any-return]
        return None

    def column(self, fact: str, path: str) -> list[Any]:
        """A market fact's column: snapshot from the columns; flow and declared from their
        per-cycle documents."""
        if fact == "snapshot":
            return self.snapshot.column(path)
        parts = path.split(".")
        if fact == "flow":      # a path outside the fact schema: no rule reads it (the compiler refuses)
            cols = self.flow_columns
            # (a NaN the flow might hold comes back None: the rules read a non-finite number as unknown)
            return cols.get(path) if cols is not None and path in cols else [None] * len(self)
        if self.declared is None:
            return [None] * len(self)
        return [_sub(d.get(fact), parts) for d in self.declared]


def build_columns(candles_1m: pd.DataFrame, t_from: int, t_to: int, config: Any,
                  derivatives: Mapping[str, Any] | None = None,
                  inputs: Mapping[str, Any] | Callable[[int], Mapping[str, Any]] | None = None,
                  with_flow: bool = True, frames: Mapping[str, pd.DataFrame] | None = None,
                  cycle_minutes: int | None = None) -> CycleColumns:
    """batch.build_cycles' cycles as columns (same arguments, same values)."""
    from engine.analytics.flow import build_flow, prepare_derivatives
    from engine.analytics.flow_columns import flow_leaf_columns

    a = section(config, "analytics")
    minutes = cycle_minutes or int(plain(config).get("engine", {}).get("cycle_minutes", 5))
    tfs = dict(frames) if frames is not None else derive_timeframes(candles_1m)
    times = cycle_times(t_from, t_to, int(minutes) * 60_000)
    chunks: dict[str, list[dict[str, np.ndarray]]] = {tf: [] for tf in TIMEFRAMES_ANALYSED}
    days: dict[int, list[int]] = {}
    for t in times:
        days.setdefault(t // DAY_MS, []).append(t)
    for day_times in days.values():
        for tf in TIMEFRAMES_ANALYSED:
            start = anchor_ms(day_times[0], tf, a)
            frame = closed_rows(tfs[tf], tf, day_times[-1], start)
            if frame.empty:
                chunks[tf].append(_empty_arrays(ROW_KEYS[tf], len(day_times)))
                continue
            feats = timeframe_features(frame, int(a["swing_bars"][tf]), a)
            ends = np.searchsorted(feats["open_time"], np.asarray(day_times, dtype=np.int64) - TF_MS[tf],
                                   side="right") - 1
            known = ends[ends >= 0]
            unknown = len(ends) - len(known)     # ends is non-decreasing: the unknown ones come first
            chunks[tf].append(_feature_arrays(feats, known, unknown))
    rows: dict[str, dict[str, np.ndarray]] = {}
    for tf in TIMEFRAMES_ANALYSED:   # each timeframe's day chunks let go once joined (a year: ~50 MB)
        parts = chunks.pop(tf)
        rows[tf] = {k: np.concatenate([c.pop(k) for c in parts]) if parts else _empty_arrays((k,), 0)[k]
                    for k in ROW_KEYS[tf]}
        del parts
    rows["tf_1m"] = _candle_arrays(tfs.get("tf_1m"), times)
    snap = SnapshotColumns(times, rows, config)
    if not with_flow:
        return CycleColumns(snap, None, None)
    deriv = prepare_derivatives(derivatives)

    def flow_at(i: int) -> dict[str, Any]:
        t = times[i]
        return build_flow(snap.flow_view(i), deriv, inputs(t) if callable(inputs) else inputs, t, config)
    view = {"price": snap.column("price"), "data_age_s": snap.column("data_age_s"),
            "swing_high": snap.rows["tf_1h"].get("swing_high"), "swing_low": snap.rows["tf_1h"].get("swing_low"),
            "momentum_state": snap.rows["tf_15m"].get("momentum_state"),
            "regime": snap.column("session.volatility_regime"), "timestamp_iso": snap.column("timestamp_iso")}
    flow_cols = flow_leaf_columns(view, times, deriv, inputs, config, FLOW_LEAVES)
    if flow_cols is None:       # inputs given: the leaves read from each cycle's document
        read = _leaf_reader(FLOW_LEAVES)
        values = [read(flow_at(i)) for i in range(len(times))]
        flow_cols = {path: list(col) for path, col in zip(FLOW_LEAVES, zip(*values, strict=True), strict=True)} \
            if values else {path: [] for path in FLOW_LEAVES}
    return CycleColumns(snap, Packed(flow_cols, taking=True), flow_at)
