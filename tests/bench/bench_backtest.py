"""Backtest benchmark (issue 16, "honest benchmark"): in one run, on the 51-day 1m file.

1. Engine, in this process (imports done, CPU time: the machine is shared, wall time
   depends on the load): candles/s on the default rules (analytics + decisions +
   execution) and on the EMA cross-check strategy (rules/examples/ema_cross.yaml),
   with the rules evaluator `showdown backtest` uses by default.
2. The same EMA trades in backtesting.py (tests/backtest_peer.py), measured WARM: imported
   and run once on one day first, in this process, then timed on the whole file. Ratio
   ours / peer, for our loop alone (the peer is handed our cycles' EMA and ATR, so what
   both do is the trading) and for ours with the cycles' analytics built too. The trade
   counts: matching, differing, and what the leverage cap / minimum notional explain.
3. `showdown backtest` end to end, in a child process over an SQLite home (candles
   imported first, not timed): CPU (user + system, imports and exports included) and
   peak RSS, for 1 week, the 51 days, and a SYNTHETIC year (the real file repeated with
   shifted times: real minutes, not a real year). Targets: <= 2 s CPU and <= 200 MB over
   the 51 days, <= 400 MB over the year.
4. Sameness: two runs give byte-identical trades.csv / equity.csv; durable_rules and the
   reference evaluator give the same trades.
Usage: python tests/bench/bench_backtest.py [--quick]   (--quick: no synthetic year)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
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
DAY = 86_400_000
ROOT = Path(__file__).resolve().parents[2]


def load() -> tuple[pd.DataFrame, int, int]:
    df = pd.read_csv(shared_data_dir() / FILE).set_index("open_time_ms")
    first, last = int(df.index[0]), int(df.index[-1])
    return df, -(-(first + 60_000) // STEP) * STEP, last // STEP * STEP


def default_engine() -> str:
    import click

    from cli.backtest_cmd import register  # the command's own default

    group = click.Group()
    register(group)
    opt = next(p for p in group.commands["backtest"].params if p.name == "rules_engine")
    return str(opt.default)


def _engine_arg(name: str, compiled: object) -> object:
    if name == "durable":
        from engine.rules.durable_backend import DurableRules
        return DurableRules(compiled)
    return name


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------ 1 + 2: engine, peer

def engine_figures(engine: str) -> None:
    from engine.analytics.batch import build_cycles
    from engine.backtest.export import equity_csv, trades_csv
    from engine.backtest.loop import run_backtest
    from engine.backtest.params import BacktestParams
    from engine.rules.compiler import compile_texts
    from tests import backtest_peer as P
    from tests.rules_support import config, rule_files

    df, t_from, t_to = load()
    n = len(df.loc[:t_to - 60_000])
    compiled = compile_texts(rule_files(), config())
    c0 = time.process_time()
    res = run_backtest(df.loc[:t_to - 60_000], t_from, t_to, config(), compiled, BacktestParams(engine=engine),
                       _engine_arg(engine, compiled))
    cpu = time.process_time() - c0
    print(f"default rules [{engine}], analytics + decisions + execution: {n:,} candles, {len(res.trades)} trades, "
          f"CPU {cpu:.2f} s = {n / cpu:,.0f} candles/s (target >= 200,000 in the engine); "
          f"trades.csv {sha(trades_csv(res.trades))} equity.csv {sha(equity_csv(res.equity))}", flush=True)

    cfg = P.peer_config(config())
    c0 = time.process_time()
    cycles = build_cycles(df.loc[:t_to - 60_000], t_from, t_to, cfg, with_flow=True)
    cycles_cpu = time.process_time() - c0
    c0 = time.process_time()
    ours_res = P.run_ours(df, t_from, t_to, cfg, cycles, engine=engine)
    loop_cpu = time.process_time() - c0
    ours = P.ours_normalised(ours_res)
    import backtesting  # noqa: F401  (warm: imported and run once before its timer)
    P.run_peer(df, t_from, t_from + DAY, cycles[:289])
    c0 = time.process_time()
    peer = P.run_peer(df, t_from, t_to, cycles)
    peer_cpu = time.process_time() - c0
    rep = P.compare(ours, peer)
    why = P.explain(rep, max_leverage=int(cfg.get("execution.leverage", 3)))
    print(f"EMA cross-check [{engine}]: ours {rep['ours']} trades, backtesting.py {rep['peer']}: {rep['matching']} "
          f"matching, {len(rep['differing'])} differing, {len(rep['only_ours'])} only ours, {len(rep['only_peer'])} "
          f"only peer; unmatched by a limit only ours applies: {why['min_notional']} min notional, "
          f"{why['leverage_cap']} leverage cap, {why['unexplained']} unexplained", flush=True)
    print(f"EMA [{engine}] CPU: our loop (decisions + execution, cycles given) {loop_cpu:.2f} s = "
          f"{n / loop_cpu:,.0f} candles/s; the cycles' analytics {cycles_cpu:.2f} s; backtesting.py WARM "
          f"{peer_cpu:.2f} s = {n / peer_cpu:,.0f} candles/s", flush=True)
    print(f"EMA ratio ours / warm backtesting.py (CPU, same trades): loop x{loop_cpu / peer_cpu:.2f}, "
          f"with analytics x{(loop_cpu + cycles_cpu) / peer_cpu:.2f}  (target < 1.0: "
          f"{'MET' if loop_cpu < peer_cpu else 'NOT MET'} for the loop)", flush=True)


# ------------------------------------------------------------------ 3: the command, three periods

def synthetic_year(df: pd.DataFrame, path: Path) -> tuple[int, int]:
    """The real file's whole UTC days, repeated with times shifted by their span until a
    year is covered: 525,600 real minutes in a row that never happened (labelled so)."""
    first_day = -(-int(df.index[0]) // DAY) * DAY
    last_day = int(df.index[-1]) // DAY * DAY
    block = df.loc[first_day:last_day - 60_000]
    span = last_day - first_day
    parts = []
    for k in range(-(-365 * DAY // span)):
        part = block.copy()
        part.index = part.index + k * span
        parts.append(part)
    year = pd.concat(parts).loc[:first_day + 365 * DAY - 60_000]
    with gzip.open(path, "wt", compresslevel=1) as f:
        year.reset_index().to_csv(f, index=False)
    return first_day, first_day + 365 * DAY


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


# The child reports its own peak (VmHWM, reset by exec): ru_maxrss of a child also counts the
# pages it shared with this process between fork and exec, i.e. this process's size.
HWM = ("import atexit, os, runpy, sys\n"
       "def hwm():\n"
       "    kb = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM'))\n"
       "    open(os.environ['BENCH_HWM_FILE'], 'w').write(str(kb))\n"
       "atexit.register(hwm)\n"
       "sys.argv = ['showdown'] + sys.argv[1:]\n"
       "runpy.run_module('cli.main', run_name='__main__')\n")


def command_run(home: Path, t_from: int, t_to: int, out: Path) -> tuple[float, float, str]:
    """`showdown backtest` in a child: (CPU s, peak RSS MB, last line)."""
    hwm = out.with_suffix(".hwm")
    env = {**os.environ, "SHOWDOWN_HOME": str(home), "SHOWDOWN__DATABASE__SQLITE_FILE": "bench.sqlite",
           "BENCH_HWM_FILE": str(hwm)}
    p = subprocess.Popen([sys.executable, "-c", HWM, "backtest", "--from", _iso(t_from), "--to", _iso(t_to),
                          "--out", str(out)], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    assert p.stdout is not None
    text = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"showdown backtest failed ({p.returncode}): {text[-2000:]}")
    run_line = next((x for x in text.splitlines() if x.startswith("run ")), "")
    return ru.ru_utime + ru.ru_stime, int(hwm.read_text()) / 1024, run_line


def command_figures(quick: bool) -> None:
    df, _, _ = load()
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "SHOWDOWN_HOME": str(Path(d, "real")), "SHOWDOWN__DATABASE__SQLITE_FILE": "bench.sqlite"}
        showdown = [sys.executable, "-m", "cli.main"]
        subprocess.run([*showdown, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([*showdown, "import", "klines", str(shared_data_dir() / FILE)], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        start = -(-int(df.index[0]) // DAY) * DAY + DAY   # a day of indicator warm-up first
        end = int(df.index[-1]) // STEP * STEP
        outs = {}
        for label, t_to in (("1 week", start + 7 * DAY - STEP), ("51 days", end)):
            cpu, rss, line = command_run(Path(d, "real"), start, t_to, Path(d, label.replace(" ", "_")))
            outs[label] = Path(d, label.replace(" ", "_"))
            verdict = "" if label != "51 days" else (f"  [targets CPU <= 2 s: {'MET' if cpu <= 2 else 'NOT MET'}, "
                                                     f"RSS <= 200 MB: {'MET' if rss <= 200 else 'NOT MET'}]")
            print(f"showdown backtest, {label} ({(t_to - start) // 60_000:,} minutes): CPU {cpu:.2f} s, "
                  f"peak RSS {rss:.0f} MB{verdict}\n  {line}", flush=True)
        again = Path(d, "again")
        command_run(Path(d, "real"), start, end, again)
        same = all((outs["51 days"] / f).read_bytes() == (again / f).read_bytes() for f in ("trades.csv", "equity.csv"))
        print(f"two runs of the command, trades.csv and equity.csv byte-identical: {same}", flush=True)
        if quick:
            return
        year_file = Path(d, "synthetic-year-1m.csv.gz")
        y0, y1 = synthetic_year(df, year_file)
        env["SHOWDOWN_HOME"] = str(Path(d, "year"))
        subprocess.run([*showdown, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([*showdown, "import", "klines", str(year_file)], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        cpu, rss, line = command_run(Path(d, "year"), y0 + DAY, y1 - STEP, Path(d, "year_out"))
        print(f"showdown backtest, SYNTHETIC year (the 51-day file repeated with shifted times; "
              f"{(y1 - STEP - y0 - DAY) // 60_000:,} minutes): CPU {cpu:.1f} s, peak RSS {rss:.0f} MB  "
              f"[target RSS <= 400 MB: {'MET' if rss <= 400 else 'NOT MET'}]\n  {line}", flush=True)


# ------------------------------------------------------------------ 4: sameness between evaluators

def child(engine: str) -> None:
    from engine.backtest.export import equity_csv, trades_csv
    from engine.backtest.loop import run_backtest
    from engine.backtest.params import BacktestParams
    from engine.rules.compiler import compile_texts
    from tests.rules_support import config, rule_files
    df, t_from, t_to = load()
    compiled = compile_texts(rule_files(), config())
    res = run_backtest(df.loc[:t_to - 60_000], t_from, t_to, config(), compiled, BacktestParams(engine=engine),
                       _engine_arg(engine, compiled))
    print(json.dumps({"trades": sha(trades_csv(res.trades)), "equity": sha(equity_csv(res.equity))}))


def sameness(engine: str) -> None:
    got = {}
    for label, eng in ((f"{engine} #1", engine), (f"{engine} #2", engine), ("python", "python")):
        r = subprocess.run([sys.executable, __file__, "--child", eng], capture_output=True, text=True, check=True)
        got[label] = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"default rules, two runs byte-identical: {got[f'{engine} #1'] == got[f'{engine} #2']}; "
          f"{engine} == reference evaluator (trades.csv, equity.csv): {got[f'{engine} #1'] == got['python']}",
          flush=True)


def main(quick: bool) -> None:
    engine = default_engine()
    engine_figures(engine)
    command_figures(quick)
    sameness(engine)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main("--quick" in sys.argv)
