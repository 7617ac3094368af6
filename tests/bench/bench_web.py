"""Admin site under load: /api/status through Nginx and gunicorn (2 workers × 4 threads),
50 concurrent keep-alive connections for 30 s with wrk, a logged-in session cookie.

Two runs:
 1. paced — each of the 50 connections sends a request every ~100 ms (≈ 500 req/s, a
    hundred times what 50 open status pages polling every 5 s would send). Target:
    p99 ≤ 50 ms, no error.
 2. saturation — the same 50 connections back to back, as fast as the machine goes:
    the throughput ceiling (printed, no target; on a shared 2-core box latency there is
    queueing, not service time).
wrk -t1 -c50 -d30s: one wrk thread, 50 connections kept open, each sending its next
request when the previous answer came (paced: after a random 50-150 ms pause), for 30 s.
Latency is measured per request, send to answer, pauses excluded.
Usage: python tests/bench/bench_web.py [--duration 30] [--connections 50]"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.web.live import LiveSite, tools_missing  # noqa: E402

LUA = r"""
-- Session cookie and pacing for wrk; prints p50/p99 and errors as one parsable line.
local pace_ms = tonumber(os.getenv("PACE_MS") or "0")
wrk.method = "GET"
wrk.headers["Cookie"] = os.getenv("SESSION_COOKIE")
wrk.headers["Accept"] = "application/json"
function delay()
  if pace_ms > 0 then return pace_ms * (0.5 + math.random()) end
  return 0
end
function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
               + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, errors, summary.errors.status))
end
"""


def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, user+system CPU seconds) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_s(roots: list[int]) -> float:
    """CPU seconds used so far by these processes and their children (gunicorn master and
    workers, Nginx master and worker): the server's own cost, whatever else loads the box."""
    procs: dict[int, tuple[int, float]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                procs[int(p.name)] = _stat(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    keep = set(roots)
    keep |= {pid for pid, (ppid, _) in procs.items() if ppid in keep}
    return sum(cpu for pid, (_, cpu) in procs.items() if pid in keep)


def run_wrk(url: str, cookie: str, connections: int, duration: int, pace_ms: int, script: Path) -> dict[str, float]:
    env = {"SESSION_COOKIE": cookie, "PACE_MS": str(pace_ms), "PATH": "/usr/bin:/bin"}
    # One wrk thread drives the 50 connections easily (thousands of req/s); a second
    # would only take CPU from Nginx and gunicorn on a 2-core box.
    out = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s",
                          "-s", str(script), url], env=env, capture_output=True, text=True, check=True).stdout
    m = re.search(r"RESULT (.*)", out)
    if not m:
        raise RuntimeError("wrk gave no RESULT line:\n" + out)
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=30)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--pace-ms", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn processes (default: config web.workers)")
    ap.add_argument("--threads", type=int, default=4, help="threads per process (default: config web.threads)")
    args = ap.parse_args()
    reason = tools_missing() or (None if shutil.which("wrk") else "wrk not installed (tools/ensure-web-tools.sh)")
    if reason:
        print(f"SKIP: {reason}")
        return 0
    with tempfile.TemporaryDirectory() as d, LiveSite(Path(d), workers=args.workers, threads=args.threads) as site:
        s = site.session()
        assert s.get(site.base + "/api/status", timeout=10).status_code == 200
        cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
        script = Path(d) / "bench.lua"
        script.write_text(LUA)
        url = site.base + "/api/status"
        ok = True
        size = len(s.get(url, timeout=10).content)
        print(f"gunicorn {args.workers} workers x {args.threads} threads; /api/status answer: {size} bytes; "
              f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
        for name, pace in (("paced", args.pace_ms), ("saturation", 0)):
            cpu0 = server_cpu_s([p.pid for p in site.procs])
            r = run_wrk(url, cookie, args.connections, args.duration, pace, script)
            load = os.getloadavg()[0]
            cpu_ms = (server_cpu_s([p.pid for p in site.procs]) - cpu0) * 1000 / max(1.0, r["requests"])
            target = name == "paced"
            passed = r["p99_ms"] <= 50 and r["errors"] == 0 if target else r["errors"] == 0
            ok = ok and passed
            print(f"/api/status {name:<10} {args.connections} conns {args.duration}s: {r['rps']:.0f} req/s  "
                  f"p50 {r['p50_ms']:.1f} ms  p90 {r['p90_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  "
                  f"max {r['max_ms']:.1f} ms  errors {int(r['errors'])} (non-2xx {int(r['non2xx'])})  "
                  f"server CPU {cpu_ms:.2f} ms/request  load avg 1m after {load:.2f}"
                  + (f"  target p99<=50ms: {'PASS' if passed else 'FAIL'}" if target else ""), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
