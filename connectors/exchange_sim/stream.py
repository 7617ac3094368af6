"""exchange-sim's user-data stream, as Binance USD-M futures documents it.

- listenKeys: POST /fapi/v1/listenKey starts one (or returns the active one, extended),
  PUT keeps it alive (-1125 "This listenKey does not exist." when unknown or expired),
  DELETE closes it; a key lives 60 minutes after its last keepalive.
- Events: the venue calls `observe()` after every request and every market step; what
  changed since the last look becomes the documented events, in Binance's order:
  ORDER_TRADE_UPDATE (regular orders: NEW, TRADE per fill, CANCELED, EXPIRED),
  ALGO_UPDATE (conditional orders: NEW, TRIGGERED/FINISHED, CANCELED, EXPIRED) and
  ACCOUNT_UPDATE (wallet and position after fills or funding). Shapes are those of
  tests/fixtures/binance/user_data/ (the documentation's examples); a field Binance
  pushes only in some cases (commission, trailing-stop fields, the triggered order's
  fill, a rejection reason) is pushed in those cases only.
- Websocket: a `websockets` server (a second port, as Binance serves streams from
  fstream.binance.com apart from fapi.binance.com) at `/private/ws?listenKey=KEY`,
  where python-binance's futures user socket connects, and at `/ws/KEY`.
"""

from __future__ import annotations

import contextlib
import json
import queue
import secrets
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from engine.exchange.errors import ExchangeError
from engine.exchange.types import TRIGGERED_TYPES, Order

LISTEN_KEY_TTL_MS = 60 * 60_000
# Conditional orders' statuses as the algo service reports them (ALGO_UPDATE "X").
ALGO_X = {"NEW": "NEW", "PARTIALLY_FILLED": "TRIGGERED", "FILLED": "FINISHED", "CANCELED": "CANCELED",
          "EXPIRED": "EXPIRED", "REJECTED": "REJECTED"}


def _s(x: Decimal | None) -> str:
    return "0" if x is None else format(x, "f")


@dataclass
class _Seen:
    orders: dict[str, tuple[str, Decimal]]  # client id -> (status, filled qty)
    fills: int
    position: tuple[Decimal, Decimal]  # (qty, entry)
    wallet: Decimal


@dataclass
class UserDataHub:
    """Listen keys, subscribers, and the events made from what changed in the core."""

    keys: dict[str, int] = field(default_factory=dict)  # listenKey -> expiry (server ms)
    subscribers: dict[int, tuple[str, queue.Queue[str]]] = field(default_factory=dict)
    events_sent: int = 0
    # the venue's core and lock: a new subscriber's baseline is taken under that lock
    core: Any = None
    core_lock: Any = field(default_factory=threading.RLock)
    _seen: _Seen | None = None
    _trade_id: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- listenKey endpoints (USER_STREAM: API key, no signature) ------------------
    def start(self, now_ms: int) -> dict[str, Any]:
        with self._lock:
            self._expire(now_ms)
            key = next(iter(self.keys), None) or secrets.token_urlsafe(48)[:64]
            self.keys[key] = now_ms + LISTEN_KEY_TTL_MS
            return {"listenKey": key}

    def keepalive(self, key: str | None, now_ms: int) -> dict[str, Any]:
        with self._lock:
            self._expire(now_ms)
            if not key or key not in self.keys:
                raise ExchangeError("This listenKey does not exist.", -1125)
            self.keys[key] = now_ms + LISTEN_KEY_TTL_MS
            return {"listenKey": key}

    def close(self, key: str | None, now_ms: int) -> dict[str, Any]:
        with self._lock:
            self._expire(now_ms)
            if key in self.keys:
                del self.keys[key]
                for _, (k, q) in list(self.subscribers.items()):
                    if k == key:
                        q.put("")  # tells that connection to close
            return {}

    def valid(self, key: str, now_ms: int) -> bool:
        with self._lock:
            self._expire(now_ms)
            return key in self.keys

    def _expire(self, now_ms: int) -> None:
        for k, until in list(self.keys.items()):
            if until <= now_ms:
                del self.keys[k]
                for _, (key, q) in list(self.subscribers.items()):
                    if key == k:
                        q.put(json.dumps({"e": "listenKeyExpired", "E": str(now_ms), "listenKey": k}))

    # --- subscribers ---------------------------------------------------------------
    def subscribe(self, key: str) -> tuple[int, queue.Queue[str]]:
        q: queue.Queue[str] = queue.Queue()
        with self.core_lock, self._lock:
            sid = id(q)
            self.subscribers[sid] = (key, q)
            if self._seen is None and self.core is not None:
                self._seen = self._snapshot(self.core)
        return sid, q

    def unsubscribe(self, sid: int) -> None:
        with self._lock:
            self.subscribers.pop(sid, None)
            if not self.subscribers:
                self._seen = None

    # --- events ----------------------------------------------------------------------
    def observe(self, core: Any, now_ms: int, wallet_reason: str = "FUNDING_FEE") -> None:
        """Publish what changed in `core` since the last call (the caller holds the venue lock).
        wallet_reason: the ACCOUNT_UPDATE reason of a wallet change without a fill."""
        with self._lock:
            self._expire(now_ms)
            if not self.subscribers:
                self._seen = None
                return
            seen = self._seen
            self._seen = self._snapshot(core)
            if seen is None:  # no baseline yet: what changed before is not news
                return
            events = self._events(core, seen, now_ms, wallet_reason)
            for ev in events:
                text = json.dumps(ev, separators=(",", ":"))
                for key, q in self.subscribers.values():
                    if key in self.keys:  # after listenKeyExpired: nothing more on that connection
                        q.put(text)
            self.events_sent += len(events)

    @staticmethod
    def _snapshot(core: Any) -> _Seen:
        led = core.ledger
        return _Seen({cid: (o.status, o.filled_qty) for cid, o in core.orders.items()}, len(core.fills),
                     (led.qty, led.entry), led.wallet)

    def _events(self, core: Any, seen: _Seen, now: int, wallet_reason: str = "FUNDING_FEE") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        fills_by_cid: dict[str, list[Any]] = {}
        for f in core.fills[seen.fills:]:
            fills_by_cid.setdefault(f.client_order_id, []).append(f)
        # A core that places a separate MARKET order when an algo order triggers (Binance's
        # actualOrderId) keeps it in `triggered[algo client id]`; older cores fill the algo
        # order itself. Both stream as Binance does: TRIGGERED, the fill, FINISHED.
        triggered: dict[str, Order] = dict(getattr(core, "triggered", None) or {})
        inline = {a.client_order_id for a in triggered.values()}
        for cid, o in core.orders.items():
            if cid not in inline:
                out += self._order_events(o, seen, fills_by_cid, triggered, now)
        led = core.ledger
        if (led.qty, led.entry) != seen.position or led.wallet != seen.wallet:
            reason = "ORDER" if core.fills[seen.fills:] else wallet_reason
            out.append(self._account(core, reason, now))
        return out

    def _order_events(self, o: Order, seen: _Seen, fills_by_cid: dict[str, list[Any]],
                      triggered: dict[str, Order], now: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cid = o.client_order_id
        before = seen.orders.get(cid)
        algo = o.type in TRIGGERED_TYPES
        actual = triggered.get(cid) if algo else None
        if before == (o.status, o.filled_qty) and (actual is None or seen.orders.get(actual.client_order_id) ==
                                                   (actual.status, actual.filled_qty)):
            return out
        if before is None:  # a new order: its acceptance first, whatever happened next
            out.append(self._algo(o, "NEW", now) if algo else self._order(o, "NEW", "NEW", now))
        fills = fills_by_cid.get(cid, [])
        if algo and (before is None or before[0] == "NEW") and (fills or actual is not None):
            out.append(self._algo(o, "TRIGGERED", now, filled=False, actual=actual))  # in the matching engine
        if actual is not None:  # the separate MARKET order's own events, between TRIGGERED and FINISHED
            out += self._order_events(actual, seen, fills_by_cid, {}, now)
        if fills:
            cum = before[1] if before else Decimal(0)
            for f in fills:
                cum += f.quantity
                status = "FILLED" if cum >= o.quantity else "PARTIALLY_FILLED"
                out.append(self._order(o, "TRADE", status, now, fill=f, cum=cum))
        if algo and o.status != "NEW" and (before is None or before[0] != o.status):
            out.append(self._algo(o, ALGO_X.get(o.status, o.status), now, actual=actual))
        elif not algo and o.status in ("CANCELED", "EXPIRED", "REJECTED") and not fills:
            out.append(self._order(o, o.status, o.status, now))
        return out

    def _order(self, o: Order, x: str, status: str, now: int, fill: Any = None,
               cum: Decimal | None = None) -> dict[str, Any]:
        algo = o.type in TRIGGERED_TYPES
        body: dict[str, Any] = {
            "s": o.symbol, "c": o.client_order_id, "S": o.side, "o": "MARKET" if algo else o.type,
            "f": o.time_in_force, "q": _s(o.quantity), "p": _s(o.price), "ap": _s(o.avg_price if fill else None),
            "sp": _s(o.stop_price), "x": x, "X": status, "i": o.order_id,
            "l": _s(fill.quantity if fill else None),
            "z": _s(cum if cum is not None else (None if x == "NEW" else o.filled_qty)),
            "L": _s(fill.price if fill else None)}
        if fill is not None:  # "will not push if no commission"
            body |= {"N": "USDT", "n": _s(fill.fee)}
        if fill is not None:
            self._trade_id += 1
        body |= {
            "T": now, "t": self._trade_id if fill is not None else 0, "b": "0", "a": "0",
            "m": bool(fill.maker) if fill is not None else False, "R": o.reduce_only, "wt": o.working_type,
            "ot": o.type, "ps": "BOTH", "cp": o.close_position, "pP": False, "si": 0, "ss": 0,
            "rp": _s(fill.realized_pnl if fill is not None else None), "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0}
        return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": body}

    @staticmethod
    def _algo(o: Order, status: str, now: int, filled: bool = True, actual: Order | None = None) -> dict[str, Any]:
        done = actual or o  # where the fill lives: the triggered order, or (older cores) the algo order
        shown = status in ("TRIGGERED", "FINISHED")
        body: dict[str, Any] = {
            "caid": o.client_order_id, "aid": o.order_id, "at": "CONDITIONAL", "o": o.type, "s": o.symbol,
            "S": o.side, "ps": "BOTH", "f": o.time_in_force, "q": _s(o.quantity), "X": status,
            "ai": str(done.order_id) if shown else ""}
        if shown:  # "only display when order is triggered and placed in matching engine"
            body |= {"ap": _s(done.avg_price if filled else None), "aq": _s(done.filled_qty if filled else None),
                     "act": "MARKET"}
        body |= {"tp": _s(o.stop_price), "p": "0", "V": "EXPIRE_MAKER", "wt": o.working_type, "pm": "NONE",
                 "cp": o.close_position, "pP": False, "R": o.reduce_only,
                 "tt": o.update_time_ms if status in ("TRIGGERED", "FINISHED") else 0, "gtd": 0}
        return {"e": "ALGO_UPDATE", "T": now, "E": now, "o": body}

    @staticmethod
    def _account(core: Any, reason: str, now: int) -> dict[str, Any]:
        led = core.ledger
        mark = core.mark_price or Decimal(0)
        isolated = led.margin_type == "ISOLATED"
        margin = led.position_margin() if isolated else Decimal(0)
        pos = {"s": core.config.filters.symbol, "pa": _s(led.qty), "ep": _s(led.entry), "bep": _s(led.entry),
               "cr": _s(led.realized_pnl), "up": _s(led.unrealized(mark)),
               "mt": "isolated" if isolated else "cross", "iw": _s(margin), "ps": "BOTH"}
        bal = {"a": "USDT", "wb": _s(led.wallet), "cw": _s(led.wallet - margin), "bc": "0"}
        return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {"m": reason, "B": [bal], "P": [pos]}}


# --- the websocket server --------------------------------------------------------------
def _listen_key(path: str) -> str | None:
    parts = urlsplit(path)
    if parts.path.rstrip("/") in ("/private/ws", "/ws"):
        return (parse_qs(parts.query).get("listenKey") or [None])[0]
    if parts.path.startswith(("/ws/", "/private/ws/")):
        return parts.path.rsplit("/", 1)[-1] or None
    return None


@dataclass
class StreamServer:
    server: Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


def serve_stream(hub: UserDataHub, now_ms: Any, host: str = "127.0.0.1", port: int = 0) -> StreamServer:
    """Serve the hub's events on a websocket port in a background thread."""

    def handler(conn: ServerConnection) -> None:
        key = _listen_key(conn.request.path if conn.request else "")
        if not key or not hub.valid(key, now_ms()):
            conn.close(1008, "invalid listenKey")
            return
        sid, q = hub.subscribe(key)
        try:
            while True:
                try:
                    text = q.get(timeout=0.2)
                except queue.Empty:
                    with contextlib.suppress(TimeoutError):
                        conn.recv(timeout=0)  # notices a client that went away
                    continue
                if not text:
                    conn.close(1000, "listenKey closed")
                    return
                conn.send(text)
        except ConnectionClosed:
            return
        finally:
            hub.unsubscribe(sid)

    server = serve(handler, host, port, compression=None)
    thread = threading.Thread(target=server.serve_forever, name="exchange-sim-stream", daemon=True)
    thread.start()
    return StreamServer(server, thread)


def stream_port(configured: int | None, port: int) -> int:
    """exchange_sim.stream_port, else the REST port + 1 (any free port when that is 0)."""
    return int(configured) if configured is not None else (port + 1 if port else 0)
