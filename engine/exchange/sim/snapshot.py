"""A simulated account as plain data and back: balance, position, every order it ever
had (open and history), fills, algo triggers, funding paid, the clock and the last
prices — everything a paper account needs to resume after a restart exactly where it
stood. Pure (no I/O): connectors/exchange_sim/account_file.py puts it on disk.

Decimals travel as strings (never floats: money stays exact); the liquidation level is
not stored, it is re-armed from the restored position."""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from decimal import Decimal
from typing import Any

from engine.exchange.sim.core import LIQUIDATION_ID, SimCore
from engine.exchange.types import Fill, Order

FORMAT = 1
_ORDER_DECIMALS = {"quantity", "filled_qty", "avg_price", "price", "stop_price"}
_FILL_DECIMALS = {"quantity", "price", "fee", "realized_pnl"}
_LEDGER = ("wallet", "leverage", "margin_type", "maintenance_rate", "qty", "entry", "realized_pnl", "fees_paid",
           "funding_paid")


class SnapshotError(ValueError):
    """A stored account that cannot be read back (names the part that is wrong)."""


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _order_dict(o: Order) -> dict[str, Any]:
    return {k: _plain(v) for k, v in asdict(o).items()}


def _order(d: dict[str, Any]) -> Order:
    kw = {f.name: d[f.name] for f in fields(Order) if f.name in d}
    for k in _ORDER_DECIMALS:
        if kw.get(k) is not None:
            kw[k] = Decimal(kw[k])
    return Order(**kw)


def _fill(d: dict[str, Any]) -> Fill:
    kw: dict[str, Any] = {k: Decimal(v) if k in _FILL_DECIMALS else v for k, v in d.items()}
    return Fill(**kw)


def core_snapshot(core: SimCore) -> dict[str, Any]:
    """The account of `core` as JSON-ready data."""
    led = core.ledger
    history = {id(o): o for o in core.orders.values()}
    for o in core.triggered.values():
        history.setdefault(id(o), o)
    return {
        "format": FORMAT,
        "now_ms": core.now_ms,
        "last_price": None if math.isnan(core._last_f) else repr(core._last_f),
        "mark_price": None if math.isnan(core._mark_f) else repr(core._mark_f),
        "ledger": {k: _plain(getattr(led, k)) for k in _LEDGER},
        "orders": [_order_dict(o) for o in history.values()],
        "resting": [r.order.client_order_id for r in core._resting if r.order.client_order_id != LIQUIDATION_ID],
        "triggered": {cid: o.client_order_id for cid, o in core.triggered.items()},
        "fills": [{k: _plain(v) for k, v in asdict(f).items()} for f in core.fills],
        "funding_events": [[t, str(rate), str(paid)] for t, rate, paid in core.funding_events],
        "next_order_id": core._next_order_id,
        "id_seq": core._id_seq,
    }


def restore_core(core: SimCore, data: dict[str, Any]) -> None:
    """Put the stored account into `core` (its config and funding schedule stay)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError(f"not a simulated account of format {FORMAT} (format {data.get('format')!r})"
                            if isinstance(data, dict) else "not a JSON object")
    try:
        led = core.ledger
        for k in _LEDGER:
            v = data["ledger"][k]
            setattr(led, k, v if k in ("leverage", "margin_type") else Decimal(v))
        orders = {o.client_order_id: o for o in map(_order, data["orders"])}
        core.orders = orders
        core.triggered = {cid: orders[actual] for cid, actual in data["triggered"].items()}
        core.fills = [_fill(f) for f in data["fills"]]
        core.funding_events = [(int(t), Decimal(r), Decimal(p)) for t, r, p in data["funding_events"]]
        core._next_order_id = int(data["next_order_id"])
        core._id_seq = int(data["id_seq"])
        core.now_ms = int(data["now_ms"])
        core._last_f = math.nan if data["last_price"] is None else float(data["last_price"])
        core._mark_f = math.nan if data["mark_price"] is None else float(data["mark_price"])
        core._resting = []
        core._liq = None
        for cid in data["resting"]:
            core._rest(orders[cid])
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise SnapshotError(f"simulated account unreadable: {type(exc).__name__}: {exc}") from None
    core._rearm_liquidation()
    core._arm_funding()
