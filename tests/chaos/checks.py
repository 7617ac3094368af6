"""What every chaos run checks, from the exchange's own books (exchange-sim's order store,
every order it ever held), never from samples:

- `Invariant`: after EVERY loop of the worker — while a position is open, a stop on the
  closing side at the worker's SL level (never worse than the plan's SL) closing the whole
  position (closePosition or its full quantity); take-profits on the closing side summing
  to at most the position; never two live orders in one role, checked at loop end and at
  every placement the exchange accepts (so a duplicate cancelled within a loop counts too).
  It counts the checks run and the violations.
- `books_agree`: at the end of a run, the database and the exchange agree both ways on
  orders (each of ours on the exchange is in the DB with its status, each DB order is on
  the exchange), on fills (filled quantity and average price per order) and on trades
  (one row per round trip, same quantity, entry and exit price).
- `FaultCount`: how many faults the exchange injected (errors, timeouts, lost answers,
  refusals).

The in-process runs call `Invariant.after_loop` after each `run_once`; a worker in a
subprocess runs under tests/chaos/observed_execute.py, which reports the end of each loop to
exchange-sim at /_chaos/loop_end, where `Invariant.observe` answers it (a test hook on
the venue; nothing in the worker knows about tests)."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import Counter
from decimal import Decimal as D
from typing import Any

from connectors.db import models as M  # noqa: N812
from connectors.exchange_sim.server import Running
from connectors.exchange_sim.venue import Answer, Request, Venue
from engine.exchange.types import Order
from engine.execution.model import parse_client_id

LOOP_END = "/_chaos/loop_end"
GRACE_EVENTS = ("sl_place_failed", "sl_refused_closing", "sl_missing_closing", "sl_refused_stop_exists")


def _role(o: Order) -> str | None:
    p = parse_client_id(o.client_order_id)
    return p[0] if p else None


class Invariant:
    """The protection invariant over one exchange (re-`install` on a new venue)."""

    def __init__(self, sim: Running):
        self.sim = sim
        self.checks = 0
        self.deferred = 0  # loops whose position moved after the worker read it: judged next loop
        self.violations: list[str] = []  # all of them
        self.at_placement: list[str] = []  # those found at a placement (not returned by after_loop)
        self.loops_seen = 0  # loop ends reported by a subprocess worker
        self.loops_completed = 0  # …of loops that ran to their end (not failed)
        self.loop_event = threading.Condition()
        self._grace = 0
        self.install(sim.venue)

    # --- hooks ------------------------------------------------------------------
    def install(self, venue: Venue) -> None:
        """Watch every placement on `venue` and answer the subprocess observer there."""
        core = venue.core
        place = core.place

        def watched_place(req: Any) -> Order:
            order = place(req)
            role = _role(order)
            if role is not None and order.is_open:
                twins = [o.client_order_id for o in core.open_orders() if o is not order and _role(o) == role]
                if twins:
                    self.at_placement.append(f"placement: {order.client_order_id} live next to {twins}")
                    self.violations.append(self.at_placement[-1])
            return order

        core.place = watched_place  # type: ignore[method-assign]
        handle = venue.handle

        def observed(req: Request) -> Answer:
            if req.path != LOOP_END:
                return handle(req)
            doc = json.loads(req.raw_body or "{}")
            found = self.after_loop(doc.get("state"), D(doc["view_qty"]) if doc.get("view_qty") is not None
                                    else None, doc.get("events") or [])
            with self.loop_event:
                self.loops_seen += 1
                self.loops_completed += doc.get("state") is not None
                self.loop_event.notify_all()
            return Answer(200, {"violations": found})

        venue.handle = observed  # type: ignore[method-assign]

    def wait_loops(self, n: int, timeout_s: float) -> bool:
        """Wait until `n` loops (counted since the start of the run) have run to their end."""
        with self.loop_event:
            return self.loop_event.wait_for(lambda: self.loops_completed >= n, timeout_s)

    # --- the check ----------------------------------------------------------------
    def after_loop(self, state: dict[str, Any] | None, view_qty: D | None, events: list[str]) -> list[str]:
        """`state`: the worker's state after the loop (None: the loop did not complete);
        `view_qty`: the position the loop read; `events`: the codes it raised."""
        venue = self.sim.venue
        with venue.lock:
            found = self._check(venue, state, view_qty, events)
        self.checks += 1
        self.violations += found
        return found

    def _check(self, venue: Venue, state: dict[str, Any] | None, view_qty: D | None, events: list[str]) -> list[str]:
        core = venue.core
        live = [o for o in core.orders.values() if o.is_open and _role(o) is not None]
        problems = []
        by_role = Counter(_role(o) for o in live)
        problems += [f"{n} live {role} orders" for role, n in by_role.items() if n > 1]
        qty = core.ledger.qty
        if state is None or qty == 0:
            self._grace = 0
            return problems
        if view_qty is not None and view_qty != qty:
            self.deferred += 1  # a fill after the loop read the position: the next loop answers it
            return problems
        closing = "SELL" if qty > 0 else "BUY"
        tps = [o for o in live if o.type == "TAKE_PROFIT_MARKET"]
        for o in tps:
            if o.side != closing:
                problems.append(f"take-profit {o.client_order_id} {o.side} for a position of {qty}")
        tp_qty = sum((abs(qty) if o.close_position else o.quantity for o in tps), D(0))
        if tp_qty > abs(qty):
            problems.append(f"take-profits for {tp_qty} > position {abs(qty)}")
        if "close" in (state.get("live") or {}):
            return problems  # a market close of ours is out: the position is being taken off
        stops = [o for o in live if o.type == "STOP_MARKET" and o.side == closing]
        if not stops:
            self._grace += 1
            if self._grace > 1 or not set(events) & set(GRACE_EVENTS):
                problems.append(f"position {qty} without a stop (events {events[:6]})")
            return problems
        self._grace = 0
        stop = stops[0]
        if not (stop.close_position or stop.quantity == abs(qty)):
            problems.append(f"stop {stop.client_order_id} for {stop.quantity}, position {abs(qty)}")
        want = state.get("sl_price")
        if want is None or stop.stop_price != D(want):
            problems.append(f"stop {stop.client_order_id} at {stop.stop_price}, the worker's SL is {want}")
        plan_sl = (state.get("plan") or {}).get("sl")
        if plan_sl is not None and stop.stop_price is not None:
            worse = stop.stop_price < D(plan_sl) if qty > 0 else stop.stop_price > D(plan_sl)
            if worse:
                problems.append(f"stop {stop.client_order_id} at {stop.stop_price} worse than the plan's SL {plan_sl}")
        return problems

    def after_run_once(self, w: Any, out: dict[str, Any] | None) -> list[str]:
        """In-process: after `w.run_once()` returned `out` (None: it raised)."""
        if out is None:
            return self.after_loop(None, None, [])
        return self.after_loop(w.state.to_json(), out["view"].position_qty, [e.code for e in out["events"]])


class FaultCount:
    """Counts the faults the venue's plan injects (re-`install` after replacing the plan)."""

    def __init__(self) -> None:
        self.n = 0

    def install(self, venue: Venue) -> None:
        plan = venue.faults
        draw, refusal = plan.draw, plan.refusal

        def counted_draw() -> Any:
            f = draw()
            self.n += f is not None
            return f

        def counted_refusal(*a: Any, **k: Any) -> Any:
            r = refusal(*a, **k)
            self.n += r is not None
            return r

        plan.draw = counted_draw  # type: ignore[method-assign]
        plan.refusal = counted_refusal  # type: ignore[method-assign]


# --- the books, both ways -------------------------------------------------------------------
def _round_trips(sim: Running) -> list[dict[str, Any]]:
    """Each round trip on the exchange (flat -> position -> flat): quantity entered, average
    entry and exit price."""
    out, qty = [], D(0)
    cur: dict[str, Any] = {}
    for f in sim.venue.core.fills:
        signed = f.quantity if f.side == "BUY" else -f.quantity
        if qty == 0:
            cur = {"qty": D(0), "entry_value": D(0), "exit_qty": D(0), "exit_value": D(0)}
        if qty == 0 or (qty > 0) == (signed > 0):
            cur["qty"] += f.quantity
            cur["entry_value"] += f.quantity * f.price
        else:
            cur["exit_qty"] += f.quantity
            cur["exit_value"] += f.quantity * f.price
        qty += signed
        cur.setdefault("opened_ms", D(f.time_ms))
        cur["fills"] = cur.get("fills", "") + f" {f.client_order_id}"
        if qty == 0:
            out.append({"qty": cur["qty"], "entry": cur["entry_value"] / cur["qty"],
                        "exit": cur["exit_value"] / cur["exit_qty"], "opened_ms": cur["opened_ms"],
                        "closed_ms": D(f.time_ms), "fills": cur["fills"].strip()})
    return out


def _close(a: D, b: D) -> bool:
    return abs(a - b) <= abs(b) * D("1e-9") + D("1e-8")


def exchange_orders(sim: Running) -> dict[str, Order]:
    """Our orders as Binance shows them to the worker: a triggered algo order with the status
    and fill of the MARKET order its trigger placed (actualOrderId; EXPIRED when that order
    had nothing left to reduce)."""
    core = sim.venue.core
    out = {}
    for cid, o in core.orders.items():
        if parse_client_id(cid) is None:
            continue
        actual = core.triggered.get(cid)
        if actual is not None:  # Binance: FINISHED, the fill (or nothing) in its actualOrderId
            status = ("PARTIALLY_FILLED" if actual.filled_qty else "NEW") if actual.is_open else (
                "FILLED" if actual.filled_qty else "EXPIRED")
            o = dataclasses.replace(o, status=status, filled_qty=actual.filled_qty, avg_price=actual.avg_price)
        out[cid] = o
    return out


def books_agree(sim: Running) -> tuple[list[str], dict[str, int]]:
    """(problems, figures): the database against the exchange's full books, both ways."""
    problems: list[str] = []
    ex = exchange_orders(sim)
    rows = {r.client_order_id: r for r in M.Order.select()}
    for cid, o in ex.items():
        r = rows.get(cid)
        if r is None:
            problems.append(f"order {cid} ({o.status}, filled {o.filled_qty}) on the exchange, not in the DB")
            continue
        if r.status != o.status:
            problems.append(f"order {cid}: DB {r.status}, exchange {o.status}")
        if D(r.filled_quantity) != o.filled_qty:
            problems.append(f"order {cid}: DB filled {r.filled_quantity}, exchange {o.filled_qty}")
        elif o.filled_qty and not _close(D(r.avg_fill_price or 0), o.avg_price):
            problems.append(f"order {cid}: DB fill price {r.avg_fill_price}, exchange {o.avg_price}")
    core_ids = set(sim.venue.core.orders)
    for cid, r in rows.items():
        if cid not in core_ids:
            problems.append(f"order {cid} ({r.status}) in the DB, unknown to the exchange")
    trips = _round_trips(sim)
    trades = list(M.Trade.select().order_by(M.Trade.closed_ms, M.Trade.id))
    if len(trades) != len(trips):
        problems.append(f"trades: {len(trades)} in the DB, {len(trips)} round trips on the exchange")
        booked = [(D(t.quantity), D(t.entry_price)) for t in trades]
        for x in trips:  # which ones: by quantity and entry price
            hit = next((b for b in booked if b[0] == x["qty"] and _close(b[1], x["entry"])), None)
            if hit is None:
                problems.append(f"round trip not booked: {x}")
            else:
                booked.remove(hit)
        problems += [f"trade booked without a round trip: quantity {q}, entry {e}" for q, e in booked]
    else:
        for t, x in zip(trades, trips, strict=True):
            if D(t.quantity) != x["qty"]:
                problems.append(f"trade {t.id}: DB quantity {t.quantity}, exchange {x['qty']}")
            if not _close(D(t.entry_price), x["entry"]):
                problems.append(f"trade {t.id}: DB entry {t.entry_price}, exchange {x['entry']:.2f}")
            if t.exit_reason != "unexplained" and not _close(D(t.exit_price), x["exit"]):
                problems.append(f"trade {t.id}: DB exit {t.exit_price}, exchange {x['exit']:.2f}")
    figures = {"orders_exchange": len(ex), "orders_db": len(rows),
               "fills_exchange": sum(1 for o in ex.values() if o.filled_qty),
               "fills_db": sum(1 for r in rows.values() if D(r.filled_quantity)),
               "trades_exchange": len(trips), "trades_db": len(trades)}
    return problems, figures


def alerts_by_level() -> dict[str, int]:
    return dict(Counter(n.level for n in M.Notification.select()))


def critical_codes() -> dict[str, int]:
    return dict(Counter(n.code for n in M.Notification.select() if n.level == "CRITICAL"))
