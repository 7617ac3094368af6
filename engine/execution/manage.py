"""Position management: what the rules' manage stage asked (the decision's `manage` part),
checked against the position the core holds and turned into one plan of action. Pure.

The core (engine/execution/core.py) carries it out with its usual protections: a close
is a reduce-only market order; a reduce is a reduce-only market order for a fraction;
a stop move only ever tightens the stop (never widened, never through the price — that
ask is refused and the stop stays), and the stop stays on the exchange throughout; a
moved target replaces both take-profits. Each decision's manage part is carried out
once, only for the position it was decided on (same side, decided after it opened) and
only while the decision is fresh.

It also keeps the facts the manage stage reads (age, profit, R now / best / worst, TP1
done, stop), from the state and the price, the same way live and in a backtest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.exchange.filters import SymbolFilters, round_price
from engine.execution.decision import Malformed, Plan, decision_id, timestamp_ms
from engine.execution.model import ExecSettings, ExecState


@dataclass(frozen=True)
class Ask:
    decision_id: str
    close: str | None = None               # reason
    reduce: tuple[Decimal, str] | None = None  # (fraction, reason)
    stop: Decimal | None = None            # the tightest valid stop asked
    target: Decimal | None = None          # the nearest target asked
    refused: tuple[str, ...] = field(default_factory=tuple)
    rules: tuple[str, ...] = ()


def reset(s: ExecState) -> None:
    """A trade is over: nothing of its management carries into the next."""
    s.best_price = s.worst_price = s.target_price = s.exit_reason = None


def track(s: ExecState, price: Decimal, long: bool) -> None:
    """The best and worst price seen since the position opened (at each step)."""
    if price <= 0:
        return
    best = Decimal(s.best_price) if s.best_price else price
    worst = Decimal(s.worst_price) if s.worst_price else price
    best, worst = (max(best, price), min(worst, price)) if long else (min(best, price), max(worst, price))
    s.best_price, s.worst_price = str(best), str(worst)


def _r(move: Decimal, risk: Decimal) -> float | None:
    return round(float(move / risk), 6) if risk > 0 else None


def position_facts(s: ExecState, qty: Decimal, entry: Decimal, price: Decimal | None, now_ms: int) -> dict[str, Any]:
    """The management fields of the `position` fact (engine/facts.py); None while flat or
    when a value cannot be known (no plan: no initial stop, so no R)."""
    empty: dict[str, Any] = {"age_min": None, "profit_pct": None, "r_now": None, "r_best": None, "r_worst": None,
                             "tp1_done": None, "stop": None}
    if qty == 0 or entry <= 0 or price is None or price <= 0:
        return empty
    long = qty > 0
    d = 1 if long else -1
    plan = Plan.of(s.plan) if s.plan else None
    risk = abs(entry - plan.sl) if plan else Decimal(0)
    best = Decimal(s.best_price) if s.best_price else price
    worst = Decimal(s.worst_price) if s.worst_price else price
    best, worst = (max(best, price), min(worst, price)) if long else (min(best, price), max(worst, price))
    stop = s.sl_price or (str(plan.sl) if plan else None)
    return {"age_min": round((now_ms - s.opened_ms) / 60_000, 6) if s.opened_ms else None,
            "profit_pct": round(float((price - entry) * d / entry * 100), 6),
            "r_now": _r((price - entry) * d, risk), "r_best": _r((best - entry) * d, risk),
            "r_worst": _r((worst - entry) * d, risk), "tp1_done": bool(s.tp1_done),
            "stop": float(stop) if stop is not None else None}


def ask(s: ExecState, decision: Mapping[str, Any] | None, qty: Decimal, entry: Decimal, ref: Decimal,
        filters: SymbolFilters, cfg: ExecSettings, now_ms: int) -> Ask | None:
    """The decision's manage part for this position, priced and checked; None when there is
    nothing (new) to do."""
    if not isinstance(decision, Mapping) or not isinstance(decision.get("manage"), Mapping) or qty == 0:
        return None
    did = decision_id(decision)
    if did is None or did == s.managed:
        return None
    try:
        ts = timestamp_ms(decision)
    except Malformed:
        return None
    m = decision["manage"]
    long = qty > 0
    side = "long" if long else "short"
    refused: list[str] = []
    if m.get("side") != side:
        return Ask(did, refused=(f"made for a {m.get('side')} position, this one is {side}",))
    if ts < s.opened_ms - 60_000 or now_ms - ts > cfg.decision_max_age_s * 1000:
        return Ask(did, refused=("made before this position opened or stale",))
    seen = m.get("opened_ms")
    if isinstance(seen, int) and s.opened_ms and abs(seen - s.opened_ms) > 60_000:
        return Ask(did, refused=("made for a position opened at another time",))
    rules: list[str] = []
    close = None
    if isinstance(m.get("close"), Mapping):
        close = str(m["close"].get("reason") or "rule_close")
        rules.append(str(m["close"].get("rule")))
    reduce = None
    if isinstance(m.get("reduce"), Mapping) and close is None:
        frac = Decimal(str(m["reduce"].get("fraction", 0)))
        if Decimal(0) < frac < 1:
            reduce = (frac, str(m["reduce"].get("reason") or "rule_reduce"))
            rules.append(str(m["reduce"].get("rule")))
    plan = Plan.of(s.plan) if s.plan else None
    risk = abs(entry - plan.sl) if plan else None
    d = 1 if long else -1
    stop = None
    for it in m.get("stops") or ():
        if it.get("break_even"):
            level = entry
        elif it.get("price") is not None:
            level = Decimal(str(it["price"]))
        else:
            continue
        level = round_price(level, filters, "up" if long else "down")  # toward the price: tighter
        if level <= 0 or (long and level >= ref) or (not long and level <= ref):
            refused.append(f"{it.get('rule')}: stop {level} is through the price {ref}: the stop stays")
            continue
        if stop is None or (long and level > stop) or (not long and level < stop):
            stop = level
        rules.append(str(it.get("rule")))
    target = None
    for it in m.get("targets") or ():
        if it.get("percent") is not None:
            level = entry * (1 + d * Decimal(str(it["percent"])) / 100)
        elif it.get("r") is not None:
            if not risk:
                refused.append(f"{it.get('rule')}: no initial stop, so no R: target not moved")
                continue
            level = entry + d * Decimal(str(it["r"])) * risk
        elif it.get("price") is not None:
            level = Decimal(str(it["price"]))
        else:
            continue
        level = round_price(level, filters)  # the nearest tick (as freqtrade's ROI rate: tests/freqtrade_peer.py)
        if level <= 0:
            continue
        if target is None or (long and level < target) or (not long and level > target):
            target = level
        rules.append(str(it.get("rule")))
    return Ask(did, close=close, reduce=reduce, stop=stop, target=target, refused=tuple(refused),
               rules=tuple(dict.fromkeys(rules)))
