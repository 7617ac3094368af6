"""Reconciliation: exchange vs our records, as a pure diff → actions.

Run at every start and every hour, before the step. The exchange is the truth for what
exists; the DB and the state file are the truth for what we meant. Findings:

- orphan position (exchange has one, DB has no open row) → import it (adopt a plan with
  an SL orphan_sl_pct away when we have none), protect it, alert;
- phantom position (DB open, exchange flat) → close the row, cancel its orders, alert;
- position without SL → place the SL now, CRITICAL alert;
- orphan orders (on the exchange, neither wanted by the state nor ours) → cancel, alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.exchange.types import OrderRequest
from engine.execution.core import adopt
from engine.execution.decision import Plan
from engine.execution.model import (
    Cancel,
    Event,
    ExecSettings,
    ExecState,
    Intent,
    Place,
    View,
    client_id,
    parse_client_id,
)


@dataclass
class DbPosition:
    id: int
    side: str
    quantity: Decimal
    decision_id: str | None


@dataclass
class Reconciliation:
    state: ExecState
    intents: list[Intent] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    import_position: dict[str, Any] | None = None  # create an open DB row with this
    close_db_positions: list[int] = field(default_factory=list)
    findings: dict[str, int] = field(default_factory=dict)

    def found(self, kind: str, level: str, message: str, **ctx: Any) -> None:
        self.findings[kind] = self.findings.get(kind, 0) + 1
        self.events.append(Event(f"reconcile_{kind}", level, message, ctx))

    def summary(self) -> str:
        if not self.findings:
            return "exchange and records agree"
        return ", ".join(f"{k}: {n}" for k, n in sorted(self.findings.items()))


def reconcile(state: ExecState, view: View, db_open: list[DbPosition], cfg: ExecSettings, now_ms: int,
              symbol: str = "BTCUSDT") -> Reconciliation:
    s = state.copy()
    r = Reconciliation(s)
    pos = view.position_qty
    open_by_cid = {o.client_order_id: o for o in view.open_orders}
    # Watched ids the exchange no longer has open and cannot find are dropped by the step.
    if pos != 0 and not db_open:
        if s.plan is None:
            adopt(s, view, cfg, now_ms)
            r.found("orphan_position", "ERROR", f"exchange position {pos} @ {view.entry_price} unknown to us: "
                    f"imported with SL {s.plan['sl'] if s.plan else '?'}", quantity=str(pos))
        else:
            r.found("orphan_position", "WARNING", f"exchange position {pos} of decision {s.decision_id} had no "
                    f"DB row: imported", quantity=str(pos), decision_id=s.decision_id)
        s.opened_ms = s.opened_ms or now_ms
        r.import_position = {"side": "long" if pos > 0 else "short", "quantity": abs(pos),
                             "entry_price": view.entry_price, "decision_id": s.decision_id,
                             "sl": (s.plan or {}).get("sl"), "opened_ms": s.opened_ms}
    # A trade the state still follows is judged by the step (a routine close, or one our
    # fills do not explain: engine/execution/incidents.py), which books it; closing its row
    # here as "phantom" first would leave that trade unrecorded.
    if pos == 0 and db_open and not (s.opened_ms and s.plan is not None):
        for p in db_open:
            r.close_db_positions.append(p.id)
            r.found("phantom_position", "ERROR", f"DB position {p.id} ({p.side} {p.quantity}) open but exchange "
                    f"is flat: closed in DB, its orders cancelled", position_id=p.id, decision_id=p.decision_id)
            for cid in list(open_by_cid):
                parsed = parse_client_id(cid, cfg.id_prefix)
                if p.decision_id and parsed and parsed[1] == p.decision_id:
                    r.intents.append(Cancel("orphan", cid))
                    del open_by_cid[cid]
    if pos != 0:
        _ensure_sl(r, view, open_by_cid, cfg, now_ms, symbol)
    wanted = set(s.live.values()) | set(s.watch)
    for cid, o in open_by_cid.items():
        if cid in wanted:  # (an unwatched stop on the right side was just adopted as the SL)
            continue
        r.intents.append(Cancel("orphan", cid))
        r.found("orphan_order", "WARNING", f"open order {cid} ({o.type} {o.side}) is not ours to keep: cancelled",
                client_order_id=cid)
    return r


def _ensure_sl(r: Reconciliation, view: View, open_by_cid: dict[str, Any], cfg: ExecSettings, now_ms: int,
               symbol: str) -> None:
    s = r.state
    long = view.position_qty > 0
    close_side = "SELL" if long else "BUY"
    stops = [o for o in open_by_cid.values() if o.type == "STOP_MARKET" and o.side == close_side]
    live_sl = s.live.get("sl")
    if any(o.client_order_id == live_sl for o in stops):
        return
    if stops:  # a stop on the right side we were not watching: keep watching it as our SL
        o = stops[0]
        s.live["sl"] = o.client_order_id
        s.watch[o.client_order_id] = ["sl", str(o.filled_qty), str(o.avg_price)]
        if o.stop_price is not None:
            s.sl_price = str(o.stop_price)
        return
    if s.plan is None:
        adopt(s, view, cfg, now_ms)
    assert s.plan is not None and s.decision_id is not None
    plan = Plan.of(s.plan)
    stop = Decimal(s.sl_price) if s.sl_price else plan.sl
    ref = view.mark if cfg.working_type == "MARK_PRICE" else view.last
    n = s.seq.get("sl", 0) + 1
    s.seq["sl"] = n
    cid = client_id("sl", s.decision_id, n, cfg.id_prefix)
    if live_sl:
        s.watch.pop(live_sl, None)
    s.live["sl"] = cid
    s.watch[cid] = ["sl", "0", "0"]
    s.sl_price = str(stop)
    if (long and ref <= stop) or (not long and ref >= stop):
        r.found("missing_sl", "CRITICAL", f"position {view.position_qty} had no SL and price {ref} is already "
                f"through {stop}: the step closes it at market", stop_price=str(stop))
        s.live.pop("sl")
        s.watch.pop(cid)
        return
    r.intents.append(Place("sl", OrderRequest(symbol, close_side, "STOP_MARKET", stop_price=stop,  # type: ignore[arg-type]
                                              close_position=True, working_type=cfg.working_type,  # type: ignore[arg-type]
                                              client_order_id=cid)))
    r.found("missing_sl", "CRITICAL", f"position {view.position_qty} had no SL on the exchange: SL placed at {stop}",
            stop_price=str(stop), client_order_id=cid)
