"""The execution worker: every `execution.loop_seconds`, read the exchange and the
latest decision, run the pure core, send what it asks, keep the books.

Crash safety: the state is written to disk BEFORE any order is sent (write-ahead), and
every order carries a deterministic client id. After a SIGKILL at any point the next
start reloads the state, looks up every order it may have sent by client id, and
reconciles with the exchange, so nothing is lost and nothing is sent twice.

Errors: soft ones (network, 5xx, rate limit, timestamp) are retried by the transport,
then by the next loop with backoff; hard ones (fatal API error, SL rejected, unknown
position) put the worker in SAFE MODE: no new entries, protection kept, operator alerted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee

from connectors.db import models as M  # noqa: N812
from connectors.loops.entry_confirmation import EntryConfirmation
from connectors.stores.account_state import risk_records
from connectors.stores.execution_store import DB_ERRORS, ExecutionStore
from connectors.stores.journal import Journal
from engine.clock import Clock, WallClock
from engine.exchange.errors import (
    AccountModeRefused,
    DuplicateClientOrderId,
    ExchangeError,
    FatalExchangeError,
    OrderRejected,
    TransientError,
    UnknownOrder,
    WouldImmediatelyTrigger,
)
from engine.exchange.interface import Exchange
from engine.exchange.types import Order, OrderRequest
from engine.execution.core import DAY_MS, daily_weekly, step
from engine.execution.decision import Malformed, timestamp_ms
from engine.execution.incidents import INCIDENTS, balance_incident, evidence, see_balance
from engine.execution.model import (
    Cancel,
    Event,
    ExecSettings,
    ExecState,
    Intent,
    Place,
    SetLeverage,
    View,
    client_id,
)
from engine.execution.protection import after_refusal, market_close
from engine.execution.reconcile import reconcile

log = logging.getLogger("showdown.execution")


class DecisionSource:
    """The latest decision: the `decisions` table, else data/decision.json (§8.1 shape)."""

    def __init__(self, json_path: Path | None, symbol: str = "BTCUSDT", use_db: bool = True):
        self.json_path = json_path
        self.symbol = symbol
        self.use_db = use_db

    def latest(self) -> dict[str, Any] | None:
        if self.use_db:
            try:
                row = (M.Decision.select().where(M.Decision.symbol == self.symbol)
                       .order_by(M.Decision.decided_at_ms.desc(), M.Decision.id.desc()).first())
            except DB_ERRORS:
                row = None
            if row is not None:
                return dict(row.document or {}) | {"id": str(row.id)}
        if self.json_path is None or not self.json_path.exists():
            return None
        try:
            doc = json.loads(self.json_path.read_text())
        except (OSError, ValueError):
            return {"id": "bad", "action": None}  # refused as malformed by the core, and said so
        if isinstance(doc, dict) and doc.get("id") is None and doc.get("decision_id") is None:
            with contextlib.suppress(Malformed):
                doc["id"] = f"j{timestamp_ms(doc) // 1000}"
        return doc if isinstance(doc, dict) else None


WALLET_WATCH_MS = 3_600_000  # income history read from an hour back: short lists, room for late rows


def journal_path(state_path: Path) -> Path:
    """The write-ahead journal of the worker whose state file this is."""
    return state_path.with_name(state_path.stem + ".journal.jsonl")


class ExecutionWorker:
    def __init__(self, exchange: Exchange, config: Any, store: ExecutionStore, decisions: DecisionSource,
                 state_path: Path, clock: Clock | None = None, symbol: str = "BTCUSDT"):
        self.ex = exchange
        self.config = config
        self.cfg = ExecSettings.from_config(config)
        self.store = store
        self.decisions = decisions
        self.state_path = state_path
        self.clock = clock or WallClock()
        self.symbol = symbol
        ex = config.get("execution") or {}
        self.loop_s = float(ex.get("loop_seconds", 2))
        self.equity_every_ms = int(ex.get("equity_every_s", 60)) * 1000
        self.reconcile_every_ms = int(ex.get("reconcile_every_s", 3600)) * 1000
        self.backoff_max_s = float(ex.get("backoff_max_s", 30))
        self.vol_window = int(ex.get("volatility_window_min", 15))
        self.sl_fail_limit = int(ex.get("sl_failures_to_safe_mode", 3))
        if store.journal is None:  # write-ahead next to the state file (survives a kill during an outage)
            store.use_journal(Journal(journal_path(state_path)))
        self.state = ExecState()
        self._saved: dict[str, Any] | None = None
        self._last_equity_ms = 0
        self._last_reconcile_ms: int | None = None
        self._sl_failures = 0
        self._leverage: int | None = None  # what we last set on the exchange
        self._last_view: View | None = None
        self._position_key: tuple[Any, ...] | None = None
        self.loops = 0
        self._liquidation_price: Decimal | None = None
        self.degraded: str | None = None  # the resource error the loop is stuck on, if any
        self._last_view_ms: int | None = None
        self.soft_errors = 0
        self.last_error: str | None = None
        self.last_cpu_s = 0.0
        # User-data stream (connectors/binance/user_stream.py, wired by cli/execute_cmd.py):
        # an exchange event sets `wake` and the next step runs at once; REST stays the truth.
        self.wake = threading.Event()
        self.stream: Any = None
        self._stream_state: str | None = None
        self._stream_since = 0.0
        self._risk_from_records = False  # rebuild_risk_state done (start, or once the database answers)
        self.confirmation = EntryConfirmation(config, symbol)  # mainnet: the first entries wait for the operator

    # --- state -------------------------------------------------------------------
    def load_state(self) -> None:
        """From the state file, else the last heartbeat in the DB, else empty (then the
        reconciliation adopts whatever the exchange holds)."""
        doc = None
        if self.state_path.exists():
            try:
                doc = json.loads(self.state_path.read_text())
            except (OSError, ValueError) as exc:
                log.error("state file %s unreadable (%s): rebuilding from DB and exchange", self.state_path, exc)
        if doc is None:
            try:
                doc = self.store.latest_state()
            except DB_ERRORS:
                doc = None
        self.state = ExecState.from_json(doc)
        self._saved = self.state.to_json()

    def save_state(self) -> None:
        """Write-ahead: atomically replace the state file when the state changed."""
        doc = self.state.to_json()
        if doc == self._saved:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        os.replace(tmp, self.state_path)  # a SIGKILL leaves the old file or the new one, never half
        self._saved = doc

    def rebuild_risk_state(self, now: int | None = None) -> bool:
        """On every start: start-of-day and start-of-week equity and the trades opened
        today from the recorded equity curve and positions — a lost or stale state file (or
        a paper account that restarted) must never reset the daily loss or the trades-per-
        day count. The state file's count stands when it knows more for the same day (an
        entry still in the journal); with nothing recorded, or the database down, the state
        file's figures stay (the first loop rolls them from the exchange's equity) and the
        loop tries again each time until the database answers. True once done."""
        try:  # the loop's own time (gather): the market's, which a replay moves
            now = now or self.ex.premium_index(self.symbol).time_ms or self.ex.server_time_ms()
        except ExchangeError as exc:
            log.warning("risk state not rebuilt: exchange time unavailable (%s)", exc)
            return False
        try:
            rec = risk_records(self.symbol, now)
        except DB_ERRORS as exc:
            log.warning("risk state from the state file until the database answers (%s)", exc)
            return False
        s, day = self.state, now // DAY_MS
        if rec["day_start_equity"] is not None:
            known = s.trades_today if s.day_key == day else 0
            s.day_key, s.day_start_equity = day, str(rec["day_start_equity"])
            s.trades_today = max(int(rec["trades_today"]), known)
        if rec["week_start_equity"] is not None:
            s.week_key, s.week_start_equity = (day + 3) // 7, str(rec["week_start_equity"])
        log.info("risk state from the records: start-of-day equity %s, start-of-week %s, %d trades today",
                 s.day_start_equity, s.week_start_equity, s.trades_today)
        return True

    # --- exchange ------------------------------------------------------------------
    def setup_account(self) -> None:
        ex = self.config.get("execution") or {}
        refused: list[Event] = []
        for what, call in (("one-way mode", lambda: self.ex.ensure_one_way_mode()),
                           ("leverage", lambda: self._set_leverage(int(ex.get("leverage", 3)), refused)),
                           ("margin type", lambda: self.ex.set_margin_type(self.symbol, ex.get("margin_type",
                                                                                                 "ISOLATED")))):
            try:
                call()
            except OrderRejected as exc:  # e.g. margin type cannot change with a position open
                log.warning("account setup: %s not applied: %s", what, exc)
        for e in refused:
            log.warning("account setup: %s", e.message)

    def gather(self) -> tuple[View, int]:
        sym = self.symbol
        pos = self.ex.positions(sym)
        if len(pos) != 1:
            raise FatalExchangeError(f"unknown position state: {len(pos)} positions for {sym}", None, "gather")
        opens = self.ex.open_orders(sym)
        premium = self.ex.premium_index(sym)
        depth = self.ex.depth(sym, 5)
        bal = self.ex.balance()
        kl = self.ex.klines(sym, "1m", limit=self.vol_window + 1)
        open_ids = {o.client_order_id for o in opens}
        closed: dict[str, Order] = {}
        for cid in list(self.state.watch):
            if cid not in open_ids:
                with contextlib.suppress(UnknownOrder):  # never reached the exchange: the step forgets it
                    closed[cid] = self.ex.order(sym, cid)
        last = Decimal(str(kl[-1].close)) if kl else premium.mark_price
        done = [k for k in kl if k.close > 0][-self.vol_window - 1:-1] or kl
        vol = sum((k.high - k.low) / k.close for k in done) / len(done) * 100 if done else None
        self._liquidation_price = pos[0].liquidation_price  # shown on the Position page (heartbeat)
        view = View(position_qty=pos[0].quantity, entry_price=pos[0].entry_price, open_orders=tuple(opens),
                    last=last, mark=premium.mark_price, bid=depth.bids[0][0] if depth.bids else None,
                    ask=depth.asks[0][0] if depth.asks else None, filters=self.ex.symbol_filters(sym),
                    equity=bal.equity, wallet=bal.wallet_balance, available=bal.available,
                    volatility_pct=vol, orders=closed)
        self._last_view = view  # what a refused protective order is judged against (execute)
        self._last_view_ms = premium.time_ms or self.ex.server_time_ms()
        return view, self._last_view_ms

    def execute(self, intents: list[Intent], view: View | None = None) -> list[Event]:
        """Send the intents in order. A Place that depends on a cancel is skipped when the
        cancel did not go through (the order filled meanwhile): the next step decides.
        A refused stop, close or take-profit is answered at once
        (engine/execution/protection.py): the fallback it returns goes out in this same
        call, so a position is never left without its stop beyond one loop."""
        view = view or self._last_view
        events: list[Event] = []
        cancelled: set[str] = set()
        sl_failed = skip_entry = False
        queue = list(intents)
        while queue:
            it = queue.pop(0)
            if isinstance(it, SetLeverage):
                skip_entry = not self._set_leverage(it.leverage, events)
                continue
            if isinstance(it, Cancel):
                try:
                    o = self.ex.cancel_order(self.symbol, it.client_order_id)
                    self.store.record_order(o)
                    if o.status == "CANCELED":
                        cancelled.add(it.client_order_id)
                except UnknownOrder:
                    pass  # already closed: the next view shows how
                except TransientError as exc:
                    events.append(Event("cancel_failed", "WARNING", f"cancel {it.client_order_id}: {exc}",
                                        {"client_order_id": it.client_order_id}))
                continue
            if (it.after_cancel and it.after_cancel not in cancelled) or (skip_entry and it.role == "entry"):
                continue
            try:
                o = self._place(it.request)
                self.store.record_order(o)
            except (OrderRejected, FatalExchangeError) as exc:
                queue[:0] = self._refused(it, exc, view, events)
            except TransientError as exc:
                sl_failed |= it.role == "sl"
                events.append(Event("sl_place_failed" if it.role == "sl" else "order_place_failed",
                                    "CRITICAL" if it.role in ("sl", "close") else "WARNING",
                                    f"{it.role} {it.request.client_order_id} not placed after retries: {exc}",
                                    {"role": it.role}))
        self._sl_failures = self._sl_failures + 1 if sl_failed else 0
        if self._sl_failures >= 2 and view is not None and view.position_qty != 0:
            # a second loop without a stop: take the position off instead of waiting longer
            close = market_close(self.state, view, self.cfg, self.symbol)
            if close is not None:
                self.save_state()
                events.append(Event("sl_missing_closing", "CRITICAL", f"SL not placed {self._sl_failures} loops in a "
                                    f"row: closing {view.position_qty} at market", {"role": "sl"}))
                events += self.execute([close], None)
        if self._sl_failures >= self.sl_fail_limit:
            self.enter_safe_mode("sl_cannot_be_placed", f"SL failed {self._sl_failures} loops in a row", events)
        return events

    def _refused(self, it: Place, exc: ExchangeError, view: View | None, events: list[Event]) -> list[Intent]:
        """The exchange said no to `it`: alert, and return what must go out at once."""
        role, cid = it.role, it.request.client_order_id
        if view is not None and role in ("sl", "close", "tp1", "tp2"):
            self.state, fallback, evs = after_refusal(self.state, it, exc.code, view, self.cfg, self.symbol)
            events += evs
            if fallback:
                self.save_state()  # write-ahead before the fallback is sent
                return list(fallback)
            if evs:  # answered (already reduced, or a stop that already protects it)
                return []
        if role in ("tp1", "tp2") and isinstance(exc, WouldImmediatelyTrigger):
            events.append(Event(f"{role}_would_trigger", "WARNING", f"{role} refused as already triggered ({exc}); "
                                "the next loop takes it at market", {"role": role}))
            return []
        if role in ("sl", "close") or isinstance(exc, FatalExchangeError):
            self.enter_safe_mode(f"{role}_rejected", f"{role} {cid} rejected: {exc}", events)
        else:
            events.append(Event("order_rejected", "ERROR", f"{role} {cid} rejected: {exc}",
                                {"role": role, "code": exc.code}))
        return []

    def _set_leverage(self, leverage: int, events: list[Event]) -> bool:
        """The plan's leverage on the exchange before its entry; False: the entry is not sent."""
        if leverage == self._leverage:
            return True
        try:
            self.ex.set_leverage(self.symbol, leverage)
        except ExchangeError as exc:
            events.append(Event("leverage_not_set", "ERROR", f"leverage {leverage}x refused ({exc}): the entry is "
                                "not sent", {"leverage": leverage, "code": exc.code}))
            return False
        self._leverage = leverage
        return True

    def _place(self, req: OrderRequest) -> Order:
        try:
            return self.ex.place_order(req)
        except DuplicateClientOrderId:
            assert req.client_order_id is not None
            return self.ex.order(self.symbol, req.client_order_id)  # ours, already open: the same order

    # --- safe mode -----------------------------------------------------------------
    def enter_safe_mode(self, reason: str, message: str, events: list[Event]) -> None:
        if not self.state.safe_mode:
            self.state.safe_mode = reason
            self.save_state()
            events.append(Event("safe_mode_entered", "CRITICAL", f"SAFE MODE ({reason}): {message}. No new "
                                "entries; open position stays protected; waiting for the operator.",
                                {"reason": reason}))

    def obey_clear_safe_mode(self, request: dict[str, Any]) -> None:
        """An operator's request (site or CLI: the control row) to leave SAFE MODE, taken by
        the running worker within one loop; marked done with what was cleared."""
        was = self.state.safe_mode
        self.state.safe_mode = None
        self.save_state()
        if was:
            self.store.event(Event("safe_mode_cleared", "WARNING", f"SAFE MODE ({was}) cleared by "
                                   f"{request.get('by') or 'the operator'}", {"reason": was}))
        self.store.clear_safe_mode_done(was)

    def acknowledge(self, request: dict[str, Any]) -> None:
        """The operator acknowledged (bot_state control row `safe_mode_ack`, written by
        `showdown acknowledge` or the site): SAFE MODE ends, and the request is marked done."""
        reason, by = self.state.safe_mode, request.get("by") or "the operator"
        self.state.safe_mode = None
        self.save_state()
        self.store.event(Event("safe_mode_cleared", "WARNING", f"SAFE MODE ({reason or 'not set'}) acknowledged and "
                               f"cleared by {by}", {"reason": reason, "by": by}))
        self.store.safe_mode_ack_done(reason)

    def with_evidence(self, events: list[Event]) -> list[Event]:
        """An unexplained position change carries the exchange's own record (account
        trades, income history) since the position opened; when the exchange cannot
        answer, the alert goes out without it, saying so."""
        out = []
        for e in events:
            if e.code in INCIDENTS:
                since = int(e.context.get("opened_ms") or 0) or None
                try:
                    found = evidence(self.ex.account_trades(self.symbol, since),
                                     self.ex.income_history(self.symbol, since), since or 0)
                except ExchangeError as exc:
                    found = {"evidence": f"exchange history unavailable: {exc}"}
                e = dataclasses.replace(e, message=f"{e.message}. {found['evidence']}", context=e.context | found)
                log.critical("%s: %s", e.code, e.message)
            out.append(e)
        return out

    def watch_balance(self, view: View, now: int) -> list[Event]:
        """Unexplained wallet changes (incidents.balance_incident). Only when the wallet
        moved is the income history asked (weight 30), twice around a fresh balance read:
        a fill landing between the reads makes them differ, and the change is judged next
        loop instead of raised falsely."""
        s = self.state
        if s.wallet_seen is not None and Decimal(s.wallet_seen) == view.wallet:
            return []
        anchor = s.income_from_ms if s.wallet_seen is not None else now - WALLET_WATCH_MS
        try:
            first = self.ex.income_history(self.symbol, anchor, 1000)
            wallet = self.ex.balance().wallet_balance
            again = self.ex.income_history(self.symbol, anchor, 1000)
        except ExchangeError as exc:
            log.warning("wallet change not judged this loop: %s", exc)
            return []
        if [(r.income_type, r.income, r.time_ms) for r in first] != [(r.income_type, r.income, r.time_ms)
                                                                     for r in again]:
            return []
        event = balance_incident(s, wallet, again, now)
        see_balance(s, wallet, again, max(anchor, now - WALLET_WATCH_MS))
        self.save_state()
        if event is None:
            return []
        log.critical("%s: %s", event.code, event.message)
        return [event]

    def resource_error(self, exc: BaseException) -> None:
        """A resource failed under the loop (a state or journal write on a full disk, a
        permission, memory): no new entries (SAFE MODE, in memory if it cannot be saved),
        what is open keeps its exchange-side stop, the heartbeat says ERROR and why (details.degraded),
        and the operator is alerted once per distinct error. The loop goes on retrying."""
        what = f"{type(exc).__name__}: {exc}"
        first = what != self.degraded
        self.degraded = self.last_error = what
        self.state.safe_mode = self.state.safe_mode or "resource_error"
        with contextlib.suppress(OSError):
            self.save_state()
        if first:
            log.critical("execution loop: %s; degraded: no new entries, the exchange-side stop stays", what)
            with contextlib.suppress(Exception):  # the alert itself may have nowhere to go: logged above
                self.store.event(Event("resource_error", "CRITICAL", f"{what}: the worker is degraded — no new "
                                       "entries, the open position keeps its stop on the exchange; fix the cause, "
                                       "then acknowledge", {"error": what}))
        with contextlib.suppress(Exception):
            self.heartbeat(self._last_view, self._last_view_ms or 0)

    # --- the loop ------------------------------------------------------------------
    def reconcile_now(self, view: View, now: int) -> None:
        if not self.store.flush():  # the records must see what the journal still holds (no false phantom)
            log.warning("reconciliation postponed: %d journal records not yet in the database",
                        len(self.store.pending()))
            return
        try:
            db_open = self.store.open_positions()
        except DB_ERRORS:
            log.warning("reconciliation postponed: database unreachable")
            return
        r = reconcile(self.state, view, db_open, self.cfg, now, self.symbol)
        self.state = r.state
        self.save_state()
        events = r.events + self.execute(r.intents, view)
        if r.import_position:
            p = r.import_position
            self.store.open_position(p["side"], p["quantity"], p["entry_price"], p["decision_id"], p["sl"], None,
                                     None, p["opened_ms"])
        if r.close_db_positions:
            self.store.close_positions(r.close_db_positions, now, "phantom")
        for e in events:
            self.store.event(e)
        self.store.reconciliation("summary", r.summary(), {"findings": r.findings, "time_ms": now,
                                                           "position": str(view.position_qty)})
        self._last_reconcile_ms = now

    def run_once(self) -> dict[str, Any]:
        self.store.new_loop()
        view, now = self.gather()
        if self._last_reconcile_ms is None or now - self._last_reconcile_ms >= self.reconcile_every_ms:
            self.reconcile_now(view, now)
            view, now = self.gather()
        control = self.store.control()
        if (control.get("safe_mode_ack") or {}).get("status") == "requested":
            self.acknowledge(control["safe_mode_ack"])
        if (control.get("emergency_stop") or {}).get("status") == "requested":
            closed = self.emergency_stop()
            self.store.emergency_stop_done(closed.client_order_id if closed else "no position open")
            view, now = self.gather()
        if (control.get("clear_safe_mode") or {}).get("status") == "requested":
            self.obey_clear_safe_mode(control["clear_safe_mode"])
        if not self._risk_from_records and self.store.outage_since is None:  # it was down at the start
            self._risk_from_records = self.rebuild_risk_state(now)
        watched = self.watch_balance(view, now)
        cpu0 = time.process_time()
        # Entries paused by the operator: act on no decision — a pending entry is cancelled,
        # what is open stays protected and managed.
        decision = None if control.get("entries_paused") else self.decisions.latest()
        decision, asked = self.confirmation.gate(decision, view.position_qty == 0 and self.state.phase ==
                                                 "NO_POSITION", control, now)
        force = self.store.force_exit_request()
        self.state, intents, events = step(self.state, decision, view, self.cfg, now, self.symbol, force_exit=force)
        events = self.with_evidence(watched + asked + events)
        filled = self.book_seen(view, events, now)  # journaled before the state that forgets it is written
        self.save_state()
        cpu = time.process_time() - cpu0
        sent = self.execute(intents, view)
        events = events + sent
        if force is not None:  # after the close went out: a failed send leaves the request for the next loop
            self.store.force_exit_done("market close sent" if view.position_qty else "no position open")
        cpu0 = time.process_time()
        self.book(view, sent, now, filled)
        self.last_cpu_s = cpu + time.process_time() - cpu0
        self.loops += 1
        return {"intents": intents, "events": events, "now": now, "view": view}

    def book_seen(self, view: View, events: list[Event], now: int) -> bool:
        """What the loop learned — the orders it saw, the fills and the trade the step folded
        in, its alerts — into the journal BEFORE the state that no longer holds them is
        written: a SIGKILL between the two lost a closed trade (the next life's state was
        already flat, and reconciliation closed the DB row as a phantom). Killed after this
        and before the state write, the next life derives the trade again: the close finds no
        open row the second time, so the trade is still booked once. True: a fill was seen."""
        st = self.store
        st.flush()
        for o in view.open_orders:
            st.record_order(o)
        for o in view.orders.values():
            st.record_order(o)
        return self._book_events(events, now)

    def _book_events(self, events: list[Event], now: int) -> bool:
        filled = False
        for e in events:
            self.store.event(e)
            filled |= e.code.endswith("_fill")
            if e.code == "trade_closed":
                self.store.close_positions(None, now, e.context.get("exit_reason", "closed"), e.context)
                self._position_key = None
        return filled

    def book(self, view: View, events: list[Event], now: int, filled: bool = False) -> None:
        """The rest of the loop's books: what sending raised, the open position, equity, heartbeat."""
        st = self.store
        s = self.state
        filled = self._book_events(events, now) or filled
        if view.position_qty != 0 and s.plan is not None:
            key = (view.position_qty, view.entry_price, s.sl_price, s.tp1_done)
            if key != self._position_key:
                st.open_position("long" if view.position_qty > 0 else "short", abs(view.position_qty),
                                 view.entry_price, s.decision_id, s.sl_price, s.plan.get("tp1"), s.plan.get("tp2"),
                                 s.opened_ms or now)
                self._position_key = key
        if filled or now - self._last_equity_ms >= self.equity_every_ms:
            st.equity(now, view.equity, view.wallet, view.equity - view.wallet)
            self._last_equity_ms = now
        self.heartbeat(view, now)

    def heartbeat(self, view: View | None, now: int) -> None:
        s = self.state
        # a resource error is ERROR (the site's Status shows it; details.degraded says which)
        state = "ERROR" if self.degraded else "SAFE_MODE" if s.safe_mode else (
            "RUNNING" if s.phase != "NO_POSITION" else "IDLE")
        equity = view.equity if view is not None else Decimal(s.day_start_equity or 0)
        details = {"phase": s.phase, "decision_id": s.decision_id, "safe_mode": s.safe_mode, "time_ms": now,
                   "account": daily_weekly(s, equity, now), "loops": self.loops, "soft_errors": self.soft_errors,
                   "last_error": self.last_error, "degraded": self.degraded, "db_backlog": len(self.store.pending()),
                   "position": {"side": "flat" if view is None or view.position_qty == 0 else
                                ("long" if view.position_qty > 0 else "short"),
                                "quantity": float(abs(view.position_qty)) if view else 0.0,
                                "entry_price": float(view.entry_price) if view and view.position_qty else None,
                                "unrealized_pnl": float(view.equity - view.wallet) if view else 0.0,
                                "mark_price": str(view.mark) if view else None,
                                "liquidation_price": None if view is None or view.position_qty == 0
                                or self._liquidation_price is None
                                else str(self._liquidation_price)},
                   "state": s.to_json()}
        if self.stream is not None:
            details["user_stream"] = self._watch_stream()
        self.store.heartbeat(state, details)

    def start(self) -> None:
        self.load_state()
        try:
            prefix = self.store.client_id_prefix()
        except DB_ERRORS:  # the prefix this state file was written with: our open orders stay ours
            prefix = self.state.id_prefix or self.cfg.id_prefix
            log.warning("database unreachable: client ids keep the prefix %s", prefix)
        self.cfg = dataclasses.replace(self.cfg, id_prefix=prefix)
        self.state.id_prefix = prefix
        self._risk_from_records = self.rebuild_risk_state()
        with contextlib.suppress(OSError):  # a full disk is the loop's to report (resource_error)
            self.save_state()
        try:
            self.setup_account()
        except AccountModeRefused as exc:  # a hedge-mode account that cannot be made one-way: nothing traded
            self.store.event(Event("account_mode_refused", "CRITICAL", f"execution worker not started: {exc}"))
            raise
        self._last_reconcile_ms = None  # reconcile on the first loop, always
        if self.stream is not None:
            self.stream.start()

    def _idle(self, seconds: float) -> None:
        """Wait for the next loop; an exchange event on the user-data stream ends the wait."""
        if self.stream is None:
            self.clock.sleep(seconds)
            return
        self.wake.wait(max(0.0, seconds))
        self.wake.clear()
        self.stream.check()  # restarts a stream that stays down

    def _watch_stream(self) -> dict[str, Any]:
        """The stream's status for the heartbeat; a change is said once (a stream still
        connecting after a start gets 10 s before it counts as down)."""
        status = self.stream.status()
        state, now = status["state"], time.monotonic()
        if self._stream_state is None:
            self._stream_state, self._stream_since = "starting", now
        if state != self._stream_state and not (self._stream_state == "starting" and state == "down"
                                                and now - self._stream_since < 10):
            self.store.event(Event("user_stream_" + state, "INFO" if state == "streaming" else "WARNING",
                                   f"user-data stream {state}: " + ("fills wake the worker at once" if state ==
                                   "streaming" else f"polling every {self.loop_s:g} s"), status))
            self._stream_state = state
        return status

    def run(self, stop: threading.Event | None = None, max_loops: int | None = None) -> None:
        stop = stop or threading.Event()
        self.start()
        failures = 0
        while not stop.is_set() and (max_loops is None or self.loops < max_loops):
            t0 = time.monotonic()
            try:
                self.run_once()
                failures = 0
                self.last_error = self.degraded = None
            except (TransientError, peewee.OperationalError) as exc:
                failures += 1
                self.soft_errors += 1
                self.last_error = str(exc)
                delay = min(self.loop_s * 2 ** failures, self.backoff_max_s)
                log.warning("execution loop: %s; retrying in %.1f s", exc, delay)
                self.clock.sleep(delay)
                continue
            except ExchangeError as exc:  # fatal: protect, stop entering, wait for the operator
                events: list[Event] = []
                self.enter_safe_mode("fatal_exchange_error", str(exc), events)
                for e in events:
                    self.store.event(e)
                self.clock.sleep(self.loop_s)
                continue
            except (OSError, MemoryError) as exc:  # disk full, permission, out of memory: never a silent death
                failures += 1
                self.resource_error(exc)
                self.clock.sleep(min(self.loop_s * 2 ** failures, self.backoff_max_s))
                continue
            self._idle(self.loop_s - (time.monotonic() - t0))
        if self.stream is not None:
            self.stream.stop()

    # --- operator ------------------------------------------------------------------
    def emergency_stop(self) -> Order | None:
        """Cancel every order and close the position at market; SAFE MODE afterwards."""
        self.load_state()
        self.ex.cancel_all(self.symbol)
        pos = self.ex.positions(self.symbol)[0]
        s = self.state
        closed = None
        if pos.quantity != 0:
            did = s.decision_id or f"x{self.ex.server_time_ms() // 1000}"
            n = s.seq.get("close", 0) + 1 if s.decision_id else 1
            cid = client_id("close", did, n, self.cfg.id_prefix)
            if s.decision_id:
                s.seq["close"] = n
                s.live["close"] = cid
                s.watch[cid] = ["close", "0", "0"]
            s.safe_mode = "emergency_stop"
            self.save_state()
            closed = self._place(OrderRequest(self.symbol, "SELL" if pos.quantity > 0 else "BUY", "MARKET",
                                              abs(pos.quantity), reduce_only=True, client_order_id=cid))
            self.store.record_order(closed)
        s.safe_mode = "emergency_stop"
        self.save_state()
        self.store.event(Event("emergency_stop", "CRITICAL", f"emergency stop: orders cancelled, position "
                               f"{pos.quantity} closed at market; SAFE MODE until cleared",
                               {"quantity": str(pos.quantity)}))
        return closed
