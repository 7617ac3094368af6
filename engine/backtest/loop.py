"""The backtest loop: stored history in, decisions, trades and equity out. Pure (no I/O).

Every 5 minutes (cycle time T) the SAME decide() runs on the SAME snapshot + flow the live
cycle would build at T (engine.analytics.build_cycles: only data closed before T), with
the account and position facts as the execution state shows them. Every minute the SAME
execution core `step` runs against SimExchange (SimCore on a SimClock) whenever it has
something to do: a new decision, an order working or a position open. After it sends
orders it runs again at once, up to a few times, as the live worker would a couple of
seconds later: so protection is on the exchange before the next candle.

Fills, SL and TP are SimCore's on 1m candles (documented intra-candle path, stops before
take-profits when one candle touches both); funding from the stored history at its times.
Nothing reads the wall clock or a random source: the same inputs give the same outputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from engine.analytics.batch import build_cycles, timeframe_frame
from engine.analytics.columns import CycleColumns, build_columns
from engine.analytics.params import plain
from engine.backtest.fast import FastDecisions
from engine.backtest.feed import Candles, ColumnFeed
from engine.backtest.gc_pause import without_cyclic_gc
from engine.backtest.params import BacktestParams
from engine.backtest.record import DecisionLog
from engine.backtest.visits import manages, next_visit
from engine.clock import SimClock
from engine.decision import decide
from engine.exchange.errors import (
    DuplicateClientOrderId,
    ExchangeError,
    FatalExchangeError,
    OrderRejected,
    UnknownOrder,
    WouldImmediatelyTrigger,
)
from engine.exchange.sim.core import SimConfig
from engine.exchange.sim.exchange import SimExchange
from engine.exchange.types import OrderRequest, Side
from engine.execution import manage
from engine.execution.core import daily_weekly, step
from engine.execution.model import (
    IN_POSITION,
    NO_POSITION,
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
from engine.protections import protection_facts
from engine.rules.series import batch_facts, frames_from_1m

MINUTE = 60_000
DAY_MS = 86_400_000
STEPS_PER_MINUTE = 4  # re-steps at the same time after sending orders (the worker's next loops)


@dataclass
class BacktestResult:
    version: str
    t_from: int
    t_to: int
    params: dict[str, Any]
    initial_equity: Decimal
    final_equity: Decimal
    decisions: DecisionLog | list[dict[str, Any]]   # {t_ms, id, decision, account, position}, in time order
    trades: list[dict[str, Any]]
    equity: list[tuple[int, Decimal, Decimal]]  # (time_ms, equity, wallet)
    orders: list[dict[str, Any]]
    funding: list[tuple[int, str, str]]  # (time_ms, rate, paid)
    events: dict[str, int] = field(default_factory=dict)  # event code -> count
    open_position: dict[str, Any] | None = None
    candles: int = 0
    # the fast engine: how each condition was evaluated (at once / per cycle), patterns, decide() calls
    fast_rules: dict[str, Any] | None = None


def _rows(df: pd.DataFrame) -> Candles:
    return Candles(df)   # columns, not a tuple per candle (engine/backtest/feed.py)


def _sim_config(params: BacktestParams, slippage_bps: Decimal) -> SimConfig:
    return SimConfig(starting_balance=params.equity, maker_fee=params.maker_fee, taker_fee=params.taker_fee,
                     fill_rule="cross" if params.fill == "hybrid" else "touch", slippage_bps=slippage_bps)


def _tags(facts: Mapping[str, Any]) -> dict[str, str]:
    """The regimes a trade is filed under in the metrics (what the decision saw)."""
    snap, flow = facts.get("snapshot") or {}, facts.get("flow") or {}
    sess = snap.get("session") or {}
    etf = (flow.get("etp_summary") or {}).get("signal")
    crowd = (flow.get("crowd") or {}).get("bias_side")
    trap = (flow.get("trap_index") or {}).get("side")
    return {"session": sess.get("current") or "unknown", "volatility_regime": sess.get("volatility_regime") or "unknown",
            "etf_regime": etf or "unknown", "crowd_trap": f"crowd_{crowd or 'unknown'}/trap_{trap or 'none'}"}


class _Run:
    """Working state of one run (keeps run_backtest readable)."""

    def __init__(self, rows: Candles, config: Any,
                 params: BacktestParams, start_ms: int, funding: Sequence[tuple[int, str]]):
        self.params = params
        self.cfg = ExecSettings.from_config(config)
        ex_cfg = config.get("execution") or {}
        self.vol_window = int(ex_cfg.get("volatility_window_min", 15))
        bps = Decimal(repr(params.slippage_value)) if params.slippage_kind == "bps" else Decimal(0)
        self.clock = SimClock(start_ms)
        self.ex = SimExchange(ColumnFeed(rows), self.clock, _sim_config(params, bps), funding=funding)
        self.ex.set_leverage(self.ex.symbol, int(ex_cfg.get("leverage", 3)))
        self.ex.set_margin_type(self.ex.symbol, ex_cfg.get("margin_type", "ISOLATED"))
        self.symbol = self.ex.symbol
        self.times = self.ex.feed.times
        self.candles = rows
        self.range_pct = rows.range_pct()
        self.state = ExecState()
        self.events: dict[str, int] = {}
        self.trades: list[dict[str, Any]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.fill_seen = 0
        self.funding_seen = 0
        self.by_decision: dict[str, dict[str, Any]] = {}  # decision id -> fills / fees / funding / tags
        self.current: str | None = None  # decision id of the open trade
        self.last_decision: str | None = None
        self.settled = False  # the last step ended with nothing sent and nothing happened
        self.resting = 0      # open orders after that step
        self._idle: tuple[Any, Any, dict[str, Any], dict[str, Any]] | None = None   # own_facts while flat

    # -- the exchange view, as the worker gathers it --------------------------------
    def volatility(self, now: int) -> float | None:
        hi = bisect_right(self.times, now - MINUTE)
        kl = self.range_pct[max(0, hi - self.vol_window - 1):hi]
        done = kl[:-1] or kl
        return sum(done) / len(done) * 100 if done else None

    def view(self) -> View:
        """What SimExchange's positions, open_orders, order, depth and balance would answer
        (the same values), read from its core once: the exchange's calls each rebuild the
        position (Decimal work), copy every open order and build a 5-level ladder, and this
        runs at every step (issue 16). The step never changes what the view holds, so the
        orders need no copies; the ladder's best levels are depth()'s own arithmetic."""
        ex = self.ex
        ex.sync()
        core = ex.core
        pos = core.position()
        opens = tuple(core.open_orders())
        open_ids = {o.client_order_id for o in opens}
        closed = {}
        for cid in self.state.watch:
            if cid not in open_ids:
                with contextlib.suppress(UnknownOrder):
                    closed[cid] = ex.order(self.symbol, cid)
        f = core.config.filters
        last = core.last_price or Decimal(0)
        mid = last.quantize(f.tick_size)
        wallet = core.ledger.wallet
        available = core.ledger.available(pos.mark_price, core.open_order_margin())
        return View(position_qty=pos.quantity, entry_price=pos.entry_price, open_orders=opens, last=last,
                    mark=pos.mark_price, bid=mid - f.tick_size * 0, ask=mid + f.tick_size * 1,
                    filters=f, equity=wallet + pos.unrealized_pnl, wallet=wallet, available=available,
                    volatility_pct=self.volatility(self.clock.now_ms()), orders=closed)

    # -- sending intents, as the worker's execute() does ----------------------------
    def execute(self, intents: list[Intent]) -> None:
        cancelled: set[str] = set()
        skip_entry = False
        for it in intents:
            if isinstance(it, SetLeverage):
                try:
                    self.ex.set_leverage(self.symbol, it.leverage)
                except ExchangeError:
                    skip_entry = True
                    self.count("leverage_not_set")
                continue
            if isinstance(it, Cancel):
                try:
                    o = self.ex.cancel_order(self.symbol, it.client_order_id)
                    if o.status == "CANCELED":
                        cancelled.add(it.client_order_id)
                except UnknownOrder:
                    pass
                continue
            if (it.after_cancel and it.after_cancel not in cancelled) or (skip_entry and it.role == "entry"):
                continue
            req = it.request
            if self.params.fill == "market" and it.role == "entry" and req.type == "LIMIT":
                req = dataclasses.replace(req, type="MARKET", price=None)
            try:
                self.ex.place_order(req)
            except DuplicateClientOrderId:
                pass
            except WouldImmediatelyTrigger:
                self.count(f"{it.role}_would_trigger")
            except (OrderRejected, FatalExchangeError) as exc:
                if it.role in ("sl", "close") or isinstance(exc, FatalExchangeError):
                    self.state.safe_mode = self.state.safe_mode or f"{it.role}_rejected"
                self.count("order_rejected")
            except ExchangeError:
                self.count("order_place_failed")

    def count(self, code: str) -> None:
        self.events[code] = self.events.get(code, 0) + 1

    # -- one minute -----------------------------------------------------------------
    def step(self, decision: Mapping[str, Any] | None) -> None:
        now = self.clock.now_ms()
        self.settled = False
        for _ in range(STEPS_PER_MINUTE):
            view = self.view()
            self.state, intents, events = step(self.state, decision, view, self.cfg, now, self.symbol)
            self.book(events, now)
            if not intents:
                self.settled = not events
                self.resting = len(self.ex.core.open_orders())
                return
            self.execute(intents)

    def quiet(self, now: int) -> bool:
        """Nothing for the core to do this minute: in a position whose last step changed
        nothing (no intent, no event), no fill, no funding, no order triggered or expired
        since, the same UTC day, and no new decision with a manage part (a step in a position
        reads nothing else of a decision). The step would only track the price extremes
        (`track_price`), so the loop skips it (issue 16: most minutes in a trade), and
        engine/backtest/visits.py jumps over such minutes altogether."""
        core, s = self.ex.core, self.state
        return (self.settled and s.phase == IN_POSITION and not s.safe_mode and core.ledger.qty != 0
                and len(core.fills) == self.fill_seen and len(core.funding_events) == self.funding_seen
                and now // DAY_MS == s.day_key and len(core.open_orders()) == self.resting)

    def track_price(self) -> None:
        """What a quiet step does: the best / worst price since the position opened."""
        core = self.ex.core
        last = core.last_price
        if last is not None:
            manage.track(self.state, last, core.ledger.qty > 0)

    def close_at_end(self) -> None:
        """A position still open when the period ends is closed at market (the last close), as
        an operator would, so the metrics count it; its exit reason says `end_of_period`."""
        core, s = self.ex.core, self.state
        for o in core.open_orders():
            with contextlib.suppress(ExchangeError):
                self.ex.cancel_order(self.symbol, o.client_order_id)
        if core.ledger.qty == 0 or s.decision_id is None:
            return
        n = s.seq.get("close", 0) + 1
        s.seq["close"] = n
        cid = client_id("close", s.decision_id, n)
        s.watch[cid], s.live["close"] = ["close", "0", "0"], cid
        side: Side = "SELL" if core.ledger.qty > 0 else "BUY"
        self.execute([Place("close", OrderRequest(self.symbol, side, "MARKET", abs(core.ledger.qty),
                                                  reduce_only=True, client_order_id=cid))])
        n_trades = len(self.trades)
        self.step(None)
        for t in self.trades[n_trades:]:
            t["exit_reason"] = "end_of_period"

    def drop_unentered(self, did: str) -> None:
        """A new decision: the previous one, if never entered, never will be (only the latest
        decision is entered), so its tags and plan are let go: kept, they grew with every
        non-flat cycle of the period (issue 16, bounded memory)."""
        prev, self.last_decision = self.last_decision, did
        if prev is None or prev == did:
            return
        rec = self.by_decision.get(prev)
        if (rec is not None and "fees" not in rec and prev not in self.state.entered
                and prev != self.state.decision_id and prev != self.current):
            del self.by_decision[prev]

    def own_facts(self, t: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The account and position facts at cycle time t, as the worker reads them.

        Flat with nothing working, they are a function of the wallet (the same Decimal
        object until something settles: unrealized PnL is zero without a position) and
        of the day / week counters: a quiet stretch's cycles get the same two documents
        (nobody changes them: decide() and the record take copies), not rebuilt a cycle
        (issue 16: per-cycle overhead)."""
        core, s = self.ex.core, self.state
        idle = self._idle_key(t)
        if idle is not None:
            cached = self._idle
            if cached is not None and cached[0] is core.ledger.wallet and cached[1] == idle:
                return cached[2], cached[3]
        pos = core.position()
        equity = core.ledger.wallet + pos.unrealized_pnl
        account = daily_weekly(s, equity, t)
        position = {"side": "flat" if pos.quantity == 0 else ("long" if pos.quantity > 0 else "short"),
                    "quantity": float(abs(pos.quantity)),
                    "entry_price": float(pos.entry_price) if pos.quantity else None,
                    "unrealized_pnl": float(pos.unrealized_pnl),
                    **manage.position_facts(s, pos.quantity, pos.entry_price, core.last_price, t)}
        self._idle = (core.ledger.wallet, idle, account, position) if idle is not None else None
        return account, position

    def _idle_key(self, t: int) -> tuple[Any, ...] | None:
        core, s = self.ex.core, self.state
        if core.ledger.qty == 0 and s.phase == NO_POSITION and not core.open_orders():
            day = t // DAY_MS
            return (day, (day + 3) // 7, s.day_key, s.week_key, s.day_start_equity, s.week_start_equity,
                    s.trades_today, s.safe_mode)
        return None

    def flat_stretch(self, fast: FastDecisions, times: Sequence[int], k: int, t_to: int,
                     decisions: DecisionLog, equity: list[tuple[int, Decimal, Decimal]]) -> tuple[int, Any]:
        """Cycles k, k+1, ... handled together while nothing can happen between them (issue 16:
        most of a period is flat with nothing working): right after a cycle that left the run
        flat with nothing working, not in safe mode, each next cycle of the same UTC day (before
        the period's last) whose account and position facts are the documents own_facts kept
        (the same wallet and counters) and whose fast result is flat without a manage part is
        what the minute loop would have done there: a flat decision recorded, the equity
        point (the wallet: no position), no step (the loop steps a flat idle run only on a new
        day or in safe mode), no minute visited in between. The candles of those minutes reach
        the exchange when the loop sets its clock again, in the same order; with no position
        and no order they only move its price (funding pays nothing while flat).
        Returns (the first cycle not handled, the last decision recorded or None)."""
        core, s = self.ex.core, self.state
        ledger = core.ledger
        if self.busy() or s.safe_mode:
            return k, None
        wallet = ledger.wallet
        eq = wallet + ledger.unrealized(Decimal(0))   # as the loop computes it: no position, no PnL
        if equity and equity[-1][1] == eq and equity[-1][1].as_tuple() == eq.as_tuple():
            eq = equity[-1][1]
        day, stamps = s.day_key, fast.stamps
        last: tuple[dict[str, Any], Any, str] | None = None
        cached = self._idle
        # the kept documents answer for the whole stretch: its cycles share the UTC day (so the
        # week) and nothing in it changes the counters or the wallet
        if k >= len(times) or cached is None or cached[0] is not wallet or cached[1] != self._idle_key(times[k]):
            return k, None
        stop = bisect_left(times, min(t_to, (day + 1) * DAY_MS), k)   # before the period's last, this day
        for flat in fast.flat_run(k, stop, {"account": cached[2], "position": cached[3]}):
            t = times[k]
            account, position = self.own_facts(t)    # that kept pair (through own_facts: one way in)
            did = str(t // 1000)
            self.drop_unentered(did)
            decisions.append_flat(t, did, flat, stamps[k], account, position)
            equity.append((t, eq, wallet))
            last = (flat, stamps[k], did)
            k += 1
        return k, (None if last is None else {**last[0], "timestamp_iso": last[1], "id": last[2]})

    def busy(self) -> bool:
        core = self.ex.core
        return self.state.phase != NO_POSITION or core.ledger.qty != 0 or bool(core.open_orders())

    def book(self, events: list[Event], now: int) -> None:
        core = self.ex.core
        for f in core.fills[self.fill_seen:]:
            parsed = parse_client_id(f.client_order_id)
            did = parsed[1] if parsed else "liquidation"
            rec = self.by_decision.setdefault(did, {"tags": {}})
            rec.setdefault("fees", Decimal(0))
            rec["fees"] += f.fee
            role = parsed[0] if parsed else "liquidation"
            if role == "entry":
                rec.setdefault("entry_ms", f.time_ms)
            else:
                rec["exit_ms"] = f.time_ms
            self.orders[f.client_order_id] = {"role": role, "decision_id": did}
        self.fill_seen = len(core.fills)
        for _t, _, paid in core.funding_events[self.funding_seen:]:
            if self.current is not None:
                rec = self.by_decision.setdefault(self.current, {"tags": {}})
                rec["funding"] = rec.get("funding", Decimal(0)) + paid
        self.funding_seen = len(core.funding_events)
        if self.state.decision_id and core.ledger.qty != 0:
            self.current = self.state.decision_id
        for e in events:
            self.count(e.code)
            if e.code == "trade_closed":
                self.trades.append(self.trade(e.context, now))
                self.current = None

    def trade(self, s: Mapping[str, Any], now: int) -> dict[str, Any]:
        did = str(s.get("decision_id"))
        rec = self.by_decision.get(did, {"tags": {}})
        entry, sl = Decimal(s["entry_price"]), Decimal(s["sl"]) if s.get("sl") else None
        plan = rec.get("plan") or {}
        tp = plan.get("tp2") or plan.get("tp1")
        # Net R: the trade's wallet change (after fees and funding) over the risk the plan took;
        # gross R (r_multiple) is the price move alone: fees larger than a loss hide behind R = -1.
        gross_r = s.get("r_multiple")
        risk = abs(entry - sl) * Decimal(s["quantity"]) if sl is not None else Decimal(0)
        net_r = float(Decimal(s["pnl"]) / risk) if gross_r is not None and risk else None
        return {"decision_id": did, "side": s["side"], "quantity": s["quantity"],
                "entry_ms": int(rec.get("entry_ms", s.get("opened_ms") or now)), "entry_price": s["entry_price"],
                "exit_ms": int(rec.get("exit_ms", now)), "exit_price": s["exit_price"],
                "exit_reason": s["exit_reason"], "gross_pnl": s["gross_pnl"], "pnl": s["pnl"],
                "fees": str(rec.get("fees", Decimal(0))), "funding": str(rec.get("funding", Decimal(0))),
                "r_multiple": gross_r, "r_multiple_net": net_r, "sl": s.get("sl"), "tp": None if tp is None else str(tp),
                "sl_distance_pct": float(abs(entry - sl) / entry * 100) if sl is not None and entry else None,
                "tp_distance_pct": float(abs(Decimal(str(tp)) - entry) / entry * 100) if tp and entry else None,
                **rec.get("tags", {})}


@without_cyclic_gc
def run_backtest(candles_1m: pd.DataFrame, t_from: int, t_to: int, config: Any, compiled: Any,
                 params: BacktestParams, engine: Any = "python",
                 derivatives: Mapping[str, Any] | None = None,
                 inputs: Mapping[str, Any] | Callable[[int], Mapping[str, Any]] | None = None,
                 funding: Sequence[tuple[int, str]] = (),
                 cycles: Sequence[dict[str, Any]] | None = None,
                 progress: Callable[[int], None] | None = None) -> BacktestResult:
    """Decisions every cycle in [t_from, t_to], execution every minute up to t_to.

    candles_1m: index open_time_ms, columns open high low close volume (+ optional extras),
    from before t_from (indicator warm-up) up to t_to. `engine`: "python" (the reference
    evaluator), a DurableRules of `compiled`, or "fast" (market conditions over all cycles at
    once, engine/backtest/fast.py; decisions equal to the other two). `funding`: [(funding_time_ms, rate)].
    `cycles` may pass build_cycles' output (to share it between two runs of a compare).
    `progress(minutes_done)` is called now and then.
    """
    declared = getattr(compiled, "declared", None)
    cycle_minutes = declared.cycle_minutes if declared is not None else None
    if cycles is not None and cycle_minutes and len(cycles) > 1 and (
            _times(cycles)[1] - _times(cycles)[0] != cycle_minutes * MINUTE):
        cycles = None      # shared cycles of another cadence (a compare): this ruleset decides at its own
    if cycles is None:
        # the fast engine reads the analytics as columns (documents only where needed), unless the
        # ruleset's declared expressions read snapshot / flow fields (they take documents)
        build: Any = (build_columns if engine == "fast" and not (declared is not None and declared.fields)
                      else build_cycles)
        cycles = build(candles_1m, t_from, t_to, config, derivatives=derivatives, inputs=inputs,
                       with_flow=True, cycle_minutes=cycle_minutes)
    assert cycles is not None
    if declared is not None and not declared.empty and cycles:
        cycles = with_declared(cycles, declared, candles_1m, config)
    fast = FastDecisions(compiled, cycles) if engine == "fast" else None
    rows = _rows(candles_1m.loc[:t_to - MINUTE] if len(candles_1m) else candles_1m)
    times = _times(cycles)
    start = times[0] if times else t_from
    run = _Run(rows, config, params, start, funding)
    by_t = {t: i for i, t in enumerate(times)}   # cycle time -> its index in cycles
    decisions = DecisionLog()   # kept compactly (engine/backtest/record.py)
    equity: list[tuple[int, Decimal, Decimal]] = []
    decision: dict[str, Any] | None = None
    core = run.ex.core
    minutes = range(start, t_to + 1, MINUTE) if times else range(0)
    cycle_times = list(times)
    # flat idle stretches handled together (_Run.flat_stretch): the fast engine, when a cycle's
    # facts need nothing the stretch does not carry (the run's trades by time, per-cycle slippage)
    stretch = fast is not None and "protections" not in compiled.paths and params.slippage_kind != "atr"
    now, shown = (start if times else t_to + MINUTE), -1
    while now <= t_to:   # the minutes something can happen in (engine/backtest/visits.py)
        run.clock.set(now)
        run.ex.sync()
        cyc = by_t.get(now)
        if cyc is not None:
            decision = _decide(run, cycles, cyc, compiled, fast or engine, decisions)
            if now == t_to:
                decision = None  # recorded, but not entered: the period ends here (closed below)
            # core.position()'s unrealized PnL, without the rest of a Position (liquidation price...)
            eq = core.ledger.wallet + core.ledger.unrealized(core.mark_price or core.last_price or Decimal(0))
            if equity and equity[-1][1] == eq and equity[-1][1].as_tuple() == eq.as_tuple():
                eq = equity[-1][1]   # flat stretches: one Decimal shared, not one a cycle
            equity.append((now, eq, core.ledger.wallet))
        # A flat decision while flat with nothing working leaves the core nothing to do,
        # except rolling the day/week (trades_today, start-of-day equity the rules read).
        if run.busy() or (cyc is not None and (decision is not None and decision["action"] != "flat"
                                                or now // DAY_MS != run.state.day_key
                                                or run.state.safe_mode)):
            if (cyc is None or not manages(decision)) and run.quiet(now):
                run.track_price()
            else:
                run.step(decision)
        k = bisect_right(cycle_times, now)
        if cyc is not None and stretch:
            k_end, last = run.flat_stretch(fast, cycle_times, k, t_to, decisions, equity)  # type: ignore[arg-type]
            if k_end > k:
                decision, k = last, k_end
        now = next_visit(run, now, cycle_times[k] if k < len(cycle_times) else t_to, t_to)
        if progress is not None and (now - start) // MINUTE // 1440 != shown:
            shown = (now - start) // MINUTE // 1440
            progress(min(shown * 1440, len(minutes)))
    if progress is not None:
        progress(len(minutes))
    if times:
        run.close_at_end()
    pos = core.position()
    final = core.ledger.wallet + pos.unrealized_pnl
    open_pos = None if pos.quantity == 0 else {"quantity": str(pos.quantity), "entry_price": str(pos.entry_price),
                                               "unrealized_pnl": str(pos.unrealized_pnl)}
    orders = [{"client_order_id": o.client_order_id, "role": (parse_client_id(o.client_order_id) or ("?",))[0],
               "decision_id": (parse_client_id(o.client_order_id) or ("", ""))[1], "side": o.side, "type": o.type,
               "status": o.status, "price": o.price, "stop_price": o.stop_price, "quantity": o.quantity,
               "filled_quantity": o.filled_qty, "avg_fill_price": o.avg_price, "reduce_only": o.reduce_only,
               "created_ms": o.time_ms, "updated_ms": o.update_time_ms}
              for o in core.orders.values()]
    return BacktestResult(version=compiled.version, t_from=t_from, t_to=t_to, params=params.to_json(),
                          initial_equity=params.equity, final_equity=final, decisions=decisions, trades=run.trades,
                          equity=equity, orders=orders,
                          funding=[(t, str(r), str(p)) for t, r, p in core.funding_events],
                          events=dict(sorted(run.events.items())), open_position=open_pos,
                          candles=len(minutes), fast_rules=fast.describe() if fast is not None else None)


def _times(cycles: Sequence[Mapping[str, Any]]) -> list[int]:
    if isinstance(cycles, CycleColumns):
        return cycles.times
    return [int(c["t_ms"]) for c in cycles]


def with_declared(cycles: Sequence[dict[str, Any]], declared: Any, candles_1m: pd.DataFrame,
                  config: Any) -> Any:
    """The cycles with the ruleset's declared indicators and expressions (`declared` key),
    computed a UTC day at a time over whole columns (engine/rules/series.py). Columnar
    cycles come back as columns (a new CycleColumns: the given one may be shared)."""
    minutes = declared.cycle_minutes or int(plain(config).get("engine", {}).get("cycle_minutes", 5))
    frames = frames_from_1m(declared, candles_1m, timeframe_frame)
    docs = {c["t_ms"]: {"snapshot": c["snapshot"], "flow": c["flow"]} for c in cycles} if declared.fields else None
    times = _times(cycles)
    values = batch_facts(declared, frames, times, minutes * MINUTE, docs)
    if isinstance(cycles, CycleColumns):
        return cycles.with_declared([values.get(t, {}) for t in times])
    return [{**c, "declared": values.get(c["t_ms"], {})} for c in cycles]


def cycle_facts(cyc: Mapping[str, Any], account: Mapping[str, Any], position: Mapping[str, Any]) -> dict[str, Any]:
    return {"snapshot": cyc["snapshot"], "flow": cyc["flow"], "account": dict(account), "position": dict(position),
            **(cyc.get("declared") or {})}


def _decide(run: _Run, cycles: Sequence[Mapping[str, Any]], i: int, compiled: Any, engine: Any,
            out: DecisionLog) -> dict[str, Any]:
    core = run.ex.core
    t = _times(cycles)[i] if isinstance(cycles, CycleColumns) else int(cycles[i]["t_ms"])
    account, position = run.own_facts(t)
    own: dict[str, Any] = {"account": account, "position": position}
    if "protections" in compiled.paths:      # the run's own trades, as live reads the trades table
        own["protections"] = protection_facts(
            ({"closed_ms": tr["exit_ms"], "exit_reason": tr["exit_reason"], "pnl": tr["pnl"], "side": tr["side"]}
             for tr in reversed(run.trades)), t)

    def full() -> dict[str, Any]:
        return {**cycle_facts(cycles[i], account, position), **own}
    if isinstance(engine, FastDecisions):
        doc = engine.decide(i, own, full)
    else:
        doc, _ = decide(compiled, full(), engine)
    did = str(t // 1000)
    doc = {**doc, "id": did}
    if run.params.slippage_kind == "atr":
        atr_pct = (engine.atr_pct_5m(i) if isinstance(engine, FastDecisions)
                   else ((cycles[i]["snapshot"].get("volatility") or {}).get("atr_pct") or {}).get("tf_5m"))
        bps = run.params.slippage_value * (atr_pct or 0.0) * 100
        core.config.slippage_bps = Decimal(repr(round(bps, 6)))
    run.drop_unentered(did)
    if doc["action"] != "flat":
        run.by_decision[did] = {"tags": _tags(full()), "plan": {"tp1": doc.get("tp1"), "tp2": doc.get("tp2")}}
    out.append({"t_ms": t, "id": did, "decision": doc, "account": account, "position": position})
    return doc
