"""Reading market-data files: klines and funding, with every bad line named.

Kline layouts recognised (plain, .gz or .zip holding one CSV):
- short: `open_time_ms,open,high,low,close,volume` with a header (../shared/data);
- Binance dump: the 12 kline columns (open_time, open, high, low, close, volume,
  close_time, quote_volume, trade_count, taker_buy_base, taker_buy_quote, ignore), with
  or without a header, times in epoch ms, epoch µs (spot dumps since 2025) or ISO text.
Funding: `funding_time_ms,rate`.

The reader parses with pandas and checks with vectorised masks; line numbers are those
of the file (blank lines are kept as rows so the count stays true).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.candles import EXTRAS, OHLCV, check_klines, timeframe_ms

SHORT_HEADER = ["open_time_ms", "open", "high", "low", "close", "volume"]
BINANCE_COLUMNS = ["open_time", "open", "high", "low", "close", "volume", "close_time",
                   "quote_volume", "trade_count", "taker_buy_base", "taker_buy_quote", "ignore"]
FUNDING_HEADER = ["funding_time_ms", "rate"]
_MAX_FIELDS = 20
_US_THRESHOLD = 10**15  # epoch µs are 16 digits, epoch ms 13


class FileRefused(Exception):
    """The file cannot be read at all (layout unknown, unreadable); message names it."""


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class ParsedFile:
    path: Path
    layout: str
    rows_read: int
    frame: pd.DataFrame  # valid rows, sorted by time, unique times
    bad: list[BadRow] = field(default_factory=list)
    duplicates_dropped: int = 0  # identical repeated rows, harmless

    def bad_summary(self, limit: int = 20) -> list[str]:
        lines = [f"{self.path}:{b.line}: {b.reason}" for b in self.bad[:limit]]
        if len(self.bad) > limit:
            lines.append(f"… and {len(self.bad) - limit} more bad lines")
        return lines


def _read_raw(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileRefused(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, header=None, names=range(_MAX_FIELDS), dtype=str,
                          skip_blank_lines=False, compression="infer", keep_default_na=False,
                          na_values=[], engine="c")
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError, ValueError) as exc:
        raise FileRefused(f"{path}: cannot read as CSV: {exc}") from exc
    raw.index = pd.RangeIndex(1, len(raw) + 1)  # file line numbers
    return raw


def _to_ms(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Epoch ms from ms / µs numbers or ISO text; second result marks unparseable."""
    num = pd.to_numeric(col, errors="coerce")
    out = num.astype("float64")
    text = num.isna() & (col.str.len() > 0)
    if text.any():
        dt = pd.to_datetime(col[text], utc=True, errors="coerce", format="ISO8601")
        ok = dt.notna()
        ms = (dt[ok] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
        out.loc[ms.index] = ms.astype("float64")
    big = out >= _US_THRESHOLD
    out[big] = np.floor(out[big] / 1000)
    bad = out.isna() | (np.fmod(out.fillna(0), 1) != 0)
    return out, bad


def _layout(raw: pd.DataFrame, path: Path, kind: str) -> tuple[str, bool, int]:
    """(layout, has_header, width) from the first line."""
    if raw.empty:
        raise FileRefused(f"{path}: empty file")
    first = [v for v in raw.iloc[0].tolist() if v != "" and isinstance(v, str)]
    width = len(first)
    header_like = pd.to_numeric(pd.Series(first[:1]), errors="coerce").isna().all() and \
        pd.to_datetime(pd.Series(first[:1]), errors="coerce", utc=True, format="ISO8601").isna().all()
    if kind == "funding":
        if width != 2:
            raise FileRefused(f"{path}:1: expected 2 columns (funding_time_ms,rate), got {width}")
        if header_like and [f.strip().lower() for f in first] != FUNDING_HEADER:
            raise FileRefused(f"{path}:1: header {first} is not {FUNDING_HEADER}")
        return "funding", header_like, 2
    if width == 6:
        if header_like and [f.strip().lower() for f in first] != SHORT_HEADER:
            raise FileRefused(f"{path}:1: header {first} is not {SHORT_HEADER}")
        return "short", header_like, 6
    if width == 12:
        if header_like and [f.strip().lower() for f in first][:6] != BINANCE_COLUMNS[:6]:
            raise FileRefused(f"{path}:1: header {first} is not the Binance kline layout {BINANCE_COLUMNS}")
        return "binance", header_like, 12
    raise FileRefused(f"{path}:1: {width} columns; expected 6 ({','.join(SHORT_HEADER)}) "
                      f"or the 12 of a Binance kline dump")


def _unparseable(raw: pd.DataFrame, width: int, parsed: dict[str, tuple[pd.Series, pd.Series]],
                 sources: dict[str, int]) -> pd.Series:
    """First reason per line for structural problems ('' when none)."""
    reason = pd.Series("", index=raw.index, dtype=object)
    nonempty = (raw != "").sum(axis=1)
    reason[nonempty == 0] = "empty line"
    wrong = (nonempty != width) & (nonempty > 0)
    reason[wrong & (reason == "")] = f"expected {width} fields"
    for name, (_, bad) in parsed.items():
        m = bad & (reason == "")
        if m.any():
            vals = raw.loc[m, sources[name]]
            reason[m] = [f"{name}: cannot parse {v!r}" for v in vals]
    return reason


def _drop_duplicates(frame: pd.DataFrame, key: str, values: list[str]) -> tuple[pd.DataFrame, list[BadRow], int]:
    dup_any = frame.duplicated(key, keep=False)
    if not dup_any.any():
        return frame, [], 0
    groups = frame[dup_any]
    bad: list[BadRow] = []
    conflicting_keys = []
    for k, grp in groups.groupby(key):
        if len(grp[values].drop_duplicates()) > 1:
            conflicting_keys.append(k)
            lines = grp.index.tolist()
            for ln in lines:
                others = ", ".join(str(x) for x in lines if x != ln)
                bad.append(BadRow(int(ln), f"{key} {int(k)} repeated on line {others} with different values"))
    identical = int(frame[~frame[key].isin(conflicting_keys)].duplicated(key).sum())
    frame = frame[~frame[key].isin(conflicting_keys)].drop_duplicates(key)
    return frame, bad, identical


def read_klines(path: Path | str, timeframe: str = "1m") -> ParsedFile:
    path = Path(path)
    step = timeframe_ms(timeframe)
    raw = _read_raw(path)
    layout, header, width = _layout(raw, path, "klines")
    if header:
        raw = raw.iloc[1:]
    sources = {"open_time": 0, **{k: i + 1 for i, k in enumerate(OHLCV)}}
    if layout == "binance":
        sources |= {"close_time": 6, "quote_volume": 7, "trade_count": 8, "taker_buy_volume": 9}
    parsed: dict[str, tuple[pd.Series, pd.Series]] = {}
    for name, col in sources.items():
        s = raw[col].fillna("").str.strip()
        if name in ("open_time", "close_time"):
            parsed[name] = _to_ms(s)
        else:
            num = pd.to_numeric(s, errors="coerce").astype("float64")
            parsed[name] = (num, num.isna() | ~np.isfinite(num))
    reason = _unparseable(raw, width, parsed, sources)
    frame = pd.DataFrame({("open_time_ms" if k == "open_time" else
                           "close_time_ms" if k == "close_time" else k): v for k, (v, _) in parsed.items()})
    ok = reason == ""
    semantic = check_klines(frame[ok], step)
    reason[semantic.index] = semantic
    bad = [BadRow(int(ln), r) for ln, r in reason[reason != ""].items()]
    good = frame[reason == ""].drop(columns=["close_time_ms"], errors="ignore")
    good = good.astype({"open_time_ms": np.int64})
    for extra in EXTRAS:
        if extra not in good:
            good[extra] = np.nan
    good, dup_bad, identical = _drop_duplicates(good, "open_time_ms", list(OHLCV + EXTRAS))
    bad = sorted(bad + dup_bad, key=lambda b: b.line)
    good = good.sort_values("open_time_ms")
    if len(good) >= 50:
        smallest = int(np.diff(good["open_time_ms"].to_numpy()).min())
        if smallest > step:
            raise FileRefused(f"{path}: the closest candles are {smallest // 60000} minutes apart, "
                              f"not {timeframe}: is --timeframe right?")
    return ParsedFile(path=path, layout=layout, rows_read=len(raw), frame=good.reset_index(drop=True),
                      bad=bad, duplicates_dropped=identical)


MAX_ABS_FUNDING = 0.05  # Binance caps BTCUSDT funding at ±3% per 8h; beyond 5% is a bad file


def read_funding(path: Path | str) -> ParsedFile:
    path = Path(path)
    raw = _read_raw(path)
    layout, header, width = _layout(raw, path, "funding")
    if header:
        raw = raw.iloc[1:]
    t = _to_ms(raw[0].fillna("").str.strip())
    rate = pd.to_numeric(raw[1].fillna("").str.strip(), errors="coerce").astype("float64")
    parsed = {"funding_time": t, "rate": (rate, rate.isna())}
    reason = _unparseable(raw, width, parsed, {"funding_time": 0, "rate": 1})
    tv = t[0]
    reason[(reason == "") & ((tv < 1_230_768_000_000) | (tv > 4_102_444_800_000))] = "funding time out of range"
    reason[(reason == "") & (rate.abs() > MAX_ABS_FUNDING)] = f"rate beyond ±{MAX_ABS_FUNDING}"
    bad = [BadRow(int(ln), r) for ln, r in reason[reason != ""].items()]
    good = pd.DataFrame({"time_ms": tv, "rate": rate})[reason == ""].astype({"time_ms": np.int64})
    good, dup_bad, identical = _drop_duplicates(good, "time_ms", ["rate"])
    bad = sorted(bad + dup_bad, key=lambda b: b.line)
    return ParsedFile(path=path, layout=layout, rows_read=len(raw),
                      frame=good.sort_values("time_ms").reset_index(drop=True), bad=bad,
                      duplicates_dropped=identical)
