"""End to end in a real headless Chromium, through a real Nginx in front of real gunicorn,
with the site under /admin/, against a tmp SHOWDOWN_HOME and SQLite DB.

Screenshots go to artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.web.live import ROOT, LiveSite, tools_missing

SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _skip_reason() -> str | None:
    reason = tools_missing()
    if reason:
        return reason
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        return "chromium / chromium-driver not installed (tools/ensure-web-tools.sh installs them)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e '.[dev]')"
    return None


pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def _browser_and_proxy_present() -> None:
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with LiveSite(tmp_path_factory.mktemp("live")) as s:
        yield s


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def wait_for(driver, css: str, timeout: float = 10):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_login_and_status(site, browser):
    from selenium.webdriver.common.by import By

    browser.get(site.base + "/status/")
    assert "/admin/login" in browser.current_url  # redirected, under the prefix
    browser.find_element(By.ID, "username").send_keys("admin")
    browser.find_element(By.ID, "password").send_keys("wrong-password")
    browser.find_element(By.ID, "login-submit").click()
    assert "Wrong user name or password" in wait_for(browser, "#login-error").text
    browser.find_element(By.ID, "password").send_keys(site.password)
    browser.find_element(By.ID, "login-submit").click()
    state = wait_for(browser, "#bot-state")
    browser.get_log("browser")  # drain: the wrong-password 401 above is expected
    assert browser.current_url.startswith(site.base + "/status/")
    assert state.text == "IDLE"
    assert "admin · admin" in browser.find_element(By.ID, "who").text
    # the stylesheet loaded through the prefix: the dark background is applied
    bg = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(15, 20, 25)"
    shot(browser, "01-status")
    # the page refreshes itself from /api/status (the timestamp changes within ~5 s)
    before = browser.find_element(By.ID, "updated").text
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 12).until(lambda d: d.find_element(By.ID, "updated").text != before)
    logs = browser.get_log("browser") if hasattr(browser, "get_log") else []
    severe = [e["message"] for e in logs if e.get("level") == "SEVERE"]
    assert not severe, "\n".join(severe)


def test_rules_api_answers_through_nginx(site):
    """GET /admin/api/rules (the files and versions) reaches the app through the shipped
    Nginx locations: not a 301 to /api/rules/ that the app answers 404 (found by the replay
    scan); the drafts under /api/rules/ keep their own, rate-limited location."""
    s = site.session()
    resp = s.get(site.base + "/api/rules", timeout=10, allow_redirects=False)
    assert resp.status_code == 200, (resp.status_code, resp.text[:200])
    assert {f["name"] for f in resp.json()["files"]} >= {"strategy.yaml", "risk.yaml"}
    assert s.post(site.base + "/api/rules/validate", json={}, timeout=10).status_code in (400, 422)


def test_market_chart_renders(site, browser):
    browser.get(site.base + "/market/?tf=5m")
    wait_for(browser, "#chart")
    shot(browser, "02-market")
    assert browser.execute_script("return typeof LightweightCharts") == "object"


def test_etf_paste_refused_then_accepted_and_shown_in_flow(site, browser):
    import copy
    import json

    from selenium.webdriver.common.by import By

    from tests.input_fuzz import GOOD

    browser.get(site.base + "/inputs/")
    bad = copy.deepcopy(GOOD["etf"])
    bad["history"][1]["net_flow_usd"] = "87,300,000"
    bad["as_of"] = "2025-12-06"
    box = wait_for(browser, "#etf-payload")
    browser.execute_script("arguments[0].value = arguments[1]", box, json.dumps(bad, indent=2))
    browser.find_element(By.ID, "etf-submit").click()
    problems = wait_for(browser, "#etf-problems").text
    assert "$.history[1].net_flow_usd" in problems and "$.as_of" in problems
    shot(browser, "03-etf-refused")
    box = browser.find_element(By.ID, "etf-payload")
    browser.execute_script("arguments[0].value = arguments[1]", box, json.dumps(GOOD["etf"], indent=2))
    browser.find_element(By.ID, "etf-submit").click()
    assert "etf input accepted" in wait_for(browser, ".flash.ok").text
    browser.get(site.base + "/flow/")
    etf = wait_for(browser, "#inputs-etf").text
    assert "2025-12-05" in etf and "87.3 M" in etf  # USD flows compact (issue 13)
    shot(browser, "04-flow")


def activate(site, at: str = "2025-12-07T12:00:00Z") -> str:
    """One cycle of the real analysis loop (`showdown analyze --once`) in the site's
    environment: it loads the rules from the rules dir, records the version it activates
    in `rulesets`, and stores its decision with the trace. The site has no candles, so
    the cycle runs as stale (--stale): flat with the reason, every rule in the trace."""
    import sqlite3
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "cli.main", "analyze", "--once", "--stale", "--no-watch",
                          "--at", at], env=site.env(), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, (out.stdout + out.stderr)[-2000:]
    with sqlite3.connect(site.home.var / "showdown.sqlite") as con:
        row = con.execute("select hash from rulesets where activated_at_ms is not null "
                          "order by activated_at_ms desc, id desc limit 1").fetchone()
    assert row is not None, out.stdout[-2000:]
    return str(row[0])


def start_loop(site):
    """The real analysis loop, watching the rules dir; returns once it runs (its heartbeat)."""
    import sqlite3
    import subprocess
    import sys
    import time

    loop = subprocess.Popen([sys.executable, "-m", "cli.main", "analyze"], env=site.env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert loop.poll() is None, loop.communicate()[0][-2000:]
        with sqlite3.connect(site.home.var / "showdown.sqlite") as con:
            row = con.execute("select state from bot_state where component = 'analytics'").fetchone()
        if row and row[0] == "RUNNING":
            return loop
        time.sleep(0.2)
    loop.kill()
    raise AssertionError("the analysis loop did not start: " + loop.communicate()[0][-2000:])


def test_rules_refused_with_line_then_fixed_saved_activated_and_traced(site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    first = activate(site)  # the version in force before the edit
    loop = start_loop(site)  # `showdown analyze`, whose watcher activates what the site saves
    browser.get(site.base + "/rules/?file=strategy.yaml")
    wait_for(browser, ".CodeMirror")
    assert browser.find_element(By.ID, "active-version").text == first[:12]
    original = browser.execute_script("return window.rulesEditor.getValue()")
    lines = original.splitlines(True)
    assert "{gte: 0.6}" in lines[27]
    lines[27] = lines[27].replace("{gte: 0.6}", "{gtee: 0.6}")
    broken = "".join(lines)

    # break a rule: Validate lists the problem with file:line:col and marks line 28
    browser.execute_script("window.rulesEditor.setValue(arguments[0])", broken)
    browser.find_element(By.ID, "rules-validate").click()
    problems = wait_for(browser, "#rules-problems").text
    assert "strategy.yaml:28:" in problems and "gtee" in problems
    marked = browser.execute_script("return window.rulesEditor.lineInfo(27).bgClass || ''")
    assert "cm-error-line" in marked
    assert browser.find_elements(By.CSS_SELECTOR, ".problem-mark")
    shot(browser, "05-rules-invalid")

    # Save is refused with the same line; the file on disk is unchanged
    browser.find_element(By.ID, "rules-save").click()
    assert "Not saved" in wait_for(browser, "#rules-refused").text
    assert "strategy.yaml:28:" in browser.find_element(By.ID, "rules-problems").text
    assert (site.home.rules_dir / "strategy.yaml").read_text() == original
    shot(browser, "06-rules-save-refused")

    # fix it with a new threshold (to see it in the next trace), diff, save
    fixed_lines = original.splitlines(True)
    fixed_lines[27] = fixed_lines[27].replace("{gte: 0.6}", "{gte: 0.65}")
    fixed = "".join(fixed_lines)
    browser.execute_script("window.rulesEditor.setValue(arguments[0])", fixed)
    browser.find_element(By.ID, "rules-diffbtn").click()
    diff = wait_for(browser, "#rules-diff").text
    assert "+        liquidation.max_strength_below: {gte: 0.65}" in diff
    shot(browser, "07-rules-diff")
    browser.find_element(By.ID, "rules-save").click()
    assert "Saved strategy.yaml" in wait_for(browser, ".flash.ok").text
    assert (site.home.rules_dir / "strategy.yaml").read_text() == fixed
    shot(browser, "08-rules-saved")

    # the running loop's watcher activates it; the status page (refreshing itself) shows it
    from engine.rules.compiler import content_hash
    second = content_hash({p.name: p.read_text() for p in site.home.rules_dir.glob("*.yaml")})
    assert second != first
    browser.get(site.base + "/status/")
    try:
        WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "ruleset-version").text == second[:12])
    finally:
        loop.terminate()
        out = loop.communicate(timeout=30)[0]
    assert loop.returncode == 0, out[-2000:]
    import sqlite3
    with sqlite3.connect(site.home.var / "showdown.sqlite") as con:
        by = con.execute("select activated_by from rulesets where hash = ?", (second,)).fetchone()
    assert by == ("watcher",), out[-2000:]
    shot(browser, "09-status-new-version")
    # The loop ran the current window's cycle as it started (no candles: stale, flat) with
    # the old version; that cycle run again is the latest decision, now by the new one.
    now = datetime.now(UTC)
    assert activate(site, now.replace(minute=now.minute - now.minute % 5, second=0).strftime("%Y-%m-%dT%H:%M:%SZ")) \
        == second

    # history lists both, the old one can be rolled back to
    browser.get(site.base + "/rules/")
    history = wait_for(browser, "#rules-history").text
    assert first[:12] in history and second[:12] in history and "roll back" in history

    # the latest decision's trace: made by the new version, with its decision and why-not
    browser.get(site.base + "/status/")
    wait_for(browser, "#last-decision a").click()
    text = wait_for(browser, "#trace-text").text
    assert f"version {second}" in text and "DECISION FLAT" in text and "[why not]" in text
    shot(browser, "10-trace")
    # the deliberate refusals answer 422 (the browser logs those); nothing else may fail
    severe = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"
              and "status of 422" not in e["message"]]
    assert not severe, "\n".join(severe)
