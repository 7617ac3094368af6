"""Send a burst of hostile rule drafts to a live site, in parallel, from its own process
(so the sender's threads do not share a GIL with whoever measures the site meanwhile).

    python -m tests.web.hostile_burst BASE_URL PASSWORD N [IN_FLIGHT [ROUNDS]]
        -> prints "ready" once signed in, sends on a line from stdin, then one JSON line:
           [[status, seconds], ...]
N drafts, all at once, or IN_FLIGHT at a time (then every one reaches the compiler);
ROUNDS such bursts one after the other (IN_FLIGHT 0: all at once).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time

import requests

from tests.hostile_corpus import HOSTILE_FILE, RULE_CASES


def session(base: str, password: str) -> requests.Session:
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(base + "/login", timeout=10).text).group(1)  # type: ignore[union-attr]
    r = s.post(base + "/login", data={"username": "admin", "password": password, "csrf_token": token},
               timeout=10, allow_redirects=False)
    assert r.status_code == 302, r.status_code
    s.headers["X-CSRFToken"] = s.get(base + "/api/csrf", timeout=10).json()["csrf_token"]
    return s


def send(base: str, password: str, n: int, in_flight: int | None = None,
         wait_for_go: bool = False, rounds: int = 1) -> list[tuple[int, float]]:
    hostile = [c for c in RULE_CASES if c.name != "huge scalar"]     # Nginx's body limit may cut that one
    sessions = [session(base, password) for _ in range(4)]
    out: list[tuple[int, float]] = []
    go = threading.Event()
    slots = threading.Semaphore(in_flight or n)

    def draft(i: int) -> None:
        case = hostile[i % len(hostile)]
        op = "validate" if i % 2 else "save"
        go.wait()
        with slots:
            t = time.perf_counter()
            r = sessions[i % len(sessions)].post(f"{base}/api/rules/{op}", timeout=60,
                                                 json={"file": HOSTILE_FILE, "text": case.text})
            out.append((r.status_code, time.perf_counter() - t))

    if wait_for_go:      # signed in and ready: the caller starts measuring, then says go
        print("ready", flush=True)
        sys.stdin.readline()
    for _ in range(rounds):
        go.clear()
        threads = [threading.Thread(target=draft, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        time.sleep(0.05)     # every thread waiting at the gate: then all at once
        go.set()
        for t in threads:
            t.join(90)
    return out


if __name__ == "__main__":
    in_flight = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] != "0" else None
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    print(json.dumps(send(sys.argv[1], sys.argv[2], int(sys.argv[3]), in_flight, wait_for_go=True, rounds=rounds)))
