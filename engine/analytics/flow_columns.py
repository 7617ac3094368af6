"""The flow fields rules read, over all cycles, without a flow document a cycle (issue 16).

build_flow (flow.py) assembles an ~8 KB document per cycle: dated strings, warning
messages, zone lists. A backtest's rules read its 58 leaves (engine.facts.FLOW), and
when the run has no human inputs (no ETF, liquidation map or sentiment document) most of
them are the same at every cycle: the inputs' parts are what build_flow answers for a
missing input, whatever the time. Here those parts are computed once; per cycle only the
time-dependent derivatives (when histories are given), the market-data staleness, the
crowd, the trap and the risk are, by flow.py's own functions on the same arguments, so
every value is build_flow's own, bit for bit (tests/test_analytics_columns.py).
A run with inputs takes the per-cycle documents (None here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.analytics import flow as F
from engine.analytics.params import plain, section


def _no_inputs(inputs: Any) -> bool:
    return inputs is None or (isinstance(inputs, Mapping) and not any(inputs.get(k) is not None
                                                                     for k in ("etf", "liquidations", "sentiment")))


def flow_leaf_columns(view: Mapping[str, Sequence[Any]], times: Sequence[int], deriv: Mapping[str, Any],
                      inputs: Any, config: Any, paths: Sequence[str]) -> dict[str, list[Any]] | None:
    """{leaf path: [value per cycle]} for `paths` (FLOW_LEAVES), or None when the run has
    inputs (the caller builds the documents). `view`: the snapshot columns build_flow reads
    (price, data_age_s, swing_high / swing_low of tf_1h, momentum_state of tf_15m,
    volatility_regime); `deriv`: prepare_derivatives' output."""
    if callable(inputs) or not _no_inputs(inputs):
        return None
    n = len(times)
    cfg, a = plain(config), section(config, "analytics")
    stale_s = float(a["market_data_stale_s"])
    # the parts a missing input gives at any time (their warnings included), once
    const = F.Warnings()
    etf, etf_w = F._etf(None, 0, cfg, const)
    _zones, liq, liq_w = F._liquidations(None, None, 0, cfg, const)
    sent, sent_w = F._sentiment(None, 0, cfg, const)
    timed = any(deriv.get(k) is not None for k in ("oi", "funding", "mark_index", "candles_1m"))
    fixed_warn = F.Warnings()
    histories = dict(deriv)
    fixed_deriv = None if timed else F._derivatives(histories, 0, a, fixed_warn)
    base = {"symbol": cfg.get("symbol", "BTCUSDT"), "etp_summary": etf, "liquidation": liq, "news_sentiment": sent}
    # what is the same at every cycle is read once; the rest per cycle
    fixed_doc = {**base, "derivatives": fixed_deriv}
    varying = [p for p in paths if p.split(".")[0] in _PER_CYCLE or (timed and p.startswith("derivatives."))]
    price, age = view["price"], view["data_age_s"]
    highs, lows, states, regimes = view["swing_high"], view["swing_low"], view["momentum_state"], view["regime"]
    iso = view["timestamp_iso"]
    # without histories a cycle's warnings are the fixed ones, with or without the stale-data
    # one: the tallies (the scalars and counts, not the messages) of both, once
    tallies = {}
    if not timed:
        for stale in (False, True):
            w = F.Warnings()
            if stale:
                w.add("market_data_stale", "high", "market data stale")
            w.items += fixed_warn.items + const.items
            tallies[stale] = (w.scalar(), w.counts())
    read = _reader(varying)
    values = []
    for i in range(n):
        p, ag = price[i], age[i]
        stale = p is None or ag is None or ag > stale_s
        if timed:
            warn = F.Warnings()
            if stale:
                warn.add("market_data_stale", "high", "market data stale")
            d: Any = F._derivatives(histories, times[i], a, warn)
            warn.items += const.items
            scalar, counts = warn.scalar(), warn.counts()
        else:
            d = fixed_deriv
            scalar, counts = tallies[stale]
        snap = {"price": p, "swings": {"tf_1h": {"high": highs[i], "low": lows[i]}},
                "momentum": {"tf_15m": {"state": states[i]}}, "session": {"volatility_regime": regimes[i]}}
        crowd = F._crowd(snap, d, a)
        trap = F._trap(snap, crowd, liq, liq_w, a)
        risk = F._risk(snap, etf, etf_w, sent, sent_w, trap, counts, scalar, a)
        values.append(read({"timestamp_iso": iso[i], "derivatives": d, "crowd": crowd, "trap_index": trap,
                            "warnings": scalar, "warning_counts": counts, "risk": risk}))
    cols: dict[str, list[Any]] = {p: list(col) for p, col in zip(varying, zip(*values, strict=True), strict=True)} \
        if values else {p: [] for p in varying}
    fixed = [p for p in paths if p not in cols]
    for p, v in zip(fixed, _reader(fixed)(fixed_doc) if fixed else (), strict=True):
        cols[p] = [v] * n
    return {p: cols[p] for p in paths}


# the flow fields that change from cycle to cycle without inputs (derivatives too with histories)
_PER_CYCLE = frozenset(("timestamp_iso", "timestamp_ms", "crowd", "trap_index", "warnings", "warning_counts", "risk"))


def _reader(paths: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    from engine.analytics.columns import _leaf_reader  # (columns imports this module)
    return _leaf_reader(paths)
