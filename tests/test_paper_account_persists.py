"""Paper accounts survive a restart (issue 15, finding 4): exchange-sim, a real process
asked by the real python-binance client, keeps balance, position, the resting stop, order
history, trades, income and its replay clock on disk; the in-process paper exchange too.
A stored account that cannot be read is a loud error naming the file, never a fresh one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import pytest
import requests

from engine.exchange.types import OrderRequest
from engine.paths import PROJECT_DIR, shared_data_dir
from tests.simnet import FILE_1M, KEY, SECRET


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_sim(home: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "SHOWDOWN_HOME": str(home), "PYTHONPATH": str(PROJECT_DIR),
           "SHOWDOWN__BINANCE__API_KEY": KEY, "SHOWDOWN__BINANCE__API_SECRET": SECRET}
    for name in ("DB_HOST", "BINANCE_BASE_URL"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "exchange-sim", "--klines", FILE_1M,
                             "--start", "2025-12-06T00:00:00Z", "--speed", "0", "--port", str(port)],
                            env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if requests.get(f"http://127.0.0.1:{port}/fapi/v1/ping", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("exchange-sim did not answer")


def _exchange(port: int):
    from connectors.binance import BinanceExchange

    return BinanceExchange({"api_key": KEY, "api_secret": SECRET, "base_url": f"http://127.0.0.1:{port}",
                            "recv_window_ms": 5000, "max_weight_per_minute": 2000, "request_timeout_s": 5})


def _books(ex, port: int) -> dict:
    pos = ex.positions("BTCUSDT")[0]
    state = requests.get(f"http://127.0.0.1:{port}/_sim/state", timeout=5).json()
    return {"wallet": ex.balance().wallet_balance, "qty": pos.quantity, "entry": pos.entry_price,
            "open": sorted((o.client_order_id, o.type, o.stop_price, o.status) for o in ex.open_orders("BTCUSDT")),
            "entry_order": ex.order("BTCUSDT", "p15_entry").status,
            "trades": [(t.trade_id, t.price, t.quantity) for t in ex.account_trades("BTCUSDT")],
            "income": [(i.income_type, i.income, i.tran_id) for i in ex.income_history("BTCUSDT")],
            "clock": state["market_time_ms"]}


@pytest.mark.slow
def test_exchange_sim_restart_keeps_the_paper_account(tmp_path: Path) -> None:
    if not (shared_data_dir() / FILE_1M).exists():
        pytest.skip("shared data absent")
    port = _free_port()
    proc = _start_sim(tmp_path, port)
    try:
        ex = _exchange(port)
        ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="p15_entry"))
        last = ex.positions("BTCUSDT")[0].mark_price
        stop = (last * D("0.95")).quantize(D("0.1"))
        ex.place_order(OrderRequest("BTCUSDT", "SELL", "STOP_MARKET", stop_price=stop, close_position=True,
                                    client_order_id="p15_sl"))
        requests.post(f"http://127.0.0.1:{port}/_sim/step", json={"minutes": 30}, timeout=5).raise_for_status()
        before = _books(ex, port)
        assert before["qty"] == D("0.010") and before["wallet"] < D(10000)  # the entry's fee was paid
        assert [o[0] for o in before["open"]] == ["p15_sl"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no goodbye: what a crash or a kill -9 leaves
        proc.wait(10)
    proc = _start_sim(tmp_path, port)
    try:
        ex = _exchange(port)
        after = _books(ex, port)
        assert after == before
        # and it goes on from there: the stop still protects, the clock moves on from where it stood
        requests.post(f"http://127.0.0.1:{port}/_sim/step", json={"minutes": 1}, timeout=5).raise_for_status()
        assert requests.get(f"http://127.0.0.1:{port}/_sim/state", timeout=5).json()["market_time_ms"] == (
            before["clock"] + 60_000)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert "account resumed from" in out


def test_unreadable_account_file_is_a_loud_error_naming_it(tmp_path: Path) -> None:
    from connectors.exchange_sim.account_file import AccountFileError
    from tests.simnet import make_venue

    bad = tmp_path / "exchange_sim_account-x.json"
    bad.write_text('{"venue": 1, "core": {', encoding="utf-8")
    with pytest.raises(AccountFileError, match=str(bad)):
        make_venue().keep_account(bad)
    bad.write_text(json.dumps({"venue": 1, "first_candle_ms": 0}), encoding="utf-8")
    with pytest.raises(AccountFileError, match=str(bad)):
        make_venue().keep_account(bad)
    assert bad.read_text(encoding="utf-8") == json.dumps({"venue": 1, "first_candle_ms": 0})  # left as found


def test_in_process_paper_exchange_resumes_its_account(tmp_path: Path) -> None:
    from connectors.exchange_sim.account_file import KeptSimExchange, read_account
    from engine.clock import SimClock
    from engine.exchange.sim import SimConfig
    from engine.exchange.sim.exchange import CandleFeed

    t0 = 1_765_000_000_000 - 1_765_000_000_000 % 60_000
    rows = [(t0 + i * 60_000, 90000.0 + i, 90010.0 + i, 89990.0 + i, 90000.0 + i, 5.0) for i in range(120)]
    clock = SimClock(t0 + 30 * 60_000)
    path = tmp_path / "paper_account-x.json"
    ex = KeptSimExchange(CandleFeed(rows), clock, SimConfig(), path, read_account(path))
    ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="pp_entry"))
    ex.place_order(OrderRequest("BTCUSDT", "SELL", "STOP_MARKET", stop_price=D("85000"), close_position=True,
                                client_order_id="pp_sl"))
    clock.advance(10 * 60_000)
    wallet, fills = ex.balance().wallet_balance, len(ex.core.fills)
    again = KeptSimExchange(CandleFeed(rows), clock, SimConfig(), path, read_account(path))
    assert again.balance().wallet_balance == wallet < D(10000)
    assert again.positions("BTCUSDT")[0].quantity == D("0.010")
    assert [o.client_order_id for o in again.open_orders("BTCUSDT")] == ["pp_sl"]
    assert len(again.core.fills) == fills and again.order("BTCUSDT", "pp_entry").status == "FILLED"
