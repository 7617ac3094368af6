"""Building python-binance's Client from config without it reaching anywhere else.

python-binance 1.0.37 notes that matter here:
- Client(ping=True) (the default) calls the SPOT /api/v3/ping at construction: we pass
  ping=False, so building a client makes no request at all.
- Futures calls go to client.FUTURES_URL (+ /v1|/v2|/v3/...); open-interest history goes
  to client.FUTURES_DATA_URL. With base_url set we override both on the instance and
  force testnet=False (testnet would switch to FUTURES_TESTNET_URL).
- Time sync: the client only adds `timestamp_offset` to its timestamps; we measure the
  offset ourselves with futures_time() (/fapi/v1/time), never the spot get_server_time().
- recvWindow: REQUEST_RECVWINDOW (class default 10000) is set on the instance from config.
"""

from __future__ import annotations

from typing import Any

from binance.client import Client


def make_client(binance_cfg: dict[str, Any]) -> Client:
    base = binance_cfg.get("base_url")
    testnet = bool(binance_cfg.get("testnet")) and not base
    client = Client(binance_cfg.get("api_key") or None, binance_cfg.get("api_secret") or None,
                     testnet=testnet, ping=False)
    if base:
        base = base.rstrip("/")
        client.FUTURES_URL = f"{base}/fapi"
        client.FUTURES_DATA_URL = f"{base}/futures/data"
        # Anything else python-binance might reach is pointed at the same host, so a stray
        # call fails against 127.0.0.1 instead of leaving the machine.
        client.API_URL = f"{base}/api"
        client.FUTURES_COIN_URL = f"{base}/dapi"
        client.FUTURES_COIN_DATA_URL = f"{base}/futures/data"
        client.MARGIN_API_URL = f"{base}/sapi"
    client.REQUEST_TIMEOUT = float(binance_cfg.get("request_timeout_s", 10))
    client.REQUEST_RECVWINDOW = int(binance_cfg.get("recv_window_ms", 5000))
    return client
