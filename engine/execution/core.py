"""The execution core: one pure step from (state, decision, exchange view) to
(new state, order intents, events).

Level-triggered on purpose: each step compares what should be on the exchange with
what is, and asks for the difference. A lost answer, a crash or a missed loop is
healed by the next step, and deterministic client ids make a repeated ask harmless.

Trade life: NO_POSITION → ENTERING (entry limit working, maybe partly filled) →
IN_POSITION (SL + TP1 + TP2 on the exchange) → CLOSING (a market close is out) →
NO_POSITION (leftovers cancelled, trade summary emitted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine import format as fmt
from engine.exchange.filters import SymbolFilters, round_price, round_quantity
from engine.exchange.types import Order, OrderRequest, Side
from engine.execution import manage
from engine.execution.decision import Malformed, Plan, market_refusal, parse_plan, pnl_pct, refusal
from engine.execution.incidents import book_unexplained, unexplained
from engine.execution.model import (
    CLOSING,
    ENTERING,
    IN_POSITION,
    NO_POSITION,
    PROTECTIVE,
    Cancel,
    Event,
    ExecSettings,
    ExecState,
    Intent,
    Place,
    SetLeverage,
    View,
    client_id,
    parse_client_id,
)

ZERO = Decimal(0)
DAY_MS = 86_400_000


class _Step:
    """The working set of one step (keeps the functions below short)."""

    def __init__(self, state: ExecState, view: View, cfg: ExecSettings, now_ms: int, symbol: str):
        self.s = state
        self.v = view
        self.cfg = cfg
        self.now = now_ms
        self.symbol = symbol
        self.intents: list[Intent] = []
        self.events: list[Event] = []
        self.open = {o.client_order_id: o for o in view.open_orders}

    def event(self, code: str, level: str, message: str, **context: Any) -> None:
        ctx = {"decision_id": self.s.decision_id, "phase": self.s.phase, "price": str(self.v.last)} | context
        self.events.append(Event(code, level, message, ctx))

    def next_cid(self, role: str) -> str:
        assert self.s.decision_id is not None
        n = self.s.seq.get(role, 0) + 1
        self.s.seq[role] = n
        return client_id(role, self.s.decision_id, n, self.cfg.id_prefix)

    def place(self, role: str, req: OrderRequest, after_cancel: str | None = None) -> None:
        assert req.client_order_id is not None
        self.s.live[role] = req.client_order_id
        self.s.watch[req.client_order_id] = [role, "0", "0"]
        self.intents.append(Place(role, req, after_cancel))

    def cancel(self, role: str, cid: str) -> None:
        if not any(isinstance(i, Cancel) and i.client_order_id == cid for i in self.intents):
            self.intents.append(Cancel(role, cid))

    def live_order(self, role: str) -> Order | None:
        """The open order playing `role` for this trade. When the wanted one never
        reached the exchange (a crash between write-ahead and send), the one it was
        to replace is still open: it takes the role back, so nothing is duplicated."""
        cid = self.s.live.get(role)
        if cid:
            return self.open.get(cid)
        mine = [(p[2], o) for o in self.v.open_orders
                if (p := parse_client_id(o.client_order_id, self.cfg.id_prefix)) and p[0] == role
                and p[1] == self.s.decision_id]
        if not mine:
            return None
        _, o = max(mine, key=lambda x: x[0])
        self.s.live[role] = o.client_order_id
        self.s.watch.setdefault(o.client_order_id, [role, str(o.filled_qty), str(o.avg_price)])
        return o

    def cancel_extras(self, role: str) -> None:
        """Any other open order of ours in this role for this trade goes."""
        keep = self.s.live.get(role)
        for o in self.v.open_orders:
            p = parse_client_id(o.client_order_id, self.cfg.id_prefix)
            if p and p[0] == role and p[1] == self.s.decision_id and o.client_order_id != keep:
                self.cancel(role, o.client_order_id)


def step(state: ExecState, decision: Mapping[str, Any] | None, view: View, cfg: ExecSettings,
         now_ms: int, symbol: str = "BTCUSDT", force_exit: str | None = None,
         ) -> tuple[ExecState, list[Intent], list[Event]]:
    """One loop of the execution core. `force_exit` (the operator's reason) closes an open
    position at market, its stop staying on the exchange until the close fills."""
    st = _Step(state.copy(), view, cfg, now_ms, symbol)
    _roll_periods(st)
    s = st.s
    seen = len(s.entry_fills) + len(s.exit_fills)
    _observe(st)
    pos = view.position_qty
    if unexplained(s, view) != 0:
        if len(s.entry_fills) + len(s.exit_fills) == seen:
            st.events.append(book_unexplained(s, view, now_ms))
        elif pos == 0:  # a fill of ours landed between the two reads: judged next loop
            return s, st.intents, st.events
    if pos != 0 and s.opened_ms == 0:
        _position_appeared(st)
    if pos == 0 and s.opened_ms:
        _position_closed(st)
    if s.phase == CLOSING and pos != 0 and "close" not in s.live:
        s.phase = IN_POSITION  # the market close expired without closing: protect and retry
    if pos != 0:
        manage.track(s, view.last, pos > 0)
        if s.phase == IN_POSITION and s.plan is not None:
            _apply_manage(st, decision)
        _protect(st)
        if force_exit:
            _market_close(st, f"force exit: {force_exit}")
    if s.phase == ENTERING:
        _manage_entry(st, decision)
    elif pos == 0 and s.phase == NO_POSITION:
        _sweep_flat(st)
        _maybe_enter(st, decision)
    return s, st.intents, st.events


# ---------------------------------------------------------------- bookkeeping

def _roll_periods(st: _Step) -> None:
    """Start-of-day and start-of-week equity (UTC; weeks start on Monday)."""
    s, eq = st.s, st.v.equity
    day = st.now // DAY_MS
    if day != s.day_key:
        s.day_key, s.day_start_equity, s.trades_today = day, str(eq), 0
    week = (day + 3) // 7  # epoch day 0 was a Thursday
    if week != s.week_key:
        s.week_key, s.week_start_equity = week, str(eq)


def _observe(st: _Step) -> None:
    """Fold every watched order's new fills into the trade; forget orders that are done."""
    s = st.s
    tp1_closed: list[Order] = []
    for cid, (role, seen_q, seen_avg) in list(s.watch.items()):
        o = st.open.get(cid) or st.v.orders.get(cid)
        if o is None:  # never reached the exchange (crash or refusal before it landed)
            del s.watch[cid]
            if s.live.get(role) == cid:
                del s.live[role]
            continue
        q0, a0 = Decimal(seen_q), Decimal(seen_avg)
        if o.filled_qty > q0:
            dq = o.filled_qty - q0
            price = (o.avg_price * o.filled_qty - a0 * q0) / dq
            price = price.quantize(Decimal("0.00000001"))
            if role == "entry":
                s.entry_fills.append([str(dq), str(price)])
            else:
                s.exit_fills.append([role, str(dq), str(price)])
            s.watch[cid] = [role, str(o.filled_qty), str(o.avg_price)]
            st.event(f"{role}_fill", "INFO", f"{role} {cid} filled {dq} at {price}", client_order_id=cid,
                     quantity=str(dq), fill_price=str(price))
            if role == "tp1" and not s.tp1_done:
                s.tp1_done = True
        if not o.is_open:
            if role == "tp1":
                tp1_closed.append(o)
            del s.watch[cid]
            if s.live.get(role) == cid:
                del s.live[role]
    for o in tp1_closed:  # after every fill of this step is counted
        if not s.tp1_done:
            _tp1_by_position(st, o)


def _expected_position(s: ExecState) -> Decimal:
    """What our own fills say is open (entries minus exits), unsigned."""
    entered = sum((Decimal(q) for q, _ in s.entry_fills), ZERO)
    return entered - sum((Decimal(q) for _, q, _ in s.exit_fills), ZERO)


def _tp1_by_position(st: _Step, o: Order) -> None:
    """TP1 is done when the exchange says so, and cross-checked with the position: a TP1
    order gone with no fill reported while the position shrank by about its quantity did
    fill (a fill the answers did not show). Without this the core would send another
    TP1 every loop, halving what is left, and never move the stop to break-even."""
    s, v = st.s, st.v
    drop = _expected_position(s) - abs(v.position_qty)
    if v.position_qty == 0 or drop <= 0 or o.quantity <= 0 or drop < o.quantity / 2:
        return
    qty = min(drop, o.quantity)
    price = o.stop_price if o.stop_price is not None else v.last
    s.exit_fills.append(["tp1", str(qty), str(price)])
    s.tp1_done = True
    st.event("tp1_fill_inferred", "WARNING", f"tp1 {o.client_order_id} closed without a fill in its answer while "
             f"the position fell by {drop}: counted as filled {qty} at {price}", client_order_id=o.client_order_id,
             quantity=str(qty), fill_price=str(price))


def _position_appeared(st: _Step) -> None:
    s, v = st.s, st.v
    s.opened_ms = st.now
    s.trades_today += 1  # the daily limit counts entries: a trade opened today is today's, whenever it closes
    if s.wallet_before is None:
        s.wallet_before = str(v.wallet)
    if s.plan is None:  # a position we did not open: adopt it, protect it, stop trading
        adopt(s, v, st.cfg, st.now)
        st.event("unknown_position", "CRITICAL", f"position {v.position_qty} @ {v.entry_price} not ours: "
                 f"adopted with SL {s.plan['sl'] if s.plan else '?'}; safe mode until the operator clears it",
                 quantity=str(v.position_qty), entry_price=str(v.entry_price))
        s.safe_mode = s.safe_mode or "unknown_position"
    elif s.phase == NO_POSITION:
        s.phase = IN_POSITION


def adopt(s: ExecState, v: View, cfg: ExecSettings, now_ms: int) -> None:
    """Take over a position with no plan: SL orphan_sl_pct beyond its entry, no targets."""
    long = v.position_qty > 0
    k = Decimal(str(cfg.orphan_sl_pct)) / 100
    entry = v.entry_price if v.entry_price > 0 else v.last
    sl = round_price(entry * (1 - k) if long else entry * (1 + k), v.filters, "down" if long else "up")
    did = f"r{now_ms // 1000}"
    s.decision_id = did
    s.plan = Plan(id=did, side="long" if long else "short", zone_lo=entry, zone_hi=entry, sl=sl, tp1=None,
                  tp2=None, size_usdt=abs(v.position_qty) * entry, leverage=1, confidence=0.0,
                  ts_ms=now_ms).to_dict()
    s.seq, s.phase, s.opened_ms = {}, IN_POSITION, s.opened_ms or now_ms
    s.wallet_before = s.wallet_before or str(v.wallet)
    if not s.entry_fills and not s.exit_fills:  # what we took over is the baseline our fills are judged against
        s.entry_fills = [[str(abs(v.position_qty)), str(entry)]]
    if did not in s.entered:
        s.entered.append(did)


def _position_closed(st: _Step) -> None:
    """Flat again after a trade: cancel what is left, emit the trade summary, cool down."""
    s, v = st.s, st.v
    for role, cid in list(s.live.items()):
        if cid in st.open:
            st.cancel(role, cid)
    summary = trade_summary(s, v)
    # the message is read by people (console, Logs page): figures by meaning; the raw
    # Decimals stay in the event's fields
    st.event("trade_closed", "WARNING" if summary["exit_reason"] == "unexplained" else "INFO",
             f"{summary['side']} {fmt.qty(summary['quantity'])} closed by {summary['exit_reason']}: "
             f"pnl {fmt.money(summary['pnl'])} USDT", **summary)
    s.last_exit_ms = st.now
    s.phase = NO_POSITION
    s.live, s.opened_ms, s.wallet_before = {}, 0, None
    s.entry_fills, s.exit_fills, s.tp1_done, s.sl_price, s.sl_refused = [], [], False, None, None
    s.replace_entry, s.chases, s.entry_limit, s.chasing_stopped = None, 0, None, None
    s.plan = None
    manage.reset(s)


def _vwap(rows: list[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal]:
    qty = sum((q for q, _ in rows), ZERO)
    if qty == 0:
        return ZERO, ZERO
    return qty, (sum((q * p for q, p in rows), ZERO) / qty).quantize(Decimal("0.01"))


def trade_summary(s: ExecState, v: View) -> dict[str, Any]:
    plan = Plan.of(s.plan) if s.plan else None
    long = plan.long if plan else True
    e_qty, e_px = _vwap([(Decimal(q), Decimal(p)) for q, p in s.entry_fills])
    x_qty, x_px = _vwap([(Decimal(q), Decimal(p)) for _, q, p in s.exit_fills])
    direction = 1 if long else -1
    gross = ((x_px - e_px) * x_qty * direction).quantize(Decimal("0.00000001")) if x_qty and e_qty else ZERO
    net = (v.wallet - Decimal(s.wallet_before)) if s.wallet_before else gross
    roles = [r for r, _, _ in s.exit_fills]
    last_role = roles[-1] if roles else "unknown"
    reason = "sl_breakeven" if last_role == "sl" and s.tp1_done else last_role
    if last_role == "close" and s.exit_reason:
        reason = s.exit_reason  # a rule's close (manage stage): its reason
    risk = abs(e_px - plan.sl) * e_qty if plan and e_qty else ZERO
    return {"decision_id": s.decision_id, "side": "long" if long else "short", "quantity": str(e_qty),
            "entry_price": str(e_px), "exit_price": str(x_px), "exit_quantity": str(x_qty),
            "gross_pnl": str(gross), "pnl": str(net), "fees_and_funding": str(gross - net) if s.wallet_before else "0",
            "r_multiple": float(gross / risk) if risk else None, "exit_reason": reason, "exits": roles,
            "tp1_done": s.tp1_done, "opened_ms": s.opened_ms, "sl": str(plan.sl) if plan else None}


# ---------------------------------------------------------------- protection

def _split_targets(qty: Decimal, st: _Step) -> tuple[Decimal, Decimal]:
    f = st.v.filters
    if st.s.tp1_done:
        return ZERO, qty
    tp1 = round_quantity(qty * Decimal(str(st.cfg.tp1_fraction)), f)
    if tp1 < f.min_qty or qty - tp1 < f.min_qty:
        tp1 = ZERO
    return tp1, qty - tp1


def _protect(st: _Step) -> None:
    """SL (close-position stop) and TP1/TP2 (reduce-only take-profits) for what is open."""
    s, v, f = st.s, st.v, st.v.filters
    assert s.plan is not None
    plan = Plan.of(s.plan)
    long = v.position_qty > 0
    close_side: Side = "SELL" if long else "BUY"
    qty = abs(v.position_qty)
    ref = v.mark if st.cfg.working_type == "MARK_PRICE" else v.last
    # SL: the plan's, moved to break-even after TP1, and only ever closer.
    target = plan.sl
    if s.tp1_done and v.entry_price > 0:
        be = round_price(v.entry_price, f, "up" if long else "down")
        target = max(target, be) if long else min(target, be)
    if s.sl_price is not None:
        cur = Decimal(s.sl_price)
        target = max(target, cur) if long else min(target, cur)
        if s.sl_refused is not None and target == Decimal(s.sl_refused):
            target = cur  # refused once (engine/execution/protection.py): the last good stop stays
    if s.sl_price is not None and Decimal(s.sl_price) != target:
        st.event("sl_moved", "INFO", f"SL {s.sl_price} -> {target}", old=s.sl_price, new=str(target))
    s.sl_price = str(target)
    if (long and ref <= target) or (not long and ref >= target):
        _market_close(st, f"price {ref} already through SL {target}")
        return
    sl_order = st.live_order("sl")
    if sl_order is None and "sl" not in s.live:
        recreated = s.seq.get("sl", 0) > 0
        st.place("sl", OrderRequest(st.symbol, close_side, "STOP_MARKET", stop_price=target, close_position=True,
                                    working_type=st.cfg.working_type,  # type: ignore[arg-type]
                                    client_order_id=st.next_cid("sl")))
        st.event("sl_recreated" if recreated else "sl_placed", "WARNING" if recreated else "INFO",
                 f"SL {'re-created' if recreated else 'placed'} at {target} for {qty}", stop_price=str(target))
    elif sl_order is not None and sl_order.stop_price != target:
        old = sl_order.client_order_id
        st.cancel("sl", old)
        st.place("sl", OrderRequest(st.symbol, close_side, "STOP_MARKET", stop_price=target, close_position=True,
                                    working_type=st.cfg.working_type,  # type: ignore[arg-type]
                                    client_order_id=st.next_cid("sl")), after_cancel=old)
    tp1_qty, tp2_qty = _split_targets(qty, st)
    tp1, tp2 = (plan.tp1, plan.tp2) if s.target_price is None else (Decimal(s.target_price),) * 2
    for role, want_qty, level in (("tp1", tp1_qty, tp1), ("tp2", tp2_qty, tp2)):
        _target(st, role, want_qty, level, close_side, long, ref)
    for role in PROTECTIVE:
        st.cancel_extras(role)


def _target(st: _Step, role: str, qty: Decimal, level: Decimal | None, side: Side, long: bool, ref: Decimal) -> None:
    s = st.s
    current = st.live_order(role)
    if level is None or qty <= 0:
        if current is not None:
            st.cancel(role, current.client_order_id)
        return
    if role in s.live and current is None:
        return  # sent, not confirmed open yet (or just filled): the next step knows
    if current is not None and current.quantity == qty and (current.stop_price is None or current.stop_price == level):
        return  # (a level moved by a rule, engine/execution/manage.py, replaces the order)
    old = current.client_order_id if current is not None else None
    if old:
        st.cancel(role, old)
    cid = st.next_cid(role)
    if (long and ref >= level) or (not long and ref <= level):  # already there: take it at market
        req = OrderRequest(st.symbol, side, "MARKET", qty, reduce_only=True, client_order_id=cid)  # type: ignore[arg-type]
        st.event(f"{role}_at_market", "WARNING", f"price {ref} already beyond {role} {level}: market reduce {qty}")
    else:
        req = OrderRequest(st.symbol, side, "TAKE_PROFIT_MARKET", qty, stop_price=level, reduce_only=True,  # type: ignore[arg-type]
                           working_type=st.cfg.working_type, client_order_id=cid)  # type: ignore[arg-type]
    st.place(role, req, after_cancel=old)


def _apply_manage(st: _Step, decision: Mapping[str, Any] | None) -> None:
    """Carry out the decision's manage part once (engine/execution/manage.py checks it)."""
    s, v = st.s, st.v
    ref = v.mark if st.cfg.working_type == "MARK_PRICE" else v.last
    a = manage.ask(s, decision, v.position_qty, v.entry_price, ref, v.filters, st.cfg, st.now)
    if a is None:
        return
    s.managed = a.decision_id
    for why in a.refused:
        st.event("manage_refused", "WARNING", f"decision {a.decision_id}: {why}", reason=why)
    if a.close is not None:
        s.exit_reason = a.close
        _market_close(st, f"rules ({', '.join(a.rules)}): {a.close}")
        return
    if a.reduce is not None:
        frac, reason = a.reduce
        qty = round_quantity(abs(v.position_qty) * frac, v.filters)
        if qty >= v.filters.min_qty and abs(v.position_qty) - qty >= v.filters.min_qty and "close" not in s.live:
            side = "SELL" if v.position_qty > 0 else "BUY"
            st.place("close", OrderRequest(st.symbol, side, "MARKET", qty, reduce_only=True,  # type: ignore[arg-type]
                                           client_order_id=st.next_cid("close")))
            st.event("position_reduced", "INFO", f"reducing {qty} of {abs(v.position_qty)} at market: {reason}",
                     quantity=str(qty), reason=reason)
        else:
            st.event("manage_refused", "WARNING", f"reduce by {frac} of {abs(v.position_qty)} is below the "
                     "exchange's minimum quantity: not reduced", reason="reduce_below_min_qty")
    if a.stop is not None:
        cur = Decimal(s.sl_price) if s.sl_price is not None else Plan.of(s.plan or {}).sl
        long = v.position_qty > 0
        if (long and a.stop > cur) or (not long and a.stop < cur):
            st.event("sl_moved", "INFO", f"SL {cur} -> {a.stop} ({', '.join(a.rules)})", old=str(cur), new=str(a.stop))
            s.sl_price = str(a.stop)  # _protect moves the exchange's stop
    if a.target is not None and a.target != (Decimal(s.target_price) if s.target_price else None):
        st.event("target_moved", "INFO", f"take-profit -> {a.target} ({', '.join(a.rules)})", new=str(a.target))
        s.target_price = str(a.target)


def _market_close(st: _Step, why: str) -> None:
    s, v = st.s, st.v
    if "close" in s.live:
        return
    s.phase = CLOSING
    side = "SELL" if v.position_qty > 0 else "BUY"
    st.place("close", OrderRequest(st.symbol, side, "MARKET", abs(v.position_qty), reduce_only=True,  # type: ignore[arg-type]
                                   client_order_id=st.next_cid("close")))
    st.event("market_close", "WARNING", f"closing {v.position_qty} at market: {why}")


# ---------------------------------------------------------------- entry

def _sweep_flat(st: _Step) -> None:
    """Flat and not entering: none of our protective orders may stay behind."""
    for o in st.v.open_orders:
        parsed = parse_client_id(o.client_order_id, st.cfg.id_prefix)
        if parsed and parsed[0] in (*PROTECTIVE, "close", "entry"):
            st.cancel(parsed[0], o.client_order_id)
            st.event("stray_order_cancelled", "WARNING", f"flat: cancelling leftover {o.client_order_id}",
                     client_order_id=o.client_order_id)


def _refuse(st: _Step, did: str | None, reason: str) -> None:
    s = st.s
    if s.refused.get("decision_id") != str(did) or s.refused.get("reason") != reason:
        s.refused = {"decision_id": str(did), "reason": reason}
        st.event("decision_refused", "WARNING" if reason.startswith("malformed") else "INFO",
                 f"decision {did} refused: {reason}", decision_id=did, reason=reason)


def _maybe_enter(st: _Step, decision: Mapping[str, Any] | None) -> None:
    s, v, f = st.s, st.v, st.v.filters
    if decision is None:
        return
    raw_id = decision.get("id", decision.get("decision_id")) if isinstance(decision, Mapping) else None
    if raw_id is not None and str(raw_id) in s.entered:
        return
    try:
        plan = parse_plan(decision, st.symbol)
    except Malformed as exc:
        _refuse(st, raw_id, str(exc))
        return
    if plan is None:
        return  # flat: nothing to do
    why = refusal(plan, v, s, st.cfg, st.now)
    limit = round_price(plan.mid, f, "down" if plan.long else "up")
    qty = round_quantity(plan.size_usdt / limit, f)
    if why is None and (qty < f.min_qty or qty * limit < f.min_notional):
        why = "below_min_notional"
    if why:
        _refuse(st, plan.id, why)
        return
    plan = on_ticks(plan, f)
    s.decision_id, s.plan, s.seq, s.phase = plan.id, plan.to_dict(), {}, ENTERING
    s.entered = (s.entered + [plan.id])[-50:]
    s.chases, s.replace_entry, s.chasing_stopped, s.tp1_done, s.sl_price = 0, None, None, False, None
    s.sl_refused = None
    s.wallet_before = str(v.wallet)
    s.refused = {}
    st.intents.append(SetLeverage(plan.leverage))  # the plan's leverage on the exchange, while flat
    _place_entry(st, plan, limit, qty)
    st.event("entry_placed", "INFO", f"{plan.side} {qty} @ {limit} (zone {plan.zone_lo}-{plan.zone_hi})",
             quantity=str(qty), limit=str(limit), confidence=plan.confidence)


def on_ticks(plan: Plan, f: SymbolFilters) -> Plan:
    """The plan's levels on the tick grid, each rounded toward the safe side (SL closer,
    targets closer, zone narrower), so what we compare is what the exchange holds."""
    up, down = ("up", "down") if plan.long else ("down", "up")

    def tp(x: Decimal | None) -> Decimal | None:
        return None if x is None else round_price(x, f, down)
    return dataclasses.replace(plan, zone_lo=round_price(plan.zone_lo, f, "up"),
                               zone_hi=round_price(plan.zone_hi, f, "down"), sl=round_price(plan.sl, f, up),
                               tp1=tp(plan.tp1), tp2=tp(plan.tp2))


def _place_entry(st: _Step, plan: Plan, limit: Decimal, qty: Decimal) -> None:
    side = "BUY" if plan.long else "SELL"
    st.s.entry_limit, st.s.entry_placed_ms = str(limit), st.now
    st.place("entry", OrderRequest(st.symbol, side, "LIMIT", qty, limit,  # type: ignore[arg-type]
                                   client_order_id=st.next_cid("entry")))


def _remaining(st: _Step, plan: Plan, price: Decimal) -> Decimal:
    """What is left to enter at `price`: the smaller of what the notional leaves and what
    the risk budget to the stop leaves. The budget is the first entry's (its quantity at
    its limit, to the SL); a re-placement further from the stop (a chase, the market
    fallback) gets fewer contracts, so the trade never risks more than planned."""
    f = st.v.filters
    fills = [(Decimal(q), Decimal(p)) for q, p in st.s.entry_fills]
    filled = sum((q for q, _ in fills), ZERO)
    want = round_quantity(plan.size_usdt / price, f)
    left = round_quantity(want - filled, f)
    first = round_price(plan.mid, f, "down" if plan.long else "up")
    budget = round_quantity(plan.size_usdt / first, f) * abs(first - plan.sl)
    used = sum((q * abs(p - plan.sl) for q, p in fills), ZERO)
    per_unit = abs(price - plan.sl)
    if per_unit > 0:
        left = min(left, round_quantity(max(budget - used, ZERO) / per_unit, f))
    if left < f.min_qty or left * price < f.min_notional:
        return ZERO
    return left


def _stop_entry(st: _Step, reason: str) -> None:
    s = st.s
    cid = s.live.get("entry")
    if cid and cid in st.open:
        st.cancel("entry", cid)
    s.replace_entry = None
    s.phase = IN_POSITION if st.v.position_qty != 0 else NO_POSITION
    st.event("entry_stopped", "INFO", f"entry for {s.decision_id} stopped: {reason}", reason=reason)
    if st.v.position_qty == 0 and "entry" not in s.live:
        _reset_flat(s)


def _reset_flat(s: ExecState) -> None:
    s.plan, s.live, s.entry_limit, s.chases, s.replace_entry = None, {}, None, 0, None


def _manage_entry(st: _Step, decision: Mapping[str, Any] | None) -> None:
    s, v = st.s, st.v
    assert s.plan is not None
    plan = Plan.of(s.plan)
    did = None if decision is None else decision.get("id", decision.get("decision_id"))
    stop = None
    if str(did) != s.decision_id or decision is None or decision.get("action") != plan.side:
        stop = "decision_changed"
    elif s.safe_mode:
        stop = "safe_mode"
    else:
        stop = market_refusal(plan, v, st.cfg, st.now)
        if stop in ("volatility_too_high", "abnormal_spread"):
            s.chasing_stopped = stop  # keep the order resting, but no more chasing or market
            stop = None
    if stop:
        _stop_entry(st, stop)
        return
    order = st.live_order("entry")
    pending = "entry" in s.live and order is None  # sent or cancelled, not seen closed yet
    if pending:
        return
    if order is None:
        if s.replace_entry is None:  # filled (or vanished) and nothing to re-place: entry is over
            s.phase = IN_POSITION if v.position_qty != 0 else NO_POSITION
            if v.position_qty == 0:
                _reset_flat(s)
            return
        _replace_entry(st, plan)
        return
    _maybe_chase(st, plan, order)


def _maybe_chase(st: _Step, plan: Plan, order: Order) -> None:
    s, v = st.s, st.v
    assert order.price is not None
    age_ms = st.now - s.entry_placed_ms
    drift = (v.last - order.price) / order.price * 100 * (1 if plan.long else -1)
    if age_ms >= st.cfg.order_max_age_s * 1000 or abs(v.last - order.price) / order.price * 100 > Decimal(
            str(st.cfg.stale_distance_pct)):
        st.cancel("entry", order.client_order_id)
        s.replace_entry = "stale"
        st.event("entry_stale", "INFO", f"entry {order.client_order_id} stale (age {age_ms // 1000} s): re-placing")
        return
    inside = plan.zone_lo <= v.last <= plan.zone_hi
    can_chase = (s.chases < st.cfg.max_chases or _fallback_ok(st, plan)) and not s.chasing_stopped and inside
    if can_chase and age_ms >= st.cfg.chase_after_s * 1000 and drift >= Decimal(str(st.cfg.chase_threshold_pct)):
        st.cancel("entry", order.client_order_id)
        s.replace_entry = "chase"


def _fallback_ok(st: _Step, plan: Plan) -> bool:
    spread = st.v.spread_pct()
    return (st.s.chases >= st.cfg.max_chases and plan.confidence >= st.cfg.market_fallback_min_confidence
            and plan.zone_lo <= st.v.last <= plan.zone_hi and spread is not None
            and spread <= st.cfg.market_fallback_max_spread_pct and not st.s.chasing_stopped)


def _replace_entry(st: _Step, plan: Plan) -> None:
    s, v, f = st.s, st.v, st.v.filters
    why = s.replace_entry
    s.replace_entry = None
    if why == "chase" and _fallback_ok(st, plan):
        qty = _remaining(st, plan, v.last)
        if qty > 0:
            side = "BUY" if plan.long else "SELL"
            st.place("entry", OrderRequest(st.symbol, side, "MARKET", qty,  # type: ignore[arg-type]
                                           client_order_id=st.next_cid("entry")))
            st.event("market_fallback", "WARNING", f"entry by market after {s.chases} chases: {qty}",
                     quantity=str(qty), confidence=plan.confidence)
            return
    if why == "chase":
        s.chases += 1
        best = v.bid if plan.long else v.ask
        best = best if best is not None else v.last
        price = min(best, plan.zone_hi) if plan.long else max(best, plan.zone_lo)
        price = round_price(price, f, "down" if plan.long else "up")
        price = max(price, plan.zone_lo) if plan.long else min(price, plan.zone_hi)
        price = round_price(price, f, "up" if plan.long else "down")  # back inside the zone after rounding
    else:  # stale: back to the middle of the zone
        price = round_price(plan.mid, f, "down" if plan.long else "up")
    qty = _remaining(st, plan, price)
    if qty <= 0:
        s.phase = IN_POSITION if v.position_qty != 0 else NO_POSITION
        return
    _place_entry(st, plan, price, qty)
    st.event("entry_chased" if why == "chase" else "entry_replaced", "INFO",
             f"entry re-placed at {price} for {qty} ({why} #{s.chases})", limit=str(price), quantity=str(qty))


def daily_weekly(state: ExecState, equity: Decimal, now_ms: int | None = None) -> dict[str, Any]:
    """The account facts the risk manager reads (rules: account.*). With `now_ms`, as of that
    time: the first cycle of a new UTC day (or week) sees the new day's counters (no trade
    yet, the day starting at the current equity) even before the core has rolled them."""
    day_start, week_start, trades = state.day_start_equity, state.week_start_equity, state.trades_today
    if now_ms is not None:
        day = now_ms // DAY_MS
        if day != state.day_key:
            day_start, trades = str(equity), 0
        if (day + 3) // 7 != state.week_key:
            week_start = str(equity)
    return {"equity": float(equity), "start_of_day_equity": float(day_start or equity),
            "daily_pnl_pct": round(pnl_pct(equity, day_start), 6),
            "weekly_pnl_pct": round(pnl_pct(equity, week_start), 6),
            "trades_today": trades, "safe_mode": bool(state.safe_mode),
            "entries_paused": bool(state.safe_mode)}
