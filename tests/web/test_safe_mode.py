"""Issue 13, observation 2: SAFE MODE is not a trap. After an emergency stop the worker is in
SAFE MODE; the site and `showdown status` say so with the reason; "resume entries" never
claims entries are allowed while it lasts; an admin clears it from the Control page, the
operator from the CLI, and both reach the RUNNING worker within a loop, which then trades
again; a lowercase "stop" confirms the emergency stop, a wrong word says why."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from decimal import Decimal as D
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connectors.db import models as M  # noqa: N812
from engine.clock import SimClock
from engine.paths import PROJECT_DIR, Home
from tests.web.conftest import csrf_from


class PacedClock(SimClock):
    """A simulated clock a worker thread can run on: each sleep moves the market by the
    loop's seconds and lets the test thread in."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        time.sleep(0.02)


def paper_worker(home: Home, app: Flask) -> tuple[Any, Any, PacedClock, Any]:
    """An execution worker on the in-process simulated exchange, writing the site's database."""
    from connectors.loops.execution_worker import ExecutionWorker
    from connectors.stores.execution_store import ExecutionStore
    from engine.exchange.sim.exchange import CandleFeed, SimExchange
    from tests.execution_scenario import find_long
    from tests.execution_support import TEST_EXECUTION, FixedDecisions, unsalted_ids
    from tests.simnet import _rows

    rows, _ = _rows()
    sc = find_long(rows, 1440)
    clock = PacedClock(rows[sc.i][0])
    cfg = app.extensions["showdown"].config
    cfg.values["execution"].update(TEST_EXECUTION)
    cfg.values["sessions"]["restricted_hours_utc"] = []
    unsalted_ids()  # the orders below are named capi_<role>_<id>
    w = ExecutionWorker(SimExchange(CandleFeed(rows), clock), cfg, ExecutionStore(), FixedDecisions(),
                        home.data / "state.json", clock)
    return w, w.ex, clock, sc


def long_decision(did: int, clock: SimClock, ex: Any) -> dict[str, Any]:
    from tests.execution_support import decision

    p = float(ex.core.last_price)
    return decision(did, clock.now_ms(), "long", (p * 0.999, p * 1.002), p * 0.99, p * 1.01, p * 1.02,
                    size_usdt=0.0101 * p * 1.002)


def post(client: FlaskClient, path: str, **form: str) -> Any:
    token = csrf_from(client.get("/control/").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **form})


def test_safe_mode_shown_resume_honest_and_cleared_from_the_site(app: Flask, home: Home, admin: FlaskClient,
                                                                 operator: FlaskClient) -> None:
    with app.app_context():
        w, ex, clock, _ = paper_worker(home, app)
        w.start()
        w.decisions.current = long_decision(7, clock, ex)
        w.run_once()
        w.run_once()
        assert ex.core.ledger.qty != 0  # in a trade
    # the emergency stop from the site, confirmed with a lowercase "stop": no browser-side
    # pattern silently holds the form back, the server takes it
    assert 'pattern="STOP"' not in operator.get("/control/").get_data(as_text=True)
    ok = post(operator, "/control/emergency-stop", confirm="stop", reason="drill")
    assert ok.status_code == 302
    wrong = post(operator, "/control/emergency-stop", confirm="stp", reason="drill")  # a typo says why
    assert wrong.status_code == 400 and "Emergency stop NOT sent: you typed &#39;stp&#39;" in wrong.get_data(as_text=True)
    with app.app_context():
        w.run_once()  # the worker obeys: closed, SAFE MODE
        assert ex.core.ledger.qty == 0 and w.state.safe_mode == "emergency_stop"
        w.run_once()
    # shown with its reason on every page; entries never "allowed" while it lasts
    for path in ("/status/", "/market/", "/control/"):
        html = operator.get(path).get_data(as_text=True)
        assert "SAFE MODE (emergency_stop)" in html, path
    post(operator, "/control/resume")
    page = operator.get("/control/").get_data(as_text=True)
    assert '<b id="entries-state">SAFE MODE</b>' in page
    status = operator.get("/api/status").get_json()
    assert status["control"]["entries_paused"] is False  # the operator switch is on...
    assert status["entries"]["allowed"] is False  # ...but SAFE MODE blocks entries, and says so
    assert status["entries"]["text"].startswith("blocked: SAFE MODE (emergency_stop)")
    assert status["safe_mode"]["reason"] == "emergency_stop"
    assert "allowed" not in operator.get("/status/").get_data(as_text=True).split('id="entries">')[1][:40]
    # clearing is for admins, confirmed, audited
    assert post(operator, "/control/clear-safe-mode", confirm="CLEAR").status_code == 403
    unconfirmed = post(admin, "/control/clear-safe-mode", confirm="")
    assert unconfirmed.status_code == 400 and "type CLEAR" in unconfirmed.get_data(as_text=True)
    assert post(admin, "/control/clear-safe-mode", confirm="clear").status_code == 302
    assert "Clear requested" in admin.get("/control/").get_data(as_text=True)
    with app.app_context():
        assert M.AuditEntry.get(M.AuditEntry.action == "control.clear_safe_mode").username == "admin"
        clock.advance(60_000)
        w.decisions.current = long_decision(8, clock, ex)
        w.run_once()  # within one loop: SAFE MODE left, and the decision entered
        assert w.state.safe_mode is None
        assert [o.client_order_id for o in ex.core.open_orders()] == ["capi_entry_8"]  # trading again
        done = M.BotState.get(M.BotState.component == "control").details["clear_safe_mode"]
        assert done["status"] == "done" and done["cleared"] == "emergency_stop"
    from web import queries

    with app.app_context():
        queries.forget_status()
    after = admin.get("/api/status").get_json()
    assert after["safe_mode"] is None and after["entries"] == {
        "allowed": True, "state": "allowed", "blocked_by": [], "text": "allowed"}
    assert "SAFE MODE (" not in admin.get("/status/").get_data(as_text=True)


def test_cli_clear_and_stop_reach_the_running_worker(app: Flask, home: Home) -> None:
    with app.app_context():
        w, ex, clock, _ = paper_worker(home, app)
        w.start()
        w.emergency_stop()
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                w.run(stop)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not w.loops:
            time.sleep(0.05)
        with app.app_context():
            assert M.BotState.get(M.BotState.component == "execution").state == "SAFE_MODE"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOWDOWN", "DB_", "BINANCE_"))}
        env.update(SHOWDOWN_HOME=str(home.root), SHOWDOWN_CONFIG_DIR=str(home.config_dir), PYTHONPATH=str(PROJECT_DIR))

        def showdown(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True,
                                  text=True, timeout=60, cwd=home.root)

        status = showdown("status")
        assert "SAFE MODE (emergency_stop)" in status.stdout and "entries: BLOCKED: SAFE MODE" in status.stdout
        res = showdown("execute", "--clear-safe-mode", "--loops", "1")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "SAFE MODE cleared by the running worker (was: emergency_stop)" in res.stdout
        assert w.state.safe_mode is None  # the running worker's own state, not a file beside it
        w.decisions.current = long_decision(9, clock, ex)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "capi_entry_9" not in ex.core.orders:
            time.sleep(0.05)
        assert ex.core.orders["capi_entry_9"].quantity == D("0.010")  # it trades again
        # the CLI's emergency stop goes to the running worker too (not to a second one beside it)
        stopped = showdown("emergency-stop", "--yes")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "emergency stop done by the running worker" in stopped.stdout
        assert w.state.safe_mode == "emergency_stop" and ex.core.open_orders() == []
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not errors, errors


def test_clear_requested_with_no_worker_running_is_taken_on_its_first_loop(app: Flask, home: Home,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    from connectors.stores import operator_control

    with app.app_context():
        w, ex, clock, _ = paper_worker(home, app)
        w.start()
        w.emergency_stop()
        operator_control.request_clear_safe_mode("BTCUSDT", "cli:test", "emergency_stop")
        w.start()  # a restart: SAFE MODE comes back from the state file...
        assert w.state.safe_mode == "emergency_stop"
        w.run_once()  # ...and the waiting request clears it on the first loop
        assert w.state.safe_mode is None
        assert M.RiskEvent.get(M.RiskEvent.kind == "safe_mode_cleared").message.startswith(
            "SAFE MODE (emergency_stop) cleared by cli:test")
    # on the console (the worker's log) as well, entering and leaving
    assert "emergency_stop: emergency stop: orders cancelled" in caplog.text
    assert "safe_mode_cleared: SAFE MODE (emergency_stop) cleared by cli:test" in caplog.text


def test_one_way_out_of_safe_mode_the_control_row() -> None:
    """Issue 13 item 2: the site and the CLI both clear SAFE MODE through the control row the
    running worker obeys (obey_clear_safe_mode); no second, direct way that a running worker
    would never hear of (the old ExecutionWorker.clear_safe_mode, called by nothing)."""
    import inspect

    from cli import execute_cmd
    from connectors.loops.execution_worker import ExecutionWorker
    from web.sections import control

    assert not hasattr(ExecutionWorker, "clear_safe_mode")
    assert hasattr(ExecutionWorker, "obey_clear_safe_mode")
    assert "operator_control.request_clear_safe_mode" in inspect.getsource(execute_cmd)
    assert "set_control(clear_safe_mode=" in inspect.getsource(control)
