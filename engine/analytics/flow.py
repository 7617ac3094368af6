"""The flow context at cycle time T (PRODUCT.md §6, fields of engine.facts.FLOW).

Everything is filtered to what was known at T: derivative samples with ts <= T, 1m
candles closed by T, human inputs whose as_of <= T, ETF days finished by T (a day's
flow is complete at the next 00:00Z). Unknown stays None and weighs nothing.

`derivatives` (all optional; whole histories are fine, see prepare_derivatives):
    {"open_interest": [[ts_ms, value], ...], "funding": [[ts_ms, rate], ...],
     "mark_index": [[ts_ms, mark, index], ...],
     "candles_1m": DataFrame(index open_time_ms, volume, taker_buy_volume?)}
`inputs`: {"etf": canonical | None, "liquidations": canonical | None, "sentiment": canonical | None}
(canonical = the documents engine.inputs validators return).

The list of warnings is `warning_list` ([{type, severity, message}]); `warnings` is the
fact contract's scalar view (highest severity per type), `warning_counts` the tallies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from engine.analytics.params import DAY_MS, plain, section
from engine.analytics.snapshot import iso_utc
from engine.facts import WARNING_TYPES
from engine.inputs.common import ISO_Z, day_ms, iso_time
from engine.inputs.etf import summarise, totals, validate_etf

HOUR_MS = 3_600_000
SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}
OI_MAX_AGE_MS = 15 * 60_000       # an OI sample older than this is not "current"
MARK_MAX_AGE_MS = 5 * 60_000
FUNDING_MAX_AGE_MS = 9 * HOUR_MS  # funding settles every 8 h
PRICE_ACTION_AGAINST = {  # how much the 15m momentum already turns against the crowd side "long"
    "impulse_down": 1.0, "fading": 0.6, "choppy": 0.4, "neutral": 0.3, "impulse_up": 0.0}
PRICE_ACTION_AGAINST_SHORT = {"impulse_up": 1.0, "fading": 0.6, "choppy": 0.4, "neutral": 0.3, "impulse_down": 0.0}

Series = tuple[np.ndarray, np.ndarray]


def _series(raw: Any, cols: int = 2) -> tuple[np.ndarray, ...] | None:
    if raw is None:
        return None
    arr = np.asarray(raw, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < cols or len(arr) == 0:
        return None
    order = np.argsort(arr[:, 0], kind="stable")
    arr = arr[order]
    return tuple(np.ascontiguousarray(arr[:, i]) for i in range(cols))


def prepare_derivatives(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Sorted numpy arrays from the raw histories (do it once for many cycles)."""
    if raw is None:
        return {"prepared": True}
    if raw.get("prepared"):
        return dict(raw)
    out: dict[str, Any] = {"prepared": True}
    out["oi"] = _series(raw.get("open_interest"))
    out["funding"] = _series(raw.get("funding"))
    out["mark_index"] = _series(raw.get("mark_index"), 3)
    c = raw.get("candles_1m")
    if isinstance(c, pd.DataFrame) and not c.empty and "volume" in c.columns:
        tb = c["taker_buy_volume"].to_numpy(dtype=np.float64) if "taker_buy_volume" in c.columns else None
        out["candles_1m"] = (c.index.to_numpy(dtype=np.int64), c["volume"].to_numpy(dtype=np.float64), tb)
    else:
        out["candles_1m"] = None
    return out


def _at(series: tuple[np.ndarray, ...] | None, t_ms: int, max_age_ms: int, col: int = 1) -> float | None:
    """Last value with ts <= t, if no older than max_age."""
    if series is None:
        return None
    i = int(np.searchsorted(series[0], t_ms, side="right")) - 1
    if i < 0 or t_ms - series[0][i] > max_age_ms:
        return None
    v = float(series[col][i])
    return v if math.isfinite(v) else None


def _pct(new: float | None, old: float | None) -> float | None:
    return None if new is None or old is None or old == 0 else (new - old) / old * 100.0


def _cvd(candles: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None, t_ms: int, minutes: int,
         flat_pct: float) -> dict[str, Any] | None:
    """CVD over the `minutes` 1m candles closed by T: Σ(2·taker_buy − volume); None if any is unknown."""
    if candles is None or candles[2] is None:
        return None
    ot, vol, tb = candles
    if tb is None:
        return None
    lo = int(np.searchsorted(ot, t_ms - minutes * 60_000, side="left"))
    hi = int(np.searchsorted(ot, t_ms - 60_000, side="right"))
    if hi - lo != minutes:
        return None  # gap: not the whole window
    v, b = vol[lo:hi], tb[lo:hi]
    if not (np.isfinite(v).all() and np.isfinite(b).all()):
        return None
    value = math.fsum((2.0 * b - v).tolist())
    total = math.fsum(v.tolist())
    buy = math.fsum(b.tolist())
    direction = "flat" if abs(value) <= flat_pct / 100.0 * total else ("up" if value > 0 else "down")
    return {"value": value, "direction": direction, "buy": buy, "sell": total - buy}


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


def _iso_ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    return _parse_iso_ms(text)


@lru_cache(maxsize=256)
def _parse_iso_ms(text: str) -> int | None:
    """Cached: a batch reads the same inputs' as_of at every cycle."""
    if not ISO_Z.match(text):
        return None
    return iso_time(text, "$", [])


class Warnings:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, type_: str, severity: str, message: str) -> None:
        assert type_ in WARNING_TYPES and severity in SEVERITY_RANK
        self.items.append({"type": type_, "severity": severity, "message": message})

    def scalar(self) -> dict[str, str | None]:
        out: dict[str, str | None] = dict.fromkeys(WARNING_TYPES)
        for w in self.items:
            cur = out[w["type"]]
            if cur is None or SEVERITY_RANK[w["severity"]] > SEVERITY_RANK[cur]:
                out[w["type"]] = w["severity"]
        return out

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for w in self.items if w["severity"] == s) for s in ("high", "medium", "low")}


def _derivatives(d: dict[str, Any], t_ms: int, a: Mapping[str, Any], warn: Warnings) -> dict[str, Any]:
    p = a["derivatives"]
    oi_now = _at(d.get("oi"), t_ms, OI_MAX_AGE_MS)
    oi_then = _at(d.get("oi"), t_ms - 24 * HOUR_MS, HOUR_MS)
    oi_change = _pct(oi_now, oi_then)
    funding = d.get("funding")
    current = _at(funding, t_ms, FUNDING_MAX_AGE_MS)
    avg = None
    if funding is not None:
        lo = int(np.searchsorted(funding[0], t_ms - 24 * HOUR_MS, side="right"))
        hi = int(np.searchsorted(funding[0], t_ms, side="right"))
        vals = [float(x) for x in funding[1][lo:hi] if math.isfinite(x)]
        avg = math.fsum(vals) / len(vals) if vals else None
    mark = _at(d.get("mark_index"), t_ms, MARK_MAX_AGE_MS, 1)
    index = _at(d.get("mark_index"), t_ms, MARK_MAX_AGE_MS, 2)
    basis = mark - index if mark is not None and index is not None else None
    cvd = {tf: _cvd(d.get("candles_1m"), t_ms, m, float(p["cvd_flat_pct"])) for tf, m in (("tf_1h", 60), ("tf_4h", 240))}
    if cvd["tf_1h"] is None or cvd["tf_4h"] is None:
        warn.add("cvd_unknown", "low", "CVD unknown: no taker-buy volume for the whole window")
    c1 = cvd["tf_1h"]
    extreme = float(p["funding_extreme"])
    if current is not None and abs(current) >= extreme:
        sev = "high" if abs(current) >= 2 * extreme else "medium"
        warn.add("extreme_funding", sev, f"funding {current * 100:+.4f}% per 8 h (extreme from ±{extreme * 100:.4f}%)")
    if oi_change is not None and abs(oi_change) >= float(p["oi_extreme_pct"]):
        sev = "high" if abs(oi_change) >= 2 * float(p["oi_extreme_pct"]) else "medium"
        warn.add("extreme_oi", sev, f"open interest {oi_change:+.1f}% in 24 h")
    return {
        "oi": {"value": oi_now, "change_24h": oi_change},
        "funding": {"current": current, "avg_24h": avg},
        "cvd": {tf: {"value": c["value"] if c else None, "direction": c["direction"] if c else None}
                for tf, c in cvd.items()},
        "basis": {"value": basis, "pct": basis / index * 100.0 if basis is not None and index else None},
        "taker": {"buy_volume": c1["buy"] if c1 else None, "sell_volume": c1["sell"] if c1 else None,
                  "ratio": c1["buy"] / c1["sell"] if c1 and c1["sell"] > 0 else None},
    }


def _etf(etf: Any, t_ms: int, cfg: Mapping[str, Any], warn: Warnings) -> tuple[dict[str, Any], float]:
    """etp_summary and the weight of the ETF reading (0 unknown, stale weight, or 1)."""
    a = cfg["analytics"]
    none = {"last_7d_total": None, "last_3d_total": None, "trend": None, "signal": None, "comment": None,
            "stale": True, "last_date": None}
    as_of = _iso_ms(etf.get("as_of")) if isinstance(etf, dict) else None
    if etf is None or (as_of is not None and as_of > t_ms):
        warn.add("etf_data_stale", "medium", "no ETF flow input known at this time")
        return none, 0.0
    doc, problems = validate_etf(etf)
    if doc is None:
        warn.add("etf_data_invalid", "high", f"ETF input invalid: {problems[0]} ({len(problems)} problem(s))")
        return none, 0.0
    known = [h for h in doc["history"] if day_ms(date.fromisoformat(h["date"])) + DAY_MS <= t_ms]
    flows = [float(h["net_flow_usd"]) for h in known]
    if not known:
        warn.add("etf_data_stale", "medium", "no ETF day complete at this time")
        return none, 0.0
    l7, l3 = totals(flows)
    info = dict(doc["summary"]) if len(known) == len(doc["history"]) else summarise(flows, a["etf"])
    last = date.fromisoformat(known[-1]["date"])
    age_days = (t_ms // DAY_MS) - (day_ms(last) // DAY_MS)
    stale = age_days > float(cfg["inputs"]["etf_stale_days"])
    if stale:
        warn.add("etf_data_stale", "medium", f"last ETF day {last} is {age_days} days back")
    strong = float(a["etf"]["strong_flow_usd"])
    if l3 <= -strong:
        warn.add("etf_strong_outflow", "medium" if stale else "high", f"ETF outflows {l3 / 1e6:.0f}M USD over 3 days")
    elif l3 >= strong:
        warn.add("etf_strong_inflow", "low" if stale else "medium", f"ETF inflows {l3 / 1e6:+.0f}M USD over 3 days")
    summary = {"last_7d_total": l7, "last_3d_total": l3, "trend": info["trend"], "signal": info["signal"],
               "comment": info["comment"], "stale": stale, "last_date": known[-1]["date"]}
    return summary, (float(a["stale_input_weight"]) if stale else 1.0)


def _liquidations(liq: Any, price: float | None, t_ms: int, cfg: Mapping[str, Any],
                  warn: Warnings) -> tuple[dict[str, Any], dict[str, Any], float]:
    a = cfg["analytics"]
    as_of = _iso_ms(liq.get("as_of")) if isinstance(liq, dict) else None
    scal: dict[str, Any] = {k: None for k in (
        "nearest_below_price", "nearest_below_strength", "nearest_below_distance_pct",
        "nearest_above_price", "nearest_above_strength", "nearest_above_distance_pct",
        "max_strength_below", "max_strength_above")}
    if liq is None or as_of is None or as_of > t_ms:
        warn.add("liq_data_stale", "medium", "no liquidation map known at this time")
        scal["stale"] = True
        return {"below_price": [], "above_price": [], "as_of": None, "current_price": None}, scal, 0.0
    zones_doc = {"below_price": liq["below_price"], "above_price": liq["above_price"], "as_of": liq["as_of"],
                 "current_price": liq["current_price"]}
    age_h = (t_ms - as_of) / HOUR_MS
    stale = age_h > float(cfg["inputs"]["liquidation_stale_hours"])
    scal["stale"] = stale
    if stale:
        warn.add("liq_data_stale", "medium", f"liquidation map is {age_h:.1f} h old")
    ref = price if price is not None else float(liq["current_price"])
    zones = list(liq["below_price"]) + list(liq["above_price"])
    below = sorted((z for z in zones if z["price"] <= ref), key=lambda z: -z["price"])
    above = sorted((z for z in zones if z["price"] > ref), key=lambda z: z["price"])
    for name, lst in (("below", below), ("above", above)):
        if lst:
            z = lst[0]
            scal[f"nearest_{name}_price"] = float(z["price"])
            scal[f"nearest_{name}_strength"] = float(z["strength"])
            scal[f"nearest_{name}_distance_pct"] = abs(ref - z["price"]) / ref * 100.0
            scal[f"max_strength_{name}"] = float(max(z["strength"] for z in lst))
        lp = a["liquidation"]
        near = [z for z in lst if z["strength"] >= lp["strong_strength"]
                and abs(ref - z["price"]) / ref * 100.0 <= lp["near_pct"]]
        if near:
            z = max(near, key=lambda z: z["strength"])
            sev = "low" if stale else ("high" if z["strength"] >= 0.9 else "medium")
            warn.add(f"liq_cluster_{name}", sev, f"{z['side']} liquidation cluster {z['strength']:.1f} at "
                                                 f"{z['price']:g}, {abs(ref - z['price']) / ref * 100:.2f}% {name}")
    return zones_doc, scal, (float(a["stale_input_weight"]) if stale else 1.0)


def _sentiment(s: Any, t_ms: int, cfg: Mapping[str, Any], warn: Warnings) -> tuple[dict[str, Any], float]:
    as_of = _iso_ms(s.get("as_of")) if isinstance(s, dict) else None
    if s is None or as_of is None or as_of > t_ms:
        warn.add("sentiment_missing", "medium", "no news sentiment: counted as neutral")
        return {"score": 0.0, "label": "neutral", "stale": False, "as_of": None, "comment": None, "missing": True}, 0.0
    age_h = (t_ms - as_of) / HOUR_MS
    stale = age_h > float(cfg["inputs"]["sentiment_stale_hours"])
    if stale:
        warn.add("sentiment_stale", "low", f"news sentiment is {age_h:.0f} h old")
    score = float(s["score"])
    if abs(score) >= float(cfg["analytics"]["sentiment"]["extreme_abs"]):
        warn.add("sentiment_extreme", "medium", f"news sentiment {score:+g} ({s['label']})")
    doc = {"score": score, "label": s["label"], "stale": stale, "as_of": s["as_of"], "comment": s["comment"],
           "missing": False}
    return doc, (float(cfg["analytics"]["stale_input_weight"]) if stale else 1.0)


def _crowd(snapshot: Mapping[str, Any], deriv: Mapping[str, Any], a: Mapping[str, Any]) -> dict[str, Any]:
    """bias in [-1, 1] (+ = longs crowded) from funding, OI change, taker ratio, price position."""
    c = a["crowd"]
    parts: dict[str, tuple[float, float]] = {}
    funding = deriv["funding"]["current"]
    if funding is not None:
        parts["funding"] = (float(c["weight_funding"]), _clip(funding / a["derivatives"]["funding_extreme"]))
    price = snapshot.get("price")
    sw = (snapshot.get("swings") or {}).get("tf_1h") or {}
    pos = None
    if price is not None and sw.get("high") is not None and sw.get("low") is not None and sw["high"] > sw["low"]:
        pos = _clip((price - sw["low"]) / (sw["high"] - sw["low"]), 0.0, 1.0)
        parts["price"] = (float(c["weight_price"]), 2 * pos - 1)
    oi = deriv["oi"]["change_24h"]
    if oi is not None and pos is not None:
        parts["oi"] = (float(c["weight_oi"]), _clip(oi / a["derivatives"]["oi_extreme_pct"], 0.0, 1.0) * (2 * pos - 1))
    ratio = deriv["taker"]["ratio"]
    if ratio is not None and ratio > 0:
        parts["taker"] = (float(c["weight_taker"]), _clip(math.log(ratio) / math.log(1 + c["taker_ratio_extreme"])))
    wsum = math.fsum(w for w, _ in parts.values())
    if not parts or wsum <= 0:
        return {"bias_score": None, "bias_side": None, "description": "unknown: no funding, OI, taker or price data",
                "bias": None}
    bias = math.fsum(w * x for w, x in parts.values()) / wsum
    side = "long" if bias > c["neutral_band"] else "short" if bias < -c["neutral_band"] else "neutral"
    bits = [f"{k} {x:+.2f}" for k, (_, x) in sorted(parts.items())]
    who = {"long": "longs crowded", "short": "shorts crowded", "neutral": "no crowded side"}[side]
    return {"bias_score": abs(bias), "bias_side": side, "description": f"{who} ({', '.join(bits)})", "bias": bias}


def _trap(snapshot: Mapping[str, Any], crowd: Mapping[str, Any], liq: Mapping[str, Any], liq_weight: float,
          a: Mapping[str, Any]) -> dict[str, Any]:
    """Fuel against the crowded side: crowd reading, liquidations on its side, price turning."""
    t = a["trap"]
    max_d = float(a["liquidation"]["trap_max_distance_pct"])

    def fuel(name: str) -> float | None:
        s, d = liq[f"nearest_{name}_strength"], liq[f"nearest_{name}_distance_pct"]
        if liq_weight <= 0:
            return None
        if s is None:
            return 0.0
        return s * max(0.0, 1.0 - d / max_d) * liq_weight

    below, above = fuel("below"), fuel("above")
    side = crowd.get("bias_side")
    if side not in ("long", "short"):
        if below is None and above is None:
            # say what is missing: a neutral crowd is a reading (no crowded side), not an absence
            crowd_said = ("no crowd reading" if crowd.get("bias_score") is None
                          else f"crowd {side or 'neutral'}, no crowded side to trap")
            return {"score": None, "side": None, "comment": f"unknown: {crowd_said} and no liquidation map"}
        side = "long" if (below or 0.0) >= (above or 0.0) else "short"
        crowd_part = 0.0 if crowd.get("bias_score") is not None else None
    else:
        crowd_part = crowd["bias_score"]
    liquidity = below if side == "long" else above
    state = ((snapshot.get("momentum") or {}).get("tf_15m") or {}).get("state")
    table = PRICE_ACTION_AGAINST if side == "long" else PRICE_ACTION_AGAINST_SHORT
    action = table.get(state) if state else None
    parts = [(t["weight_crowd"], crowd_part), (t["weight_liquidity"], liquidity), (t["weight_price_action"], action)]
    known = [(float(w), float(x)) for w, x in parts if x is not None]
    wsum = math.fsum(w for w, _ in known)
    if not known or wsum <= 0:
        return {"score": None, "side": side, "comment": "unknown"}
    score = _clip(math.fsum(w * x for w, x in known) / wsum, 0.0, 1.0)
    where = "below" if side == "long" else "above"
    return {"score": score, "side": side,
            "comment": f"{side}s at risk: crowd {_fmt(crowd_part)}, liquidations {where} {_fmt(liquidity)}, "
                       f"15m momentum {state or 'unknown'}"}


def _fmt(x: float | None) -> str:
    return "unknown" if x is None else f"{x:.2f}"


def _risk(snapshot: Mapping[str, Any], etf: Mapping[str, Any], etf_w: float, sent: Mapping[str, Any], sent_w: float,
          trap: Mapping[str, Any], counts: Mapping[str, int], warn_scalar: Mapping[str, Any],
          a: Mapping[str, Any]) -> dict[str, Any]:
    score = 0.5
    if etf["last_3d_total"] is not None:
        score += 0.15 * _clip(etf["last_3d_total"] / a["etf"]["strong_flow_usd"]) * etf_w
    score += 0.10 * (sent["score"] / 2.0) * sent_w
    score -= 0.15 * counts["high"] + 0.05 * counts["medium"] + 0.01 * counts["low"]
    regime = (snapshot.get("session") or {}).get("volatility_regime")
    score -= {"high": 0.10, "low": 0.05}.get(regime or "", 0.0)
    if trap.get("score") is not None:
        score -= 0.10 * trap["score"]
    score = _clip(score, 0.0, 1.0)
    if warn_scalar.get("market_data_stale"):
        score = 0.0  # never trade on stale market data
    b = a["risk_score"]
    mode = ("risk_off" if score < b["cautious_from"] else "cautious_risk_on" if score < b["neutral_from"]
            else "neutral" if score < b["aggressive_from"] else "aggressive_risk_on")
    return {"global_score": score, "mode": mode}


def build_flow(snapshot: Mapping[str, Any], derivatives: Mapping[str, Any] | None,
               inputs: Mapping[str, Any] | None, t_ms: int, config: Any) -> dict[str, Any]:
    """Flow document at T (see the module docstring for the shapes of the arguments)."""
    cfg = plain(config)
    a = section(config, "analytics")
    inputs = inputs or {}
    warn = Warnings()
    age = snapshot.get("data_age_s")
    if snapshot.get("price") is None or age is None or age > float(a["market_data_stale_s"]):
        what = "no closed candle" if age is None else f"last closed candle {age:.0f} s old"
        warn.add("market_data_stale", "high", f"market data stale: {what}")
    deriv = _derivatives(prepare_derivatives(derivatives), t_ms, a, warn)
    etf, etf_w = _etf(inputs.get("etf"), t_ms, cfg, warn)
    zones, liq, liq_w = _liquidations(inputs.get("liquidations"), snapshot.get("price"), t_ms, cfg, warn)
    sent, sent_w = _sentiment(inputs.get("sentiment"), t_ms, cfg, warn)
    crowd = _crowd(snapshot, deriv, a)
    trap = _trap(snapshot, crowd, liq, liq_w, a)
    scalar, counts = warn.scalar(), warn.counts()
    risk = _risk(snapshot, etf, etf_w, sent, sent_w, trap, counts, scalar, a)
    return {
        "symbol": cfg.get("symbol", "BTCUSDT"),
        "timestamp_iso": iso_utc(t_ms),
        "timestamp_ms": int(t_ms),
        "derivatives": deriv,
        "etp_summary": etf,
        "liquidation_zones": zones,
        "liquidation": liq,
        "crowd": crowd,
        "trap_index": trap,
        "news_sentiment": sent,
        "warning_list": warn.items,
        "warnings": scalar,
        "warning_counts": counts,
        "risk": risk,
    }
