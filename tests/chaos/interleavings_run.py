"""Seeded interleavings of the REAL worker against exchange-sim answering as Binance does
(algo orders, actualOrderId, PERCENT_PRICE, -2022): each interleaving is one seed drawing
its own market start, decisions, fill sizes (partial fills), refusals (-2021, -2022,
-4130, filter errors -1111 / -4014 / -4164), lost responses, timeouts and worker
restarts. After EVERY loop:

- protected: a position open when the loop started has a stop on the exchange after it,
  or a market close of ours is out (in flight), or the loop could not run at all (then
  the next one must protect: two such loops in a row fail). A position opened by an
  entry filling during the loop is protected by the next one;
- no over-close and no flip: from one fill to the next the position never crosses zero;
- no duplicate order: at most one open order per role, never more entry than planned;
- the invariant of every chaos run (tests/chaos/checks.py): the stop at the worker's SL
  closing the whole position, take-profits within it, one live order per role at every
  placement;

and at the end of each interleaving, faults still on, the database and that exchange's
books agree both ways on orders, fills and trades (after the first loop that sends nothing).

Usable from pytest (short) and as a script (`make chaos`: thousands of interleavings).
Prints how many interleavings and loops it ran."""

from __future__ import annotations

import random
import sys
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from connectors.db import models as M  # noqa: N812
from connectors.exchange_sim.faults import FaultPlan
from connectors.exchange_sim.server import Running, start
from connectors.loops.execution_worker import ExecutionWorker
from engine.exchange.errors import TransientError
from tests.chaos.checks import FaultCount, Invariant, books_agree
from tests.chaos.harness import ChaosFailure, figures
from tests.execution_support import check_invariants, decision, make_worker, step_market
from tests.simnet import make_venue

REFUSALS = {"POST /fapi/v1/algoOrder": {"-2021": 0.05, "-4130": 0.03, "-4014": 0.04, "-1111": 0.02},
            "POST /fapi/v1/order": {"-2022": 0.10, "-4164": 0.02, "-1111": 0.02}}


def _plan(rng: random.Random, seed: int) -> FaultPlan:
    return FaultPlan.from_dict({
        "seed": seed, "timeout_rate": rng.choice([0.0, 0.01]), "timeout_sleep_s": 0.01,
        "lost_response_rate": rng.choice([0.0, 0.01, 0.02]),
        "error_rates": {"-1001": rng.choice([0.0, 0.01])}, "retry_after_s": 0.01,
        "partial_fill_fraction": rng.choice([None, None, 0.002, 0.0005]),
        "refusals": {k: {c: r * rng.choice([0, 1, 2]) for c, r in v.items()} for k, v in REFUSALS.items()}})


def _worker(sim: Running, tmp: Path) -> ExecutionWorker:
    w = make_worker(sim, tmp, request_timeout_s=None, cooldown_after_exit_s=60)
    w.ex.t.client.REQUEST_TIMEOUT = 0.5
    w.ex.t.sleep = lambda s: time.sleep(min(s, 0.005))
    w.ex.t.governor.sleep = lambda s: time.sleep(min(s, 0.005))
    w.ex.t.governor.max_per_minute = 10**9
    return w


class Checker:
    """The invariants over one interleaving."""

    def __init__(self, sim: Running):
        self.sim = sim
        self.fills_seen = 0
        self.qty = D(0)
        self.unprotected_in_a_row = 0

    def after_loop(self, w: ExecutionWorker, planned: dict[str, D], ran: bool, held: bool) -> list[str]:
        core = self.sim.venue.core
        problems = check_invariants(self.sim, planned)
        problems = [p for p in problems if "without SL" not in p]
        for f in core.fills[self.fills_seen:]:
            before = self.qty
            self.qty += f.quantity if f.side == "BUY" else -f.quantity
            if before != 0 and self.qty != 0 and (before > 0) != (self.qty > 0):
                problems.append(f"position flipped {before} -> {self.qty} by {f.client_order_id}")
        self.fills_seen = len(core.fills)
        qty = core.ledger.qty
        side = "SELL" if qty > 0 else "BUY"
        stop = any(o.type == "STOP_MARKET" and o.side == side for o in core.open_orders())
        closing = "close" in w.state.live
        if held and qty != 0 and not stop and not closing:
            self.unprotected_in_a_row += 1
            if ran or self.unprotected_in_a_row > 1:
                problems.append(f"position {qty} without a stop and no market close out")
        else:
            self.unprotected_in_a_row = 0
        return problems


def interleaving(sim: Running, tmp: Path, seed: int, loops: int, inv: Invariant, faults: FaultCount) -> dict[str, Any]:
    rng = random.Random(seed)
    sim.server.venue = make_venue(history_minutes=1440 + rng.randrange(0, 15_000), faults=_plan(rng, seed))
    inv.install(sim.venue)
    faults.install(sim.venue)
    seen = len(inv.at_placement)
    M.Position.update(status="closed").where(M.Position.status == "open").execute()  # a new account
    M.Order.delete().execute()  # whose books start empty
    M.Trade.delete().execute()
    M.BotState.delete().where(M.BotState.component == "execution").execute()  # and a new worker state
    state = tmp / "data" / "state.json"
    if state.exists():
        state.unlink()
    w = _worker(sim, tmp)
    w.start()
    check, planned = Checker(sim), {}
    stats = {"loops": 0, "restarts": 0, "soft_errors": 0, "decisions": 0, "trades": 0, "refusals": 0}
    problems: list[str] = []
    for k in range(loops):
        if k % rng.choice([6, 10, 15]) == 0:
            p = sim.venue.market.last_price()
            side = rng.choice(["long", "short"])
            s = 1 if side == "long" else -1
            did = f"s{seed}d{k}"
            width = rng.choice([0.0003, 0.0008, 0.0015])
            sl_pct = rng.choice([0.0015, 0.0025, 0.004])
            tp_pct = rng.choice([0.0015, 0.003])
            c = p * (1 + s * rng.choice([0.0, 0.0, 0.0005]))  # the limit rests, or is marketable
            w.decisions.current = decision(did, sim.venue.market.now_ms, side, (c * (1 - width), c * (1 + width)),
                                           p * (1 - s * sl_pct), p * (1 + s * tp_pct), p * (1 + s * 2 * tp_pct),
                                           size_usdt=0.0102 * p * (1 + width), confidence=rng.choice([0.6, 0.8]))
            planned[did] = D("0.010")
            stats["decisions"] += 1
        if rng.random() < 0.05:  # the process dies between two loops and starts again
            w = _worker(sim, tmp)
            w.decisions.current = w.decisions.current  # a fresh source: the next decision comes later
            try:
                w.start()
            except TransientError:
                stats["soft_errors"] += 1
            stats["restarts"] += 1
        ran, held = True, sim.venue.core.ledger.qty != 0
        out = None
        try:
            out = w.run_once()
            stats["trades"] += sum(e.code == "trade_closed" for e in out["events"])
            stats["refusals"] += sum(e.code.startswith(("sl_refused", "already_reduced")) for e in out["events"])
        except TransientError:
            stats["soft_errors"] += 1
            ran = False
        stats["loops"] += 1
        problems += [f"seed {seed} loop {k}: {p}" for p in check.after_loop(w, planned, ran, held)
                     + inv.after_run_once(w, out)]
        if problems:
            break
        step_market(sim, rng.choice([0, 1, 1, 2, 3, 5]))
    if not problems:  # the books, faults still on: after the first loop that sends nothing
        w.decisions.current = None
        for _ in range(30):
            try:
                out = w.run_once()
            except TransientError:
                continue
            problems += [f"seed {seed} settling: {p}" for p in inv.after_run_once(w, out)]
            if not out["intents"]:
                found, books = books_agree(sim)
                problems += [f"seed {seed} at the end: {p}" for p in found]
                stats |= {k: books[k] for k in ("trades_exchange", "trades_db", "fills_exchange", "fills_db")}
                break
        else:
            problems.append(f"seed {seed}: no quiet loop in 30 after the run; the books never compared")
    problems += [f"seed {seed}: {p}" for p in inv.at_placement[seen:]]
    if problems:
        raise ChaosFailure(problems[:10], stats)
    return stats


def run(interleavings: int, loops: int, tmp: Path, first_seed: int = 1) -> dict[str, Any]:
    sim = start(make_venue())
    inv, faults = Invariant(sim), FaultCount()
    total = {"interleavings": 0, "loops": 0, "restarts": 0, "soft_errors": 0, "decisions": 0, "trades": 0,
             "refusals": 0, "trades_exchange": 0, "trades_db": 0, "fills_exchange": 0, "fills_db": 0}
    try:
        for seed in range(first_seed, first_seed + interleavings):
            try:
                for k, v in interleaving(sim, tmp, seed, loops, inv, faults).items():
                    total[k] += v
            except ChaosFailure as exc:
                exc.stats = figures(inv, faults, total, total["loops"], total["restarts"]) | total
                raise
            total["interleavings"] += 1
    finally:
        sim.stop()
    print(f"interleavings: {total['interleavings']}, loops: {total['loops']}, restarts: {total['restarts']}, "
          f"trades: {total['trades']}, protective refusals answered: {total['refusals']}, "
          f"soft errors: {total['soft_errors']}")
    return figures(inv, faults, total, total["loops"], total["restarts"]) | total


if __name__ == "__main__":
    import tempfile

    from connectors.db import open_database
    from connectors.db.migrations import upgrade
    from tests.conftest import make_home
    from tests.execution_support import exec_config

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    per = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        upgrade(open_database(exec_config(tmp), make_home(tmp)))
        t0 = time.monotonic()
        print(run(n, per, tmp), f"{time.monotonic() - t0:.0f} s")
