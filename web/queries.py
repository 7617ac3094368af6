"""What the pages and the API read, as plain JSON-ready dicts (one function per question).

Reads the storage models (connectors.db.models); never writes except where named.
Times are epoch milliseconds in the DB and ISO-8601 UTC strings in the answers.
Money (Decimal in the DB) is answered as a decimal string, exact.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from engine import format as fmt
from engine.backtest import present
from engine.backtest.metrics import drawdowns
from web.context import sd

BOT_STATES = ("RUNNING", "IDLE", "ERROR", "RISK_OFF", "SAFE_MODE")
OPEN_ORDER_STATUSES = ("NEW", "PARTIALLY_FILLED", "PENDING", "OPEN")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
CONTROL_COMPONENT = "control"
MARKET_COMPONENT = "market_data"  # written once by `showdown run`: live or REPLAY, not a loop
FORCE_EXIT_COMPONENT = "force_exit"  # the operator's force-exit command, not a loop
SUPERVISOR_COMPONENT = "supervisor"  # `showdown run`'s crash loops (connectors/stores/supervisor_state.py)


def m():  # type: ignore[no-untyped-def]
    from connectors.db import models

    return models


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(x: Decimal | None) -> str | None:
    """USDT to the cent, as an exact decimal string (engine.format)."""
    return fmt.money_plain(x)


def price(x: Decimal | None) -> str | None:
    """A price on the tick, as an exact decimal string."""
    return fmt.price_plain(x)


def qty(x: Decimal | None) -> str | None:
    """A quantity on the step, as an exact decimal string."""
    return fmt.qty_plain(x)


def light(age_s: float | None, green_s: float, red_s: float) -> str:
    """Freshness colour: green when younger than green_s, red past red_s, yellow between;
    grey when there is nothing at all."""
    if age_s is None:
        return "grey"
    if age_s <= green_s:
        return "green"
    return "yellow" if age_s <= red_s else "red"


def _symbol() -> str:
    return str(sd().config.get("symbol"))


# ------------------------------------------------------------------ status

def _expected_interval_s(component: str) -> float:
    cfg = sd().config
    return {
        "analytics": float(cfg.get("engine.cycle_minutes", 5)) * 60,
        "execution": float(cfg.get("execution.loop_seconds", 2)),
        "collector": 60.0,
    }.get(component, 60.0)


def heartbeats(at_ms: int) -> list[dict[str, Any]]:
    rows = m().BotState.select().where(m().BotState.symbol == _symbol()).order_by(m().BotState.component)
    out = []
    for r in rows:
        if r.component in (CONTROL_COMPONENT, MARKET_COMPONENT, FORCE_EXIT_COMPONENT, SUPERVISOR_COMPONENT):
            continue
        every = _expected_interval_s(r.component)
        age = max(0.0, (at_ms - r.heartbeat_ms) / 1000)
        out.append({
            "component": r.component, "state": r.state, "risk_mode": r.risk_mode,
            "heartbeat": iso(r.heartbeat_ms), "age_s": round(age, 1),
            "freshness": light(age, max(2 * every, 10), max(5 * every, 60)),
            "details": r.details or {},
        })
    return out


def overall_state(beats: list[dict[str, Any]]) -> str:
    """The bot's state: SAFE_MODE and ERROR win, then RISK_OFF; RUNNING when a loop runs
    with a fresh heartbeat; IDLE when nothing runs. A silent loop (red heartbeat) is ERROR."""
    states = {b["state"] for b in beats}
    if "SAFE_MODE" in states:
        return "SAFE_MODE"
    if "ERROR" in states or any(b["freshness"] == "red" and b["state"] == "RUNNING" for b in beats):
        return "ERROR"
    if "RISK_OFF" in states:
        return "RISK_OFF"
    if any(b["state"] == "RUNNING" for b in beats):
        return "RUNNING"
    return "IDLE"


def crash_loops() -> list[dict[str, Any]]:
    """Children of `showdown run` crash-looping now: name, restarts in the window, since."""
    row = m().BotState.get_or_none((m().BotState.symbol == _symbol())
                                   & (m().BotState.component == SUPERVISOR_COMPONENT))
    loops = ((row.details or {}).get("crash_loops") if row is not None else None) or {}
    return [{"child": child, "restarts": v.get("exits"), "minutes": v.get("minutes"),
             "last_code": v.get("last_code"),
             "since": iso(v["since_ms"]) if isinstance(v.get("since_ms"), int) else None}
            for child, v in sorted(loops.items()) if isinstance(v, dict)]


def market_data() -> dict[str, Any] | None:
    """Where prices come from: {source: live|replay|venue, state, label} or None."""
    row = m().BotState.get_or_none((m().BotState.symbol == _symbol())
                                   & (m().BotState.component == MARKET_COMPONENT))
    return None if row is None else {**(row.details or {}), "state": row.state}


def control_state() -> dict[str, Any]:
    """Operator switches (pause entries, emergency stop) the execution worker reads:
    bot_state row component='control', details {entries_paused, by, at, emergency_stop}."""
    row = m().BotState.get_or_none((m().BotState.symbol == _symbol())
                                   & (m().BotState.component == CONTROL_COMPONENT))
    details = dict(row.details or {}) if row else {}
    return {"entries_paused": bool(details.get("entries_paused")), "changed_by": details.get("by"),
            "changed_at": details.get("at"), "emergency_stop": details.get("emergency_stop"),
            "clear_safe_mode": details.get("clear_safe_mode")}


def safe_mode() -> dict[str, Any] | None:
    """The execution worker's SAFE MODE with its reason ({reason, since, clear_requested}),
    or None when it trades normally (or has never run). Read from its heartbeat: the worker
    is the one that obeys it."""
    B = m().BotState  # noqa: N806
    row = B.get_or_none((B.symbol == _symbol()) & (B.component == "execution"))
    if row is None:
        return None
    details = row.details or {}
    reason = details.get("safe_mode") or ("unknown" if row.state == "SAFE_MODE" else None)
    if not reason:
        return None
    clear = control_state().get("clear_safe_mode") or {}
    return {"reason": reason, "text": SAFE_MODE_REASONS.get(str(reason), str(reason).replace("_", " ")),
            "heartbeat": iso(row.heartbeat_ms),
            "clear_requested": clear if clear.get("status") == "requested" else None}


SAFE_MODE_REASONS = {
    "emergency_stop": "emergency stop: orders cancelled, position closed at market",
    "fatal_exchange_error": "the exchange answered with a fatal error",
    "sl_cannot_be_placed": "the stop-loss could not be placed",
    "sl_rejected": "the exchange rejected the stop-loss",
    "close_rejected": "the exchange rejected a closing order",
}


def entries(control: dict[str, Any], safe: dict[str, Any] | None) -> dict[str, Any]:
    """Can the worker enter a new trade, and if not, exactly what stops it: the operator's
    pause switch and SAFE MODE are separate, and either is enough to block entries."""
    blocks = []
    if safe:
        blocks.append(f"SAFE MODE ({safe['reason']}): the worker enters nothing until SAFE MODE is cleared")
    if control.get("entries_paused"):
        who = f" by {control['changed_by']} at {control['changed_at']}" if control.get("changed_by") else ""
        blocks.append(f"paused by the operator{who}")
    state = "allowed" if not blocks else ("SAFE MODE" if safe else "PAUSED")
    return {"allowed": not blocks, "state": state, "blocked_by": blocks,
            "text": "allowed" if not blocks else "blocked: " + "; ".join(blocks)}


def rules_refusal() -> dict[str, Any] | None:
    """The last refused rules edit (file:line:col problems, failing rule tests) while it is
    still the news: the analytics loop keeps it in its heartbeat until a version is
    activated after it."""
    B = m().BotState  # noqa: N806
    row = B.get_or_none((B.symbol == _symbol()) & (B.component == "analytics"))
    ref = ((row.details or {}).get("last_refusal") if row is not None else None) or None
    if not isinstance(ref, dict):
        return None
    at = ref.get("at")
    at_ms = int(float(at) * 1000) if isinstance(at, int | float) else None
    active = active_ruleset_row()
    if active is not None and at_ms is not None and active.activated_at_ms > at_ms:
        return None  # a later version went live: the refusal is history
    return {"time": iso(at_ms), "source": ref.get("source"), "version": ref.get("version"),
            "active": ref.get("active"), "problems": [str(p) for p in (ref.get("problems") or [])][:20]}


def _utc_day_start(at_ms: int) -> int:
    d = datetime.fromtimestamp(at_ms / 1000, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(d.timestamp() * 1000)


def _utc_week_start(at_ms: int) -> int:
    day = datetime.fromtimestamp(_utc_day_start(at_ms) / 1000, UTC)
    return int((day - timedelta(days=day.weekday())).timestamp() * 1000)


def trade_net(t: Any) -> Decimal:
    """A trade's result: Trade.pnl is already net (the wallet's change over the round trip,
    fees and funding paid); `fees` and `funding` only say how much of it they took."""
    return Decimal(t.pnl or 0)


def pnl(at_ms: int) -> dict[str, Any]:
    Trade = m().Trade
    since_week = _utc_week_start(at_ms)
    since_day = _utc_day_start(at_ms)
    rows = Trade.select(Trade.pnl, Trade.closed_ms).where(
        (Trade.symbol == _symbol()) & (Trade.closed_ms >= since_week))
    day = week = Decimal(0)
    n_day = 0
    for r in rows:
        net = trade_net(r)
        week += net
        if r.closed_ms >= since_day:
            day += net
            n_day += 1
    return {"day_usdt": money(day), "week_usdt": money(week), "trades_today": n_day}


def freshness(at_ms: int) -> list[dict[str, Any]]:
    """Per kind of data, the newest at or before the market clock `at_ms` (what is in force)
    with its freshness light; one dated after the clock is never fresh: it is "future"."""
    mm = m()
    cfg = sd().config
    sym = _symbol()
    cycle = float(cfg.get("engine.cycle_minutes", 5)) * 60
    C = mm.Candle  # noqa: N806
    out = [_fresh("candles 1m", *_around(C.open_time_ms, (C.symbol == sym) & (C.timeframe == "1m"), at_ms - 60_000,
                                         shift_ms=60_000), at_ms, 180, 600)]
    for name, model in (("snapshot", mm.Snapshot), ("flow", mm.Flow)):
        out.append(_fresh(name, *_around(model.as_of_ms, model.symbol == sym, at_ms), at_ms, cycle + 120, 3 * cycle))
    D = mm.Decision  # noqa: N806
    out.append(_fresh("decision", *_around(D.decided_at_ms, D.symbol == sym, at_ms), at_ms, cycle + 120, 3 * cycle))
    E = mm.EtpFlow  # noqa: N806
    day = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d")
    etf_before = E.select(E.date).where(E.date <= day).order_by(E.date.desc()).limit(1).first()
    etf_after = E.select(E.date).where(E.date > day).order_by(E.date.asc()).limit(1).first()
    etf_limit = float(cfg.get("inputs.etf_stale_days", 3)) * 86400
    out.append(_fresh("ETF flows", _day_ms(etf_before), _day_ms(etf_after), at_ms, etf_limit * 0.75, etf_limit))
    L = mm.LiquidationZones  # noqa: N806
    liq_limit = float(cfg.get("inputs.liquidation_stale_hours", 24)) * 3600
    out.append(_fresh("liquidation map", *_around(L.captured_at_ms, None, at_ms), at_ms, liq_limit * 0.75, liq_limit))
    S = mm.NewsSentiment  # noqa: N806
    sen_limit = float(cfg.get("inputs.sentiment_stale_hours", 48)) * 3600
    out.append(_fresh("sentiment", *_around(S.as_of_ms, None, at_ms), at_ms, sen_limit * 0.75, sen_limit))
    return out


def _day_ms(row: Any) -> int | None:
    if row is None:
        return None
    return int(datetime.strptime(row.date, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)


# How far past the market clock a time still counts as "now": in a replay the clock is what
# the worker last read from the exchange, up to one of its loops (minutes at high speed)
# behind the candle the collector has just stored.
FUTURE_TOLERANCE_MS = 5 * 60_000


def _around(field: Any, where: Any | None, at_ms: int, shift_ms: int = 0) -> tuple[int | None, int | None]:
    """(newest time at or before at_ms, oldest after it) of `field`, plus shift_ms; a time
    within FUTURE_TOLERANCE_MS after at_ms counts as at it."""
    model = field.model
    limit = at_ms + FUTURE_TOLERANCE_MS
    before_q, after_q = field <= limit, field > limit
    if where is not None:
        before_q, after_q = where & before_q, where & after_q
    before = model.select(field).where(before_q).order_by(field.desc()).limit(1).scalar()
    after = model.select(field).where(after_q).order_by(field.asc()).limit(1).scalar()
    return (None if before is None else int(before) + shift_ms), (None if after is None else int(after) + shift_ms)


def _fresh(name: str, t_ms: int | None, future_ms: int | None, at_ms: int, green_s: float,
           red_s: float) -> dict[str, Any]:
    age = None if t_ms is None else max(0.0, (at_ms - t_ms) / 1000)
    colour = light(age, green_s, red_s)
    if t_ms is None and future_ms is not None:
        colour = "future"  # only data dated after the market clock: none is in force
    return {"name": name, "as_of": iso(t_ms), "age_s": None if age is None else round(age, 1),
            "freshness": colour, "future": iso(future_ms)}


def active_ruleset_row() -> Any:
    R = m().Ruleset  # noqa: N806
    return R.select().where(R.activated_at_ms.is_null(False)).order_by(R.activated_at_ms.desc(), R.id.desc()).first()


def active_ruleset() -> dict[str, Any] | None:
    row = active_ruleset_row()
    if not row:
        return None
    return {"version": row.hash, "activated_by": row.activated_by, "activated_at": iso(row.activated_at_ms),
            "note": fmt.times_in_text(row.note)}


STATUS_TTL_S = 1.0


def status_cached() -> dict[str, Any]:
    """`status()` computed at most once a second per process: the status page and API
    clients poll it, and it costs a dozen queries (≈5 ms); a second of staleness is fine
    next to heartbeat intervals of seconds to minutes."""
    cache = sd().status_cache
    now = time.monotonic()
    value = cache.get("value")
    if value is not None and now - cache["at"] < STATUS_TTL_S:
        return value  # type: ignore[no-any-return]
    lock = sd().status_lock
    if value is not None and not lock.acquire(blocking=False):
        return value  # another thread is refreshing it: answer the previous one meanwhile
    if value is None:
        lock.acquire()
    try:
        if cache.get("value") is None or time.monotonic() - cache["at"] >= STATUS_TTL_S:
            cache["value"] = status()
            cache["at"] = time.monotonic()
        return cache["value"]  # type: ignore[no-any-return]
    finally:
        lock.release()


def status_json_cached() -> bytes:
    """The cached status as JSON bytes, serialised once per refresh rather than per request."""
    value = status_cached()
    cache = sd().status_cache
    pair = cache.get("json")
    if pair is None or pair[0] is not value:
        from flask import current_app

        pair = (value, current_app.json.dumps(value).encode())
        cache["json"] = pair
    return pair[1]  # type: ignore[no-any-return]


def forget_status() -> None:
    """Drop the cached status (after a change made here, so its author sees it at once)."""
    sd().status_cache["value"] = None


def market_clock_ms(source: dict[str, Any] | None, wall_ms: int, beats: list[dict[str, Any]]) -> int:
    """The trading clock: the wall clock live; in a replay, the replayed "now", so the P&L
    day and data freshness are those of the replayed market (the trades carry replayed
    times), not of today's date."""
    if not source or source.get("source") != "replay":
        return wall_ms
    from connectors.stores.market_state import market_now_ms

    seen = next((b["details"].get("time_ms") for b in beats if b["component"] == "execution"), None)
    return market_now_ms(_symbol(), wall_ms, seen if isinstance(seen, int) else None)


def market_now() -> int:
    """The site's "now" wherever a time is judged or defaulted (inputs' as-of, freshness,
    the Decisions window): the market clock, the replay's in a replay."""
    from connectors.stores.market_state import market_now_ms

    return market_now_ms(_symbol(), now_ms())


def status() -> dict[str, Any]:
    wall = now_ms()
    source = market_data()
    beats = heartbeats(wall)  # the loops are processes of today: their heartbeats are wall time
    at = market_clock_ms(source, wall, beats)
    flow = latest_document("flow")
    risk_mode = None
    for b in beats:
        risk_mode = risk_mode or b.get("risk_mode")
    if flow and isinstance(flow.get("document", {}).get("risk"), dict):
        risk_mode = risk_mode or flow["document"]["risk"].get("mode")
    rec = (m().ReconciliationEvent.select().where(m().ReconciliationEvent.symbol == _symbol())
           .order_by(m().ReconciliationEvent.created_ms.desc()).first())
    dec = latest_decision()
    control = control_state()
    safe = safe_mode()
    return fmt.rounded("", {
        "symbol": _symbol(),
        "mode": sd().config.get("mode"),
        "market_data": source,
        "time": iso(wall),
        "market_time": iso(at),
        "bot_state": overall_state(beats),
        "loops": beats,
        "data_freshness": freshness(at),
        "risk_mode": risk_mode,
        "pnl": pnl(at),
        "position": open_position(),
        "open_orders": orders(open_only=True),
        "last_reconciliation": None if rec is None else {
            "time": iso(rec.created_ms), "kind": rec.kind, "summary": rec.summary},
        "ruleset": active_ruleset(),
        "control": control,
        "safe_mode": safe,
        "entries": entries(control, safe),
        "rules_refusal": rules_refusal(),
        "crash_loops": crash_loops(),
        "last_decision": None if dec is None else {
            k: dec[k] for k in ("id", "time", "action", "reason", "confidence", "ruleset_version")},
    })


# ------------------------------------------------------------------ documents

def latest_document(kind: str) -> dict[str, Any] | None:
    model = {"snapshot": m().Snapshot, "flow": m().Flow}[kind]
    row = model.select().where(model.symbol == _symbol()).order_by(model.as_of_ms.desc()).first()
    if row is None:
        return None
    return {"id": row.id, "as_of": iso(row.as_of_ms), "document": row.document}


def _decision(row: Any) -> dict[str, Any]:
    doc = row.document or {}
    return {
        "id": row.id, "time": iso(row.decided_at_ms), "action": row.action, "reason": row.reason,
        "confidence": doc.get("confidence"), "ruleset_version": row.ruleset_version,
        "snapshot_id": row.snapshot_id, "flow_id": row.flow_id, "trace_id": row.trace_id,
        "document": doc,
    }


def latest_decision() -> dict[str, Any] | None:
    D = m().Decision
    row = D.select().where(D.symbol == _symbol()).order_by(D.decided_at_ms.desc(), D.id.desc()).first()
    return _decision(row) if row else None


MAX_ID = 2**63 - 1  # ids beyond a BIGINT cannot exist (and SQLite cannot bind them)


def decision(decision_id: int) -> dict[str, Any] | None:
    if not 0 < decision_id <= MAX_ID:
        return None
    row = m().Decision.get_or_none(m().Decision.id == decision_id)
    return _decision(row) if row else None


def decisions_since(since_ms: int, limit: int = 1000) -> list[dict[str, Any]]:
    D = m().Decision
    rows = (D.select().where((D.symbol == _symbol()) & (D.decided_at_ms >= since_ms))
            .order_by(D.decided_at_ms.asc()).limit(limit))
    return [_decision(r) for r in rows]


def trace(trace_id: int | None) -> Any:
    if trace_id is None or not 0 < trace_id <= MAX_ID:
        return None
    row = m().DecisionTrace.get_or_none(m().DecisionTrace.id == trace_id)
    return row.trace if row else None


def candles(timeframe: str, limit: int = 300) -> list[dict[str, Any]]:
    C = m().Candle
    rows = (C.select(C.open_time_ms, C.open, C.high, C.low, C.close, C.volume)
            .where((C.symbol == _symbol()) & (C.timeframe == timeframe))
            .order_by(C.open_time_ms.desc()).limit(limit))
    # prices on the tick, volume on the step: the chart and the API show no float noise
    out = [{"time": r.open_time_ms // 1000, "open": round(r.open, 1), "high": round(r.high, 1),
            "low": round(r.low, 1), "close": round(r.close, 1), "volume": round(r.volume, 3)} for r in rows]
    out.reverse()
    return out


def trade_markers(timeframe_ms: int, since_ms: int, last_bar_ms: int) -> list[dict[str, Any]]:
    """Chart markers (lightweight-charts) of the trades and the open position since `since_ms`:
    entries below / above the bar by side, exits with their reason and PnL, each on the bar
    that holds it (one in the still-forming bar goes on the last closed one: the chart only
    places markers on bars it has), sorted by time as the chart requires."""
    mm = m()
    T, P = mm.Trade, mm.Position  # noqa: N806

    def bar(t_ms: int) -> int:
        return min(t_ms // timeframe_ms * timeframe_ms, last_bar_ms) // 1000

    def entry(side: str, t_ms: int, price: Any) -> dict[str, Any]:
        up = side == "long"
        return {"time": bar(t_ms), "position": "belowBar" if up else "aboveBar", "color": "#4ea1ff",
                "shape": "arrowUp" if up else "arrowDown", "text": f"{side} {fmt.price(price)}"}

    out: list[dict[str, Any]] = []
    for t in T.select().where((T.symbol == _symbol()) & (T.closed_ms >= since_ms)).order_by(T.opened_ms):
        if t.opened_ms >= since_ms:
            out.append(entry(t.side, t.opened_ms, t.entry_price))
        net = trade_net(t)
        out.append({"time": bar(t.closed_ms), "position": "aboveBar" if t.side == "long" else "belowBar",
                    "color": "#26a69a" if net >= 0 else "#ef5350", "shape": "circle",
                    "text": f"exit {t.exit_reason or ''} {net:+.2f}".replace("  ", " ")})
    for p in P.select().where((P.symbol == _symbol()) & (P.status == "open") & (P.opened_ms >= since_ms)):
        out.append(entry(p.side, p.opened_ms, p.entry_price))
    return sorted(out, key=lambda mk: mk["time"])


# ------------------------------------------------------------------ execution

def _position(r: Any) -> dict[str, Any]:
    return {"id": r.id, "side": r.side, "status": r.status, "quantity": qty(r.quantity),
            "entry_price": price(r.entry_price), "sl_price": price(r.sl_price),
            "realized_pnl": money(r.realized_pnl), "fees": money(r.fees), "opened": iso(r.opened_ms),
            "closed": iso(r.closed_ms), "decision_id": r.decision_id, "details": r.details or {}}


def open_position() -> dict[str, Any] | None:
    P = m().Position
    row = P.select().where((P.symbol == _symbol()) & (P.status == "open")).order_by(P.opened_ms.desc()).first()
    return _position(row) if row else None


def positions(limit: int = 50) -> list[dict[str, Any]]:
    P = m().Position
    return [_position(r) for r in P.select().where(P.symbol == _symbol()).order_by(P.opened_ms.desc()).limit(limit)]


def orders(open_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    O = m().Order  # noqa: E741, N806
    q = O.select().where(O.symbol == _symbol())
    if open_only:
        q = q.where(O.status.in_(OPEN_ORDER_STATUSES))
    return [{"id": r.id, "client_order_id": r.client_order_id, "exchange_order_id": r.exchange_order_id,
             "role": r.role, "side": r.side, "type": r.type, "status": r.status, "price": price(r.price),
             "stop_price": price(r.stop_price), "quantity": qty(r.quantity),
             "filled_quantity": qty(r.filled_quantity), "avg_fill_price": price(r.avg_fill_price),
             "reduce_only": r.reduce_only, "created": iso(r.created_ms), "updated": iso(r.updated_ms),
             "decision_id": r.decision_id}
            for r in q.order_by(O.updated_ms.desc()).limit(limit)]


def execution_events(limit: int = 100) -> list[dict[str, Any]]:
    mm = m()
    fetch = limit * 10  # repeats collapse into one row: read further back
    rec = [{"time": iso(r.created_ms), "t": r.created_ms, "source": "reconciliation", "kind": r.kind,
            "message": r.summary} for r in mm.ReconciliationEvent.select().where(
        mm.ReconciliationEvent.symbol == _symbol()).order_by(mm.ReconciliationEvent.created_ms.desc()).limit(fetch)]
    risk = [{"time": iso(r.created_ms), "t": r.created_ms, "source": "risk", "kind": r.kind,
             "message": r.message or r.risk_mode or ""} for r in mm.RiskEvent.select().where(
        mm.RiskEvent.symbol == _symbol()).order_by(mm.RiskEvent.created_ms.desc()).limit(fetch)]
    events = sorted(rec + risk, key=lambda e: e["t"], reverse=True)[:fetch]
    for e in events:
        e.pop("t")
    from engine.trader import group_repeats

    return group_repeats(events)[:limit]  # "exchange and records agree" every 2 minutes reads as one row


# ------------------------------------------------------------------ logs

def logs(level: str | None = None, component: str | None = None, since_ms: int | None = None,
         until_ms: int | None = None, text: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    L = m().LogRecord
    q = L.select()
    if level:
        q = q.where(L.level.in_(LEVELS[LEVELS.index(level):]))
    if component:
        q = q.where(L.component == component)
    if since_ms is not None:
        q = q.where(L.created_ms >= since_ms)
    if until_ms is not None:
        q = q.where(L.created_ms <= until_ms)
    if text:
        q = q.where(L.message.contains(text))
    return [{"id": r.id, "time": iso(r.created_ms), "level": r.level, "component": r.component,
             "logger": r.logger, "message": r.message, "context": r.context}
            for r in q.order_by(L.created_ms.desc(), L.id.desc()).limit(limit)]


def log_components() -> list[str]:
    L = m().LogRecord
    return [r.component for r in L.select(L.component).distinct().order_by(L.component)]


def notifications(level: str | None = None, source: str | None = None, since_ms: int | None = None,
                  until_ms: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    N = m().Notification
    q = N.select()
    if level:
        q = q.where(N.level.in_(LEVELS[LEVELS.index(level):]))
    if source:
        q = q.where(N.source == source)
    if since_ms is not None:
        q = q.where(N.created_ms >= since_ms)
    if until_ms is not None:
        q = q.where(N.created_ms <= until_ms)
    return [{"id": r.id, "time": iso(r.created_ms), "level": r.level, "source": r.source, "code": r.code,
             "message": r.message, "context": r.context, "delivery_status": r.delivery_status}
            for r in q.order_by(N.created_ms.desc(), N.id.desc()).limit(limit)]


def audit_entries(limit: int = 200) -> list[dict[str, Any]]:
    A = m().AuditEntry
    return [{"id": r.id, "time": iso(r.created_ms), "user": r.username, "action": r.action,
             "target": r.target, "details": r.details or {}}
            for r in A.select().order_by(A.created_ms.desc(), A.id.desc()).limit(limit)]


# ------------------------------------------------------------------ backtests

def _run(r: Any) -> dict[str, Any]:
    return {"id": r.id, "ruleset_version": r.ruleset_version, "period_start": iso(r.period_start_ms),
            "period_end": iso(r.period_end_ms), "initial_equity": money(r.initial_equity),
            "final_equity": money(r.final_equity), "max_dd_pct": fmt.rounded("max_dd_pct", r.max_dd_pct),
            "sharpe": _ratio(r.sharpe), "sortino": _ratio(r.sortino), "win_rate": fmt.rounded("win_rate", r.win_rate),
            "trade_count": r.trade_count, "status": r.status, "params": fmt.rounded("", r.params or {}),
            "metrics": fmt.rounded("", _one_final(r.metrics or {}, r.initial_equity, r.final_equity)),
            "notes": r.notes, "created": iso(r.created_ms)}


def _ratio(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _one_final(metrics: dict[str, Any], initial: Decimal | None, final: Decimal | None) -> dict[str, Any]:
    """The run row's final equity is the run's (after the end-of-period close); metrics
    stored before they agreed carried the curve's last point: show one figure."""
    if final is None or "final_equity" not in metrics:
        return metrics
    out = dict(metrics, final_equity=float(final))
    if initial is not None and "net_profit" in metrics:
        out["net_profit"] = float(Decimal(final) - Decimal(initial))
    return out


def backtest_runs(limit: int = 100) -> list[dict[str, Any]]:
    B = m().BacktestRun
    return [_run(r) for r in B.select().order_by(B.created_ms.desc(), B.id.desc()).limit(limit)]


def backtest_run(run_id: int) -> dict[str, Any] | None:
    if not 0 < run_id <= MAX_ID:
        return None
    mm = m()
    r = mm.BacktestRun.get_or_none(mm.BacktestRun.id == run_id)
    if r is None:
        return None
    out = _run(r)
    E, T = mm.EquityPointBacktest, mm.TradeBacktest
    points = list(E.select(E.time_ms, E.equity).where(E.run == run_id).order_by(E.time_ms).tuples())
    out["equity"] = [{"time": t // 1000, "equity": money(e)} for t, e in points]
    dd, _ = drawdowns(points)
    out["drawdown"] = [{"time": t // 1000, "dd_pct": round(d, 4)} for (t, _), d in zip(points, dd, strict=True)]
    out["bars"] = {"headline": present.headline(out["metrics"]), "breakdowns": present.breakdowns(out["metrics"]),
                   "drawdown_periods": present.drawdown_periods(out["metrics"]),
                   "r_distribution": present.r_distribution(out["metrics"])}
    out["trades"] = [{"id": t.id, "side": t.side, "quantity": qty(t.quantity),
                      "entry_price": price(t.entry_price), "exit_price": price(t.exit_price),
                      "pnl": money(t.pnl), "fees": money(t.fees),
                      "r_multiple": None if t.r_multiple is None else round(float(t.r_multiple), 2),
                      "exit_reason": t.exit_reason, "opened": iso(t.opened_ms), "closed": iso(t.closed_ms)}
                     for t in T.select().where(T.run == run_id).order_by(T.opened_ms)]
    return out


# ------------------------------------------------------------------ trader pages

def closed_trades(limit: int = 200) -> list[dict[str, Any]]:
    """Closed trades, newest first, with profit %, duration and R net of fees (engine.trader);
    R is measured against the stop of the decision that opened the trade."""
    from engine.trader import closed_trade

    mm = m()
    T, D = mm.Trade, mm.Decision  # noqa: N806
    rows = list(T.select().where(T.symbol == _symbol()).order_by(T.closed_ms.desc()).limit(limit))
    ids = {r.decision_id for r in rows if r.decision_id is not None}
    stops = {d.id: (d.document or {}).get("sl") for d in D.select(D.id, D.document).where(D.id.in_(list(ids)))} \
        if ids else {}
    return [closed_trade({"id": r.id, "side": r.side, "quantity": r.quantity, "entry_price": r.entry_price,
                          "exit_price": r.exit_price, "pnl": trade_net(r), "fees": r.fees, "funding": r.funding,
                          "opened_ms": r.opened_ms, "closed_ms": r.closed_ms, "exit_reason": r.exit_reason,
                          "decision_id": r.decision_id, "sl": stops.get(r.decision_id)}) for r in rows]


def open_trade() -> dict[str, Any] | None:
    """The open position with its live P&L at the mark the execution worker last saw, the
    liquidation price the exchange reports, and its age on the market clock."""
    from engine.trader import open_trade as live

    P = m().Position  # noqa: N806
    row = P.select().where((P.symbol == _symbol()) & (P.status == "open")).order_by(P.opened_ms.desc()).first()
    if row is None:
        return None
    wall = now_ms()
    beats = heartbeats(wall)
    execution = next((b["details"] for b in beats if b["component"] == "execution"), {})
    seen = execution.get("position") or {}
    at = market_clock_ms(market_data(), wall, beats)
    out = live({"id": row.id, "side": row.side, "quantity": row.quantity, "entry_price": row.entry_price,
                "sl_price": row.sl_price, "tp1_price": row.tp1_price, "tp2_price": row.tp2_price,
                "opened_ms": row.opened_ms, "decision_id": row.decision_id, "fees": row.fees},
               seen.get("mark_price"), at)
    out["liquidation_price"] = seen.get("liquidation_price")
    return out


def profit_tables(limit_days: int = 14, limit_weeks: int = 8) -> dict[str, list[dict[str, Any]]]:
    from engine.trader import profit_by_period

    T = m().Trade  # noqa: N806
    rows = [{"pnl": trade_net(r), "fees": r.fees, "closed_ms": r.closed_ms}
            for r in T.select(T.pnl, T.fees, T.closed_ms).where(T.symbol == _symbol())]
    return {"days": profit_by_period(rows, "day")[:limit_days], "weeks": profit_by_period(rows, "week")[:limit_weeks]}


def equity_points(limit: int = 5000) -> list[dict[str, Any]]:
    """The account's equity curve (table equity_curve), oldest first, for the chart."""
    E = m().EquityPoint  # noqa: N806
    rows = list(E.select(E.time_ms, E.equity).where(E.symbol == _symbol()).order_by(E.time_ms.desc()).limit(limit))
    return [{"time": r.time_ms // 1000, "equity": money(r.equity)} for r in reversed(rows)]
