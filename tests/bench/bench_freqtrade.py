"""Cross-check with freqtrade (issue 11): three freqtrade-strategies ported to YAML, each run
by our backtester while freqtrade backtests the ORIGINAL Python strategy on the same candles
(the 51-day 1m file, resampled to each strategy's timeframe); trades compared one by one,
each difference counted under its documented fill-model cause (tests/freqtrade_peer.py).
A calibration pair runs first: ShowdownEmaTrend (our own freqtrade strategy, many trades on
the facts the product always had) against rules/examples/ema_trend_roi/.

freqtrade 2026.9 is installed from PyPI into its own virtualenv, var/freqtrade-venv (never a
dependency of the product); FREQTRADE_PYTHON=/path/to/python uses an existing one instead.
The originals are read from ../shared/peers/freqtrade-strategies (GPL-3.0, never copied).
Exit code 1 when a difference has no documented cause.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _path  # noqa: F401
import pandas as pd

from engine.paths import shared_data_dir
from tests import freqtrade_peer as FP
from tests.rules_support import config

FILE = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
VERSION = "2026.9"
PEERS = FP.ROOT.parent / "shared" / "peers" / "freqtrade-strategies"
DAY = 86_400_000
# (label, freqtrade class, its directory, timeframe, our YAML port)
PAIRS = (
    ("calibration: ShowdownEmaTrend", "ShowdownEmaTrend", FP.OWN_STRATEGIES, "5m", "ema_trend_roi"),
    ("Strategy001", "Strategy001", PEERS, "5m", "strategy001"),
    ("MACDStrategy_crossed", "MACDStrategy_crossed", PEERS, "5m", "macd_strategy_crossed"),
    ("FAdxSmaStrategy (futures, long and short)", "FAdxSmaStrategy", PEERS, "1h", "fadx_sma_strategy"),
)


def freqtrade_python() -> Path:
    given = os.environ.get("FREQTRADE_PYTHON")
    if given:
        return Path(given)
    venv = FP.ROOT / "var" / "freqtrade-venv"
    py = venv / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", f"import freqtrade, sys; sys.exit(freqtrade.__version__ != '{VERSION}')"],
                                        capture_output=True).returncode == 0
    if not ok:
        print(f"installing freqtrade {VERSION} into {venv} (a few minutes, once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"freqtrade=={VERSION}"], check=True)
    return py


def main() -> int:
    data = shared_data_dir() / FILE
    if not data.exists() or not PEERS.exists():
        print(f"skipped: needs {data} and {PEERS}")
        return 0
    py = freqtrade_python()
    df = pd.read_csv(data).set_index("open_time_ms")
    first = int(df.index[0])
    t_from = (first // DAY + 1) * DAY            # one day of warm-up, on both sides from the first candle
    t_to = int(df.index[-1]) // 3_600_000 * 3_600_000
    cfg = FP.peer_config(config())
    unexplained = 0
    print(f"candles {FILE}: {len(df)} 1m candles, trading {pd.Timestamp(t_from, unit='ms')} -> "
          f"{pd.Timestamp(t_to, unit='ms')} UTC; freqtrade {VERSION} at {py}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, cls, where, tf, port in PAIRS:
            w0 = time.perf_counter()
            ours = FP.run_ours(FP.ROOT / "rules" / "examples" / port, df, t_from, t_to, cfg)
            w1 = time.perf_counter()
            peer = FP.run_peer(py, data, cls, where, tf, first, t_from, t_to, Path(tmp) / f"{cls}.json")
            w2 = time.perf_counter()
            res = FP.compare(FP.ours_trades(ours, tf), FP.peer_trades(peer), df, tf)
            print(FP.summary(label, res) + f"  [ours {w1 - w0:.1f} s, freqtrade {w2 - w1:.1f} s]", flush=True)
            for t, p in res["unexplained"][:5]:
                print(f"    unexplained: ours {t}\n                 freqtrade {p}")
            for t in (res["only_ours"] + res["only_peer"])[:5]:
                print(f"    unpaired: {t}")
            unexplained += len(res["unexplained"]) + len(res["only_ours"]) + len(res["only_peer"])
    print(f"differences without a documented cause: {unexplained}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
