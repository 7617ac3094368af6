"""Binance's documented HMAC-SHA256 example, our signing path and the simulator's verifier."""

import pytest
import requests
from binance.client import Client

from connectors.exchange_sim.auth import AuthError, sign, verify

QUERY = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
         "&recvWindow=5000&timestamp=1499827319559")
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
EXPECTED = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
TS = 1499827319559


def params_of(q: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in q.split("&"))


def test_documented_example_signature() -> None:
    assert sign(SECRET, QUERY) == EXPECTED
    # python-binance, which the connector signs with, sorts parameters: same HMAC over its own order
    client = Client(KEY, SECRET, ping=False)
    data = params_of(QUERY)
    ordered = "&".join(f"{k}={data[k]}" for k in sorted(data))
    assert client._generate_signature(data, uri_encode=False) == sign(SECRET, ordered)


def test_verifier_accepts_example_and_refuses_tampering() -> None:
    q = QUERY + "&signature=" + EXPECTED
    verify(q, "", params_of(QUERY), KEY, {KEY: SECRET}, server_time_ms=TS + 100)
    # the same example sent as a POST body
    verify("", q, params_of(QUERY), KEY, {KEY: SECRET}, server_time_ms=TS + 100)
    tampered = q.replace("quantity=1", "quantity=9")
    with pytest.raises(AuthError) as e:
        verify(tampered, "", params_of(QUERY) | {"quantity": "9"}, KEY, {KEY: SECRET}, server_time_ms=TS + 100)
    assert (e.value.code, e.value.msg) == (-1022, "Signature for this request is not valid.")


@pytest.mark.parametrize(("server_time", "code"), [
    (TS + 5001, -1021),  # older than recvWindow
    (TS - 1000, -1021),  # 1000 ms ahead of the server
    (TS + 5000, None),  # exactly recvWindow old: accepted
    (TS - 999, None),
])
def test_timestamp_window(server_time: int, code: int | None) -> None:
    q = QUERY + "&signature=" + EXPECTED
    if code is None:
        verify(q, "", params_of(QUERY), KEY, {KEY: SECRET}, server_time)
    else:
        with pytest.raises(AuthError) as e:
            verify(q, "", params_of(QUERY), KEY, {KEY: SECRET}, server_time)
        assert e.value.code == code


def test_unknown_key_and_missing_key() -> None:
    q = QUERY + "&signature=" + EXPECTED
    with pytest.raises(AuthError) as e:
        verify(q, "", params_of(QUERY), "other", {KEY: SECRET}, TS)
    assert e.value.code == -2015
    with pytest.raises(AuthError) as e:
        verify(q, "", params_of(QUERY), None, {KEY: SECRET}, TS)
    assert e.value.code == -2014


def test_tampered_request_over_http_gets_binance_error_body() -> None:
    from tests.simnet import KEY as SKEY
    from tests.simnet import SECRET as SSECRET
    from tests.simnet import start_sim
    sim = start_sim()
    try:
        client = Client(SKEY, SSECRET, ping=False)
        client.FUTURES_URL = sim.url + "/fapi"
        good = client.futures_account_balance()
        assert good[0]["asset"] == "USDT"
        import time
        ts = int(time.time() * 1000)
        body = f"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&recvWindow=5000&timestamp={ts}"
        sig = sign(SSECRET, body)
        r = requests.post(sim.url + "/fapi/v1/order", data=body.replace("0.010", "0.100") + "&signature=" + sig,
                          headers={"X-MBX-APIKEY": SKEY, "Content-Type": "application/x-www-form-urlencoded"},
                          timeout=5)
        assert r.status_code == 400
        assert r.json() == {"code": -1022, "msg": "Signature for this request is not valid."}
        assert sim.venue.core.open_orders() == [] and sim.venue.core.fills == []
    finally:
        sim.stop()
