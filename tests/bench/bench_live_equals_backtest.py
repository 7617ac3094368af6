"""The backtest's analytics equal the live loop's, for EVERY 5-minute cycle of the 51-day file.

Live: each cycle reads its own windows from the database and builds its snapshot and flow
(connectors.stores.analytics_io.load_cycle_inputs → build_snapshot → build_flow), as `showdown
analyze` does. Backtest: the whole period's history read once and every cycle built in batch
(connectors.stores.backtest_store.load_history → engine.analytics.batch.build_cycles, the inputs in
force at each T from connectors.stores.backtest_inputs.inputs_at), as `showdown backtest` does.
Both read one SQLite database holding the 51-day 1m file and the funding history (imported,
5m/15m/1h derived by the importer) and, as operator inputs, the real daily spot-ETF flows and
a sentiment. Prints how many cycles were compared and every difference (exit 1 if any).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import _path  # noqa: F401
import pandas as pd
from bench_analytics import _etf_history
from candles import shared_file

from connectors.db import open_database
from connectors.db.migrations import upgrade
from connectors.market.market_import import import_funding, import_klines
from connectors.stores.analytics_io import load_cycle_inputs
from connectors.stores.backtest_inputs import inputs_at
from connectors.stores.backtest_store import load_history
from connectors.stores.input_history import append
from engine.analytics.batch import build_cycles
from engine.analytics.flow import build_flow
from engine.analytics.snapshot import build_snapshot
from engine.backtest.compare import fact_differences
from engine.config import load_config
from engine.inputs import validate_sentiment
from tests.conftest import make_home

SYMBOL = "BTCUSDT"


def main() -> int:
    f51 = shared_file()
    if f51 is None:
        return 0
    data = f51.parent
    with tempfile.TemporaryDirectory() as tmp:
        where = make_home(Path(tmp))
        config = load_config(where, {"SHOWDOWN__DATABASE__SQLITE_FILE": "bench.sqlite"})
        db = open_database(config, where, create_missing=True)
        try:
            upgrade(db)
            import_klines(f51)
            import_funding(data / "btcusdt-perp-funding-8h.csv.gz")
            append("etf", _etf_history(data))
            sentiment, _ = validate_sentiment({"as_of": "2025-05-10T00:00:00Z", "score": 1, "label": "bullish",
                                               "comment": "bench"})
            append("sentiment", sentiment)
            opens = pd.read_csv(f51, usecols=[0]).iloc[:, 0]
            first = (int(opens.iloc[0]) // 300_000 + 1) * 300_000
            last = (int(opens.iloc[-1]) + 60_000) // 300_000 * 300_000
            t0 = time.perf_counter()
            candles, derivatives, _ = load_history(SYMBOL, first, last, config)
            etf_params = (config.get("analytics") or {}).get("etf")
            batch = build_cycles(candles, first, last, config, derivatives=derivatives,
                                 inputs=inputs_at(SYMBOL, last, etf_params), with_flow=True)
            t_batch = time.perf_counter() - t0
            differences = 0
            t0 = time.perf_counter()
            for cyc in batch:
                t = cyc["t_ms"]
                frames, deriv, inputs = load_cycle_inputs(SYMBOL, t, config)
                snap = build_snapshot(frames, t, config, depth=deriv.get("depth"))
                flow = build_flow(snap, deriv, inputs, t, config)
                diff = [f"snapshot.{p}" for p in fact_differences(snap, cyc["snapshot"])]
                diff += [f"flow.{p}" for p in fact_differences(flow, cyc["flow"])]
                if diff:
                    differences += 1
                    if differences <= 10:
                        print("DIFF", snap.get("timestamp_iso"), diff[:8])
            t_live = time.perf_counter() - t0
        finally:
            db.close()
    print(f"{len(batch)} cycles of the 51-day file, snapshot and flow: backtest batch {t_batch:.1f} s, "
          f"live cycle by cycle from the database {t_live:.1f} s; {differences} cycles differ")
    return 1 if differences or not batch else 0


if __name__ == "__main__":
    sys.exit(main())
