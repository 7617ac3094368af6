"""The execution worker's books: orders, positions, trades, equity, heartbeat, alerts.

Every write is a record: first appended (fsynced) to the worker's journal
(connectors/stores/journal.py), then written to the database from it, in order and
exactly once. When the database is unreachable the records wait in the journal — across
a SIGKILL and a restart — and are written once it answers again, so an outage never
stops trading and the DB catches up afterwards. (Without a journal, e.g. in tools and
some tests, the records wait in memory.) The exchange stays the truth; these rows are
the record.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import string
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import peewee

from connectors.db import database_proxy
from connectors.db import models as M  # noqa: N812
from connectors.notify.alerts import notify as deliver
from connectors.stores.journal import Journal
from engine.exchange.types import Order
from engine.execution.model import DEFAULT_PREFIX, PREFIX_RE, Event, parse_client_id
from engine.execution.reconcile import DbPosition

log = logging.getLogger("showdown.execution")
SOURCE = "execution"
RETRY_S = 1.0
DB_ERRORS = (peewee.OperationalError, peewee.InterfaceError)
FORCE_EXIT = "force_exit"  # bot_state component: the operator asked to close the open trade


def notify(level: str, source: str, code: str, message: str, context: dict[str, Any] | None = None) -> None:
    """Through the notifier (row first, then Telegram). A row that could not be stored
    raises, so the outage backlog keeps the alert and stores it once the DB is back."""
    if deliver(level, source, code, message, context) is None:
        raise peewee.OperationalError(f"notification {code} not stored")


class ExecutionStore:
    def __init__(self, symbol: str = "BTCUSDT", now_ms: Callable[[], int] = M.now_ms,
                 journal: Journal | None = None):
        self.symbol = symbol
        self.now_ms = now_ms
        self.journal = journal
        self.backlog: list[dict[str, Any]] = []  # records waiting for the DB when there is no journal
        self.outage_since: int | None = None
        self._order_seen: dict[str, tuple[str, ...]] = {}
        self._decision_rows: dict[str, int | None] = {}
        self._heartbeat: tuple[str, dict[str, Any], str | None] | None = None
        self._seq = 0
        self._life = secrets.token_hex(4)
        self._tried = 0.0

    def use_journal(self, journal: Journal) -> None:
        """Write ahead to `journal` from now on (what waits in memory moves into it); a
        journal left by an earlier life is written to the database first."""
        for rec in self.backlog:
            journal.append(rec["kind"], rec["data"])
        self.backlog = []
        self.journal = journal
        if len(journal) and self.outage_since is None:
            # an earlier life's records: the outage it met goes on until they are written
            # (then db_outage_recovered says so; no second db_connection_lost)
            self.outage_since = self.now_ms()
            log.warning("journal %s holds %d records of an earlier run: written once the database answers",
                        journal.path, len(journal))

    # --- write-ahead and outage handling -----------------------------------------
    def pending(self) -> list[dict[str, Any]]:
        """Journal records first, then any kept in memory (no journal, or it failed)."""
        return (self.journal.pending() if self.journal is not None else []) + list(self.backlog)

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        """Journal first (fsynced), then the database from the journal."""
        self._append(kind, data)
        self.flush()

    def _down(self, exc: Exception) -> None:
        if self.outage_since is None:
            self.outage_since = since = self.now_ms()
            log.error("database unreachable (%s): writes kept in the journal until it answers", exc)
            self._append("notify", {"level": "ERROR", "code": "db_connection_lost",
                                    "message": f"database unreachable since {since}: {exc}",
                                    "context": {"outage_since_ms": since}})
        with contextlib.suppress(Exception):  # closing a dead connection may fail too
            database_proxy.close()

    def _append(self, kind: str, data: dict[str, Any]) -> None:
        if self.journal is not None and not self.backlog:  # (never ahead of what waits in memory)
            try:
                self.journal.append(kind, data)
                return
            except OSError as exc:  # disk full, permission: kept in memory, said loudly
                log.critical("journal %s not writable (%s): records kept in memory until it is", self.journal.path,
                             exc)
        self._seq += 1
        self.backlog.append({"id": f"m{self._life}-{self._seq}", "kind": kind, "data": data})

    def _done(self, n: int) -> None:
        """The first n pending records are in the database: drop them (then their markers)."""
        if n <= 0:
            return
        ids: list[str] = []
        if self.journal is not None:
            k = min(n, len(self.journal))
            with contextlib.suppress(OSError):  # not truncated: replayed later, skipped by its marker
                ids += self.journal.drop_through(k)
            n -= k
        ids += [r["id"] for r in self.backlog[:n]]
        del self.backlog[:n]
        with contextlib.suppress(*DB_ERRORS):
            M.JournalApplied.delete().where(M.JournalApplied.id.in_(ids)).execute()

    def new_loop(self) -> None:
        """A new worker loop: the database may be tried again at once."""
        self._tried = 0.0

    def flush(self) -> bool:
        """Write every pending record, in order, each exactly once; True when none is left.
        During an outage the database is tried once per loop, at most once a second (a
        connect may hang)."""
        if self.outage_since is not None and time.monotonic() - self._tried < RETRY_S:
            return not self.pending()
        self._tried = time.monotonic()
        done = 0
        for rec in self.pending():
            try:
                database_proxy.connect(reuse_if_open=True)
                with database_proxy.atomic():
                    if not M.JournalApplied.select().where(M.JournalApplied.id == rec["id"]).exists():
                        APPLY[rec["kind"]](self, rec["data"])
                        M.JournalApplied.create(id=rec["id"], applied_ms=self.now_ms())
            except DB_ERRORS as exc:
                self._done(done)
                self._down(exc)
                return False
            done += 1
        self._done(done)
        if self.outage_since is not None:
            since, self.outage_since = self.outage_since, None
            log.warning("database back after %.1f s", (self.now_ms() - since) / 1000)
            self._record("notify", {"level": "WARNING", "code": "db_outage_recovered",
                                    "message": f"database back after {(self.now_ms() - since) / 1000:.1f} s; "
                                               "journal written", "context": {"outage_since_ms": since}})
        if self._heartbeat is not None and not self.pending():
            beat, self._heartbeat = self._heartbeat, None
            self.heartbeat(*beat)
        return not self.pending()

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
        key = (o.status, str(o.filled_qty), str(o.avg_price))  # an answer without avgPrice, then one with it
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
        if not o.avg_price:  # an answer without avgPrice (a new order, a cancel) keeps the price already known
            del values["avg_fill_price"]

        self._record("order", {"client_order_id": o.client_order_id, "decision_id": did,
                               "created_ms": o.time_ms or self.now_ms(), "values": values})

    def _apply_order(self, d: dict[str, Any]) -> None:
        cid, values = d["client_order_id"], _decimals(d["values"], ORDER_DECIMALS)
        n = M.Order.update(**values).where(M.Order.client_order_id == cid).execute()
        if not n:
            try:
                with database_proxy.atomic():
                    M.Order.create(symbol=self.symbol, client_order_id=cid, decision=self._decision_fk(d["decision_id"]),
                                   created_ms=d["created_ms"], **values)
            except peewee.IntegrityError:  # inserted meanwhile: update
                M.Order.update(**values).where(M.Order.client_order_id == cid).execute()

    # --- positions and trades -----------------------------------------------------------
    def open_position(self, side: str, qty: Decimal, entry: Decimal, did: str | None, sl: str | None,
                      tp1: str | None, tp2: str | None, opened_ms: int) -> None:
        self._record("position", {"side": side, "quantity": qty, "entry_price": entry, "sl_price": sl,
                                  "tp1_price": tp1, "tp2_price": tp2, "decision_id": did, "opened_ms": opened_ms})

    def _apply_position(self, d: dict[str, Any]) -> None:
        row = M.Position.get_or_none((M.Position.symbol == self.symbol) & (M.Position.status == "open"))
        vals = {k: d[k] for k in ("side", "sl_price", "tp1_price", "tp2_price")} | {
            "quantity": Decimal(str(d["quantity"])), "entry_price": Decimal(str(d["entry_price"]))}
        if row is None:
            M.Position.create(symbol=self.symbol, status="open", decision=self._decision_fk(d["decision_id"]),
                              opened_ms=d["opened_ms"], details={"decision_id": d["decision_id"]}, **vals)
        else:
            M.Position.update(**vals).where(M.Position.id == row.id).execute()

    def close_positions(self, ids: list[int] | None, closed_ms: int, reason: str,
                        summary: dict[str, Any] | None = None) -> None:
        self._record("close", {"ids": ids, "closed_ms": closed_ms, "reason": reason, "summary": summary})

    def _apply_close(self, d: dict[str, Any]) -> None:
        ids, closed_ms, reason, summary = d["ids"], d["closed_ms"], d["reason"], d["summary"]
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

    # --- equity, heartbeat, events ------------------------------------------------------
    def equity(self, t: int, equity: Decimal, wallet: Decimal, upnl: Decimal) -> None:
        self._record("equity", {"time_ms": t, "equity": equity, "balance": wallet, "unrealized_pnl": upnl})

    def _apply_equity(self, d: dict[str, Any]) -> None:
        M.EquityPoint.create(symbol=self.symbol, time_ms=d["time_ms"],
                             **_decimals({k: d[k] for k in ("equity", "balance", "unrealized_pnl")},
                                         ("equity", "balance", "unrealized_pnl")))

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
        self._record("control_done", {"key": "emergency_stop", "result": {"status": "done", "result": result,
                                                                          "done_ms": self.now_ms()}})

    def safe_mode_ack_done(self, reason: str | None) -> None:
        self._record("control_done", {"key": "safe_mode_ack", "result": {"status": "done", "cleared": reason,
                                                                         "done_ms": self.now_ms()}})

    def _apply_control_done(self, d: dict[str, Any]) -> None:
        row = M.BotState.get((M.BotState.symbol == self.symbol) & (M.BotState.component == "control"))
        details = dict(row.details or {})
        details[d["key"]] = dict(details.get(d["key"]) or {}) | d["result"]
        M.BotState.update(details=details).where(M.BotState.id == row.id).execute()

    def clear_safe_mode_done(self, was: str | None) -> None:
        self._record("control_done", {"key": "clear_safe_mode", "result": {
            "status": "done", "cleared": was or "not in SAFE MODE", "done_ms": self.now_ms()}})

    # --- force exit of the open trade (admin site Position page: bot_state row "force_exit") ---
    def force_exit_request(self) -> str | None:
        """The operator's reason when a force exit waits for this worker, else None."""
        try:
            row = M.BotState.get_or_none((M.BotState.symbol == self.symbol) & (M.BotState.component == FORCE_EXIT))
        except DB_ERRORS:
            return None
        d = dict(row.details or {}) if row is not None else {}
        return str(d.get("reason") or "operator") if d.get("status") == "requested" else None

    def force_exit_done(self, result: str) -> None:
        self._record("force_exit_done", {"result": result, "done_ms": self.now_ms()})

    def _apply_force_exit_done(self, d: dict[str, Any]) -> None:
        row = M.BotState.get((M.BotState.symbol == self.symbol) & (M.BotState.component == FORCE_EXIT))
        details = dict(row.details or {}, status="done", result=d["result"], done_ms=d["done_ms"])
        M.BotState.update(details=details, state="IDLE").where(M.BotState.id == row.id).execute()

    def heartbeat(self, state: str, details: dict[str, Any], risk_mode: str | None = None) -> None:
        """Not history: written when the journal is empty; during an outage only the
        newest one is kept (in memory) and written once the journal is."""
        if self.pending() and not self.flush():
            self._heartbeat = (state, details, risk_mode)
            return
        try:
            with database_proxy.atomic():
                n = M.BotState.update(state=state, heartbeat_ms=self.now_ms(), details=details,
                                      risk_mode=risk_mode).where(
                    (M.BotState.symbol == self.symbol) & (M.BotState.component == SOURCE)).execute()
                if not n:
                    M.BotState.create(symbol=self.symbol, component=SOURCE, state=state, heartbeat_ms=self.now_ms(),
                                      details=details, risk_mode=risk_mode)
        except DB_ERRORS as exc:
            self._heartbeat = (state, details, risk_mode)
            self._down(exc)

    def event(self, e: Event) -> None:
        ctx = {"symbol": self.symbol} | {k: v for k, v in e.context.items() if _jsonable(v)}
        if e.level == "INFO" and not e.code.startswith(("trade_", "entry_placed", "reconcile_")):
            log.info("%s: %s", e.code, e.message)
            return  # routine step chatter: logged, not a notification
        if e.code.startswith(("safe_mode", "emergency_stop")):
            log.warning("%s: %s", e.code, e.message)  # the console too: whoever watches sees SAFE MODE and why
        risk = e.code.startswith("safe_mode") or e.code in RISK_EVENTS
        self._record("notify", {"level": e.level, "code": e.code, "message": e.message, "context": ctx,
                                "risk_event": risk})

    def _apply_notify(self, d: dict[str, Any]) -> None:
        notify(d["level"], SOURCE, d["code"], d["message"], d["context"])
        if d.get("risk_event"):
            M.RiskEvent.create(symbol=self.symbol, kind=d["code"], message=d["message"], details=d["context"])

    def reconciliation(self, kind: str, summary: str, details: dict[str, Any]) -> None:
        self._record("reconciliation", {"kind": kind, "summary": summary, "details": details,
                                        "created_ms": self.now_ms()})

    def _apply_reconciliation(self, d: dict[str, Any]) -> None:
        M.ReconciliationEvent.create(symbol=self.symbol, created_ms=d["created_ms"], kind=d["kind"],
                                     summary=d["summary"], details=d["details"])


RISK_EVENTS = ("daily_drawdown_breached", "unknown_position", "position_vanished", "position_changed_unexplained")
ORDER_DECIMALS = ("price", "stop_price", "quantity", "filled_quantity", "avg_fill_price")
APPLY: dict[str, Callable[[ExecutionStore, dict[str, Any]], None]] = {
    "order": ExecutionStore._apply_order, "position": ExecutionStore._apply_position,
    "close": ExecutionStore._apply_close, "equity": ExecutionStore._apply_equity,
    "control_done": ExecutionStore._apply_control_done, "notify": ExecutionStore._apply_notify,
    "reconciliation": ExecutionStore._apply_reconciliation,
    "force_exit_done": ExecutionStore._apply_force_exit_done,
}


def _decimals(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Amounts back to Decimal (the journal keeps them as strings)."""
    return d | {k: Decimal(str(d[k])) for k in keys if d.get(k) is not None}


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
