"""The protection invariant when the exchange says no: a position is never left without a
stop on the exchange beyond one loop.

`after_refusal` is pure: given the refused order, the exchange's code and the view the
step saw, it returns the intents to send AT ONCE (in the same loop) and the events to
alert. Every failed protection attempt is a CRITICAL event (the notifier aggregates
repeats); nothing is retried silently.

- a new stop refused with -2021 (price already through it): close at market;
- a new stop refused otherwise (-4130 aside): re-place the last good stop, the one the
  step just cancelled, and keep it for this trade; if there is none, or it is the one
  refused, or price is through it: close at market;
- -4130 (a close-position stop already exists in that direction): treated as any refusal
  (the last good stop is re-placed); if that one is refused with -4130 too, or there was
  none to re-place, the exchange holds a stop that protects the position: alert, re-read;
- -2022 on a close or a take-profit: the position was already reduced (a stop or target
  filled at the same moment): not an error, the next loop re-reads the position.
"""

from __future__ import annotations

from decimal import Decimal

from engine.exchange.types import OrderRequest, Side
from engine.execution.model import CLOSING, Event, ExecSettings, ExecState, Intent, Place, View, client_id

REDUCE_ONLY_REJECTED = -2022
WOULD_IMMEDIATELY_TRIGGER = -2021
CLOSE_POSITION_STOP_EXISTS = -4130


def last_good_stop(view: View) -> Decimal | None:
    """The stop protecting the position when the step looked (it may have been cancelled since)."""
    close_side = "SELL" if view.position_qty > 0 else "BUY"
    stops = [o.stop_price for o in view.open_orders
             if o.type == "STOP_MARKET" and o.side == close_side and o.stop_price is not None]
    if not stops:
        return None
    return max(stops) if view.position_qty > 0 else min(stops)  # the tightest


def _through(view: View, stop: Decimal, cfg: ExecSettings) -> bool:
    ref = view.mark if cfg.working_type == "MARK_PRICE" else view.last
    return ref <= stop if view.position_qty > 0 else ref >= stop


def _next(s: ExecState, role: str, cfg: ExecSettings) -> str:
    assert s.decision_id is not None
    n = s.seq.get(role, 0) + 1
    s.seq[role] = n
    return client_id(role, s.decision_id, n, cfg.id_prefix)


def market_close(s: ExecState, view: View, cfg: ExecSettings, symbol: str) -> Place | None:
    """The reduce-only market close of the whole position, recorded in the state."""
    if view.position_qty == 0 or s.decision_id is None or "close" in s.live:
        return None
    cid = _next(s, "close", cfg)
    s.live["close"] = cid
    s.watch[cid] = ["close", "0", "0"]
    s.phase = CLOSING
    side: Side = "SELL" if view.position_qty > 0 else "BUY"
    return Place("close", OrderRequest(symbol, side, "MARKET", abs(view.position_qty), reduce_only=True,
                                       client_order_id=cid))


def after_refusal(state: ExecState, refused: Place, code: int | None, view: View, cfg: ExecSettings,
                  symbol: str = "BTCUSDT") -> tuple[ExecState, list[Intent], list[Event]]:
    s = state.copy()
    role, req = refused.role, refused.request
    cid = req.client_order_id
    events: list[Event] = []

    def alert(code_: str, level: str, message: str) -> None:
        events.append(Event(code_, level, message, {"role": role, "client_order_id": cid, "code": code,
                                                    "decision_id": s.decision_id, "position": str(view.position_qty)}))

    if role in ("close", "tp1", "tp2") and code == REDUCE_ONLY_REJECTED:
        alert("already_reduced", "WARNING", f"{role} {cid} refused as reduce-only (-2022): the position was already "
              f"reduced (a stop or target filled at the same moment); the position is re-read, nothing else sent")
        return s, [], events
    if role != "sl" or view.position_qty == 0:
        return s, [], events
    refused_stop = req.stop_price
    good = last_good_stop(view)
    if code == CLOSE_POSITION_STOP_EXISTS and (good is None or good == refused_stop):
        # -4130 to the stop we fell back on (or with none seen): the exchange holds a
        # close-position stop in that direction, so the position is protected
        alert("sl_refused_stop_exists", "CRITICAL", f"SL {cid} at {refused_stop} refused (-4130): a close-position "
              f"stop already protects the position; it is re-read and adopted next loop")
        return s, [], events
    intents: list[Intent] = []
    if code != WOULD_IMMEDIATELY_TRIGGER and good is not None and good != refused_stop and not _through(
            view, good, cfg):
        new_cid = _next(s, "sl", cfg)
        s.live["sl"] = new_cid
        s.watch[new_cid] = ["sl", "0", "0"]
        s.sl_price = str(good)
        s.sl_refused = str(refused_stop)
        intents.append(Place("sl", OrderRequest(symbol, req.side, "STOP_MARKET", stop_price=good, close_position=True,
                                                working_type=req.working_type, client_order_id=new_cid)))
        alert("sl_refused_restored", "CRITICAL", f"new SL {cid} at {refused_stop} refused ({code}): the last good SL "
              f"at {good} is re-placed at once ({new_cid}) and kept for this trade")
        return s, intents, events
    close = market_close(s, view, cfg, symbol)
    why = "price is already through it" if code == WOULD_IMMEDIATELY_TRIGGER else (
        "no earlier stop to fall back on" if good is None or good == refused_stop else "price is through the last stop")
    alert("sl_refused_closing", "CRITICAL", f"SL {cid} at {refused_stop} refused ({code}): {why}; closing "
          f"{view.position_qty} at market at once")
    if close is not None:
        intents.append(close)
    return s, intents, events
