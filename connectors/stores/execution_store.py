"""The execution worker's books: orders, positions, trades, equity, heartbeat, alerts.

Every write goes through `_write`: when the database is unreachable the write waits in
a backlog (in order) and is replayed once it answers again, so an outage never stops
trading and the DB catches up afterwards. The exchange stays the truth; these rows are
the record.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import string
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import peewee

from connectors.db import database_proxy
from connectors.db import models as M  # noqa: N812
from connectors.notify.alerts import notify as deliver
from engine.exchange.types import Order
from engine.execution.model import DEFAULT_PREFIX, PREFIX_RE, Event, parse_client_id
from engine.execution.reconcile import DbPosition

log = logging.getLogger("showdown.execution")
SOURCE = "execution"
DB_ERRORS = (peewee.OperationalError, peewee.InterfaceError)


def notify(level: str, source: str, code: str, message: str, context: dict[str, Any] | None = None) -> None:
    """Through the notifier (row first, then Telegram). A row that could not be stored
    raises, so the outage backlog keeps the alert and stores it once the DB is back."""
    if deliver(level, source, code, message, context) is None:
        raise peewee.OperationalError(f"notification {code} not stored")


class ExecutionStore:
    def __init__(self, symbol: str = "BTCUSDT", now_ms: Callable[[], int] = M.now_ms):
        self.symbol = symbol
        self.now_ms = now_ms
        self.backlog: list[tuple[str, Callable[[], object]]] = []
        self.outage_since: int | None = None
        self._order_seen: dict[str, tuple[str, str]] = {}
        self._decision_rows: dict[str, int | None] = {}

    # --- outage handling ---------------------------------------------------------
    def _write(self, what: str, fn: Callable[[], object]) -> None:
        if self.backlog and not self.flush():
            self.backlog.append((what, fn))
            return
        try:
            with database_proxy.atomic():
                fn()
        except DB_ERRORS as exc:
            self._down(exc)
            self.backlog.append((what, fn))

    def _down(self, exc: Exception) -> None:
        if self.outage_since is None:
            self.outage_since = since = self.now_ms()
            log.error("database unreachable (%s): writes kept in memory until it answers", exc)
            self.backlog.append(("notify", lambda: notify(
                "ERROR", SOURCE, "db_connection_lost", f"database unreachable since {since}: {exc}",
                {"outage_since_ms": since})))
        with contextlib.suppress(Exception):  # closing a dead connection may fail too
            database_proxy.close()

    def flush(self) -> bool:
        """Replay the backlog; True when it is empty."""
        while self.backlog:
            what, fn = self.backlog[0]
            try:
                database_proxy.connect(reuse_if_open=True)
                with database_proxy.atomic():
                    fn()
            except DB_ERRORS as exc:
                self._down(exc)
                return False
            self.backlog.pop(0)
        if self.outage_since is not None:
            since, self.outage_since = self.outage_since, None
            log.warning("database back after %.1f s", (self.now_ms() - since) / 1000)
            self._write("notify", lambda: notify("WARNING", SOURCE, "db_outage_recovered",
                                                 f"database back after {(self.now_ms() - since) / 1000:.1f} s; "
                                                 "backlog written", {"outage_since_ms": since}))
        return True

    # --- reads (may raise: callers treat the DB as unavailable) --------------------
    def open_positions(self) -> list[DbPosition]:
        rows = M.Position.select().where((M.Position.symbol == self.symbol) & (M.Position.status == "open"))
        return [DbPosition(r.id, r.side, Decimal(r.quantity), (r.details or {}).get("decision_id")) for r in rows]

    def latest_state(self) -> dict[str, Any] | None:
        row = M.BotState.get_or_none((M.BotState.symbol == self.symbol) & (M.BotState.component == SOURCE))
        return (row.details or {}).get("state") if row else None

    def client_id_prefix(self) -> str:
        """This installation's client-id prefix ("c" + 3 random characters), kept in the
        database (bot_state component `installation`): a reset database gets a new one,
        so none of our new ids can match an order an earlier life left on the exchange."""
        where = (M.BotState.symbol == self.symbol) & (M.BotState.component == "installation")
        row = M.BotState.get_or_none(where)
        prefix = (row.details or {}).get("client_id_prefix") if row is not None else None
        if isinstance(prefix, str) and PREFIX_RE.match(prefix):
            return prefix
        alphabet = string.ascii_lowercase + string.digits
        while (prefix := "c" + "".join(secrets.choice(alphabet) for _ in range(3))) == DEFAULT_PREFIX:
            pass  # "capi" is the unsalted prefix of tests and backtests
        with database_proxy.atomic():
            if row is None:
                M.BotState.create(symbol=self.symbol, component="installation", state="IDLE",
                                  details={"client_id_prefix": prefix})
            else:
                M.BotState.update(details=dict(row.details or {}) | {"client_id_prefix": prefix}).where(where).execute()
        return prefix

    def _decision_fk(self, did: str | None) -> int | None:
        if did is None or not did.isdigit():
            return None
        if did not in self._decision_rows:
            self._decision_rows[did] = int(did) if M.Decision.get_or_none(M.Decision.id == int(did)) else None
        return self._decision_rows[did]

    # --- orders -------------------------------------------------------------------
    def record_order(self, o: Order) -> None:
        key = (o.status, str(o.filled_qty))
        if self._order_seen.get(o.client_order_id) == key:
            return
        self._order_seen[o.client_order_id] = key
        parsed = parse_client_id(o.client_order_id)
        role, did = (parsed[0], parsed[1]) if parsed else ("foreign", None)
        values = {"exchange_order_id": str(o.order_id), "role": role, "side": o.side, "type": o.type,
                  "status": o.status, "price": o.price, "stop_price": o.stop_price, "quantity": o.quantity,
                  "filled_quantity": o.filled_qty, "avg_fill_price": o.avg_price or None,
                  "reduce_only": o.reduce_only or o.close_position, "updated_ms": o.update_time_ms or o.time_ms,
                  "raw": {"close_position": o.close_position, "decision_id": did}}

        def write() -> None:
            n = M.Order.update(**values).where(M.Order.client_order_id == o.client_order_id).execute()
            if not n:
                try:
                    with database_proxy.atomic():
                        M.Order.create(symbol=self.symbol, client_order_id=o.client_order_id,
                                       decision=self._decision_fk(did), created_ms=o.time_ms or self.now_ms(),
                                       **values)
                except peewee.IntegrityError:  # inserted meanwhile (replayed backlog): update
                    M.Order.update(**values).where(M.Order.client_order_id == o.client_order_id).execute()
        self._write(f"order {o.client_order_id}", write)

    # --- positions and trades -----------------------------------------------------------
    def open_position(self, side: str, qty: Decimal, entry: Decimal, did: str | None, sl: str | None,
                      tp1: str | None, tp2: str | None, opened_ms: int) -> None:
        def write() -> None:
            row = M.Position.get_or_none((M.Position.symbol == self.symbol) & (M.Position.status == "open"))
            vals = {"side": side, "quantity": qty, "entry_price": entry, "sl_price": sl, "tp1_price": tp1,
                    "tp2_price": tp2}
            if row is None:
                M.Position.create(symbol=self.symbol, status="open", decision=self._decision_fk(did),
                                  opened_ms=opened_ms, details={"decision_id": did}, **vals)
            else:
                M.Position.update(**vals).where(M.Position.id == row.id).execute()
        self._write("position", write)

    def close_positions(self, ids: list[int] | None, closed_ms: int, reason: str,
                        summary: dict[str, Any] | None = None) -> None:
        def write() -> None:
            q = M.Position.select().where((M.Position.symbol == self.symbol) & (M.Position.status == "open"))
            for row in q:
                if ids is not None and row.id not in ids:
                    continue
                details = dict(row.details or {}) | {"close_reason": reason}
                vals: dict[str, Any] = {"status": "closed", "closed_ms": closed_ms, "details": details}
                if summary:
                    vals["realized_pnl"] = Decimal(summary["pnl"])
                M.Position.update(**vals).where(M.Position.id == row.id).execute()
                if summary:
                    M.Trade.create(symbol=self.symbol, decision=self._decision_fk(summary.get("decision_id")),
                                   position=row.id, side=summary["side"], quantity=Decimal(summary["quantity"]),
                                   entry_price=Decimal(summary["entry_price"]),
                                   exit_price=Decimal(summary["exit_price"]), pnl=Decimal(summary["pnl"]),
                                   fees=Decimal(summary["fees_and_funding"]), r_multiple=summary["r_multiple"],
                                   exit_reason=summary["exit_reason"], opened_ms=summary["opened_ms"] or closed_ms,
                                   closed_ms=closed_ms, details=summary)
        self._write("close position", write)

    # --- equity, heartbeat, events ------------------------------------------------------
    def equity(self, t: int, equity: Decimal, wallet: Decimal, upnl: Decimal) -> None:
        self._write("equity", lambda: M.EquityPoint.create(symbol=self.symbol, time_ms=t, equity=equity,
                                                            balance=wallet, unrealized_pnl=upnl))

    # --- the operator's switches (admin site Control page: bot_state row "control") ---
    def control(self) -> dict[str, Any]:
        """{entries_paused, emergency_stop: {status, ...}}; {} when unset or unreadable
        (a database outage must not stop the worker protecting what is open)."""
        try:
            row = M.BotState.get_or_none((M.BotState.symbol == self.symbol) & (M.BotState.component == "control"))
        except DB_ERRORS:
            return {}
        return dict(row.details or {}) if row is not None else {}

    def emergency_stop_done(self, result: str) -> None:
        def write() -> None:
            row = M.BotState.get((M.BotState.symbol == self.symbol) & (M.BotState.component == "control"))
            details = dict(row.details or {})
            details["emergency_stop"] = dict(details.get("emergency_stop") or {}, status="done", result=result,
                                             done_ms=self.now_ms())
            M.BotState.update(details=details).where(M.BotState.id == row.id).execute()
        self._write("emergency stop done", write)

    def safe_mode_ack_done(self, reason: str | None) -> None:
        def write() -> None:
            row = M.BotState.get((M.BotState.symbol == self.symbol) & (M.BotState.component == "control"))
            details = dict(row.details or {})
            details["safe_mode_ack"] = dict(details.get("safe_mode_ack") or {}, status="done", cleared=reason,
                                            done_ms=self.now_ms())
            M.BotState.update(details=details).where(M.BotState.id == row.id).execute()
        self._write("safe mode acknowledged", write)

    def heartbeat(self, state: str, details: dict[str, Any], risk_mode: str | None = None) -> None:
        def write() -> None:
            n = M.BotState.update(state=state, heartbeat_ms=self.now_ms(), details=details, risk_mode=risk_mode).where(
                (M.BotState.symbol == self.symbol) & (M.BotState.component == SOURCE)).execute()
            if not n:
                M.BotState.create(symbol=self.symbol, component=SOURCE, state=state, heartbeat_ms=self.now_ms(),
                                  details=details, risk_mode=risk_mode)
        # The heartbeat is not history: during an outage only the newest one matters.
        self.backlog = [(w, f) for w, f in self.backlog if w != "heartbeat"]
        self._write("heartbeat", write)

    def event(self, e: Event) -> None:
        ctx = {"symbol": self.symbol} | {k: v for k, v in e.context.items() if _jsonable(v)}
        if e.level == "INFO" and not e.code.startswith(("trade_", "entry_placed", "reconcile_")):
            log.info("%s: %s", e.code, e.message)
            return  # routine step chatter: logged, not a notification
        self._write(f"notify {e.code}", lambda: notify(e.level, SOURCE, e.code, e.message, ctx))
        if e.code.startswith("safe_mode") or e.code in ("daily_drawdown_breached", "unknown_position",
                                                        "position_vanished", "position_changed_unexplained"):
            self._write("risk event", lambda: M.RiskEvent.create(symbol=self.symbol, kind=e.code, message=e.message,
                                                                 details=ctx))

    def reconciliation(self, kind: str, summary: str, details: dict[str, Any]) -> None:
        self._write("reconciliation", lambda: M.ReconciliationEvent.create(
            symbol=self.symbol, created_ms=self.now_ms(), kind=kind, summary=summary, details=details))


def request_safe_mode_ack(symbol: str, by: str, now_ms: int) -> dict[str, Any]:
    """The operator's acknowledgement, for the running worker to act on (bot_state row
    `control`, key `safe_mode_ack`, as the site's Control page writes its switches)."""
    where = (M.BotState.symbol == symbol) & (M.BotState.component == "control")
    with database_proxy.atomic():
        row = M.BotState.get_or_none(where)
        ack = {"status": "requested", "by": by, "requested_ms": now_ms}
        if row is None:
            M.BotState.create(symbol=symbol, component="control", state="IDLE", details={"safe_mode_ack": ack})
        else:
            M.BotState.update(details=dict(row.details or {}) | {"safe_mode_ack": ack}).where(where).execute()
    return ack


def _jsonable(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool | list | dict)
