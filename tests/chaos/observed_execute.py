"""`showdown execute` with a test observer: after each loop the worker's state, the position
the loop read and the events it raised go to exchange-sim's /_chaos/loop_end, where the
chaos run checks the invariant against the exchange's books at that moment
(tests/chaos/checks.py). The worker itself is untouched: the observer wraps `run_once`
from outside, as a test hook.

    python -m tests.chaos.observed_execute      (same environment as `showdown execute`)"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import requests

from connectors.loops.execution_worker import ExecutionWorker

LOOP_END = "/_chaos/loop_end"


def observe() -> None:
    url = os.environ["BINANCE_BASE_URL"].rstrip("/") + LOOP_END
    session = requests.Session()
    run_once = ExecutionWorker.run_once

    def report(body: dict[str, Any]) -> None:
        with contextlib.suppress(requests.RequestException):  # the exchange is down: nothing to check
            session.post(url, json=body, timeout=10)

    def observed(self: ExecutionWorker) -> dict[str, Any]:
        try:
            out = run_once(self)
        except BaseException:
            report({"state": None, "pid": os.getpid()})
            raise
        report({"state": self.state.to_json(), "view_qty": str(out["view"].position_qty),
                "events": [e.code for e in out["events"]], "pid": os.getpid()})
        return out

    ExecutionWorker.run_once = observed  # type: ignore[method-assign]


if __name__ == "__main__":
    observe()
    from cli.main import main

    sys.argv = ["showdown", "execute", *sys.argv[1:]]
    main()
