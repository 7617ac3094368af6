"""Helpers for execution tests: a worker on the REAL python-binance client against an
in-process exchange-sim, decisions in §8.1 shape, and the invariants every run checks."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import requests

from connectors.db import models as M  # noqa: N812
from connectors.exchange_sim.server import Running
from connectors.loops.execution_worker import DecisionSource, ExecutionWorker
from connectors.stores.execution_store import DB_ERRORS, ExecutionStore
from engine.config import Config, load_config
from engine.execution.model import parse_client_id
from tests.conftest import make_home
from tests.simnet import exchange_for

TEST_EXECUTION = {"chase_after_s": 60, "cooldown_after_exit_s": 60, "loop_seconds": 0.2,
                  "max_volatility_pct": 5.0, "max_distance_from_zone_pct": 1.0}


def exec_config(tmp: Path, **execution: Any) -> Config:
    cfg = load_config(make_home(tmp), {"SHOWDOWN__DATABASE__SQLITE_FILE": "test.sqlite"})
    cfg.values["execution"].update(TEST_EXECUTION | execution)
    cfg.values["sessions"]["restricted_hours_utc"] = []
    return cfg


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def decision(did: int | str, ts_ms: int, side: str, zone: tuple[float, float], sl: float, tp1: float, tp2: float,
             size_usdt: float, confidence: float = 0.6) -> dict[str, Any]:
    return {"id": str(did), "symbol": "BTCUSDT", "timestamp_iso": iso(ts_ms), "action": side, "reason": "test_setup",
            "entry_zone": [zone[0], zone[1]], "sl": sl, "tp1": tp1, "tp2": tp2, "risk_level": 3,
            "position_size_usdt": size_usdt, "leverage": 3, "confidence": confidence,
            "risk_checks": {"daily_dd_ok": True, "weekly_dd_ok": True, "max_trades_per_day_ok": True,
                            "session_ok": True, "no_major_news": True},
            "risk_mode": "neutral", "ruleset_version": "test", "trace_id": None}


class FixedDecisions(DecisionSource):
    def __init__(self) -> None:
        super().__init__(None, use_db=False)
        self.current: dict[str, Any] | None = None

    def latest(self) -> dict[str, Any] | None:
        return self.current


def unsalted_ids() -> None:
    """Tests name our orders capi_<role>_<id>: give this installation the unsalted prefix
    (a real one gets "c" + 3 random characters on its first start)."""
    with contextlib.suppress(*DB_ERRORS):
        M.BotState.delete().where(M.BotState.component == "installation").execute()
        M.BotState.create(symbol="BTCUSDT", component="installation", state="IDLE",
                          details={"client_id_prefix": "capi"})


def make_worker(sim: Running, tmp: Path, decisions: DecisionSource | None = None, request_timeout_s: float | None = None,
                salted: bool = False, **execution: Any) -> ExecutionWorker:
    if not salted:
        unsalted_ids()
    cfg = exec_config(tmp, **execution)
    ex = exchange_for(sim)
    ex.t.backoff_s = 0.01
    return ExecutionWorker(ex, cfg, ExecutionStore(), decisions or FixedDecisions(), tmp / "data" / "state.json")


def step_market(sim: Running, minutes: int = 1) -> int:
    r = requests.post(sim.url + "/_sim/step", json={"minutes": minutes}, timeout=5)
    assert r.status_code == 200, r.text
    return int(r.json()["market_time_ms"])


def sim_open_by_role(sim: Running) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for o in sim.venue.core.open_orders():
        p = parse_client_id(o.client_order_id)
        out.setdefault(p[0] if p else "foreign", []).append(o.client_order_id)
    return out


def check_invariants(sim: Running, plan_qty: dict[str, D] | None = None) -> list[str]:
    """What must hold whatever happened: at most one working order per role, an SL on the
    exchange whenever a position is open, and never more entry filled than planned."""
    problems = []
    core = sim.venue.core
    for role, cids in sim_open_by_role(sim).items():
        if len(cids) > 1:
            problems.append(f"{len(cids)} open {role} orders: {cids}")
    qty = core.ledger.qty
    if qty != 0:
        side = "SELL" if qty > 0 else "BUY"
        if not any(o.type == "STOP_MARKET" and o.side == side for o in core.open_orders()):
            problems.append(f"position {qty} without SL")
    if plan_qty:
        filled: dict[str, D] = {}
        for o in core.orders.values():
            p = parse_client_id(o.client_order_id)
            if p and p[0] == "entry":
                filled[p[1]] = filled.get(p[1], D(0)) + o.filled_qty
        for did, q in filled.items():
            if did in plan_qty and q > plan_qty[did]:
                problems.append(f"decision {did}: entry filled {q} > planned {plan_qty[did]}")
    return problems


def exchange_fills(sim: Running) -> dict[str, D]:
    """What each of our orders filled on the exchange, an algo order through the MARKET
    order its trigger placed (Binance's actualOrderId), as the worker reads it."""
    core = sim.venue.core
    return {cid: (core.triggered.get(cid) or o).filled_qty for cid, o in core.orders.items()
            if cid not in {a.client_order_id for a in core.triggered.values()}}


def db_agrees(sim: Running) -> list[str]:
    """DB vs exchange: open position row iff exchange position; open orders recorded as open."""
    problems = []
    core = sim.venue.core
    rows = list(M.Position.select().where(M.Position.status == "open"))
    if (core.ledger.qty != 0) != bool(rows):
        problems.append(f"exchange position {core.ledger.qty} vs {len(rows)} open DB rows")
    if rows and D(rows[0].quantity) != abs(core.ledger.qty):
        problems.append(f"DB qty {rows[0].quantity} vs exchange {core.ledger.qty}")
    for o in core.open_orders():
        row = M.Order.get_or_none(M.Order.client_order_id == o.client_order_id)
        if row is None or row.status not in ("NEW", "PARTIALLY_FILLED"):
            problems.append(f"open order {o.client_order_id} recorded as {row.status if row else None}")
    return problems
