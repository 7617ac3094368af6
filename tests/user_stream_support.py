"""TP1 fill → stop at break-even, timed on the wall clock: the real worker in its own
loop (`run()`), the real python-binance client and websocket manager, exchange-sim on
replayed real data (the full-trade window of tests/execution_scenario.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from connectors.binance.user_stream import UserStream
from connectors.exchange_sim.server import start
from tests.execution_scenario import find_long
from tests.execution_support import decision, make_worker, step_market
from tests.simnet import KEY, SECRET, _rows, make_venue


def breakeven_latency_s(tmp: Path, with_stream: bool, loop_seconds: float, timeout_s: float = 15.0) -> float:
    """Seconds from the market step that fills TP1 on the exchange to the break-even stop
    being open there (timeout_s when it never happens in time)."""
    rows, _ = _rows()
    sc = find_long(rows, 1440)
    sim = start(make_venue(history_minutes=sc.i))
    try:
        w = make_worker(sim, tmp, loop_seconds=loop_seconds)
        w.start()
        w.decisions.current = decision(1, sim.venue.market.now_ms, "long", sc.zone, sc.sl, sc.tp1, sc.tp2,
                                       size_usdt=0.0102 * sc.zone[1])
        core = sim.venue.core
        for _ in range(sc.tp1_candle - sc.i - 1):  # manual loops up to the candle before TP1
            w.run_once()
            step_market(sim)
        w.run_once()
        assert core.ledger.qty > 0 and not w.state.tp1_done, "scenario: position open, TP1 pending"
        if with_stream:
            w.stream = UserStream({"api_key": KEY, "api_secret": SECRET, "base_url": sim.url,
                                   "stream_url": sim.stream_url}, on_event=lambda _e: w.wake.set())
        stop = threading.Event()
        loops_before = w.loops
        runner = threading.Thread(target=w.run, args=(stop,), daemon=True)
        runner.start()
        deadline = time.monotonic() + 10
        while (w.loops == loops_before or (with_stream and w.stream.state() != "streaming")) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # the worker is idle, waiting for its next loop
        tp1 = core.orders["capi_tp1_1"]
        for _ in range(5):
            t0 = time.monotonic()
            step_market(sim)
            if tp1.status == "FILLED":
                break
            time.sleep(0.3)
        assert tp1.status == "FILLED", "scenario: TP1 fills on the next candles"
        entry = core.orders["capi_entry_1_2"].avg_price
        while time.monotonic() - t0 < timeout_s:
            be = [o for o in core.open_orders() if o.type == "STOP_MARKET" and o.stop_price is not None
                  and abs(o.stop_price - entry) < 1]
            if be:
                return time.monotonic() - t0
            time.sleep(0.005)
        return timeout_s
    finally:
        if "stop" in locals():
            stop.set()
            runner.join(15)
        sim.stop()
