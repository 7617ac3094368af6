"""The futures user-data stream, through python-binance's own websocket manager.

It only WAKES the execution worker: on ORDER_TRADE_UPDATE, ALGO_UPDATE or ACCOUNT_UPDATE
the worker runs its step at once instead of at the end of `execution.loop_seconds`.
REST stays the source of truth (the step reads orders and position by REST as always),
so a lost stream costs latency, never correctness: the worker falls back to polling and
the heartbeat says so (`user_stream.state`).

python-binance 1.0.37: ThreadedWebsocketManager keeps the listenKey alive (POST, then
PUT on a timer, on the AsyncClient) and reconnects the socket. Two things are set here:
- the AsyncClient is built without `AsyncClient.create()`, which pings the SPOT API
  (api.binance.com) and would leave 127.0.0.1 when pointed at exchange-sim;
- with `binance.base_url` the client's FUTURES_URL goes there, and with
  `binance.stream_url` the socket manager's FSTREAM_URL (the futures user socket is
  `{FSTREAM_URL}private/ws?listenKey=KEY`). A base URL without a stream URL means no
  stream: polling only, said in the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from binance.async_client import AsyncClient
from binance.ws.reconnecting_websocket import WSListenerState
from binance.ws.streams import ThreadedWebsocketManager

log = logging.getLogger("showdown.user_stream")
WAKE_EVENTS = ("ORDER_TRADE_UPDATE", "ALGO_UPDATE", "ACCOUNT_UPDATE")


class _Manager(ThreadedWebsocketManager):
    """ThreadedWebsocketManager whose client is pointed at the configured venue."""

    def __init__(self, api_key: str | None, api_secret: str | None, testnet: bool, futures_url: str | None,
                 stream_url: str | None, loop: asyncio.AbstractEventLoop):
        super().__init__(api_key, api_secret, testnet=testnet, loop=loop)
        self.futures_url = futures_url
        self.stream_url = stream_url

    async def socket_listener(self) -> None:
        try:
            p = self._client_params
            self._client = AsyncClient(p["api_key"], p["api_secret"], testnet=bool(p["testnet"]), loop=self._loop)
            if self.futures_url:
                self._client.FUTURES_URL = self.futures_url
                self._client.testnet = False
            await self._before_socket_listener_start()
            assert self._bsm is not None
            if self.stream_url:
                self._bsm.FSTREAM_URL = self.stream_url
                self._bsm.testnet = False
        except Exception as exc:  # noqa: BLE001 - reported through the status, then polling
            log.error("user-data stream: client not created: %s", exc)
            self.stop()
        while self._running:
            await asyncio.sleep(0.2)
        while self._socket_running:
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        """Close the listenKey (DELETE) and stop at once. python-binance's own stop only
        lowers flags: its read loop then waits out a 10 s receive timeout; closing the
        socket first ends that wait."""
        bsm = self._bsm
        if bsm is not None and self._loop.is_running():
            for conn in list(bsm._conns.values()):  # noqa: SLF001 - see above
                key = getattr(conn, "_listen_key", None)
                if key and self._client is not None:  # DELETE /fapi/v1/listenKey: the stream is closed
                    done = asyncio.run_coroutine_threadsafe(self._client.futures_stream_close(key), self._loop)
                    with contextlib.suppress(Exception):
                        done.result(2)
                conn.ws_state = WSListenerState.EXITING
                if conn.ws is not None:
                    fut = asyncio.run_coroutine_threadsafe(conn.ws.close(), self._loop)
                    with contextlib.suppress(Exception):
                        fut.result(2)
        super().stop()

    def socket_state(self) -> str | None:
        bsm = self._bsm
        if bsm is None:
            return None
        for conn in list(bsm._conns.values()):  # noqa: SLF001 - the manager exposes no other view
            state = getattr(conn, "ws_state", None)
            return state.name.lower() if isinstance(state, WSListenerState) else None
        return None


def stream_urls(binance_cfg: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(futures REST URL or None for python-binance's, stream URL or None, why it is off)."""
    base = binance_cfg.get("base_url")
    stream = binance_cfg.get("stream_url")
    if not binance_cfg.get("user_stream", True):
        return None, None, "off (binance.user_stream: false)"
    if base and not stream:
        return None, None, "off (binance.base_url set without binance.stream_url)"
    return (f"{base.rstrip('/')}/fapi" if base else None), (stream.rstrip("/") + "/" if stream else None), None


class UserStream:
    """Start/stop the stream; `on_event` is called (on the websocket thread) for every
    event that should wake the worker; `status()` is the heartbeat's view."""

    def __init__(self, binance_cfg: dict[str, Any], on_event: Callable[[dict[str, Any]], None],
                 restart_after_s: float = 30.0):
        self.cfg = binance_cfg
        self.on_event = on_event
        self.restart_after_s = restart_after_s
        self.futures_url, self.stream_url, self.off_reason = stream_urls(binance_cfg)
        self._manager: _Manager | None = None
        self._lock = threading.Lock()
        self.events = 0
        self.last_event_ms: int | None = None
        self.last_error: str | None = None
        self._down_since: float | None = None
        self._stopping = False
        self._expired = False
        self.restarts = 0

    @property
    def enabled(self) -> bool:
        return self.off_reason is None

    def start(self) -> None:
        if not self.enabled:
            log.info("user-data stream %s: fills are seen by polling", self.off_reason)
            return
        with self._lock:
            self._stopping = False
            self._expired = False
            # python-binance's sockets take the CURRENT thread's event loop when they are
            # made: make them in a thread whose loop is the manager's own, so two streams
            # (or a caller with its own asyncio loop) never share one.
            box: dict[str, Any] = {}

            def boot() -> None:
                loop = asyncio.new_event_loop()
                asyncio.set_event_loop(loop)
                m = _Manager(self.cfg.get("api_key") or None, self.cfg.get("api_secret") or None,
                             bool(self.cfg.get("testnet")) and not self.cfg.get("base_url"), self.futures_url,
                             self.stream_url, loop)
                m.daemon = True
                m.start()
                box["m"] = m
                try:
                    m.start_futures_user_socket(callback=self._on_message)
                except RuntimeError as exc:  # the manager never came up
                    self.last_error = str(exc)

            t = threading.Thread(target=boot, name="user-stream-boot", daemon=True)
            t.start()
            t.join(10)
            m = box.get("m")
            self._manager = m

    def stop(self) -> None:
        with self._lock:
            m, self._manager = self._manager, None
            self._stopping = True  # what the closing socket reports is not news
        if m is not None:
            m.stop()
            m.join(5)

    def _on_message(self, msg: Any) -> None:
        if not isinstance(msg, dict) or self._stopping:
            return
        kind = msg.get("e")
        if kind == "error":
            self.last_error = f"{msg.get('type')}: {msg.get('m')}"
            log.warning("user-data stream error: %s", self.last_error)
            return
        if kind == "listenKeyExpired":  # the socket stays open but carries nothing more
            self.last_error = "listenKey expired"
            self._expired = True
            return
        if kind in WAKE_EVENTS:
            self.events += 1
            self.last_event_ms = int(time.time() * 1000)
            self.on_event(msg)

    def state(self) -> str:
        if not self.enabled:
            return "off"
        m = self._manager
        if m is None or not m.is_alive() or self._expired:
            return "down"
        return "streaming" if m.socket_state() == "streaming" else "down"

    def check(self) -> str:
        """Called once per loop: restart a stream that has been down `restart_after_s`."""
        state = self.state()
        if state != "down":
            self._down_since = None
            return state
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        elif now - self._down_since >= self.restart_after_s:
            log.warning("user-data stream down for %.0f s: restarting it", now - self._down_since)
            self.stop()
            self.restarts += 1
            self._down_since = now
            self.start()
        return state

    def status(self) -> dict[str, Any]:
        state = self.state()
        return {"state": state, "mode": "stream + polling" if state == "streaming" else "polling only",
                "why_off": self.off_reason, "events": self.events, "last_event_ms": self.last_event_ms,
                "last_error": self.last_error, "restarts": self.restarts}
