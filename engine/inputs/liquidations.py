"""Liquidation-map input: canonical layout, and the recorded snapshot layout converted to it.

Canonical: {symbol, as_of, current_price, below_price[], above_price[]}; zone {price,
zone [min, max], side long|short, strength 0–1, comment?} with zone[0] <= price <= zone[1].
Empty arrays are valid. Zones on the wrong side (listed below but above the current
price, or a long cluster above / short cluster below) are accepted: `zone_notes` lists them.

Recorded snapshots (an operator's tooling): one snapshot or a list of them, each
{captured_at_ms, current_price, zones[] {side, price, strength 0–10, comment?}, symbol?,
source?, captured_at_iso?, summary?, warnings?}. The latest snapshot (or the latest at
or before `at_ms`) is converted: strength / 10, zone = [price, price] (no width known),
zones at or below the current price go to below_price (nearest first), others to
above_price (nearest first).
"""

from __future__ import annotations

from typing import Any

from engine.facts import SIDE
from engine.inputs.common import (
    MAX_EPOCH_MS,
    MAX_PRICE,
    MIN_EPOCH_MS,
    Problem,
    choice,
    describe,
    fields,
    iso_from_ms,
    iso_time,
    number,
    text,
)

SYMBOLS = ("BTC", "BTCUSDT")
SNAPSHOT_OPTIONAL = {"symbol", "source", "captured_at_iso", "summary", "warnings"}


def validate_liquidations(obj: Any, at_ms: int | None = None) -> tuple[dict[str, Any] | None, list[Problem]]:
    """(canonical document, []) when valid, else (None, every problem found)."""
    if isinstance(obj, list) or (isinstance(obj, dict) and "zones" in obj and "below_price" not in obj):
        return _from_snapshots(obj, at_ms)
    return _canonical(obj)


def _zone(z: Any, path: str, out: list[Problem]) -> None:
    if not fields(z, path, {"price", "zone", "side", "strength"}, {"comment"}, out, "zone"):
        return
    price = number(z["price"], path + ".price", out, 0, MAX_PRICE, lo_open=True) if "price" in z else None
    if "side" in z:
        choice(z["side"], path + ".side", SIDE, out)
    if "strength" in z:
        number(z["strength"], path + ".strength", out, 0.0, 1.0)
    if "comment" in z:
        text(z["comment"], path + ".comment", out)
    if "zone" in z:
        rng = z["zone"]
        if not isinstance(rng, list) or len(rng) != 2:
            out.append(Problem(path + ".zone", f"expected [min, max], got {describe(rng)}"))
            return
        lo = number(rng[0], path + ".zone[0]", out, 0, MAX_PRICE, lo_open=True)
        hi = number(rng[1], path + ".zone[1]", out, 0, MAX_PRICE, lo_open=True)
        if lo is not None and hi is not None and price is not None and not lo <= price <= hi:
            out.append(Problem(path + ".zone", f"price {price:g} outside its zone [{lo:g}, {hi:g}]"))


def _canonical(obj: Any) -> tuple[dict[str, Any] | None, list[Problem]]:
    out: list[Problem] = []
    required = {"symbol", "as_of", "current_price", "below_price", "above_price"}
    if not fields(obj, "$", required, set(), out, "liquidation map"):
        return None, out
    if "symbol" in obj:
        choice(obj["symbol"], "$.symbol", SYMBOLS, out)
    if "as_of" in obj:
        iso_time(obj["as_of"], "$.as_of", out)
    if "current_price" in obj:
        number(obj["current_price"], "$.current_price", out, 0, MAX_PRICE, lo_open=True)
    for side in ("below_price", "above_price"):
        if side not in obj:
            continue
        zones = obj[side]
        if not isinstance(zones, list):
            out.append(Problem(f"$.{side}", f"expected an array of zones, got {describe(zones)}"))
            continue
        for i, z in enumerate(zones):
            _zone(z, f"$.{side}[{i}]", out)
    if out:
        return None, out
    keep = ("price", "zone", "side", "strength", "comment")
    return {
        "symbol": obj["symbol"], "as_of": obj["as_of"], "current_price": obj["current_price"],
        **{s: [{k: (list(z[k]) if k == "zone" else z[k]) for k in keep if k in z} for z in obj[s]]
           for s in ("below_price", "above_price")},
    }, []


def zone_notes(doc: dict[str, Any]) -> list[Problem]:
    """Zones on the wrong side of the current price (accepted, but worth a look)."""
    notes = []
    price = doc["current_price"]
    for lst, below in (("below_price", True), ("above_price", False)):
        for i, z in enumerate(doc[lst]):
            path = f"$.{lst}[{i}]"
            if below and z["price"] > price:
                notes.append(Problem(path, f"listed below but {z['price']:g} is above the current price {price:g}"))
            if not below and z["price"] < price:
                notes.append(Problem(path, f"listed above but {z['price']:g} is below the current price {price:g}"))
            if z["side"] == "long" and z["price"] > price:
                notes.append(Problem(path, f"long liquidations above the current price {price:g}"))
            if z["side"] == "short" and z["price"] < price:
                notes.append(Problem(path, f"short liquidations below the current price {price:g}"))
    return notes


def _snapshot(s: Any, path: str, out: list[Problem]) -> bool:
    before = len(out)
    if not fields(s, path, {"captured_at_ms", "current_price", "zones"}, SNAPSHOT_OPTIONAL, out, "snapshot"):
        return False
    ts = s.get("captured_at_ms")
    if "captured_at_ms" in s and (isinstance(ts, bool) or not isinstance(ts, int) or not MIN_EPOCH_MS <= ts < MAX_EPOCH_MS):
        out.append(Problem(path + ".captured_at_ms", f"expected epoch milliseconds (2000..2100), got {describe(ts)}"))
    if "current_price" in s:
        number(s["current_price"], path + ".current_price", out, 0, MAX_PRICE, lo_open=True)
    if "symbol" in s:
        choice(s["symbol"], path + ".symbol", SYMBOLS, out)
    for k in ("source", "captured_at_iso"):
        if k in s:
            text(s[k], f"{path}.{k}", out)
    zones = s.get("zones")
    if "zones" in s and not isinstance(zones, list):
        out.append(Problem(path + ".zones", f"expected an array of zones, got {describe(zones)}"))
    for i, z in enumerate(zones if isinstance(zones, list) else []):
        zp = f"{path}.zones[{i}]"
        if not fields(z, zp, {"side", "price", "strength"}, {"comment"}, out, "zone"):
            continue
        if "side" in z:
            choice(z["side"], zp + ".side", SIDE, out)
        if "price" in z:
            number(z["price"], zp + ".price", out, 0, MAX_PRICE, lo_open=True)
        if "strength" in z:
            number(z["strength"], zp + ".strength", out, 0.0, 10.0)
        if "comment" in z:
            text(z["comment"], zp + ".comment", out)
    return len(out) == before


def _from_snapshots(obj: Any, at_ms: int | None) -> tuple[dict[str, Any] | None, list[Problem]]:
    out: list[Problem] = []
    items = obj if isinstance(obj, list) else [obj]
    paths = [f"$[{i}]" for i in range(len(items))] if isinstance(obj, list) else ["$"]
    for s, p in zip(items, paths, strict=True):
        _snapshot(s, p, out)
    if out:
        return None, out
    eligible = [s for s in items if at_ms is None or s["captured_at_ms"] <= at_ms]
    if not eligible:
        what = "no snapshots" if not items else f"no snapshot captured at or before {iso_from_ms(at_ms or 0)}"
        return None, [Problem("$", what)]
    snap = max(eligible, key=lambda s: s["captured_at_ms"])
    price = snap["current_price"]

    def conv(z: dict[str, Any]) -> dict[str, Any]:
        c = {"price": z["price"], "zone": [z["price"], z["price"]], "side": z["side"], "strength": z["strength"] / 10}
        if "comment" in z:
            c["comment"] = z["comment"]
        return c

    below = sorted((conv(z) for z in snap["zones"] if z["price"] <= price), key=lambda z: -z["price"])
    above = sorted((conv(z) for z in snap["zones"] if z["price"] > price), key=lambda z: z["price"])
    doc = {"symbol": snap.get("symbol", "BTC"), "as_of": iso_from_ms(snap["captured_at_ms"]),
           "current_price": price, "below_price": below, "above_price": above}
    return _canonical(doc)
