"""Analytics speed: one cycle's snapshot + flow (p50/p99), and batch mode over the 51-day 1m file.

Per cycle, twice: from in-memory frames (the cycle's 1m candles from its anchor,
derived to 5m/15m/1h), and FROM THE DATABASE as the live loop does it
(connectors.stores.analytics_io.load_cycle_inputs + build_snapshot + build_flow) on SQLite and
on MariaDB, with the 51-day file imported by the importer (5m/15m/1h derived and
stored by it), the funding history and a real ETF history in the tables.
Targets: one cycle <= 20 ms p99 (each backend); batch with flows over ~14,600 cycles <= 3 s.
Wall times on a shared machine: the load average is printed with them, and the batch
also as CPU time (what it costs when the machine is not contended).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _path  # noqa: F401
import numpy as np
import pandas as pd
from candles import shared_file

from connectors.db import open_database
from connectors.db.migrations import upgrade
from connectors.market.market_import import import_funding, import_klines
from connectors.stores.analytics_io import load_cycle_inputs
from connectors.stores.input_history import append
from engine.analytics.batch import build_cycles, derive_timeframes, per_cycle_frames
from engine.analytics.flow import build_flow, prepare_derivatives
from engine.analytics.snapshot import build_snapshot
from engine.config import load_config
from engine.inputs import summarise, validate_etf, validate_liquidations, validate_sentiment
from tests.conftest import drop_mariadb_database, make_home, mariadb_env, mariadb_unreachable


def main() -> int:
    f51 = shared_file()
    if f51 is None:
        return 0
    data = f51.parent
    cfg = load_config(env={})
    df = pd.read_csv(f51, index_col=0)
    funding = pd.read_csv(data / "btcusdt-perp-funding-8h.csv.gz").to_numpy()
    etf, _ = validate_etf(json.loads((data / "btc-spot-etf-flows-per-fund-2025-11-17_2025-12-05.json").read_text()))
    liq, _ = validate_liquidations(json.loads((data / "btc-liquidation-map-snapshots-2025-12-06_2025-12-08.json").read_text()))
    inputs = {"etf": etf, "liquidations": liq}
    start, end = int(df.index[0]), int(df.index[-1]) + 60_000

    frames = derive_timeframes(df)
    rng = random.Random(1)
    times = sorted(rng.sample(range((start // 300_000 + 8 * 288) * 300_000, end, 300_000), 300))
    deriv = prepare_derivatives({"funding": funding, "candles_1m": df})
    load, compute = [], []
    for t in times:
        t0 = time.perf_counter()
        cyc = per_cycle_frames(df, t, cfg)
        t1 = time.perf_counter()
        snap = build_snapshot(cyc, t, cfg)
        build_flow(snap, deriv, inputs, t, cfg)
        t2 = time.perf_counter()
        load.append(t1 - t0)
        compute.append(t2 - t1)
    c = np.array(compute) * 1000
    tot = (np.array(load) + np.array(compute)) * 1000
    print(f"per-cycle snapshot+flow (in-memory frames, {len(times)} cycles): p50 {np.percentile(c, 50):.2f} ms, "
          f"p99 {np.percentile(c, 99):.2f} ms; incl. deriving 5m/15m/1h from 1m: p99 {np.percentile(tot, 99):.2f} ms")
    # Direct frames (as from the DB): only the compute part.
    t0, c0 = time.perf_counter(), time.process_time()
    snaps = build_cycles(df, start, end, cfg, frames=frames)
    t_snap, cpu_snap = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    both = build_cycles(df, start, end, cfg, derivatives=deriv, inputs=inputs, with_flow=True, frames=frames)
    t_both, cpu_both = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    derive_timeframes(df)
    t_derive = time.perf_counter() - t0
    print(f"batch over the 51-day file: {len(snaps)} cycles, snapshots {t_snap:.2f} s (CPU {cpu_snap:.2f} s) "
          f"(+ deriving 5m/15m/1h {t_derive:.2f} s), snapshots+flows {t_both:.2f} s (CPU {cpu_both:.2f} s); "
          f"load average {os.getloadavg()[0]:.1f}")
    ok = np.percentile(c, 99) <= 20 and min(t_both, cpu_both) <= 3.0
    for name, p99 in bench_database(f51, data, cfg, times).items():
        ok = ok and p99 <= 20
    print("targets met" if ok else "TARGET MISSED")
    return 0 if len(both) == len(snaps) else 1


def _etf_history(data: Path) -> dict:
    """The real daily ETF net flows (2024-01 → 2025-04) as one accepted ETF input."""
    rows = pd.read_csv(data / "btc-spot-etf-net-flows-daily-2024-01-11_2025-04-25.csv")
    history = [{"date": str(d), "net_flow_usd": int(v) if float(v).is_integer() else float(v)}
               for d, v in zip(rows["date"], rows["net_flow_usd"], strict=True)]
    summary = summarise([float(h["net_flow_usd"]) for h in history])
    doc, problems = validate_etf({"symbol": "BTC", "as_of": f"{history[-1]['date']}T23:59:00Z",
                                  "history": history, "summary": summary})
    assert doc is not None, problems
    return doc


def bench_database(f51: Path, data: Path, cfg: Any, times: list[int]) -> dict[str, float]:
    """p50/p99 of one cycle read from each backend; returns {backend: p99 ms}."""
    out: dict[str, float] = {}
    for name in ("sqlite", "mariadb"):
        with tempfile.TemporaryDirectory() as tmp:
            where = make_home(Path(tmp))
            if name == "sqlite":
                env = {"SHOWDOWN__DATABASE__SQLITE_FILE": "bench.sqlite"}
            else:
                why = mariadb_unreachable()
                if why:
                    print(f"per-cycle from mariadb: SKIP ({why})")
                    continue
                env = {**mariadb_env(), "DB_NAME": f"showdown_bench_{secrets.token_hex(4)}"}
            config = load_config(where, env)
            db = open_database(config, where, create_missing=True)
            try:
                upgrade(db)
                t0 = time.perf_counter()
                import_klines(f51)
                import_funding(data / "btcusdt-perp-funding-8h.csv.gz")
                t_import = time.perf_counter() - t0
                append("etf", _etf_history(data))
                sentiment, _ = validate_sentiment({"as_of": "2025-05-01T00:00:00Z", "score": 1, "label": "bullish",
                                                   "comment": "bench"})
                append("sentiment", sentiment)
                loads, totals, cpus = [], [], []
                for t in times:
                    t0, c0 = time.perf_counter(), time.process_time()
                    frames, deriv, inputs = load_cycle_inputs("BTCUSDT", t, cfg)
                    t1 = time.perf_counter()
                    snap = build_snapshot(frames, t, cfg)
                    build_flow(snap, deriv, inputs, t, cfg)
                    loads.append(t1 - t0)
                    totals.append(time.perf_counter() - t0)
                    cpus.append(time.process_time() - c0)
                ld, tot, cpu = np.array(loads) * 1000, np.array(totals) * 1000, np.array(cpus) * 1000
                print(f"per-cycle snapshot+flow FROM {name} ({len(times)} cycles, 51-day file imported in "
                      f"{t_import:.1f} s): p50 {np.percentile(tot, 50):.2f} ms, p99 {np.percentile(tot, 99):.2f} ms "
                      f"(reading: p50 {np.percentile(ld, 50):.2f} ms, p99 {np.percentile(ld, 99):.2f} ms); "
                      f"CPU p50 {np.percentile(cpu, 50):.2f} ms, p99 {np.percentile(cpu, 99):.2f} ms; "
                      f"load average {os.getloadavg()[0]:.1f}")
                # Judged on wall time; on a contended machine (load above the cores) on CPU time.
                contended = os.getloadavg()[0] > (os.cpu_count() or 1)
                out[name] = float(np.percentile(cpu if contended else tot, 99))
            finally:
                db.close()
                if name == "mariadb":
                    drop_mariadb_database(env["DB_NAME"])
    return out


if __name__ == "__main__":
    sys.exit(main())
