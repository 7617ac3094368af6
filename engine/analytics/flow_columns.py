"""The flow fields rules read, over all cycles, without a flow document a cycle (issue 16).

build_flow (flow.py) assembles an ~8 KB document per cycle: dated strings, warning
messages, zone lists. A backtest's rules read its 58 leaves (engine.facts.FLOW), and
when the run has no human inputs (no ETF, liquidation map or sentiment document) most of
them are the same at every cycle: the inputs' parts are what build_flow answers for a
missing input, whatever the time. Here those parts are computed once; per cycle only the
time-dependent derivatives (when histories are given), the market-data staleness, the
crowd, the trap and the risk are, by flow.py's own functions on the same arguments, so
every value is build_flow's own, bit for bit (tests/test_analytics_columns.py).
A run with an input at any cycle takes the per-cycle documents (None here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

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
    volatility_regime); `deriv`: prepare_derivatives' output; `inputs`: as build_flow's,
    or a function of the time giving them (each cycle's asked)."""
    if callable(inputs):    # inputs as of each time (the command's stored inputs): none at any cycle?
        if not all(_no_inputs(inputs(t)) for t in times):
            return None
    elif not _no_inputs(inputs):
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
    if not timed and liq_w <= 0 and etf["last_3d_total"] is None and fixed_deriv is not None and all(
            v is None for v in (fixed_deriv["funding"]["current"], fixed_deriv["oi"]["change_24h"],
                                fixed_deriv["taker"]["ratio"])):
        per_cycle = _without_histories(view, stale_s, tallies, etf, etf_w, sent, sent_w, a)
        return {p: per_cycle[p] if p in per_cycle else _same(v, n)
                for p, v in zip(paths, _reader(paths)({**fixed_doc, **_EMPTY}), strict=True)}
    read = _reader(varying)
    cols: dict[str, Any] = {p: [] for p in varying}
    values: list[tuple[Any, ...]] = []
    for i in range(n):
        if len(values) == _BLOCK:   # into the columns by blocks: a year's rows of tuples are never all held
            _extend(cols, varying, values)
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
    _extend(cols, varying, values)
    fixed = [p for p in paths if p not in cols]
    for p, v in zip(fixed, _reader(fixed)(fixed_doc) if fixed else (), strict=True):
        cols[p] = _same(v, n)
    return {p: cols[p] for p in paths}


_BLOCK = 4096


def _extend(cols: dict[str, Any], paths: Sequence[str], values: list[tuple[Any, ...]]) -> None:
    """Rows of values (one tuple a cycle, in `paths` order) appended to the columns; `values` emptied."""
    for p, col in zip(paths, zip(*values, strict=True), strict=True):
        cols[p].extend(col)
    values.clear()


def _same(v: Any, n: int) -> Any:
    """A column with one value at every cycle, as columns.Packed keeps it: a float (or unknown)
    as float64 (NaN: unknown), an int as int64, anything else a list (a year's list of 105,000
    references, then its array beside it, was 1.6 MB a column, ~50 such columns)."""
    if v is None or type(v) is float:
        return np.full(n, np.nan if v is None else v)
    if type(v) is int:
        return np.full(n, v, dtype=np.int64)
    return [v] * n


# the flow fields that change from cycle to cycle without inputs (derivatives too with histories)
_PER_CYCLE = frozenset(("timestamp_iso", "timestamp_ms", "crowd", "trap_index", "warnings", "warning_counts", "risk"))


def _reader(paths: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    from engine.analytics.columns import _leaf_reader  # (columns imports this module)
    return _leaf_reader(paths)


_EMPTY: dict[str, Any] = {k: {} for k in _PER_CYCLE}


def _clipped(x: np.ndarray) -> np.ndarray:
    """flow._clip(x, 0.0, 1.0) = max(0.0, min(1.0, x)), the same floats (a tie keeps the bound)."""
    x = np.where(x < 1.0, x, 1.0)
    return np.where(x > 0.0, x, 0.0)


def _floats(col: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in col], dtype=np.float64)


def _without_histories(view: Mapping[str, Sequence[Any]], stale_s: float, tallies: Mapping[bool, Any],
                       etf: Mapping[str, Any], etf_w: float, sent: Mapping[str, Any], sent_w: float,
                       a: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The per-cycle flow leaves when no derivative history and no input is known: the crowd
    has only its price part (funding, OI and taker unknown), the trap no liquidity part (no
    map), the risk no ETF part. flow.py's arithmetic, elementwise in float64 (the same IEEE
    operations in the same order; a math.fsum of one or two terms is their plain sum),
    over all cycles at once; only the texts are formatted per cycle."""
    n = len(view["price"])
    price, hi, lo = _floats(view["price"]), _floats(view["swing_high"]), _floats(view["swing_low"])
    age = _floats(view["data_age_s"])
    stale = np.isnan(price) | np.isnan(age) | (age > stale_s)
    c, t = a["crowd"], a["trap"]
    with np.errstate(invalid="ignore", divide="ignore"):
        has = ~np.isnan(price) & ~np.isnan(hi) & ~np.isnan(lo) & (hi > lo)
        x = 2 * _clipped((price - lo) / (hi - lo)) - 1
    w = float(c["weight_price"])
    bias = (w * x) / w                  # fsum([w * x]) / fsum([w])
    band = c["neutral_band"]
    side = np.where(bias > band, "long", np.where(bias < -band, "short", "neutral"))
    who = {"long": "longs crowded", "short": "shorts crowded", "neutral": "no crowded side"}
    has_l, x_l, side_l, score_l = has.tolist(), x.tolist(), side.tolist(), np.abs(bias).tolist()
    crowd_score = [s if h else None for h, s in zip(has_l, score_l, strict=True)]
    crowd_side = [s if h else None for h, s in zip(has_l, side_l, strict=True)]
    crowd_text = [f"{who[s]} (price {v:+.2f})" if h else "unknown: no funding, OI, taker or price data"
                  for h, s, v in zip(has_l, side_l, x_l, strict=True)]
    # the trap: a crowded side (long / short) and the 15m momentum's turn against it
    states = list(view["momentum_state"])
    wc, wpa = float(t["weight_crowd"]), float(t["weight_price_action"])
    crowded = has & (side != "neutral")
    act = np.array([(F.PRICE_ACTION_AGAINST if sd == "long" else F.PRICE_ACTION_AGAINST_SHORT).get(st, np.nan)
                    if st else np.nan for sd, st in zip(side_l, states, strict=True)], dtype=np.float64)
    cp = np.abs(bias)
    with np.errstate(invalid="ignore"):
        two = _clipped((wc * cp + wpa * act) / (wc + wpa))
        one = _clipped((wc * cp) / wc)
    trap = np.where(np.isnan(act), one, two)
    crowded_l, trap_l = crowded.tolist(), trap.tolist()
    trap_score = [v if k else None for k, v in zip(crowded_l, trap_l, strict=True)]
    trap_side = [s if k else None for k, s in zip(crowded_l, side_l, strict=True)]
    trap_text = []
    for k, h, sd, sc, st in zip(crowded_l, has_l, side_l, score_l, states, strict=True):
        if k:
            trap_text.append(f"{sd}s at risk: crowd {F._fmt(sc)}, liquidations {'below' if sd == 'long' else 'above'} "
                             f"unknown, 15m momentum {st or 'unknown'}")
        else:
            said = "no crowd reading" if not h else f"crowd {sd or 'neutral'}, no crowded side to trap"
            trap_text.append(f"unknown: {said} and no liquidation map")
    # the risk: _risk's steps in its order
    base = 0.5
    if etf["last_3d_total"] is not None:
        base += 0.15 * F._clip(etf["last_3d_total"] / a["etf"]["strong_flow_usd"]) * etf_w
    base += 0.10 * (sent["score"] / 2.0) * sent_w
    minus = {k: 0.15 * cn["high"] + 0.05 * cn["medium"] + 0.01 * cn["low"] for k, (_, cn) in tallies.items()}
    score = base - np.where(stale, minus[True], minus[False])
    score = score - np.array([{"high": 0.10, "low": 0.05}.get(r or "", 0.0) for r in view["regime"]])
    score = np.where(crowded, score - 0.10 * trap, score)
    score = np.where(stale, 0.0, _clipped(score))
    b = a["risk_score"]
    mode = np.where(score < b["cautious_from"], "risk_off", np.where(
        score < b["neutral_from"], "cautious_risk_on", np.where(score < b["aggressive_from"], "neutral",
                                                                 "aggressive_risk_on")))
    stale_l = stale.tolist()
    out: dict[str, list[Any]] = {
        "timestamp_iso": list(view["timestamp_iso"]), "crowd.bias_score": crowd_score, "crowd.bias_side": crowd_side,
        "crowd.description": crowd_text, "trap_index.score": trap_score, "trap_index.side": trap_side,
        "trap_index.comment": trap_text, "risk.global_score": score.tolist(), "risk.mode": mode.tolist()}
    for kind, pick in (("warnings", 0), ("warning_counts", 1)):
        for key in tallies[False][pick]:
            vals = {st: tallies[st][pick][key] for st in (False, True)}
            out[f"{kind}.{key}"] = [vals[s] for s in stale_l] if vals[False] != vals[True] else [vals[False]] * n
    return out
