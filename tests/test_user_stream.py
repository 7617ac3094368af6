"""User-data stream (issue 17, finding 9): exchange-sim serves Binance's listenKey
endpoints and websocket events with the documented shapes (tests/fixtures/binance/
user_data/, each naming its page), python-binance's own websocket manager consumes them,
and a fill wakes the execution worker at once instead of at its next poll."""

from __future__ import annotations

import json
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from connectors.binance.client import make_client
from connectors.binance.user_stream import UserStream, stream_urls
from engine.exchange.types import OrderRequest
from tests.simnet import KEY, SECRET, exchange_for, start_sim
from tests.user_stream_support import breakeven_latency_s

FIXTURES = Path(__file__).parent / "fixtures" / "binance" / "user_data"
# Fields Binance documents as pushed only in some cases (the page's own words):
CONDITIONAL = {
    "ORDER_TRADE_UPDATE": {"N", "n",  # "will not push if no commission"
                           "AP", "cr"},  # "only pushed with TRAILING_STOP_MARKET order"
    "ALGO_UPDATE": {"ap", "aq", "act",  # "only display when order is triggered and placed in matching engine"
                    "rm"},  # "algo order failed reason"
}


def fixture(name: str) -> dict[str, Any]:
    doc = json.loads((FIXTURES / name).read_text())
    assert doc["source"].startswith("https://developers.binance.com/docs/derivatives/usds-margined-futures/")
    return doc["example"]


def shape(x: Any) -> Any:
    """Keys and JSON value types, recursively (lists by their first element)."""
    if isinstance(x, dict):
        return {k: shape(v) for k, v in x.items()}
    if isinstance(x, list):
        return [shape(x[0])] if x else []
    return type(x).__name__


def same_shape(event: dict[str, Any], documented: dict[str, Any], optional: set[str]) -> list[str]:
    got, want = shape(event), shape(documented)
    problems = []
    body = "o" if "o" in want else "a"
    for k in set(want) | set(got):
        if k == body:
            continue
        if want.get(k) != got.get(k):
            problems.append(f"{k}: documented {want.get(k)}, got {got.get(k)}")
    gb, wb = got.get(body, {}), want[body]
    for k in set(wb) | set(gb):
        if k in optional and k not in gb:
            continue
        if k not in wb:
            problems.append(f"{body}.{k}: not in Binance's documented event (invented)")
        elif k not in gb:
            problems.append(f"{body}.{k}: documented, missing")
        elif wb[k] != gb[k]:
            problems.append(f"{body}.{k}: documented {wb[k]}, got {gb[k]}")
    return problems


@pytest.fixture
def sim():
    running = start_sim()
    yield running
    running.stop()


def listen(sim: Any) -> tuple[UserStream, list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []
    us = UserStream({"api_key": KEY, "api_secret": SECRET, "base_url": sim.url, "stream_url": sim.stream_url},
                    on_event=got.append)
    us.start()
    deadline = time.monotonic() + 10
    while us.state() != "streaming" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert us.state() == "streaming", us.status()
    return us, got


def wait_for(got: list[dict[str, Any]], pred: Any, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        hits = [e for e in list(got) if pred(e)]
        if hits:
            return hits
        time.sleep(0.01)
    raise AssertionError(f"no such event in {len(got)} received: {[e.get('e') for e in got]}")


def test_listen_key_endpoints_answer_as_documented_through_python_binance(sim) -> None:
    client: Client = make_client({"api_key": KEY, "api_secret": SECRET, "base_url": sim.url})
    key = client.futures_stream_get_listen_key()
    assert shape({"listenKey": key}) == shape(fixture("listen_key_start.json"))
    assert client.futures_stream_get_listen_key() == key  # an active key is returned again (and extended)
    assert shape(client.futures_stream_keepalive(key)) == shape(fixture("listen_key_keepalive.json"))
    assert client.futures_stream_close(key) == fixture("listen_key_close.json")
    with pytest.raises(BinanceAPIException) as err:
        client.futures_stream_keepalive(key)
    assert err.value.code == -1125 and err.value.message == "This listenKey does not exist."
    anonymous = make_client({"base_url": sim.url})
    with pytest.raises(BinanceAPIException) as err:
        anonymous.futures_stream_get_listen_key()
    assert err.value.code == -2014


def test_events_have_binances_documented_shapes(sim) -> None:
    us, got = listen(sim)
    try:
        ex = exchange_for(sim)
        price = ex.premium_index("BTCUSDT").mark_price
        ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="t_entry"))
        ex.place_order(OrderRequest("BTCUSDT", "SELL", "STOP_MARKET", stop_price=(price * D("0.5")).quantize(
            D("0.1")), close_position=True, client_order_id="t_sl"))
        ex.place_order(OrderRequest("BTCUSDT", "SELL", "LIMIT", D("0.005"), (price * D("1.04")).quantize(D("0.1")),
                                    reduce_only=True, client_order_id="t_limit"))
        ex.cancel_order("BTCUSDT", "t_limit")
        ex.cancel_order("BTCUSDT", "t_sl")
        wait_for(got, lambda e: e["e"] == "ALGO_UPDATE" and e["o"]["X"] == "CANCELED")
        kinds = {}
        for e in got:
            kinds.setdefault((e["e"], e.get("o", {}).get("x") or e.get("o", {}).get("X")), e)
        documented = {"ORDER_TRADE_UPDATE": fixture("order_trade_update.json"),
                      "ALGO_UPDATE": fixture("algo_update.json"), "ACCOUNT_UPDATE": fixture("account_update.json")}
        seen = set()
        for (kind, _), e in kinds.items():
            seen.add(kind)
            assert same_shape(e, documented[kind], CONDITIONAL.get(kind, set())) == [], (kind, e)
        assert seen == set(documented)
        fill = next(e for e in got if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE")
        assert (fill["o"]["c"], fill["o"]["X"], fill["o"]["z"]) == ("t_entry", "FILLED", "0.010")
        assert "n" in fill["o"] and "N" in fill["o"]  # a trade pays commission: pushed
        acct = next(e for e in got if e["e"] == "ACCOUNT_UPDATE")
        assert acct["a"]["P"][0]["pa"] == "0.010" and acct["a"]["m"] == "ORDER"
        assert [e["o"]["X"] for e in got if e["e"] == "ALGO_UPDATE"] == ["NEW", "CANCELED"]
        assert len(sim.venue.stream.keys) == 1
    finally:
        us.stop()
    assert sim.venue.stream.keys == {}  # stopping closes the listenKey (DELETE /fapi/v1/listenKey)


def test_stream_urls_and_the_reason_when_off() -> None:
    assert stream_urls({"base_url": "http://127.0.0.1:8900"})[2] == \
        "off (binance.base_url set without binance.stream_url)"
    assert stream_urls({"user_stream": False})[2] == "off (binance.user_stream: false)"
    assert stream_urls({"base_url": "http://h:1/", "stream_url": "ws://h:2"}) == ("http://h:1/fapi", "ws://h:2/", None)
    assert stream_urls({}) == (None, None, None)  # python-binance's own URLs (mainnet / testnet)


def test_a_lost_stream_degrades_to_polling_and_says_so(sim) -> None:
    us, _ = listen(sim)
    try:
        assert us.status()["mode"] == "stream + polling"
        sim.stream.stop()  # the websocket server goes away
        deadline = time.monotonic() + 10
        while us.state() == "streaming" and time.monotonic() < deadline:
            time.sleep(0.05)
        st = us.status()
        assert st["state"] == "down" and st["mode"] == "polling only", st
    finally:
        us.stop()


def test_finding_9_a_tp1_fill_moves_the_stop_to_break_even_at_once(tmp_path, db) -> None:
    """Before: fills were seen by REST polling only, at the next loop. With the stream a
    TP1 fill wakes the worker: the break-even stop is on the exchange well before the
    next poll (loop_seconds 5 here)."""
    took = breakeven_latency_s(tmp_path, with_stream=True, loop_seconds=5.0)
    assert took < 1.5, f"break-even stop {took:.2f} s after the TP1 fill (polling every 5 s)"


def test_worker_heartbeat_and_status_say_whether_fills_stream_or_are_polled(sim, tmp_path, db) -> None:
    import threading

    from cli.status_cmd import execution_status
    from connectors.db import models as M  # noqa: N812
    from tests.execution_support import make_worker

    w = make_worker(sim, tmp_path, loop_seconds=0.3)
    w.stream = UserStream({"api_key": KEY, "api_secret": SECRET, "base_url": sim.url,
                           "stream_url": sim.stream_url}, on_event=lambda _e: w.wake.set())
    stop = threading.Event()
    runner = threading.Thread(target=w.run, args=(stop,), daemon=True)
    runner.start()

    def beat() -> dict[str, Any]:
        row = M.BotState.get_or_none(M.BotState.component == "execution")
        return (row.details or {}).get("user_stream") or {} if row else {}

    try:
        deadline = time.monotonic() + 10
        while beat().get("state") != "streaming" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert beat()["mode"] == "stream + polling"
        assert any("user-data stream: streaming — stream + polling" in line for line in execution_status("BTCUSDT"))
        sim.stream.stop()  # the stream is lost: the worker keeps polling and says so
        deadline = time.monotonic() + 10
        while beat().get("state") != "down" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert beat()["mode"] == "polling only"
        assert any("down — polling only" in line for line in execution_status("BTCUSDT"))
        deadline = time.monotonic() + 5
        while not M.Notification.select().where(M.Notification.code == "user_stream_down").exists() \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        codes = [n.code for n in M.Notification.select()]
        assert "user_stream_down" in codes, (codes, w._stream_state)
        note = M.Notification.get(M.Notification.code == "user_stream_down")
        assert note.level == "WARNING" and "polling every 0.3 s" in note.message
        loops = w.loops
        time.sleep(1.0)
        assert w.loops >= loops + 2  # still polling
    finally:
        stop.set()
        runner.join(15)
    assert not runner.is_alive() and w.stream.state() == "down"  # stopped with the worker


def test_a_triggered_stop_or_take_profit_streams_as_binance_orders_it(sim) -> None:
    us, got = listen(sim)
    try:
        ex = exchange_for(sim)
        ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="t_in"))
        px = ex.premium_index("BTCUSDT").mark_price
        ex.place_order(OrderRequest("BTCUSDT", "SELL", "STOP_MARKET", stop_price=(px * D("0.998")).quantize(D("0.1")),
                                    close_position=True, client_order_id="t_sl"))
        ex.place_order(OrderRequest("BTCUSDT", "SELL", "TAKE_PROFIT_MARKET", D("0.010"),
                                    stop_price=(px * D("1.002")).quantize(D("0.1")), reduce_only=True,
                                    client_order_id="t_tp"))
        for _ in range(240):
            if sim.venue.core.ledger.qty == 0:
                break
            sim.venue.step(minutes=1)
        assert sim.venue.core.ledger.qty == 0, "the replay reaches one of them within 4 hours"
        core = sim.venue.core
        done = "t_sl" if core.orders["t_sl"].status == "FILLED" else "t_tp"
        wait_for(got, lambda e: e["e"] == "ALGO_UPDATE" and e["o"]["caid"] == done and e["o"]["X"] == "FINISHED")
        # where the fill lives: the separate MARKET order the trigger placed (actualOrderId), when
        # the core makes one; else the algo order itself
        actual = (getattr(core, "triggered", None) or {}).get(done)
        fill_cid = actual.client_order_id if actual is not None else done
        mine = [(e["e"], e["o"].get("X"), e["o"].get("x")) for e in got
                if e["e"] != "ACCOUNT_UPDATE" and (e["o"].get("caid") == done or e["o"].get("c") == fill_cid)]
        assert mine == [("ALGO_UPDATE", "NEW", None), ("ALGO_UPDATE", "TRIGGERED", None)] + \
            ([("ORDER_TRADE_UPDATE", "NEW", "NEW")] if actual is not None else []) + \
            [("ORDER_TRADE_UPDATE", "FILLED", "TRADE"), ("ALGO_UPDATE", "FINISHED", None)], mine
        finished = [e for e in got if e["e"] == "ALGO_UPDATE" and e["o"]["X"] == "FINISHED"][0]["o"]
        assert finished["aq"] == "0.010" and finished["act"] == "MARKET"
        trade = next(e["o"] for e in got if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["c"] == fill_cid
                     and e["o"]["x"] == "TRADE")
        assert finished["ai"] == str(trade["i"]) and finished["ap"] == trade["ap"]  # ai names the filled order
        assert same_shape(got[-1] if got[-1]["e"] == "ACCOUNT_UPDATE" else
                          next(e for e in reversed(got) if e["e"] == "ACCOUNT_UPDATE"),
                          fixture("account_update.json"), set()) == []
        assert D(next(e for e in reversed(got) if e["e"] == "ACCOUNT_UPDATE")["a"]["P"][0]["pa"]) == 0
    finally:
        us.stop()


def test_an_expired_listen_key_says_so_and_the_stream_counts_as_down(sim) -> None:
    us, got = listen(sim)
    try:
        hub = sim.venue.stream
        key = next(iter(hub.keys))
        hub.keys[key] = 0  # its 60 minutes are over
        ex = exchange_for(sim)
        ex.place_order(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id="t_late"))
        deadline = time.monotonic() + 5
        while us.state() != "down" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert us.status()["state"] == "down" and us.status()["last_error"] == "listenKey expired"
        time.sleep(0.3)
        assert not [e for e in got if e.get("o", {}).get("c") == "t_late"]  # nothing after the expiry
    finally:
        us.stop()
