"""`showdown testnet-check` against exchange-sim (--base-url): the whole protected trade
life through the real python-binance client, each step reported, nothing left open."""

from __future__ import annotations

import threading

from click.testing import CliRunner

from cli.main import showdown
from tests.simnet import KEY, SECRET, start_sim


def _run(sim, monkeypatch, tmp_path, *args: str):
    monkeypatch.setenv("SHOWDOWN_HOME", str(tmp_path))
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    return CliRunner().invoke(showdown, ["testnet-check", "--base-url", sim.url, *args])


def test_testnet_check_runs_a_protected_trade_life_and_cleans_up(monkeypatch, tmp_path) -> None:
    sim = start_sim()
    try:
        res = _run(sim, monkeypatch, tmp_path, "--tp1-wait-s", "1")
        out = res.output
        assert res.exit_code == 0, out
        for step in ("preflight", "account", "entry", "protection", "tp1", "break-even", "close", "reconciliation",
                     "cleanup"):
            assert f"ok    {step}:" in out, (step, out)
        assert "closed at market instead" in out  # speed 0: the price never reaches TP1 by itself
        assert "PASSED" in out
        core = sim.venue.core
        assert core.ledger.qty == 0 and core.open_orders() == []
        assert "refused with -2021" in out  # speed 0: the mark sits at the entry, a stop there fires at once
        sl = next(o for cid, o in core.orders.items() if cid.endswith("_sl"))
        assert sl.status == "CANCELED"  # kept until the close: never naked
    finally:
        sim.stop()


def test_testnet_check_sees_tp1_trigger_on_the_exchange(monkeypatch, tmp_path) -> None:
    sim = start_sim()
    stop = threading.Event()

    def market_moves() -> None:  # the replay walks on while the check waits for TP1
        while not stop.wait(0.3):
            if sim.venue.core.ledger.qty != 0:
                sim.venue.step(minutes=1)

    t = threading.Thread(target=market_moves, daemon=True)
    try:
        t.start()
        res = _run(sim, monkeypatch, tmp_path, "--tp1-wait-s", "20")
        out = res.output
        assert "ok    cleanup:" in out and sim.venue.core.ledger.qty == 0 and sim.venue.core.open_orders() == []
        assert "ok    entry:" in out and "ok    protection:" in out
        assert ("TP1 triggered on the exchange" in out) or ("closed at market instead" in out), out
    finally:
        stop.set()
        t.join(5)
        sim.stop()


def test_testnet_check_names_missing_keys(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SHOWDOWN_HOME", str(tmp_path))
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    res = CliRunner().invoke(showdown, ["testnet-check", "--base-url", "http://127.0.0.1:9"])
    assert res.exit_code != 0 and "BINANCE_API_KEY and BINANCE_API_SECRET" in res.output
