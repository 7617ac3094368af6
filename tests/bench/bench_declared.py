"""Cost of declared indicators and expressions (issue 11), live and in a backtest, against
today's figures, over the whole 51-day 1m file.

Two declaration sets, added to the default rules (which do not read them, so the
decisions stay the default strategy's and only the cost changes):
- "example": rules/examples/declared_ema_cross.yaml's 6 indicators (1h) and 7 expressions;
- "heavy": 12 indicators over 5m / 15m / 1h / 4h and 10 expressions looking back up to 12 cycles.

Printed per set, at the 5-minute cycle:
- live: cycle_facts per cycle (the computation; the database read is the loop's), beside
  today's per-cycle snapshot build (build_snapshot on the candles a cycle has read);
- backtest: batch_facts over every cycle (per UTC day, columnar) per cycle, beside
  today's build_cycles per cycle and the whole default backtest per cycle.
CPU time (the machine is shared; wall time depends on the load).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import _path  # noqa: F401
import pandas as pd

from engine.analytics.batch import build_cycles, derive_timeframes, timeframe_frame
from engine.analytics.params import anchor_ms
from engine.analytics.snapshot import build_snapshot, closed_rows
from engine.facts import TIMEFRAMES_ANALYSED
from engine.paths import shared_data_dir
from engine.rules.compiler import compile_texts
from engine.rules.series import batch_facts, cycle_facts, frames_from_1m

FILE = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
STEP = 300_000
ROOT = Path(__file__).resolve().parents[2]

HEAVY = """
indicators:
  ema_9_5m: {function: EMA, timeframe: 5m, params: {timeperiod: 9}}
  ema_21_5m: {function: EMA, timeframe: 5m, params: {timeperiod: 21}}
  rsi_7_5m: {function: RSI, timeframe: 5m, params: {timeperiod: 7}}
  bb_5m: {function: BBANDS, timeframe: 5m, params: {timeperiod: 20}, input: typprice}
  adx_15m: {function: ADX, timeframe: 15m, params: {timeperiod: 14}}
  cci_15m: {function: CCI, timeframe: 15m, params: {timeperiod: 20}}
  macd_1h: {function: MACD, timeframe: 1h}
  atr_1h: {function: ATR, timeframe: 1h, params: {timeperiod: 14}}
  ema_200_1h: {function: EMA, timeframe: 1h, params: {timeperiod: 200}}
  stoch_1h: {function: STOCH, timeframe: 1h}
  mfi_4h: {function: MFI, timeframe: 4h, params: {timeperiod: 14}}
  sar_4h: {function: SAR, timeframe: 4h}
expressions:
  cross_up: "crosses_above(ema_9_5m, ema_21_5m)"
  cross_down: "crosses_below(ema_9_5m, ema_21_5m)"
  above_200: "close_1h > ema_200_1h"
  band_pct: "pct(close_5m, bb_5m.lowerband)"
  trend: "held(adx_15m > 25, 6)"
  macd_turn: "crosses_above(macd_1h.macd, macd_1h.macdsignal)"
  oversold_run: "n_of_last(rsi_7_5m < 30, 3, 12)"
  atr_pct: "atr_1h / close_1h * 100"
  stoch_gap: "abs(stoch_1h.slowk - stoch_1h.slowd)"
  mixed: "cross_up and above_200 and not (cci_15m > 200) and mfi_4h < 80 and close_4h > sar_4h"
"""


def load() -> tuple[pd.DataFrame, int, int]:
    df = pd.read_csv(shared_data_dir() / FILE).set_index("open_time_ms")
    first, last = int(df.index[0]), int(df.index[-1])
    return df, -(-(first + 60_000) // STEP) * STEP, last // STEP * STEP


def rule_files(extra: str) -> dict[str, str]:
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "rules").glob("*.yaml"))}
    head, rest = files["strategy.yaml"].split("\nrules:\n", 1)
    files["strategy.yaml"] = head + "\n" + extra.strip("\n") + "\nrules:\n" + rest
    return files


def example_block() -> str:
    text = (ROOT / "rules" / "examples" / "declared_ema_cross.yaml").read_text(encoding="utf-8")
    block = text.split("\nindicators:\n", 1)[1].split("\nrules:\n", 1)[0]
    return "indicators:\n" + block


def cpu(fn):
    c0 = time.process_time()
    out = fn()
    return out, time.process_time() - c0


def main() -> None:
    from engine.backtest.loop import run_backtest
    from engine.backtest.params import BacktestParams
    from tests.rules_support import config, default_rules
    if not (shared_data_dir() / FILE).exists():
        print(f"SKIP: shared data absent ({shared_data_dir() / FILE})")
        return
    cfg = config()
    df, t_from, t_to = load()
    times = list(range(t_from, t_to + 1, STEP))
    rng = random.Random(5)
    sample = sorted(rng.sample(times[len(times) // 4:], 200))

    # Today's figures --------------------------------------------------------------------
    tfs = derive_timeframes(df)
    # What a live cycle has after its database read: each timeframe from its anchor up to T.
    a = cfg.values["analytics"] if hasattr(cfg, "values") else cfg["analytics"]
    loaded = [{**{tf: closed_rows(tfs[tf], tf, t, anchor_ms(t, tf, a)) for tf in TIMEFRAMES_ANALYSED},
               "tf_1m": closed_rows(tfs["tf_1m"], "tf_1m", t, t - 240 * 60_000)} for t in sample]
    _, snap_cpu = cpu(lambda: [build_snapshot(f, t, cfg) for f, t in zip(loaded, sample, strict=True)])
    _, cycles_cpu = cpu(lambda: build_cycles(df, t_from, t_to, cfg, with_flow=True, frames=tfs))
    compiled, _ = default_rules()
    _, bt_cpu = cpu(lambda: run_backtest(df.loc[:t_to - 60_000], t_from, t_to, cfg, compiled, BacktestParams(),
                                         "python"))
    n = len(times)
    print(f"{n} cycles of 5 min over the 51 days; CPU time")
    print(f"today, live:      snapshot per cycle {snap_cpu / len(sample) * 1e3:8.2f} ms")
    print(f"today, backtest:  build_cycles per cycle {cycles_cpu / n * 1e6:8.1f} µs, "
          f"whole default backtest per cycle {bt_cpu / n * 1e6:8.1f} µs ({bt_cpu:.1f} s)")
    for name, block in (("example", example_block()), ("heavy", HEAVY)):
        c = compile_texts(rule_files(block), cfg)
        d = c.declared
        frames = frames_from_1m(d, df, timeframe_frame)
        _, live_cpu = cpu(lambda d=d, frames=frames: [cycle_facts(d, frames, t, STEP) for t in sample])
        _, batch_cpu = cpu(lambda d=d, frames=frames: batch_facts(d, frames, times, STEP))
        live_ms = live_cpu / len(sample) * 1e3
        per = batch_cpu / n * 1e6
        print(f"{name:>8}: {len(d.indicators)} indicators, {len(d.expressions)} expressions, history {d.history}: "
              f"live {live_ms:6.2f} ms per cycle (+{live_ms / (snap_cpu / len(sample) * 1e3) * 100:.0f}% of the "
              f"snapshot); backtest {per:7.1f} µs per cycle (+{per / (bt_cpu / n * 1e6) * 100:.1f}% of the "
              f"whole backtest, {batch_cpu:.2f} s)")


if __name__ == "__main__":
    main()
