"""Backtest benchmark over the whole 51-day 1m file (73,139 candles).

1. The full pipeline (build_cycles + run_backtest, default rules) per evaluator, each in
   its own subprocess: candles/s on wall and CPU time (targets >= 10,000), peak RSS
   (ru_maxrss, target <= 1 GB); the python evaluator twice: trades.csv and equity.csv
   must be byte-identical (sha256), and durable_rules must give the same trades.
2. The backtesting.py cross-check (tests/backtest_peer.py) over the same data: counts of
   matching / differing trades (and how many of the unmatched the minimum notional or the
   leverage cap explain), and backtesting.py's time on that simple strategy, measured warm
   (imported and run once before its timer, in this process), beside ours, as a ratio.
The machine is shared: CPU time is what a run costs; wall time depends on the load.
"""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _path  # noqa: F401
import pandas as pd

from engine.paths import shared_data_dir

FILE = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
STEP = 300_000


def load() -> tuple[pd.DataFrame, int, int]:
    df = pd.read_csv(shared_data_dir() / FILE).set_index("open_time_ms")
    first, last = int(df.index[0]), int(df.index[-1])
    return df, -(-(first + 60_000) // STEP) * STEP, last // STEP * STEP


def child(engine: str, out: str) -> None:
    from engine.backtest.export import equity_csv, trades_csv
    from engine.backtest.loop import run_backtest
    from engine.backtest.params import BacktestParams
    from tests.rules_support import config, default_rules
    df, t_from, t_to = load()
    compiled, durable = default_rules()
    w0, c0 = time.perf_counter(), time.process_time()
    res = run_backtest(df.loc[:t_to - 60_000], t_from, t_to, config(), compiled,
                       BacktestParams(engine=engine), durable if engine == "durable" else "python")
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    Path(out, "trades.csv").write_text(trades_csv(res.trades), encoding="utf-8")
    Path(out, "equity.csv").write_text(equity_csv(res.equity), encoding="utf-8")
    print(json.dumps({"candles": len(df), "minutes": res.candles, "trades": len(res.trades), "wall": wall, "cpu": cpu,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def run_child(engine: str) -> tuple[dict, dict[str, str]]:
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, __file__, "--child", engine, d], capture_output=True, text=True, check=True)
        info = json.loads(r.stdout.strip().splitlines()[-1])
        return info, {f: sha(Path(d, f)) for f in ("trades.csv", "equity.csv")}


def main() -> None:
    runs = {}
    # durable_rules is the default (the code live runs): two runs of it for determinism
    for label, engine in (("durable #1", "durable"), ("durable #2", "durable"), ("python", "python")):
        info, hashes = run_child(engine)
        runs[label] = (info, hashes)
        n = info["candles"]
        print(f"full pipeline [{label}]: {n} candles, {info['minutes']} minutes, {info['trades']} trades: "
              f"wall {info['wall']:.1f} s ({n / info['wall']:,.0f} candles/s), CPU {info['cpu']:.1f} s "
              f"({n / info['cpu']:,.0f} candles/s), peak RSS {info['rss_mb']:.0f} MB; "
              f"trades.csv {hashes['trades.csv'][:16]} equity.csv {hashes['equity.csv'][:16]}")
    same = runs["durable #1"][1] == runs["durable #2"][1]
    print(f"two runs byte-identical (sha256 of trades.csv and equity.csv): {same}")
    print(f"durable_rules trades == python trades: {runs['durable #1'][1]['trades.csv'] == runs['python'][1]['trades.csv']}"
          f", equity: {runs['durable #1'][1]['equity.csv'] == runs['python'][1]['equity.csv']}")

    from tests import backtest_peer as P
    from tests.rules_support import config
    df, t_from, t_to = load()
    cfg = P.peer_config(config())
    w0, c0 = time.perf_counter(), time.process_time()
    cycles = P.cycles_for(df, t_from, t_to, cfg)
    ours = P.ours_normalised(P.run_ours(df, t_from, t_to, cfg, cycles))
    ours_wall, ours_cpu = time.perf_counter() - w0, time.process_time() - c0
    # The peer measured warm, as ours is (our imports are done before its timer starts):
    # backtesting.py imported and run once on one day first, in this same process.
    import backtesting  # noqa: F401
    P.run_peer(df, t_from, t_from + 86_400_000, cycles[:289])
    w0, c0 = time.perf_counter(), time.process_time()
    peer = P.run_peer(df, t_from, t_to, cycles)
    peer_wall, peer_cpu = time.perf_counter() - w0, time.process_time() - c0
    rep = P.compare(ours, peer)
    why = P.explain(rep, max_leverage=int(cfg.get("execution.leverage", 3)))
    print(f"unmatched trades by the limit only ours applies: {why['min_notional']} below the minimum notional, "
          f"{why['leverage_cap']} above the leverage cap, {why['unexplained']} unexplained")
    print(f"cross-check ema_cross vs backtesting.py: ours {rep['ours']} trades, peer {rep['peer']}: "
          f"{rep['matching']} matching, {len(rep['differing'])} differing, {len(rep['only_ours'])} only ours, "
          f"{len(rep['only_peer'])} only peer")
    for t, p in rep["differing"][:10]:
        print("  differ:", t, p)
    agree, n = P.ema_sign_check(df, cycles)
    print(f"EMA20/50 sign, our snapshot vs an independent pandas EMA: {agree} of {n} cycles agree")
    full = runs["durable #1"][0]
    print(f"backtesting.py (warm) on ema_cross: wall {peer_wall:.2f} s, CPU {peer_cpu:.2f} s; ours on ema_cross "
          f"(cycles + loop): wall {ours_wall:.1f} s, CPU {ours_cpu:.1f} s; same strategy, ours / backtesting.py: "
          f"wall x{ours_wall / peer_wall:.1f}, CPU x{ours_cpu / peer_cpu:.1f}; our default-rules pipeline / "
          f"backtesting.py: wall x{full['wall'] / peer_wall:.1f}, CPU x{full['cpu'] / peer_cpu:.1f}")

    skip_check(df, t_from, t_to, cfg, cycles)


def skip_check(df: pd.DataFrame, t_from: int, t_to: int, cfg: object, cycles: list) -> None:
    """Issue 16 item 3: the loop's quiet-minute skip against stepping every minute, on the
    EMA strategy (1,299 trades: most minutes are in a position): speed-up and sameness."""
    from engine.backtest.export import equity_csv, trades_csv
    from engine.backtest.loop import _Run
    from tests import backtest_peer as P

    c0 = time.process_time()
    fast = P.run_ours(df, t_from, t_to, cfg, cycles)
    fast_cpu = time.process_time() - c0
    quiet = _Run.quiet
    _Run.quiet = lambda self, now: False  # type: ignore[method-assign]
    try:
        c0 = time.process_time()
        slow = P.run_ours(df, t_from, t_to, cfg, cycles)
        slow_cpu = time.process_time() - c0
    finally:
        _Run.quiet = quiet  # type: ignore[method-assign]
    same = (trades_csv(fast.trades) == trades_csv(slow.trades)
            and equity_csv(fast.equity) == equity_csv(slow.equity))
    print(f"execution loop, ema_cross (cycles prebuilt): every minute stepped {slow_cpu:.2f} s CPU, quiet minutes "
          f"skipped {fast_cpu:.2f} s CPU: x{slow_cpu / fast_cpu:.2f}; trades.csv and equity.csv identical: {same}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
