"""Importing kline and funding files: layouts, bad lines, idempotence, derived timeframes."""

from __future__ import annotations

import gzip
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import peewee
import pytest
from click.testing import CliRunner

from cli.main import showdown
from connectors.db.candles import candles_between, coverage, upsert_candles
from connectors.db.derivatives import derivative_series
from connectors.db.models import Candle, Derivative
from connectors.market.market_files import read_klines
from connectors.market.market_import import ImportRefused, import_funding, import_klines

PERP_1M = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
PERP_15M = "btcusdt-perp-15m-2022-12-06_2025-12-10.csv.gz"
SPOT_DUMP = "btcusdt-spot-1m-2025-08-01_2025-08-11-binance-dump-format.csv.gz"


def perp_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt") as f:
        return f.read().splitlines()


def complete_buckets(open_times_ms: list[int], minutes: int) -> int:
    """Independent count: buckets (aligned to the epoch) holding all their minutes."""
    per_bucket = Counter(t // (minutes * 60_000) for t in open_times_ms)
    return sum(1 for n in per_bucket.values() if n == minutes)


def _count(tf: str) -> int:
    return Candle.select().where((Candle.symbol == "BTCUSDT") & (Candle.timeframe == tf)).count()


def test_full_perp_file_imports_derives_and_reimports_as_no_op(db: peewee.Database, shared_data: Path) -> None:
    path = shared_data / PERP_1M
    times = [int(line.split(",")[0]) for line in perp_lines(path)[1:]]
    report = import_klines(path)
    assert _count("1m") == 73_139 == len(times)
    expected = {"5m": complete_buckets(times, 5), "15m": complete_buckets(times, 15),
                "1h": complete_buckets(times, 60), "4h": complete_buckets(times, 240),
                "1d": complete_buckets(times, 1440)}
    assert {tf: _count(tf) for tf in expected} == expected
    assert expected["5m"] > 14_000 and expected["1h"] > 1_200  # the file really covers 7 weeks
    assert [(w.timeframe, w.new) for w in report.written] == [("1m", 73_139), *expected.items()]
    assert report.gaps == []

    def table() -> list[tuple]:
        # A fingerprint per timeframe: row ids (a delete + re-insert changes them) and values.
        return db.execute_sql(
            "SELECT timeframe, COUNT(*), SUM(id), MIN(open_time_ms), MAX(open_time_ms), "
            "ROUND(SUM(open + high + low + close), 2), ROUND(SUM(volume), 4) "
            "FROM candles GROUP BY timeframe ORDER BY timeframe").fetchall()

    snapshot = table()
    again = import_klines(path)
    assert all(w.new == 0 and w.updated == 0 for w in again.written)
    assert table() == snapshot

    # Real cross-check: our 15m equals the exchange's 15m, bar for bar, where they overlap.
    ref = pd.read_csv(shared_data / PERP_15M).set_index("open_time_ms")
    ours = candles_between("BTCUSDT", "15m", 0, 2**62)
    common = ours.index.intersection(ref.index)
    assert len(common) == len(ours) == expected["15m"]
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(ours.loc[common, col].to_numpy(), ref.loc[common, col].to_numpy(),
                                      err_msg=col)
    assert ours["taker_buy_volume"].isna().all()  # unknown in the source: unknown here


def _slice(shared_data: Path, tmp_path: Path, n: int = 120, corrupt: dict[int, str] | None = None) -> Path:
    lines = perp_lines(shared_data / PERP_1M)[: n + 1]
    for line_no, text in (corrupt or {}).items():
        lines[line_no - 1] = text
    out = tmp_path / "slice.csv"
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.mark.parametrize(
    ("make_bad", "reason"),
    [
        (lambda good: good.replace(",", ";", 1), "expected 6 fields"),
        (lambda good: ",".join([*good.split(",")[:2], "abc", *good.split(",")[3:]]), "high: cannot parse 'abc'"),
        (lambda good: ",".join([good.split(",")[0], "1", "2", "3", "1.5", "1"]), "high below low"),
        (lambda good: ",".join([good.split(",")[0], "5", "4", "1", "2", "1"]), "open outside [low, high]"),
        (lambda good: ",".join([good.split(",")[0], "-1", "-1", "-1", "-1", "1"]), "non-positive price"),
        (lambda good: ",".join([str(int(good.split(",")[0]) + 1), *good.split(",")[1:]]), "not aligned"),
    ],
)
# Refusal happens before the database is touched: SQLite is enough here (the CLI test
# below checks the refusal on MariaDB too).
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_corrupted_line_refuses_the_file_naming_the_line(db: peewee.Database, shared_data: Path,
                                                         tmp_path: Path, make_bad, reason: str) -> None:
    good = perp_lines(shared_data / PERP_1M)[57 - 1]
    path = _slice(shared_data, tmp_path, corrupt={57: make_bad(good)})
    with pytest.raises(ImportRefused) as info:
        import_klines(path)
    assert "slice.csv:57: " in str(info.value) and reason in str(info.value)
    assert Candle.select().count() == 0
    # --skip-bad imports the rest, says what it skipped, and reports the hole it leaves.
    report = import_klines(path, skip_bad=True)
    assert report.bad_count == 1 and "slice.csv:57:" in report.bad[0]
    assert _count("1m") == 119
    if "aligned" not in reason:
        assert len(report.gaps) == 1 and report.gaps[0].missing == 1


def test_duplicate_time_with_other_values_is_refused(db: peewee.Database, shared_data: Path, tmp_path: Path) -> None:
    lines = perp_lines(shared_data / PERP_1M)[:11]
    t, o, h, lo, c, v = lines[5].split(",")
    dup_same = lines[5]
    dup_other = ",".join([t, o, h, lo, c, str(float(v) + 1)])
    (tmp_path / "same.csv").write_text("\n".join([*lines, dup_same]) + "\n")
    (tmp_path / "other.csv").write_text("\n".join([*lines, dup_other]) + "\n")
    report = import_klines(tmp_path / "same.csv")
    assert report.duplicates_dropped == 1 and report.written[0].new == 10
    with pytest.raises(ImportRefused, match=r"other.csv:6: open_time_ms \d+ repeated on line 12"):
        import_klines(tmp_path / "other.csv")


def test_cli_refuses_corrupted_slice_and_writes_nothing(backend, shared_data: Path, tmp_path: Path) -> None:
    env = {**backend.env, "SHOWDOWN_HOME": str(backend.home.root)}
    runner = CliRunner()
    assert runner.invoke(showdown, ["db", "upgrade"], env=env).exit_code == 0
    path = _slice(shared_data, tmp_path, corrupt={31: "1746374520000,95000,94000,96000,95500,3"})
    result = runner.invoke(showdown, ["import", "klines", str(path)], env=env)
    assert result.exit_code == 1
    assert "slice.csv:31: high below low" in result.output and "nothing imported" in result.output
    from connectors.db import open_database

    db = open_database(backend.config, backend.home)
    try:
        assert Candle.select().count() == 0
    finally:
        db.close()
    ok = runner.invoke(showdown, ["import", "klines", str(_slice(shared_data, tmp_path))], env=env)
    assert ok.exit_code == 0, ok.output
    times = [int(x.split(",")[0]) for x in _slice(shared_data, tmp_path).read_text().splitlines()[1:]]
    assert "1m: 120 new" in ok.output and f"5m: {complete_buckets(times, 5)} new" in ok.output
    again = runner.invoke(showdown, ["import", "klines", str(_slice(shared_data, tmp_path))], env=env)
    assert "1m: 0 new, 0 updated, 120 unchanged" in again.output


def _spot_rows(shared_data: Path, n: int = 30) -> list[list[str]]:
    return [line.split(",") for line in perp_lines(shared_data / SPOT_DUMP)[1: n + 1]]


def test_binance_dump_layouts_all_read_the_same(shared_data: Path, tmp_path: Path) -> None:
    rows = _spot_rows(shared_data)
    ms = [int(pd.Timestamp(r[0]).value // 1_000_000) for r in rows]
    header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
    variants = {
        "iso.csv": [",".join(r) for r in rows],
        "ms_header.csv": [header] + [",".join([str(t), *r[1:6], str(t + 59_999), *r[7:]]) for t, r in zip(ms, rows)],
        "us_noheader.csv": [",".join([str(t * 1000), *r[1:6], str(t * 1000 + 59_999_999), *r[7:]])
                            for t, r in zip(ms, rows)],
    }
    frames = {}
    for name, lines in variants.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        frames[name] = read_klines(tmp_path / name).frame
    with zipfile.ZipFile(tmp_path / "BTCUSDT-1m-2025-08.zip", "w") as z:
        z.writestr("BTCUSDT-1m-2025-08.csv", "\n".join(variants["us_noheader.csv"]) + "\n")
    frames["zip"] = read_klines(tmp_path / "BTCUSDT-1m-2025-08.zip").frame
    base = frames["iso.csv"]
    assert list(base["open_time_ms"]) == ms
    assert base["taker_buy_volume"].iloc[0] == float(rows[0][9]) and base["trade_count"].iloc[0] == int(rows[0][8])
    for name, f in frames.items():
        pd.testing.assert_frame_equal(f, base, obj=name)


def test_wrong_timeframe_is_caught_by_close_time(shared_data: Path, tmp_path: Path) -> None:
    rows = _spot_rows(shared_data, 60)
    (tmp_path / "spot.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    parsed = read_klines(tmp_path / "spot.csv", "5m")
    assert parsed.bad and all("close time does not match" in b.reason or "aligned" in b.reason for b in parsed.bad)


def test_spot_dump_keeps_taker_volume_through_derivation(db: peewee.Database, shared_data: Path, tmp_path: Path) -> None:
    rows = _spot_rows(shared_data, 60)
    (tmp_path / "spot.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    import_klines(tmp_path / "spot.csv")
    m5 = candles_between("BTCUSDT", "5m", 0, 2**62)
    assert len(m5) == 12
    expected = sum(float(r[9]) for r in rows[:5])
    assert m5["taker_buy_volume"].iloc[0] == pytest.approx(expected, rel=1e-12)
    assert m5["trade_count"].iloc[0] == sum(int(r[8]) for r in rows[:5])


def test_interrupted_upsert_leaves_nothing(db: peewee.Database) -> None:
    rows = [{"open_time_ms": (28_000_000 + i) * 60_000, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5,
             "volume": 3.0} for i in range(2500)]

    def interrupt(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upsert_candles(rows, symbol="BTCUSDT", timeframe="1m", on_chunk=interrupt)
    assert Candle.select().count() == 0


def test_gap_between_files_is_reported_and_derived_buckets_join_up(db: peewee.Database, shared_data: Path,
                                                                   tmp_path: Path) -> None:
    lines = perp_lines(shared_data / PERP_1M)
    header, body = lines[0], lines[1:]
    # The file starts at 15:33; 15:35 opens the first 5m bucket. Split inside a bucket.
    (tmp_path / "a.csv").write_text("\n".join([header, *body[:10]]) + "\n")
    (tmp_path / "b.csv").write_text("\n".join([header, *body[10:40]]) + "\n")
    import_klines(tmp_path / "a.csv")
    n_a = _count("5m")
    import_klines(tmp_path / "b.csv")
    times = [int(x.split(",")[0]) for x in body[:40]]
    assert _count("5m") == complete_buckets(times, 5) > n_a
    (tmp_path / "holes.csv").write_text("\n".join([header, *body[100:110], *body[115:120]]) + "\n")
    report = import_klines(tmp_path / "holes.csv")
    assert [g.missing for g in report.gaps] == [5]
    cov = coverage("BTCUSDT")["1m"]
    assert cov.count == 55 and cov.missing == 60 + 5


def test_funding_import_is_idempotent(db: peewee.Database, shared_data: Path, tmp_path: Path) -> None:
    first = import_funding(shared_data / "btcusdt-perp-funding-8h.csv.gz")
    assert first.written[0].new == 6_417
    again = import_funding(shared_data / "btcusdt-perp-funding-8h.csv.gz")
    assert (again.written[0].new, again.written[0].updated, again.written[0].unchanged) == (0, 0, 6_417)
    assert Derivative.select().where(Derivative.kind == "funding_rate").count() == 6_417
    assert Derivative.get(Derivative.time_ms == 1568102400000).value == 0.0001
    series = derivative_series("BTCUSDT", "funding_rate", start_ms=1568102400000, end_ms=1568131200001)
    assert series.to_dict() == {1568102400000: 0.0001, 1568131200000: 0.0001}
    (tmp_path / "f.csv").write_text("funding_time_ms,rate\n1568102400000,0.0001\n1568131200000,oops\n")
    with pytest.raises(ImportRefused, match="f.csv:3: rate: cannot parse 'oops'"):
        import_funding(tmp_path / "f.csv")
