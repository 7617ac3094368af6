"""Cross-check with freqtrade: our backtester runs a YAML port, freqtrade's backtester runs
the ORIGINAL Python strategy, on the same candles; trades are compared one by one (side,
entry and exit time and price). freqtrade runs in its own virtualenv through
tests/bench/freqtrade_driver.py (tests/bench/bench_freqtrade.py installs it); it is never a
dependency of the product.

Fill model, aligned and where it cannot be, documented (each difference is counted under
its cause by `explain`):
- Decisions. freqtrade reads the signal of the candle that closed at T and enters at the
  open of the next one, at T. Ours decides at the cycle T on the candles closed by T and
  enters at market at T (`--fill market`, decisions older than 10 s are stale, so an exit
  between two cycles never re-enters on an old decision). Entries only when flat: the
  ports say `position.side: {eq: flat}`, as freqtrade opens no second trade.
- Price at T. freqtrade fills at the candle's open; our simulator fills a market order at
  the last trade price, the close of the 1m candle before T. Binance's open of a candle is
  the first trade in it, so the two can differ by a few ticks: counted as `open_vs_close`.
- ROI. freqtrade's minimal_roi is a take-profit whose distance steps with the trade's age
  (checked at each candle with the age at its open). Ours: the entry sets the first step
  as its targets, and manage rules move the target at each cycle by the age then — the
  same steps at the same times. A step that puts the target behind the price: freqtrade
  exits at the candle's open, ours at market at T (the same open_vs_close caveat).
- Stop and target inside a candle. freqtrade sees one candle of the strategy's timeframe
  and, when the stop and the ROI are both in its range, takes the stop; ours follows the
  1m candles (stops before targets only within one 1m candle): counted as
  `stop_and_target_in_one_candle` (the two exit reasons differ). A stop our 1m path
  finds gapped through fills at that 1m open, freqtrade's at its level when the candle's
  range holds it: `gap_inside_candle` (our price is a 1m open inside that candle).
  When the entry prices differ that way, the stop and targets (percents of the entry)
  differ by as much and may be reached at another candle: `open_vs_close_moved_exit`.
- Level rounding: both put stops and targets on the 0.1 tick — the ROI rate to the
  nearest tick, a rule's stop toward the price; a level that still lands one tick apart
  is counted as `tick_rounding`.
- Reversal on the exit candle. With can_short, when a trade closes inside a candle and the
  signal points the other way, freqtrade opens the new trade at the open of that same
  candle (before the exit, in time). Ours enters at the next cycle: `reversal_same_candle`.
- A trade that closes at a different time moves the next entry: the trades after it until
  a pair closes at the same time again are counted as `follows_earlier_difference`.
- End of the period: both close what is open at the last close.
- No fees (--fee 0), funding 0 on both sides, one pair, one trade at a time.
"""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.loops.backtest_run import with_overrides
from engine.backtest.loop import BacktestResult, run_backtest
from engine.backtest.params import BacktestParams
from engine.rules.compiler import compile_texts
from engine.rules.durable_backend import DurableRules

MINUTE = 60_000
ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "bench" / "freqtrade_driver.py"
OWN_STRATEGIES = ROOT / "tests" / "bench" / "peer_strategies"
TICK = Decimal("0.1")
OVERRIDES = {"risk.sl_structure": False, "risk.risk_percent": 1.0, "risk.max_trades_per_day": 1000,
             "risk.daily_dd_limit_pct": -100, "risk.weekly_dd_limit_pct": -100,
             "execution.decision_max_age_s": 10, "execution.cooldown_after_exit_s": 0,
             "execution.max_volatility_pct": 100, "execution.max_distance_from_zone_pct": 100,
             "sessions.restricted_hours_utc": []}
PARAMS = BacktestParams(fill="market", maker_fee=Decimal(0), taker_fee=Decimal(0))
TF_MS = {"5m": 300_000, "15m": 900_000, "1h": 3_600_000}


def peer_config(base: Any) -> Any:
    return with_overrides(base, OVERRIDES)


def rule_files(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.yaml"))}


def run_ours(rules_dir: Path, candles: pd.DataFrame, t_from: int, t_to: int, cfg: Any) -> BacktestResult:
    compiled = compile_texts(rule_files(rules_dir), cfg)
    engine = DurableRules(compiled)
    try:
        return run_backtest(candles.loc[:t_to - MINUTE], t_from, t_to, cfg, compiled, PARAMS, engine)
    finally:
        engine.close()


def run_peer(python: Path, candles_file: Path, strategy: str, strategy_path: Path, timeframe: str,
             first_ms: int, t_from: int, t_to: int, out: Path) -> dict[str, Any]:
    """freqtrade's backtest of `strategy` over [t_from, t_to), its indicators warmed up from
    the first candle of the file as ours are (startup_candle_count set accordingly)."""
    tf = TF_MS[timeframe]
    # freqtrade never enters on the first candle of its range (the signal is the previous
    # candle's): start it one candle early so its first entry can be at t_from, as ours.
    start = t_from - tf
    job = {"candles": str(candles_file), "strategy": strategy, "strategy_path": str(strategy_path),
           "timeframe": timeframe, "timerange": f"{start // 1000}-{t_to // 1000}",
           "startup_candle_count": (start - first_ms) // tf, "out": str(out)}
    job_file = out.with_suffix(".job.json")
    job_file.write_text(json.dumps(job))
    r = subprocess.run([str(python), str(DRIVER), str(job_file)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"freqtrade failed on {strategy}:\n{r.stderr[-3000:]}")
    return json.loads(out.read_text())


def ours_trades(result: BacktestResult, timeframe: str) -> list[dict[str, Any]]:
    """Our trades in freqtrade's terms: times of the strategy's candles (freqtrade dates an
    exit inside a candle by that candle's open), prices on the tick."""
    tf = TF_MS[timeframe]
    return [{"side": t["side"], "open_ms": t["entry_ms"] // tf * tf, "close_ms": t["exit_ms"] // tf * tf,
             "open_rate": Decimal(t["entry_price"]).quantize(TICK), "close_rate": Decimal(t["exit_price"]).quantize(TICK),
             "exit_reason": t["exit_reason"], "exit_ms": t["exit_ms"]} for t in result.trades]


def peer_trades(peer: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**t, "open_rate": Decimal(repr(t["open_rate"])).quantize(TICK),
             "close_rate": Decimal(repr(t["close_rate"])).quantize(TICK)} for t in peer["trades"]]


KEYS = ("side", "open_ms", "open_rate", "close_ms", "close_rate")


def compare(ours: list[dict[str, Any]], peer: list[dict[str, Any]], candles: pd.DataFrame,
            timeframe: str) -> dict[str, Any]:
    """Walks both trade lists in time. Trades opening at the same candle on the same side are
    a pair: identical, or different for a documented cause (`explain`). A trade without a
    partner is freqtrade's same-candle reversal, or follows an earlier difference that moved
    the timelines apart (until a pair closes at the same time again), or is unexplained."""
    tf = TF_MS[timeframe]
    out: dict[str, Any] = {"ours": len(ours), "peer": len(peer), "identical": 0, "explained": {}, "unexplained": [],
                           "only_ours": [], "only_peer": []}
    i = j = 0
    synced = True
    while i < len(ours) or j < len(peer):
        t = ours[i] if i < len(ours) else None
        p = peer[j] if j < len(peer) else None
        if t is not None and p is not None and t["open_ms"] == p["open_ms"] and t["side"] == p["side"]:
            i, j = i + 1, j + 1
            diffs = [k for k in KEYS if t[k] != p[k]]
            if not diffs:
                out["identical"] += 1
            else:
                cause = explain(t, p, diffs, candles, tf)
                if cause is None:
                    out["unexplained"].append((t, p))
                else:
                    _count(out, cause)
            synced = t["close_ms"] == p["close_ms"]
            continue
        if p is not None and (t is None or p["open_ms"] <= t["open_ms"]):
            j += 1
            prev = peer[j - 2] if j >= 2 else None
            if prev is not None and prev["close_ms"] == p["open_ms"] and prev["side"] != p["side"]:
                _count(out, "reversal_same_candle")      # freqtrade re-enters the other way at the open
                synced = False
            elif not synced:
                _count(out, "follows_earlier_difference")
            else:
                out["only_peer"].append(p)
        else:
            assert t is not None
            i += 1
            if not synced:
                _count(out, "follows_earlier_difference")
            else:
                out["only_ours"].append(t)
    return out


def _count(out: dict[str, Any], cause: str) -> None:
    out["explained"][cause] = out["explained"].get(cause, 0) + 1


def _open_close(candles: pd.DataFrame, t_ms: int) -> tuple[Decimal, Decimal] | None:
    """(open of the 1m candle at t, close of the 1m candle before t)."""
    try:
        o = candles.at[t_ms, "open"]
        c = candles.at[t_ms - MINUTE, "close"]
    except KeyError:
        return None
    return Decimal(repr(float(o))).quantize(TICK), Decimal(repr(float(c))).quantize(TICK)


def explain(t: dict[str, Any], p: dict[str, Any], diffs: list[str], candles: pd.DataFrame, tf: int) -> str | None:
    if "open_rate" in diffs:
        oc = _open_close(candles, t["open_ms"])
        if oc is None or not (p["open_rate"] == oc[0] and t["open_rate"] == oc[1]):
            return None
        if "close_ms" in diffs:
            return "open_vs_close_moved_exit"   # levels from another entry price, reached at another candle
        if "close_rate" not in diffs or _close_explained(t, p, candles):
            return "open_vs_close"
        return None
    if diffs == ["close_rate"]:
        oc = _open_close(candles, p["close_ms"])
        if oc is not None and p["close_rate"] == oc[0] and t["close_rate"] == oc[1]:
            return "open_vs_close"
        if abs(t["close_rate"] - p["close_rate"]) <= TICK:
            return "tick_rounding"
        return _inside_candle(t, p, candles, tf)
    return None


def _inside_candle(t: dict[str, Any], p: dict[str, Any], candles: pd.DataFrame, tf: int) -> str | None:
    """Same entry, same exit candle, another exit price: freqtrade took its stop where the
    candle also reached the target (ours: whichever the 1m path reached first), or our stop
    filled at the open of a 1m candle that gapped through it (freqtrade: at the level)."""
    stop_words, roi_words = ("sl", "stop_loss"), ("tp1", "tp2", "roi")
    if (t["exit_reason"] in stop_words and p["exit_reason"] in roi_words) or (
            t["exit_reason"] in roi_words and p["exit_reason"] in stop_words):
        return "stop_and_target_in_one_candle"
    opens = candles.loc[p["close_ms"]:p["close_ms"] + tf - MINUTE, "open"]
    if any(Decimal(repr(float(o))).quantize(TICK) == t["close_rate"] for o in opens):
        return "gap_inside_candle"
    return None


def _close_explained(t: dict[str, Any], p: dict[str, Any], candles: pd.DataFrame) -> bool:
    """The exit differs only as the entry does: a target a percent from an entry that was the
    open on one side and the last close on the other is that far from each (each on its tick),
    or our exit at market at the cycle (last close) where freqtrade exited at the open."""
    if t["close_rate"] == p["close_rate"]:
        return True
    ratio_ours, ratio_peer = t["close_rate"] / t["open_rate"], p["close_rate"] / p["open_rate"]
    if abs(ratio_ours - ratio_peer) * t["open_rate"] <= 2 * TICK:
        return True
    oc = _open_close(candles, p["close_ms"])
    return oc is not None and p["close_rate"] == oc[0] and t["close_rate"] == oc[1]


def summary(name: str, res: dict[str, Any]) -> str:
    expl = ", ".join(f"{k} {v}" for k, v in sorted(res["explained"].items())) or "none"
    return (f"{name}: ours {res['ours']} trades, freqtrade {res['peer']}; identical {res['identical']}; "
            f"explained differences: {expl}; unexplained {len(res['unexplained'])}; "
            f"only ours {len(res['only_ours'])}, only freqtrade {len(res['only_peer'])}")
