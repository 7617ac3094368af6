"""The backtesting.py cross-check (shared by tests/test_backtest_peer.py and the bench).

One simple strategy run by both backtesters on the same 1m candles:
rules/examples/ema_cross.yaml — at each 5-minute cycle T, when flat, go long if
EMA20 > EMA50 on 5m (short if below), at market, stop 1.5 × ATR(5m) away, one target
2 R away (3 × ATR), no fees, no slippage, no funding, one position at a time.

How the two fill models are made the same:
- Entry. Ours: the decision at T is entered by a market order at the last price, the
  close of the 1m candle closing at T (fill=market), and only at T (decision_max_age_s
  10: a decision older than that is stale, so an exit between two cycles does not
  re-enter on the previous cycle's decision). Peer: `trade_on_close=True` — a market
  order placed in next() on the 1m bar closing at T fills at that bar's close.
- Levels. Both round entry, stop and target to the 0.1 tick (half up) from the same
  price and ATR; the peer takes ATR and the EMA spread from our snapshot at T (the same
  signal, so what is compared is the backtest mechanics; `ema_sign_check` compares the
  sign with an independent pandas EMA).
- Exits. Both check the stop and the target from the next 1m candle on (ours: SimCore on
  the candle after T; peer: its SL/TP orders are re-processed on the bar after the entry
  bar). A stop fills at its level, or at the open when the candle opened beyond it; a
  target at its level, or at the open when it opened beyond it. When one candle touches
  both, the stop wins on both sides (SimCore: stops before take-profits; backtesting.py:
  the SL order is queued ahead of the TP order, `Order` list insert(0), SL set last).
- Our TP1 and TP2 sit at the same level (tp1_r = tp2_r = 2): they fill on the same
  candle at the same price, one exit.
- Size: both risk 0.1 % of their own equity per trade (small enough that the 3×
  leverage cap never binds), rounded down to 0.001 BTC, stated in USDT to the cent and
  turned back into BTC at the entry price as our decision → execution path does; the
  peer is a FractionalBacktest with a 0.001 BTC unit.
- End: a position open at the end is closed at the last close by both (ours: exit
  reason end_of_period; peer: position.close() on the last bar, filled at that bar's
  close — trade_on_close — on an extra bar it is given and never trades on).
"""

from __future__ import annotations

import warnings
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectors.loops.backtest_run import with_overrides
from engine.analytics.batch import build_cycles
from engine.backtest.loop import BacktestResult, run_backtest
from engine.backtest.params import BacktestParams
from engine.rules.compiler import compile_texts
from engine.rules.durable_backend import DurableRules

MINUTE = 60_000
RULES = Path(__file__).resolve().parents[1] / "rules" / "examples" / "ema_cross.yaml"
OVERRIDES = {"risk.sl_structure": False, "risk.sl_atr_k": 1.5, "risk.tp1_r": 2, "risk.tp2_r": 2,
             "risk.risk_percent": 0.1, "risk.max_trades_per_day": 100,
             "risk.daily_dd_limit_pct": -100, "risk.weekly_dd_limit_pct": -100,
             "execution.decision_max_age_s": 10, "execution.cooldown_after_exit_s": 0,
             "execution.max_volatility_pct": 20, "sessions.restricted_hours_utc": []}
PARAMS = BacktestParams(fill="market", maker_fee=Decimal(0), taker_fee=Decimal(0))
UNIT = 0.001  # BTC: the exchange's quantity step, the peer's fractional unit
TICK = Decimal("0.1")
STEP = Decimal("0.001")


def peer_config(base: Any) -> Any:
    return with_overrides(base, OVERRIDES)


def run_ours(candles: pd.DataFrame, t_from: int, t_to: int, cfg: Any,
             cycles: list[dict[str, Any]] | None = None, engine: str = "durable") -> BacktestResult:
    """Our backtester on the simple strategy, with durable_rules by default (`engine`: any
    evaluator run_backtest takes by name, e.g. the reference "python")."""
    compiled = compile_texts({RULES.name: RULES.read_text(encoding="utf-8")}, cfg)
    rules: Any = DurableRules(compiled) if engine == "durable" else engine
    try:
        return run_backtest(candles.loc[:t_to - MINUTE], t_from, t_to, cfg, compiled, PARAMS, rules, cycles=cycles)
    finally:
        if engine == "durable":
            rules.close()


def cycles_for(candles: pd.DataFrame, t_from: int, t_to: int, cfg: Any) -> list[dict[str, Any]]:
    return build_cycles(candles.loc[:t_to - MINUTE], t_from, t_to, cfg, with_flow=True)


def _tick(x: float) -> Decimal:
    return Decimal(str(x)).quantize(TICK, rounding=ROUND_HALF_UP)


def run_peer(candles: pd.DataFrame, t_from: int, t_to: int, cycles: list[dict[str, Any]],
             equity: float = 10_000.0) -> list[dict[str, Any]]:
    """The same strategy in backtesting.py; its trades in our units and times."""
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest

    # One extra bar after t_to: the end-of-period close fills (trade_on_close) at the close
    # of the bar before it, the last bar ours sees. Nothing is entered on it.
    start = cycles[0]["t_ms"] - 2 * MINUTE  # backtesting.py calls next() from its second bar on
    df = candles.loc[start:t_to]
    assert df.index[-1] == t_to, "the peer needs the candle opening at t_to"
    sig = {c["t_ms"]: (c["snapshot"]["indicators"]["tf_5m"].get("ema_20_50_pct"),
                       c["snapshot"]["volatility"]["atr"].get("tf_5m")) for c in cycles}
    closes_at = df.index.to_numpy(dtype=np.int64) + MINUTE
    side = np.array([np.sign(sig[t][0]) if t in sig and sig[t][0] and sig[t][1] else 0.0 for t in closes_at])
    atr = np.array([sig[t][1] if t in sig and sig[t][1] else np.nan for t in closes_at])
    raw_close = df["close"].to_numpy(dtype=np.float64)
    last = len(df) - 2  # the bar closing at t_to

    class EmaCross(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            i = len(self.data) - 1
            if i > last:
                return
            if i == last:
                if self.position:
                    self.position.close()
                return
            if self.position or not side[i]:
                return
            s = int(side[i])
            entry = _tick(raw_close[i])
            dist = 1.5 * float(atr[i])
            sl = _tick(float(entry) - s * dist)
            tp = _tick(float(entry) + s * 2 * dist)
            qty = Decimal(str(self.equity * 0.1 / 100 / dist)).quantize(STEP, rounding=ROUND_DOWN)
            # Our decision states the size in USDT, to the cent (PRODUCT.md §8.1); the execution
            # core turns it back into BTC at the entry price, rounding down: one step less when
            # the cent rounding falls just under a step. The same here.
            qty = ((qty * entry).quantize(Decimal("0.01")) / entry).quantize(STEP, rounding=ROUND_DOWN)
            units = int(qty / Decimal("0.001"))
            if units <= 0:
                return
            order = self.buy if s > 0 else self.sell
            order(size=units, sl=float(sl) * UNIT, tp=float(tp) * UNIT)

    data = pd.DataFrame({"Open": df["open"].to_numpy(), "High": df["high"].to_numpy(), "Low": df["low"].to_numpy(),
                         "Close": raw_close, "Volume": df["volume"].to_numpy()},
                        index=pd.to_datetime(df.index, unit="ms"))
    bt = FractionalBacktest(data, EmaCross, cash=equity, commission=0.0, spread=0.0, margin=1 / 3,
                            trade_on_close=True, exclusive_orders=False, hedging=False,
                            finalize_trades=False, fractional_unit=UNIT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    ot = df.index.to_numpy(dtype=np.int64)
    out = []
    for r in stats["_trades"].itertuples():
        out.append({"side": "long" if r.Size > 0 else "short", "quantity": f"{abs(r.Size):.3f}",
                    "entry_ms": int(ot[r.EntryBar]) + MINUTE, "entry_price": _tick(r.EntryPrice),
                    "exit_ms": int(ot[r.ExitBar]) + MINUTE, "exit_price": _tick(r.ExitPrice),
                    "sl": _tick(r.SL), "tp": _tick(r.TP)})
    return out


def ours_normalised(result: BacktestResult) -> list[dict[str, Any]]:
    """Our trades in the comparison's terms: times are the close of the 1m candle of the fill."""
    return [{"side": t["side"], "quantity": t["quantity"], "entry_ms": t["entry_ms"],
             "entry_price": Decimal(t["entry_price"]).quantize(TICK),
             "exit_ms": -(-(t["exit_ms"]) // MINUTE) * MINUTE,  # open + 59,999 → the close time
             "exit_price": Decimal(t["exit_price"]).quantize(TICK), "sl": Decimal(t["sl"]).quantize(TICK),
             "tp": Decimal(t["tp"]).quantize(TICK), "exit_reason": t["exit_reason"]} for t in result.trades]


KEYS = ("side", "quantity", "entry_ms", "entry_price", "exit_ms", "exit_price", "sl", "tp")


def compare(ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> dict[str, Any]:
    """Trades paired by entry time; a pair matches when every KEYS field is equal."""
    by_entry = {t["entry_ms"]: t for t in peer}
    matching, differing, only_ours = [], [], []
    for t in ours:
        p = by_entry.pop(t["entry_ms"], None)
        if p is None:
            only_ours.append(t)
        elif all(t[k] == p[k] for k in KEYS):
            matching.append((t, p))
        else:
            differing.append((t, p))
    return {"ours": len(ours), "peer": len(peer), "matching": len(matching), "differing": differing,
            "only_ours": only_ours, "only_peer": sorted(by_entry.values(), key=lambda t: t["entry_ms"])}


def ema_sign_check(candles: pd.DataFrame, cycles: list[dict[str, Any]]) -> tuple[int, int]:
    """Cycles where an independent pandas EMA20/EMA50 (5m, whole history, adjust=False) has the
    same sign as our snapshot's spread: (agree, compared)."""
    c5 = candles["close"].groupby(candles.index // 300_000 * 300_000).last()
    spread = c5.ewm(span=20, adjust=False).mean() - c5.ewm(span=50, adjust=False).mean()
    agree = n = 0
    for c in cycles:
        ours = c["snapshot"]["indicators"]["tf_5m"].get("ema_20_50_pct")
        key = c["t_ms"] - 300_000
        if ours is None or key not in spread.index:
            continue
        n += 1
        agree += int(np.sign(ours) == np.sign(spread[key]))
    return agree, n


def explain(rep: dict[str, Any], equity: float = 10_000.0, max_leverage: int = 3,
            min_notional: Decimal | None = None) -> dict[str, int]:
    """Why trades did not match, by the two limits only our side applies (the peer has
    neither): a notional below the exchange's minimum (ours refuses the entry) or above
    equity × max leverage (ours caps the size). Each unmatched trade (either side's copy of
    a differing pair, a trade only one side has) is counted once under the first limit its
    notional (quantity × entry price, at about the initial equity) binds, else `unexplained`."""
    from engine.exchange.filters import BTCUSDT_PERP

    floor = float(min_notional if min_notional is not None else BTCUSDT_PERP.min_notional)
    cap = equity * max_leverage
    out = {"min_notional": 0, "leverage_cap": 0, "unexplained": 0}
    unmatched = [p for _, p in rep["differing"]] + list(rep["only_ours"]) + list(rep["only_peer"])
    for t in unmatched:
        notional = float(t["quantity"]) * float(t["entry_price"])
        key = "min_notional" if notional < floor else "leverage_cap" if notional > cap else "unexplained"
        out[key] += 1
    return out
