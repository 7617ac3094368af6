"""Prices of what the rules ask in words: entry levels (action `levels`) and the stop and
target moves of the manage stage. Pure: the rules' parameters and the cycle's facts in,
distances and prices out; a value the facts do not have is a refusal with its reason.

- Entry stop: k x ATR(timeframe), a percent of the price, or the distance to a field's
  level — a snapshot field or a declared indicator / expression, as fact.path — which
  must lie on the losing side of the price.
- Entry targets: an R multiple of the stop distance, a percent of the price, or the
  distance to a field's level (on the winning side).
- Manage: `trail_atr` / `trail_percent` price a stop that far behind the price now; `field`
  reads the level; `break_even`, target `percent` and `r` stay relative to the entry —
  the execution core prices them from the position it holds (engine/execution/manage.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine.rules.conditions import get_path


class LevelRefused(ValueError):
    """A level the facts cannot price; str() names what and why."""


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        return None
    return float(v)


def fact_number(facts: Mapping[str, Any] | None, path: str) -> float | None:
    """A positive number at fact.path (snapshot.swings.tf_5m.low, indicators.bb.lowerband ...)."""
    return _num(get_path(facts or {}, path))


def entry_distances(levels: Mapping[str, Any], side: str, price: float, facts: Mapping[str, Any] | None
                    ) -> tuple[float | None, tuple[float | None, float | None], tuple[float | None, float | None]]:
    """(stop distance, (tp1, tp2) price distances, (tp1, tp2) R multiples); None: the config's."""
    sign = 1 if side == "long" else -1
    stop: float | None = None
    if "stop_atr" in levels:
        tf = levels.get("atr_timeframe", "tf_5m")
        atr = fact_number(facts, f"snapshot.volatility.atr.{tf}")
        if atr is None:
            raise LevelRefused(f"levels.stop_atr: snapshot.volatility.atr.{tf} is unknown")
        stop = levels["stop_atr"] * atr
    elif "stop_percent" in levels:
        stop = price * levels["stop_percent"] / 100.0
    elif "stop_field" in levels:
        lvl = fact_number(facts, levels["stop_field"])
        if lvl is None:
            raise LevelRefused(f"levels.stop_field: {levels['stop_field']} is unknown")
        if sign * (price - lvl) <= 0:
            raise LevelRefused(f"levels.stop_field: {levels['stop_field']} = {lvl} is on the wrong side "
                               f"of the price {price} for a {side} (expected a level {'below' if sign > 0 else 'above'} it)")
        stop = abs(price - lvl)
    dist: list[float | None] = []
    rs: list[float | None] = []
    for n in ("tp1", "tp2"):
        d: float | None = None
        r: float | None = None
        if f"{n}_r" in levels:
            r = float(levels[f"{n}_r"])
        elif f"{n}_percent" in levels:
            d = price * levels[f"{n}_percent"] / 100.0
        elif f"{n}_field" in levels:
            path = levels[f"{n}_field"]
            lvl = fact_number(facts, path)
            if lvl is None:
                raise LevelRefused(f"levels.{n}_field: {path} is unknown")
            if sign * (lvl - price) <= 0:
                raise LevelRefused(f"levels.{n}_field: {path} = {lvl} is on the wrong side of the price "
                                   f"{price} for a {side} (expected a level {'above' if sign > 0 else 'below'} it)")
            d = abs(lvl - price)
        dist.append(d)
        rs.append(r)
    return stop, (dist[0], dist[1]), (rs[0], rs[1])


def price_manage(manage: Mapping[str, Any], side: str, price: float | None,
                 facts: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The manage stage's asks with prices where the facts give them; (doc, problems).
    An item the facts cannot price is left out and named in problems."""
    sign = 1 if side == "long" else -1
    out: dict[str, Any] = {k: dict(v) for k, v in manage.items() if k in ("close", "reduce")}
    problems: list[str] = []
    for key in ("stops", "targets"):
        items = []
        for it in manage.get(key, ()):
            it = dict(it)
            if "trail_atr" in it or "trail_percent" in it:
                if price is None:
                    problems.append(f"{it['rule']}: the price is unknown: stop not moved")
                    continue
                if "trail_atr" in it:
                    tf = it.get("atr_timeframe", "tf_5m")
                    atr = fact_number(facts, f"snapshot.volatility.atr.{tf}")
                    if atr is None:
                        problems.append(f"{it['rule']}: snapshot.volatility.atr.{tf} is unknown: stop not moved")
                        continue
                    it["price"] = price - sign * it["trail_atr"] * atr
                else:
                    it["price"] = price * (1 - sign * it["trail_percent"] / 100.0)
            elif "field" in it:
                lvl = fact_number(facts, it["field"])
                if lvl is None:
                    problems.append(f"{it['rule']}: {it['field']} is unknown: {key[:-1]} not moved")
                    continue
                it["price"] = lvl
            items.append(it)
        if items:
            out[key] = items
    return out, problems
