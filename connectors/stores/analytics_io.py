"""One analytics cycle against the database: read what it needs, record what it built.

`load_cycle_inputs(symbol, t_ms, config)` reads only the cycle's windows:
- 5m / 15m / 1h: the stored candles closed at T from each timeframe's anchor
  (engine/analytics/params.py) — the importer stores them with the same aggregation
  analytics uses, so they equal what deriving from 1m would give. When the stored rows
  stop short of T (higher timeframes not yet built), only the missing tail is derived
  from 1m.
- 1m: the CVD window (240 candles closed by T), which also gives the last 1m candle.
- derivatives (table `derivatives`, kinds funding_rate, open_interest, mark_price,
  index_price): funding over (T − 24 h, T], open interest now and 24 h ago, mark and
  index over the last 5 minutes — the windows build_flow looks at.
- inputs: the versions in force at T (connectors.stores.input_history.latest).
- order book: the latest depth snapshot the collector stored in (T − `DEPTH_MAX_AGE_MS`, T]
  (`derivatives["depth"]`, for build_snapshot's `depth`); none that fresh → unavailable, so
  a replay or backtest, which has no book, never sees one from another time.

`record_cycle(snapshot, flow)` writes data/btc_snapshot.json and data/btc_flow.json
atomically and the `snapshots` + `flows` rows, which share the cycle's timestamp
(as_of_ms = timestamp_ms); returns their ids for decisions.snapshot_id / flow_id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectors.db import database_proxy
from connectors.db.models import Flow, Snapshot
from connectors.files import json_files
from connectors.stores.input_history import latest
from engine.analytics.params import DAY_MS, TF_MS, anchor_ms, section
from engine.candles import aggregate, timeframe_ms
from engine.facts import TIMEFRAMES_ANALYSED
from engine.paths import home
from engine.rules.declarations import Declared

HOUR_MS = 3_600_000
CVD_MINUTES = 240  # the longest CVD window (4 h) of build_flow
FUNDING_WINDOW_MS = 24 * HOUR_MS
OI_NOW_MS = 15 * 60_000  # build_flow: an OI sample older than this is not "current"
OI_THEN_MS = HOUR_MS  # …and the 24 h-ago sample may be up to 1 h older
MARK_MS = 5 * 60_000
SQLITE_CHUNK = 20_000  # candles per fetch from SQLite (~3 MB as Python tuples)
PACKED_ROWS = 20_000  # candles per packed MariaDB answer (~1.5 MB, far below max_allowed_packet)
DEPTH_MAX_AGE_MS = 2 * 60_000  # the collector stores one a minute: older means it stalled
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
MINUTE_COLUMNS = (*PRICE_COLUMNS, "taker_buy_volume")


def _run(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Plain SQL with `?` markers, in the backend's own marker style. A cycle runs about ten
    small queries: building them through peewee each time cost more than running them."""
    marker = database_proxy.param  # "?" on SQLite, "%s" on MariaDB
    cursor = database_proxy.execute_sql(sql if marker == "?" else sql.replace("?", marker), params)
    return list(cursor.fetchall())


def _candles(symbol: str, timeframe: str, start_ms: int, end_ms: int, columns: tuple[str, ...]) -> pd.DataFrame:
    """Candles with start <= open_time < end, oldest first, only `columns` (NULL → NaN).
    A range on the unique (symbol, timeframe, open_time_ms) index."""
    where = ("FROM `candles` WHERE `symbol` = ? AND `timeframe` = ? AND `open_time_ms` >= ? "
             "AND `open_time_ms` < ?")
    params = (symbol, timeframe, int(start_ms), int(end_ms))
    if database_proxy.param == "?":
        cols = ", ".join(f"`{c}`" for c in columns)
        arr = _sqlite_candles(f"SELECT `open_time_ms`, {cols} {where} ORDER BY `open_time_ms`", params,
                              len(columns) + 1)
    else:  # in slices of at most PACKED_ROWS candles: one packed answer stays a few MB
        span = PACKED_ROWS * timeframe_ms(timeframe)
        arr = np.concatenate([_packed_candles(where, (symbol, timeframe, lo, min(lo + span, int(end_ms))), columns)
                              for lo in range(int(start_ms), max(int(end_ms), int(start_ms) + 1), span)])
    if not len(arr):
        return pd.DataFrame({c: np.empty(0) for c in columns},
                            index=pd.Index(np.empty(0, dtype=np.int64), name="open_time_ms"))
    return pd.DataFrame(arr[:, 1:], columns=list(columns),
                        index=pd.Index(arr[:, 0].astype(np.int64), name="open_time_ms"))


def _sqlite_candles(sql: str, params: tuple[Any, ...], width: int) -> np.ndarray:
    """SQLite rows into float64, SQLITE_CHUNK rows at a time (None, unknown → NaN): a year of
    1m candles fetched as one list of tuples held ~170 MB of Python floats at once, the
    peak of a `showdown backtest` over it (issue 16, bounded memory)."""
    cursor = database_proxy.execute_sql(sql, params)
    parts = []
    while rows := cursor.fetchmany(SQLITE_CHUNK):
        parts.append(np.array(rows, dtype=np.float64).reshape(len(rows), width))
    return np.concatenate(parts) if parts else np.empty((0, width))


def _packed_candles(where: str, params: tuple[Any, ...], columns: tuple[str, ...]) -> np.ndarray:
    """MariaDB: the window as ONE text value, parsed by numpy. pymysql is pure Python and
    spent ~5 µs a row turning ~2,500 rows a cycle into tuples (13 ms of a 20 ms budget);
    the server writes each DOUBLE as the same shortest round-trip text the row protocol
    carries, so the values are bit for bit the same. Each value is cast to CHAR(64) first: a
    bare DOUBLE is declared ~22 characters wide but printed in full (up to ~33), and where
    the server holds the expression in a temporary table (GROUP_CONCAT ... ORDER BY does)
    it was cut to the declared width. No ORDER BY: the server would sort through such a
    table (5 ms a cycle); numpy sorts the rows instead. NULL travels as "nan". The session's
    group_concat_max_len is raised at connect (connectors/db); the value count guards
    against a truncated answer."""
    fields = ", ".join(["`open_time_ms`", *(f"IFNULL(CAST(`{c}` AS CHAR(64)), 'nan')" for c in columns)])
    (count, text), = _run(f"SELECT COUNT(*), GROUP_CONCAT(CONCAT_WS(',', {fields}) SEPARATOR ',') {where}", params)
    if not count:
        return np.empty((0, len(columns) + 1))
    if text is None:
        raise RuntimeError(f"candles: {count} rows but no values came back (group_concat_max_len?)")
    text = text.decode() if isinstance(text, bytes | bytearray) else str(text)
    values = np.array(text.split(","), dtype=np.float64)
    if len(values) != int(count) * (len(columns) + 1):
        raise RuntimeError(f"candles: {count} rows but {len(values)} values came back (group_concat_max_len?)")
    rows = values.reshape(int(count), len(columns) + 1)
    return rows[np.argsort(rows[:, 0], kind="stable")]  # time order, sorted here, not by the server


def _timeframe(symbol: str, tf: str, t_ms: int, start_ms: int) -> pd.DataFrame:
    """Closed `tf` candles from start_ms; a missing tail is derived from stored 1m."""
    name = tf.removeprefix("tf_")
    step = TF_MS[tf] if tf in TF_MS else timeframe_ms(name)
    last_open = t_ms // step * step - step  # the last bucket closed at T
    stored = _candles(symbol, name, start_ms, last_open + 1, PRICE_COLUMNS)
    have = int(stored.index[-1]) if len(stored) else start_ms - step
    if have >= last_open:
        return stored
    minutes = _candles(symbol, "1m", max(start_ms, have + step), last_open + step, PRICE_COLUMNS)
    if minutes.empty:
        return stored
    tail = aggregate(minutes, name).set_index("open_time_ms")[list(PRICE_COLUMNS)]
    return pd.concat([stored, tail]) if len(stored) else tail


def _series(symbol: str, kind: str, lo_ms: int, hi_ms: int) -> list[tuple[int, float]]:
    """(time_ms, value) of `kind` with lo < time_ms <= hi, oldest first (unique index range)."""
    rows = _run("SELECT `time_ms`, `value` FROM `derivatives` WHERE `symbol` = ? AND `kind` = ? "
                "AND `time_ms` > ? AND `time_ms` <= ? ORDER BY `time_ms`", (symbol, kind, int(lo_ms), int(hi_ms)))
    return [(int(t), float(v)) for t, v in rows]


def load_derivatives(symbol: str, t_ms: int) -> dict[str, Any]:
    """Funding, open interest and mark/index around T, in build_flow's raw shape."""
    funding = _series(symbol, "funding_rate", t_ms - FUNDING_WINDOW_MS, t_ms)
    oi = (_series(symbol, "open_interest", t_ms - FUNDING_WINDOW_MS - OI_THEN_MS, t_ms - FUNDING_WINDOW_MS)
          + _series(symbol, "open_interest", t_ms - OI_NOW_MS, t_ms))
    mark = dict(_series(symbol, "mark_price", t_ms - MARK_MS, t_ms))
    index = dict(_series(symbol, "index_price", t_ms - MARK_MS, t_ms))
    mark_index = [(t, mark[t], index[t]) for t in sorted(mark.keys() & index.keys())]
    return {"funding": funding or None, "open_interest": oi or None, "mark_index": mark_index or None,
            "depth": load_depth(symbol, t_ms)}


def load_depth(symbol: str, t_ms: int) -> dict[str, Any] | None:
    """The freshest stored order book in (T − DEPTH_MAX_AGE_MS, T]: {time_ms, bids, asks}."""
    rows = _run("SELECT `time_ms`, `details` FROM `derivatives` WHERE `symbol` = ? AND `kind` = 'depth' "
                "AND `time_ms` > ? AND `time_ms` <= ? ORDER BY `time_ms` DESC LIMIT 1",
                (symbol, int(t_ms - DEPTH_MAX_AGE_MS), int(t_ms)))
    if not rows or not rows[0][1]:
        return None
    levels = json.loads(rows[0][1]) if isinstance(rows[0][1], str | bytes) else rows[0][1]
    return {"time_ms": int(rows[0][0]), "bids": levels.get("bids"), "asks": levels.get("asks")}


def load_cycle_inputs(symbol: str, t_ms: int, config: Any) -> tuple[dict[str, pd.DataFrame], dict[str, Any],
                                                                      dict[str, Any]]:
    """(candles_by_tf, derivatives, inputs) for the cycle at T: build_snapshot(candles_by_tf, T,
    config), then build_flow(snapshot, derivatives, inputs, T, config)."""
    a = section(config, "analytics")
    frames: dict[str, pd.DataFrame] = {
        tf: _timeframe(symbol, tf, t_ms, anchor_ms(t_ms, tf, a)) for tf in TIMEFRAMES_ANALYSED}
    minutes = _candles(symbol, "1m", t_ms - CVD_MINUTES * 60_000, t_ms, MINUTE_COLUMNS)
    frames["tf_1m"] = minutes
    derivatives = load_derivatives(symbol, t_ms)
    derivatives["candles_1m"] = minutes
    etf_params = a.get("etf")
    inputs = {"etf": latest("etf", t_ms, symbol, etf_params),
              "liquidations": latest("liquidations", t_ms, symbol),
              "sentiment": latest("sentiment", t_ms, symbol)}
    return frames, derivatives, inputs


def load_declared_frames(symbol: str, t_ms: int, declared: Declared, cycle_ms: int) -> dict[str, pd.DataFrame]:
    """The candles a ruleset's declared indicators and expressions read at T: per declared
    timeframe, the closed candles from its anchor (engine/rules/series.py cuts the rest)."""
    out: dict[str, pd.DataFrame] = {}
    for tf, days in declared.anchor_days(cycle_ms).items():
        start = (int(t_ms) // DAY_MS - days) * DAY_MS
        if tf == "1m":
            out[tf] = _candles(symbol, "1m", start, t_ms, PRICE_COLUMNS)
        else:
            out[tf] = _timeframe(symbol, tf, t_ms, start)
    return out


@dataclass(frozen=True)
class Recorded:
    snapshot_id: int
    flow_id: int
    timestamp_iso: str


def _upsert(model: type[Snapshot] | type[Flow], symbol: str, at_ms: int, doc: Mapping[str, Any]) -> int:
    """One row per (symbol, cycle time): a re-run cycle replaces its document, keeps its id."""
    row = model.get_or_none((model.symbol == symbol) & (model.as_of_ms == at_ms))
    if row is None:
        return int(model.insert(symbol=symbol, as_of_ms=at_ms, document=dict(doc)).execute())
    model.update(document=dict(doc)).where(model.id == row.id).execute()  # type: ignore[attr-defined]
    return int(row.id)  # type: ignore[attr-defined]


def record_cycle(snapshot: Mapping[str, Any], flow: Mapping[str, Any], data_dir: Path | None = None) -> Recorded:
    """Store one cycle's snapshot and flow (rows + JSON files); they must share timestamp_iso."""
    iso = snapshot.get("timestamp_iso")
    if iso is None or iso != flow.get("timestamp_iso") or snapshot.get("timestamp_ms") != flow.get("timestamp_ms"):
        raise ValueError(f"snapshot ({iso}) and flow ({flow.get('timestamp_iso')}) are not of the same cycle")
    symbol = str(snapshot.get("symbol") or "BTCUSDT")
    at = int(snapshot["timestamp_ms"])
    where = Path(data_dir) if data_dir is not None else home().ensure().data
    with database_proxy.atomic():
        snap_id = _upsert(Snapshot, symbol, at, snapshot)
        flow_id = _upsert(Flow, symbol, at, flow)
        # Files inside the transaction: if writing them fails, the rows roll back too.
        json_files.write_snapshot(where, dict(snapshot))
        json_files.write_flow(where, dict(flow))
    return Recorded(snap_id, flow_id, str(iso))
