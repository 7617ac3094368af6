"""Columnar analytics (engine/analytics/columns.py) equal the batch builder's documents,
field for field, on a few days of each real 1m file (with funding and taker volumes)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from engine.analytics.batch import build_cycles, derive_timeframes
from engine.analytics.columns import FLOW_LEAVES, build_columns
from engine.analytics.flow import prepare_derivatives
from engine.facts import FACTS, leaf_types
from engine.paths import shared_data_dir
from tests import fast_differential as D
from tests.rules_support import config

FUNDING = "btcusdt-perp-funding-8h.csv.gz"


@pytest.fixture(scope="module", params=D.FILES)
def period(request):
    data = shared_data_dir()
    if not (data / request.param).exists():
        pytest.skip(f"shared data absent: {data / request.param}")
    df = D.load(data / request.param)
    deriv = prepare_derivatives({"funding": pd.read_csv(data / FUNDING).to_numpy(), "candles_1m": df})
    # from the first candle: the first cycles see no closed candle of the larger timeframes
    t_from, t_to = D.period(df, days=2)
    return df.loc[:t_to - D.MINUTE], t_from, t_to, deriv


def test_columns_and_documents_equal_the_batch_builder(period):
    df, t_from, t_to, deriv = period
    frames = derive_timeframes(df)
    docs = build_cycles(df, t_from, t_to, config(), derivatives=deriv, with_flow=True, frames=frames)
    cols = build_columns(df, t_from, t_to, config(), derivatives=deriv, frames=frames)
    assert len(cols) == len(docs) > 500
    assert [c["t_ms"] for c in docs] == cols.times
    assert list(cols) == docs                      # every snapshot and flow document
    nones = 0
    for path in leaf_types(FACTS["snapshot"]):
        col = cols.snapshot.column(path)
        want = [D.get_path(c["snapshot"], path) for c in docs]
        assert col == want, path
        assert [type(v) for v in col] == [type(v) for v in want], path
        nones += want.count(None)
    assert nones > 0                               # the warm-up cycles had unknowns to compare too
    for path in FLOW_LEAVES:                       # the flow fields rules can read, kept as columns
        assert cols.column("flow", path) == [D.get_path(c["flow"], path) for c in docs], path
    assert len(FLOW_LEAVES) == len(leaf_types(FACTS["flow"])) > 50


@pytest.mark.parametrize("inputs", [None, "sentiment", "asked_none", "asked_sentiment"])
def test_flow_columns_without_histories_equal_the_documents(period, inputs):
    """No derivative histories: the flow leaves come from engine/analytics/flow_columns.py
    (the input-less parts once, the rest per cycle), equal to each cycle's document; with a
    human input the columns are read from the documents (the other path), equal too."""
    df, t_from, t_to, _ = period
    given: Any = None
    if inputs in ("sentiment", "asked_sentiment"):
        as_of = pd.Timestamp(t_from + 6 * 3_600_000, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        given = {"sentiment": {"score": 0.4, "label": "bullish", "as_of": as_of, "comment": None}}
    if inputs and inputs.startswith("asked"):      # as the command passes them: a function of the time
        doc = given or {}
        given = lambda t: {"etf": None, "liquidations": None, "sentiment": None, **doc}  # noqa: E731
    docs = build_cycles(df, t_from, t_to, config(), inputs=given, with_flow=True)
    cols = build_columns(df, t_from, t_to, config(), inputs=given)
    kinds = set()
    for path in FLOW_LEAVES:
        want = [D.get_path(c["flow"], path) for c in docs]
        col = cols.column("flow", path)
        assert col == want, path
        assert [type(v) for v in col] == [type(v) for v in want], path
        kinds.add(len(set(map(repr, want))) > 1)
    assert kinds == {True, False}        # fields that change over the cycles, and fields that do not


def test_timestamp_column_equals_iso_utc_of_each_time():
    """The cycles' timestamp_iso column (numpy for whole seconds) is iso_utc's text, year 1970
    to 9999, and a time with milliseconds takes iso_utc itself."""
    from engine.analytics.columns import _iso_column
    from engine.analytics.snapshot import iso_utc

    times = [*range(0, 253_402_300_800_000, 86_400_000 * 365 + 3_723_000), 253_402_300_799_000]
    assert _iso_column(times) == [iso_utc(t) for t in times]
    assert _iso_column([1_500, 0]) == ["1970-01-01T00:00:01.500Z", "1970-01-01T00:00:00Z"]
