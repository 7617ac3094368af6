"""exchange-sim throughput: signed requests/s from the real python-binance client over
HTTP (one keep-alive session per client thread). Target: >= 500 signed requests/s."""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from binance.client import Client  # noqa: E402

from connectors.exchange_sim.market import MINUTE, Market, read_klines  # noqa: E402
from connectors.exchange_sim.server import start  # noqa: E402
from connectors.exchange_sim.venue import Venue  # noqa: E402
from engine.paths import shared_data_dir  # noqa: E402

KEY, SECRET = "bench-key", "bench-secret"


def client(url: str) -> Client:
    c = Client(KEY, SECRET, ping=False)
    c.FUTURES_URL = url + "/fapi"
    c.REQUEST_RECVWINDOW = 5000
    return c


def run(url: str, threads: int, seconds: float) -> tuple[int, float]:
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        c = client(url)
        while time.monotonic() < stop:
            c.futures_get_open_orders(symbol="BTCUSDT")  # signed GET
            counts[i] += 1

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts), time.monotonic() - t0


PATH = shared_data_dir() / "btcusdt-perp-1m-2025-11-10_2025-12-10.csv.gz"


def make_sim():
    rows = read_klines(PATH)[:5000]
    venue = Venue(Market(rows, [], now_ms=rows[0][0] + 1440 * MINUTE), {KEY: SECRET}, weight_limit=10**9)
    return start(venue)


def serve_child(port_q: mp.Queue, stop_ev) -> None:
    sim = make_sim()
    port_q.put(sim.url)
    stop_ev.wait()
    sim.stop()


def report(where: str, url: str) -> None:
    for threads in (1, 2, 4):
        n, secs = run(url, threads, 3.0)
        print(f"exchange_sim ({where}): {threads} client thread(s): {n} signed requests in {secs:.2f} s = "
              f"{n / secs:,.0f} req/s (target >= 500)")


def main() -> None:
    if not PATH.exists():
        print(f"SKIP: {PATH} absent")
        return
    # As deployed: `showdown exchange-sim` is its own process.
    q: mp.Queue = mp.Queue()
    stop_ev = mp.Event()
    child = mp.Process(target=serve_child, args=(q, stop_ev))
    child.start()
    try:
        report("server in its own process", q.get(timeout=30))
    finally:
        stop_ev.set()
        child.join(10)
    # Worst case: server and client share one process (and its GIL), as in the e2e tests.
    sim = make_sim()
    try:
        report("server in the client's process", sim.url)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
