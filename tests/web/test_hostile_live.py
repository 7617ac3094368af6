"""Issue 12 through the real stack: the shipped Nginx site config over TLS sends HSTS, and a
burst of hostile drafts through Nginx + gunicorn leaves /api/status answering quickly."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import urllib3

from tests.conftest import skip_or_fail
from tests.web.live import NGINX, ROOT, LiveSite, free_port, tools_missing

BURST = 50
STATUS_P99_MS = 100.0
QUIET_P99_MAX_MS = 20.0    # above this with no burst at all, the machine is too busy to judge


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    reason = tools_missing()
    if reason:
        skip_or_fail(reason)


def _nginx_version() -> tuple[int, ...]:
    out = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def test_shipped_site_config_sends_hsts_over_https_only(tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        skip_or_fail("openssl not installed (needed for a test certificate)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=trader.example.com"], check=True, capture_output=True)
    http_port, https_port, app_port = free_port(), free_port(), free_port()
    site = (ROOT / "config" / "nginx" / "showdown.conf").read_text()
    site = (site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
            .replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
            .replace("/etc/letsencrypt/live/trader.example.com/fullchain.pem", str(cert))
            .replace("/etc/letsencrypt/live/trader.example.com/privkey.pem", str(key))
            .replace("/opt/showdown", str(ROOT))
            .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"))   # nothing listens: 502
    if _nginx_version() < (1, 25, 1):      # `http2 on;` is newer than this Nginx; HSTS does not depend on it
        site = site.replace("    http2 on;\n", "")
    user = "user root;" if __import__("os").geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""worker_processes 1; daemon off; {user} pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn; events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {tmp_path}/cb; proxy_temp_path {tmp_path}/px;
fastcgi_temp_path {tmp_path}/fc; uwsgi_temp_path {tmp_path}/uw; scgi_temp_path {tmp_path}/sc;
{site}
}}""")
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.PIPE)
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    try:
        deadline = time.time() + 15
        while True:
            try:
                resp = requests.get(f"https://127.0.0.1:{https_port}/admin/login", verify=False, timeout=2)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"nginx did not start: {proc.stderr.read() if proc.stderr else ''}"
                                         f"{(tmp_path / 'error.log').read_text() if (tmp_path / 'error.log').exists() else ''}")
                time.sleep(0.1)
        hsts = resp.headers.get("Strict-Transport-Security", "")
        m = re.search(r"max-age=(\d+)", hsts)
        assert m and int(m.group(1)) >= 31_536_000, resp.headers
        plain = requests.get(f"http://127.0.0.1:{http_port}/admin/login", allow_redirects=False, timeout=5)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
        assert "Strict-Transport-Security" not in plain.headers     # HSTS over plain HTTP means nothing
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    with LiveSite(tmp_path_factory.mktemp("hostile-live")) as s:
        yield s


def burst_through_nginx(site: LiveSite, drafts: int = BURST, in_flight: int | None = None,
                        rounds: int = 1) -> dict[str, float]:
    """`drafts` hostile drafts in parallel (validate and save alternately, sent from another
    process, `rounds` bursts one after the other) while this one polls /api/status;
    returns the status latencies and the slowest refusal."""
    poller = site.session()
    for _ in range(5):
        poller.get(site.base + "/api/status", timeout=10)               # warm: connections, caches
    latencies: list[float] = []
    cmd = [sys.executable, "-m", "tests.web.hostile_burst", site.base, site.password, str(drafts), str(in_flight or 0), str(rounds)]
    sender = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert sender.stdin is not None and sender.stdout is not None
    assert sender.stdout.readline().strip() == "ready"          # signed in: the burst itself starts now
    for _ in range(5):
        poller.get(site.base + "/api/status", timeout=10)
    sender.stdin.write("go\n")
    sender.stdin.flush()
    deadline = time.time() + 120
    while sender.poll() is None and time.time() < deadline:
        t = time.perf_counter()
        r = poller.get(site.base + "/api/status", timeout=10)
        latencies.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
        time.sleep(0.01)
    out = sender.stdout.read()
    sender.wait(30)
    refusals = [tuple(x) for x in json.loads(out)]
    codes = sorted({c for c, _ in refusals})
    assert len(refusals) == drafts * rounds and set(codes) <= {413, 422, 429, 503}, codes
    assert any(c == 422 for c, _ in refusals), "some drafts must reach the compiler and be refused by it"
    lat = sorted(latencies)
    return {"status_n": len(lat), "status_p50_ms": statistics.median(lat),
            "status_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))], "status_max_ms": lat[-1],
            "slowest_refusal_s": max(s for _, s in refusals), "compiled_and_refused": sum(1 for c, _ in refusals if c == 422),
            "turned_away_429": sum(1 for c, _ in refusals if c == 429)}


def quiet_p99(site: LiveSite, n: int = 80) -> float:
    """/api/status p99 with no burst at all: what this machine gives right now."""
    s = site.session()
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        s.get(site.base + "/api/status", timeout=10)
        lat.append((time.perf_counter() - t) * 1000)
        time.sleep(0.01)
    lat.sort()
    return lat[min(n - 1, int(n * 0.99))]


@pytest.mark.parametrize("in_flight", [None, 2], ids=["all-at-once", "two-in-flight"])
def test_burst_of_hostile_drafts_leaves_status_fast(site: LiveSite, in_flight: int | None) -> None:
    """All 50 at once (five such bursts in a row): Nginx lets 2 reach gunicorn and turns the
    rest away (429). Two in flight: every draft is compiled and refused. /api/status stays
    fast meanwhile."""
    before = {p.name: p.read_text() for p in site.home.rules_dir.glob("*.yaml")}
    quiet = quiet_p99(site)
    # all at once, one burst is over in well under a second: twelve in a row give >= 100 samples
    figures = burst_through_nginx(site, BURST, in_flight, rounds=2 if in_flight else 12)
    print("burst:", in_flight, f"quiet p99 {quiet:.1f} ms", {k: round(v, 1) for k, v in figures.items()})
    if quiet > QUIET_P99_MAX_MS:
        # Other work on this machine already takes a fifth of the budget without any burst
        # (here, quiet p99 is ~5-10 ms): the figure would measure that work, not the site.
        # Say so rather than pass or fail.
        pytest.skip(f"machine too loaded to judge: /api/status p99 {quiet:.0f} ms with no burst at all "
                    f"(burst figures: {figures})")
    if in_flight:
        assert figures["compiled_and_refused"] == 2 * BURST, figures
    assert figures["status_n"] >= 100, figures
    assert figures["status_p99_ms"] <= STATUS_P99_MS, figures
    assert {p.name: p.read_text() for p in site.home.rules_dir.glob("*.yaml")} == before
