"""HTTP transport of the simulator: a threaded stdlib server (HTTP/1.1 keep-alive) on
127.0.0.1, the /_sim control endpoints, and the replay thread that moves the market
clock at a chosen speed.

Control endpoints (JSON in, JSON out; no signature; never subject to faults):
  GET    /_sim/state                      market time, price, position, orders, faults
  POST   /_sim/step    {"minutes": n} | {"to_ms": t}   move the market clock forward
  POST   /_sim/faults  {...FaultPlan keys}              replace the fault plan
  DELETE /_sim/faults                                   no faults
  POST   /_sim/gap     {"start_ms": a, "end_ms": b}     hide klines with open time in [a, b)
  DELETE /_sim/gap                                      show them again
  POST   /_sim/balance {"delta": "-250.5"}               move the wallet balance behind the
                                                        account's back (no trade, no income row:
                                                        what an unexplained change looks like)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from connectors.exchange_sim.faults import FaultPlan
from connectors.exchange_sim.market import MINUTE, Market, read_funding, read_klines
from connectors.exchange_sim.stream import StreamServer, serve_stream
from connectors.exchange_sim.venue import Request, Venue
from engine.exchange.sim import SimConfig

LOCALHOST = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: python-binance reuses one session
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall
    server: SimServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        if self.server.verbose:
            super().log_message(format, *args)

    def _body(self) -> str:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode() if n else ""

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        raw_body = self._body()
        if parts.path.startswith("/_sim/"):
            self._control(method, parts.path, raw_body)
            return
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        req = Request(method, parts.path, parts.query, raw_body, params, self.headers.get("X-MBX-APIKEY"))
        answer = self.server.venue.handle(req)
        if answer.delay_s:
            time.sleep(answer.delay_s)
        if answer.drop:
            self.close_connection = True  # no answer at all: the client sees a dead connection
            return
        self._send(answer.status, answer.body, answer.headers)

    def _control(self, method: str, path: str, raw: str) -> None:
        venue = self.server.venue
        try:
            body = json.loads(raw) if raw else {}
            if (method, path) == ("GET", "/_sim/state"):
                self._send(200, venue.state())
            elif (method, path) == ("POST", "/_sim/step"):
                now = venue.step(body.get("minutes"), body.get("to_ms"))
                self._send(200, {"market_time_ms": now})
            elif (method, path) == ("POST", "/_sim/faults"):
                with venue.lock:
                    venue.faults = FaultPlan.from_dict(body)
                    venue.core.config.max_fill_fraction_of_volume = venue.faults.partial_fill_fraction
                self._send(200, venue.faults.to_dict())
            elif (method, path) == ("DELETE", "/_sim/faults"):
                with venue.lock:
                    venue.faults = FaultPlan()
                    venue.core.config.max_fill_fraction_of_volume = None
                self._send(200, venue.faults.to_dict())
            elif (method, path) == ("POST", "/_sim/gap"):
                with venue.lock:
                    venue.market.gap = (int(body["start_ms"]), int(body["end_ms"]))
                self._send(200, {"gap": list(venue.market.gap)})
            elif (method, path) == ("POST", "/_sim/balance"):
                with venue.lock:
                    venue.core.ledger.wallet += Decimal(str(body["delta"]))
                    venue._persist(force=True)
                    # Binance's ACCOUNT_UPDATE reason for a balance moved by the exchange itself
                    venue.stream.observe(venue.core, venue.server_time_ms(), wallet_reason="ADJUSTMENT")
                    self._send(200, {"balance": str(venue.core.ledger.wallet)})
            elif (method, path) == ("DELETE", "/_sim/gap"):
                with venue.lock:
                    venue.market.gap = None
                self._send(200, {"gap": None})
            else:
                self._send(404, {"error": f"no control endpoint {method} {path}"})
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            self._send(400, {"error": f"{path}: {exc}"})

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, venue: Venue, port: int = 0, verbose: bool = False):
        self.venue = venue
        self.verbose = verbose
        super().__init__((LOCALHOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that vanished mid-request (killed, timed out) is everyday traffic for
        # an exchange, not a server fault: no traceback for it.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.server_address[1]}"


@dataclass
class Running:
    server: SimServer
    thread: threading.Thread
    replay: threading.Thread | None = None
    _stop: threading.Event | None = None
    stream: StreamServer | None = None  # the user-data websocket (stream.py)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def stream_url(self) -> str | None:
        return self.stream.url if self.stream else None

    @property
    def venue(self) -> Venue:
        return self.server.venue

    def stop(self) -> None:
        if self._stop:
            self._stop.set()
        if self.stream:
            self.stream.stop()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        with self.venue.lock:
            self.venue._persist(force=True)  # the replay's clock where it stopped


def replay_loop(venue: Venue, speed: float, stop: threading.Event, tick_s: float = 0.05) -> None:
    """Advance the market clock `speed` replayed minutes per wall-clock minute."""
    start_wall = time.monotonic()
    start_market = venue.market.now_ms
    while not stop.wait(tick_s):
        elapsed_ms = (time.monotonic() - start_wall) * 1000 * speed
        target = start_market + int(elapsed_ms) // MINUTE * MINUTE
        if target > venue.market.now_ms:
            venue.step(to_ms=target)
        if venue.market.now_ms >= venue.market.end_ms:
            return


def build_venue(klines: Path, keys: dict[str, str], funding: Path | None = None, start_ms: int | None = None,
                end_ms: int | None = None, history_minutes: int = 1440, sim: SimConfig | None = None,
                faults: FaultPlan | None = None, gap: tuple[int, int] | None = None,
                weight_limit: int = 2400) -> Venue:
    """A venue replaying `klines` whose market clock starts `history_minutes` into the file
    (or at start_ms), so that much history is already served."""
    rows = read_klines(klines, None, end_ms)
    if not rows:
        raise ValueError(f"{klines}: no 1m candles in the chosen range")
    now = start_ms if start_ms is not None else rows[0][0] + history_minutes * MINUTE
    market = Market(rows, read_funding(funding) if funding and funding.exists() else [], now_ms=now, gap=gap)
    return Venue(market, keys, sim, faults, weight_limit)


def start(venue: Venue, port: int = 0, speed: float = 0.0, verbose: bool = False,
          stream_port: int | None = 0) -> Running:
    """Serve in background threads (speed 0: the clock moves only by /_sim/step); the
    user-data websocket on `stream_port` (0: any free port; None: no stream)."""
    server = SimServer(venue, port, verbose)
    thread = threading.Thread(target=server.serve_forever, name="exchange-sim", daemon=True)
    thread.start()
    running = Running(server, thread)
    if stream_port is not None:
        running.stream = serve_stream(venue.stream, venue.server_time_ms, LOCALHOST, stream_port)
    if speed > 0:
        running._stop = threading.Event()
        running.replay = threading.Thread(target=replay_loop, args=(venue, speed, running._stop), daemon=True)
        running.replay.start()
    return running
