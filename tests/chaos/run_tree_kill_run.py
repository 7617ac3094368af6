"""The whole `showdown run` tree SIGKILLed with a paper position open (issue 15, item 6).

`showdown run --source replay` (supervisor, exchange-sim, collector, analytics, execution
worker — real processes, the worker on python-binance) opens a protected paper long from
a decision put in its database; then the supervisor's process group and every process
under it are SIGKILLed at once (a power cut, an OOM kill of the session). `showdown run`
is started again and must find the account exactly where it was:

- the position (quantity, entry), its stop (same order, same trigger) and the take-profits
  still on exchange-sim, the wallet balance and the fills unchanged;
- the first reconciliation after the restart says "exchange and records agree";
- no phantom (no position closed as phantom, no vanished-position or unexplained-balance
  incident, no reconcile_phantom_position alert);
- no duplicate order: the exchange's whole order history (its account file) holds one
  entry order for the decision and never two open orders in one role.

Short in the suite (tests/test_issue15_books.py), longer in `make chaos`
(`python tests/chaos/run_tree_kill_run.py [ROUNDS]`: kill and restart ROUNDS times)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from engine.execution.model import parse_client_id
from engine.paths import PROJECT_DIR
from tests.execution_support import decision
from tests.free_ports import free_port_pair

INCIDENT_CODES = {"reconcile_phantom_position", "position_vanished", "position_changed_unexplained",
                  "unexplained_balance_change"}


def _children_of() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        out.setdefault(ppid, []).append(int(p.name))
    return out


def descendants(pid: int) -> list[int]:
    tree, out, todo = _children_of(), [], [pid]
    while todo:
        for c in tree.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


class RunTree:
    def __init__(self, tmp: Path, speed: float):
        self.tmp, self.speed = tmp, speed
        self.port = free_port_pair()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "SHOWDOWN", "BINANCE"))} | {
            "SHOWDOWN_HOME": str(tmp), "PYTHONPATH": str(PROJECT_DIR),
            "SHOWDOWN__EXCHANGE_SIM__PORT": str(self.port)}
        self.db = tmp / "var" / "replay-showdown.sqlite"
        self.proc: subprocess.Popen | None = None
        self.log = tmp / "run-tree.log"

    def start(self) -> float:
        started = time.time()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(  # its own session: a shell job, as `make run` starts it
                [sys.executable, "-m", "cli.main", "run", "--source", "replay", "--no-web", "--speed",
                 f"{self.speed:g}"], env=self.env, cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        return started

    def kill_tree(self) -> list[int]:
        """SIGKILL the supervisor's process group and every process under it, at once."""
        assert self.proc is not None
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        groups = set()
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                groups.add(os.getpgid(p))
        for g in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(g, signal.SIGKILL)
        self.proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        return [p for p in pids if _alive(p)]

    # --- what the exchange and the books say ------------------------------------------------
    def sim(self, path: str = "/_sim/state") -> dict[str, Any]:
        return requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=5).json()

    def sim_up(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/fapi/v1/ping", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db, timeout=10) as con:
            try:
                return list(con.execute(sql, args))
            except sqlite3.OperationalError:
                return []

    def beat(self) -> tuple[int, int]:
        """(heartbeat ms, loops) of the execution worker."""
        rows = self.query("select heartbeat_ms, details from bot_state where component='execution'")
        if not rows:
            return 0, 0
        return int(rows[0][0]), int(json.loads(rows[0][1] or "{}").get("loops", 0))

    def account_orders(self) -> list[dict[str, Any]]:
        """Every order exchange-sim ever had (its account file): the full history."""
        (path,) = (self.tmp / "data").glob("exchange_sim_account-*.json")
        return list(json.loads(path.read_text())["core"]["orders"])


def wait(cond, timeout: float, what: str, tree: RunTree) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        assert tree.proc is None or tree.proc.poll() is None, f"showdown run exited: {tree.log.read_text()[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"{what} not within {timeout:g} s; log tail:\n{tree.log.read_text()[-3000:]}")


def _protected_long(tree: RunTree) -> bool:
    st = tree.sim()
    return float(st["position"]["positionAmt"]) > 0 and any(
        o.get("orderType", o.get("type")) == "STOP_MARKET" for o in st["open_orders"])


def _picture(tree: RunTree) -> dict[str, Any]:
    st = tree.sim()
    return {"qty": st["position"]["positionAmt"], "entry": st["position"]["entryPrice"],
            "wallet": st["balance"]["balance"], "fills": st["fills"],
            "open": sorted((o.get("clientAlgoId") or o.get("clientOrderId"), o.get("orderType", o.get("type")),
                            o.get("triggerPrice") or o.get("stopPrice"), o.get("price")) for o in st["open_orders"])}


def open_position(tree: RunTree) -> None:
    """A long decision in the database (newest by time, so the worker takes it over the
    analytics loop's), sized to 0.010 BTC with an entry that fills at once."""
    st = tree.sim()
    p, t = float(st["last_price"]), int(st["market_time_ms"])
    doc = decision(900001, t, "long", (p * 0.999, p * 1.002), p * 0.99, p * 1.01, p * 1.02,
                   size_usdt=0.0101 * p * 1.002)
    with sqlite3.connect(tree.db, timeout=10) as con:
        con.execute("insert into decisions (symbol, decided_at_ms, action, reason, ruleset_version, document) "
                    "values (?, ?, ?, ?, ?, ?)", ("BTCUSDT", t + 10 * 86_400_000, "long", "chaos_run_tree_kill",
                                                  "test", json.dumps(doc)))


def run(tmp: Path, rounds: int = 1, speed: float = 1.0, settle_loops: int = 5) -> dict[str, Any]:
    tree = RunTree(tmp, speed)
    problems: list[str] = []
    stats: dict[str, Any] = {"rounds": rounds, "kills": 0, "left_alive": 0}
    try:
        tree.start()
        wait(lambda: tree.sim_up() and tree.beat()[1] >= 2, 180, "first start (exchange-sim, worker loops)", tree)
        open_position(tree)
        wait(lambda: _protected_long(tree), 120, "a protected paper long", tree)
        wait(lambda: len(_picture(tree)["open"]) >= 2, 30, "its take-profits", tree)
        for r in range(rounds):
            before = _picture(tree)
            time.sleep(0.5)  # a loop or two with the position, as a kill would find it
            left = tree.kill_tree()
            stats["kills"] += 1
            stats["left_alive"] += len(left)
            if left:
                problems.append(f"round {r}: processes alive after the kill: {left}")
            restart_ms = int(tree.start() * 1000)
            wait(tree.sim_up, 120, "exchange-sim after the restart", tree)
            after = _picture(tree)
            if after != before:
                problems.append(f"round {r}: exchange-sim account differs after the restart: {before} -> {after}")
            wait(lambda: tree.beat()[0] > restart_ms and tree.beat()[1] >= settle_loops, 180,
                 "the restarted worker's loops", tree)
            recs = tree.query("select summary from reconciliation_events where created_ms >= ? order by created_ms",
                              (restart_ms,))
            if not recs or recs[0][0] != "exchange and records agree":
                problems.append(f"round {r}: reconciliation after the restart: {recs[:3]}")
            still = _picture(tree)
            if (still["qty"], still["entry"], still["open"]) != (before["qty"], before["entry"], before["open"]):
                problems.append(f"round {r}: after {settle_loops} loops the worker changed the book: {before} -> "
                                f"{still}")
        alerts = Counter(c for (c,) in tree.query("select code from notifications"))
        stats["alerts"] = dict(alerts)
        stats["alerts_by_level"] = dict(tree.query("select level, count(*) from notifications group by level"))
        bad = {c: n for c, n in alerts.items() if c in INCIDENT_CODES}
        if bad:
            problems.append(f"phantom or incident alerts: {bad}")
        phantom = tree.query("select count(*) from positions where details like '%phantom%'")
        if phantom and phantom[0][0]:
            problems.append(f"{phantom[0][0]} positions closed as phantom")
        open_rows = tree.query("select count(*) from positions where status='open'")
        if not open_rows or open_rows[0][0] != 1:
            problems.append(f"open position rows: {open_rows}")
        roles = Counter((parse_client_id(o["client_order_id"]) or ("foreign",))[0] for o in tree.account_orders())
        stats["orders_by_role"] = dict(roles)
        if roles.get("entry") != 1:
            problems.append(f"entry orders on the exchange: {roles.get('entry')} (one decision, one entry)")
        # both ways: every order of ours on the exchange is in the books with its status and
        # filled quantity, and the books hold no order the exchange does not know
        ours = {o["client_order_id"]: o for o in tree.account_orders() if parse_client_id(o["client_order_id"])}
        booked = {cid: (status, filled) for cid, status, filled in
                  tree.query("select client_order_id, status, filled_quantity from orders")}
        stats["orders_exchange_vs_db"] = (len(ours), len(booked))
        for cid, o in ours.items():
            got = booked.get(cid)
            if got is None or got[0] != o["status"] or float(got[1]) != float(o["filled_qty"]):
                problems.append(f"order {cid}: exchange {o['status']} {o['filled_qty']}, books {got}")
        for cid in set(booked) - set(ours):
            problems.append(f"order {cid} in the books, unknown to the exchange")
        open_roles = Counter((parse_client_id(o[0]) or ("foreign",))[0] for o in _picture(tree)["open"])
        if any(n > 1 for n in open_roles.values()):
            problems.append(f"two open orders in one role: {dict(open_roles)}")
    finally:
        if tree.proc is not None and tree.proc.poll() is None:
            tree.kill_tree()  # what is checked is checked: no need to wait for a clean stop
    stats["problems"] = problems
    return stats


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as d:
        out = run(Path(d), rounds=n)
    print(f"run_tree_kill: {out['kills']} whole-tree SIGKILLs with a position open; processes left alive "
          f"{out['left_alive']}; orders by role {out.get('orders_by_role')}; orders on the exchange vs in the "
          f"database {out.get('orders_exchange_vs_db')}; alerts {out.get('alerts')}; violations {len(out['problems'])}")
    for p in out["problems"]:
        print("  " + p)
    sys.exit(1 if out["problems"] else 0)
