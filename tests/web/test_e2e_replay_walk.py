"""Issue 13, "Done when": an operator walks a running replay in a real headless Chromium,
through a real Nginx in front of the site started plainly (gunicorn, as `showdown web`),
beside `showdown run --source replay` — the whole bot: exchange-sim, collector, analytics,
execution worker. The site and every CLI command find the replay's database on their own
(`showdown run` records it).

The walk: log in with the one-time password the site printed, change it with the printed
command and log in again; see a CLI backtest on the Backtests page; enter a sentiment and see
the next decision's trace use it; run an emergency stop, clear SAFE MODE from the site and
see the worker trade again; break a rule on disk and see the refusal on Status.

Then the trace at a glance (long/short score bars against the threshold, the deciding rule,
the nearest misses) and the "Why no trade?" page. A second test scans every page and API
answer of the same running replay for raw numbers (tests/web/test_formatting.py's checks).

The rules are tests/web/fixtures/replay_walk_rules.yaml (EMA 20/50 as scores against
risk.min_score: long or short at every cycle, flat while a position is open), so the worker
has something to trade as soon as it may. Screenshots go to artifacts/screenshots/replay-*.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.paths import shared_data_dir
from tests.free_ports import free_port_pair
from tests.web import test_e2e_browser
from tests.web.live import ROOT, LiveSite
from tests.web.test_e2e_browser import SHOTS, _skip_reason, wait_for

REPLAY_KLINES = "btcusdt-perp-1m-2025-11-10_2025-12-10.csv.gz"
WALK_RULES = Path(__file__).parent / "fixtures" / "replay_walk_rules.yaml"
SPEED = 60  # one replayed minute per wall second: a cycle every 5 s
NEW_PASSWORD = "replay-walk-pass-2"

pytestmark = [pytest.mark.slow]
chromium = test_e2e_browser.browser  # the same headless Chromium fixture (module scope)


@pytest.fixture(scope="module", autouse=True)
def _tools_and_data_present() -> None:
    from tests.conftest import skip_or_fail

    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)
    if not (shared_data_dir() / REPLAY_KLINES).exists():
        pytest.skip(f"needs {shared_data_dir() / REPLAY_KLINES} (../shared/data absent)")


def until(what: str, check: Callable[[], Any], timeout: float = 45, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Replay:
    """`showdown run --source replay --no-web` in its own home, and the CLI beside it."""

    def __init__(self, root: Path):
        self.root = root
        self.rules = root / "rules"
        self.rules.mkdir(parents=True)
        shutil.copy(WALK_RULES, self.rules / "strategy.yaml")
        shutil.copytree(ROOT / "config", root / "config", ignore=shutil.ignore_patterns("config.local.yaml"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOWDOWN", "DB_", "BINANCE_", "TELEGRAM_"))}
        self.env.update({"SHOWDOWN_HOME": str(root), "SHOWDOWN_CONFIG_DIR": str(root / "config"),
                         "SHOWDOWN_RULES_DIR": str(self.rules), "PYTHONPATH": str(ROOT),
                         "SHOWDOWN__EXCHANGE_SIM__PORT": str(free_port_pair()),
                         "SHOWDOWN__EXECUTION__COOLDOWN_AFTER_EXIT_S": "60"})
        self.log = open(root / "run.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "--source", "replay", "--no-web",
                                      "--speed", str(SPEED)], env=self.env, cwd=root, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.db = root / "var" / "replay-showdown.sqlite"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([sys.executable, "-m", "cli.main", *args], env=self.env, cwd=self.root,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"showdown {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
        return out

    def cli_in_background(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=self.env, cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db, timeout=10) as con:
            try:
                return con.execute(sql).fetchall()
            except sqlite3.OperationalError:
                return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C: the supervisor stops its children in order
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()

    def output(self) -> str:
        return (self.root / "run.log").read_text(errors="replace")


class SiteOnItsOwn(LiveSite):
    """The site as `showdown web` starts it: nothing prepared for it (no migration, no user)."""

    def prepare(self) -> None:
        pass


@pytest.fixture(scope="module")
def walk(tmp_path_factory) -> Iterator[tuple[Replay, SiteOnItsOwn]]:
    root = tmp_path_factory.mktemp("replay-walk")
    replay = Replay(root)
    try:
        until("showdown run to record the database in force", lambda: (root / "var" / "database_in_force.json").exists()
              or replay.proc.poll() is not None, timeout=60)
        assert replay.proc.poll() is None, replay.output()
        site = SiteOnItsOwn(root, workers=1, threads=4, env={"SHOWDOWN_RULES_DIR": str(replay.rules)})
        with site:
            yield replay, site
    finally:
        replay.stop()


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(SHOTS / f"replay-{name}.png"))


def login(driver, site: SiteOnItsOwn, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(site.base + "/status/")
    assert "/admin/login" in driver.current_url
    driver.find_element(By.ID, "username").send_keys("admin")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    wait_for(driver, "#bot-state", 20)


def confirm_and_submit(driver, form_css: str, word: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    form = driver.find_element(By.CSS_SELECTOR, form_css)
    form.find_element(By.NAME, "confirm").send_keys(word)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 5).until(ec.alert_is_present()).accept()  # the "are you sure?" dialog
    wait_for(driver, ".flash", 20)


def test_walk_a_replay(walk, chromium) -> None:
    from selenium.webdriver.common.by import By

    replay, site = walk
    browser = chromium
    started = time.monotonic()

    def lap(step: str) -> None:
        print(f"[replay walk] {time.monotonic() - started:5.1f} s  {step}")

    # 1. log in with the one-time password the site printed; change it with the printed command
    printed = until("the first admin's one-time password", lambda: re.search(
        r"one-time password: (\S+)\nchange it: (showdown user passwd admin)", (site.tmp / "gunicorn.log").read_text()))
    first_password, command = printed.group(1), printed.group(2)
    login(browser, site, first_password)
    top = browser.find_element(By.ID, "database").text
    assert top == "database: replay", top
    assert "REPLAY — NOT LIVE PRICES" in browser.find_element(By.CSS_SELECTOR, ".replay-banner").text
    shot(browser, "01-first-login")
    changed = replay.cli(*command.split()[1:], "--password", NEW_PASSWORD)
    assert changed.stderr.startswith("database: REPLAY ("), changed.stderr  # it found the replay's users
    assert "password of admin changed" in changed.stdout
    # the password change ended the session: the open Status page says so at its next
    # refresh, without a reload, and the next page asked for is the login form
    ended = until("the open page saying the session has ended", lambda: browser.find_elements(By.ID, "session-ended"),
                  timeout=15)
    assert ended[0].text.startswith("Your session has ended; sign in again"), ended[0].text
    browser.get(site.base + "/status/")
    browser.find_element(By.ID, "username").send_keys("admin")
    browser.find_element(By.ID, "password").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait_for(browser, "#bot-state", 20)

    lap("logged in twice")

    # 2. a CLI backtest over the candles the replay collected, run beside the next steps
    until("the collector's history", lambda: (replay.query(
        "select count(*) from candles where timeframe = '1m'") or [(0,)])[0][0] > 30_000, timeout=90)
    backtest = replay.cli_in_background("backtest", "--from", "2025-12-05T00:00:00Z", "--to", "2025-12-05T03:00:00Z")
    lap("replay history collected")

    # 3. a sentiment, dated by the replay clock, used by the next decision
    browser.get(site.base + "/inputs/")
    as_of = browser.find_element(By.ID, "sentiment-as-of").get_attribute("value")
    assert as_of.startswith("2025-12-"), as_of  # the replay's "now", not today's date
    browser.execute_script("const s = document.getElementById('sentiment-score'); s.value = '1.4';"
                           "s.dispatchEvent(new Event('input'));")
    browser.find_element(By.ID, "sentiment-comment").send_keys("replay walk")
    browser.find_element(By.ID, "sentiment-submit").click()
    assert "sentiment input accepted" in wait_for(browser, ".flash.ok").text
    used = re.compile(r'"news_sentiment":\s*\{[^}]*"score":\s*1\.4\b')

    def next_trace_uses_it() -> bool:
        # the decision page shows the trace at a glance; the facts it saw are in the raw trace
        browser.get(site.base + "/decisions/latest")
        links = browser.find_elements(By.ID, "raw-trace-link")
        if not links:
            return False
        browser.get(links[0].get_attribute("href"))
        return bool(used.search(browser.page_source))

    until("a decision whose trace reads the sentiment", next_trace_uses_it, every=2)
    shot(browser, "02-trace-uses-sentiment")

    lap("trace uses the sentiment")

    # 4. emergency stop (a lowercase "stop" confirms it), SAFE MODE, cleared from the site, trading again
    browser.get(site.base + "/control/")
    browser.find_element(By.NAME, "reason").send_keys("replay walk drill")
    confirm_and_submit(browser, "form[action$='/control/emergency-stop']", "stop")

    def in_safe_mode() -> bool:
        browser.get(site.base + "/status/")
        return bool(browser.find_elements(By.ID, "safe-mode-banner"))

    until("the worker in SAFE MODE after the emergency stop", in_safe_mode)
    assert "SAFE MODE (emergency_stop)" in browser.find_element(By.ID, "safe-mode-banner").text
    assert browser.find_element(By.ID, "entries").text.startswith("blocked: SAFE MODE (emergency_stop)")
    shot(browser, "03-safe-mode")
    entries_before = replay.query("select count(*) from orders where role = 'entry'")[0][0]
    browser.get(site.base + "/control/")
    browser.find_element(By.ID, "resume").click()  # the stop paused entries too
    # resume does not pretend: SAFE MODE still blocks entries, and the page says so
    assert "SAFE MODE (emergency_stop)" in wait_for(browser, "main > .flash.error:not([role=alert])").text
    confirm_and_submit(browser, "form[action$='/control/clear-safe-mode']", "CLEAR")
    until("SAFE MODE cleared by the running worker", lambda: not in_safe_mode())
    until("the worker entering a trade again", lambda: replay.query(
        "select count(*) from orders where role = 'entry'")[0][0] > entries_before, timeout=60)
    browser.get(site.base + "/status/")
    assert browser.find_element(By.ID, "entries").text == "allowed"
    assert browser.find_element(By.ID, "bot-state").text != "SAFE_MODE"
    shot(browser, "04-trading-again")

    lap("trading again")

    # 5. the backtest on the Backtests page (it read the rules before the next step breaks them)
    out, err = backtest.communicate(timeout=120)
    assert backtest.returncode == 0, out + err
    run_id = int(re.search(r"^run (\d+):", out, re.M).group(1))  # type: ignore[union-attr]
    assert err.startswith("database: REPLAY ("), err  # it found the replay's candles on its own
    assert f"var/backtests/sqlite-replay-showdown-{run_id}" in out
    browser.get(site.base + "/backtest/")
    assert browser.find_element(By.CSS_SELECTOR, f"a[href$='/backtest/{run_id}']").text == str(run_id)
    shot(browser, "05-backtests")
    lap("backtest seen")

    # 6. a rule broken on disk: the refusal on Status, with file:line:col
    (replay.rules / "strategy.yaml").write_text("ruleset: ema_cross\nrules: [oops\n")

    def refusal_shown() -> bool:
        browser.get(site.base + "/status/")
        card = browser.find_element(By.ID, "rules-refusal-card")
        return card.is_displayed() and bool(re.search(r"strategy\.yaml:\d+:\d+: not valid YAML", card.text))

    until("the refusal on the Status page", refusal_shown)
    shot(browser, "06-refusal-on-status")

    lap("refusal on Status")

    # 7. the latest decision at a glance: both scores as bars against the threshold, the rule
    # that decided, the nearest misses formatted by field
    browser.get(site.base + "/decisions/latest")
    summary = wait_for(browser, "#trace-summary")
    action = summary.find_element(By.CSS_SELECTOR, "p b").text.lower()
    filled = {}
    for side in ("long", "short"):
        bar = browser.find_element(By.ID, f"score-{side}")
        assert bar.get_attribute("data-threshold") == "0.55"  # risk.min_score, as configured
        line = bar.find_element(By.CSS_SELECTOR, ".threshold").rect
        assert abs((line["x"] - bar.rect["x"]) / bar.rect["width"] - 0.55) < 0.01
        filled[side] = bar.find_element(By.CSS_SELECTOR, ".fill").rect["width"] / bar.rect["width"]
        assert bar.get_attribute("data-score") in ("0.70", "0.00"), bar.get_attribute("data-score")
    # EMA 20 above or below EMA 50: one side scores 0.70 (past the threshold), the other nothing
    assert sorted(round(f, 2) for f in filled.values()) == [0.0, 0.7], filled
    decided = browser.find_element(By.ID, "decided-by").text
    if action == "flat":
        assert decided.startswith("Decided by risk.position_open (veto, stage risk)"), decided
    else:
        assert decided.startswith(f"Decided by candidate.{action} (candidate, stage candidate)"), decided
        assert "score." + action in decided and "≥ 0.55 (risk.min_score)" in decided
    misses = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#nearest-misses li")]
    other = "short" if filled["long"] > filled["short"] else "long"
    # the other side's candidate missed its threshold, named by what it would have done
    assert f"candidate.{other}: score.{other} 0.00, needed ≥ 0.55 [candidate {other}]" in misses, misses
    browser.set_window_size(1400, 1300)
    shot(browser, "07-trace-summary")
    # 8. "Why no trade?": the cycles of the last 24 h of the replay's clock, flat while in a position
    def flat_while_in_position() -> bool:
        browser.get(site.base + "/why-not/")
        counts = wait_for(browser, "#why-not-counts").text
        cycles, flat = re.search(r"(\d+) cycle\(s\):.*flat (\d+)", counts).groups()  # type: ignore[union-attr]
        assert int(cycles) >= int(flat), counts
        return bool(re.search(r"position_open \d+ \d", browser.find_element(By.ID, "flat-reasons").text))

    # the trade entered in step 4 is open: the next cycle is flat (one position at a time)
    until("a flat cycle for the open position on the why-not page", flat_while_in_position, every=1)
    assert "risk.position_open" in browser.find_element(By.ID, "blocking-rules").text
    closest = browser.find_element(By.ID, "closest").text
    assert "risk.position_open (veto)" in closest and "(0.55)" in closest, closest
    assert "up to 2025-12-" in browser.find_element(By.TAG_NAME, "h1").text  # the replay's clock
    shot(browser, "08-why-not")
    browser.set_window_size(1400, 1000)

    lap("trace summary and why-not")

    logs = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    # expected: the 401 of the ended session; the browser's own /favicon.ico guess on the raw
    # JSON trace (the site lives under /admin and names its icon itself)
    # and the 404 of /decisions/latest polled before the first decision exists
    assert not [m for m in logs if "401" not in m and "/favicon.ico" not in m
                and "/decisions/latest" not in m], logs
    assert time.monotonic() - started < 150, f"the walk took {time.monotonic() - started:.0f} s"


SCAN_PASSWORD = "replay-scan-pass-3"
SCAN_SKIP = ("/static/", "/login", "/logout", "/api/csrf", "/api/openapi.json")
PER_PATTERN = 3  # pages of one shape (/decisions/<id>, /backtest/<id>): the first three found


def _crawl(session: Any, site: SiteOnItsOwn, start: list[str], limit: int = 120) -> list[tuple[str, Any]]:
    """Every page reachable from the navigation and the given entry points, following the
    site's own links (pages of one shape — a decision, a run — up to PER_PATTERN each):
    [(path, response)]."""
    from html import unescape

    prefix = "/" + site.base.split("/", 3)[3]
    queue, seen, shapes, out = list(start), set(start), Counter[str](), []
    while queue and len(out) < limit:
        path = queue.pop(0)
        shape = re.sub(r"\d+", "N", path)
        shapes[shape] += 1
        if shapes[shape] > PER_PATTERN:
            continue
        resp = session.get(site.base + path, timeout=30)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
        out.append((path, resp))
        if "html" not in resp.headers.get("Content-Type", ""):
            continue
        for href in re.findall(r'href="([^"#]+)"', resp.text):
            href = unescape(href)
            if href.startswith(prefix + "/") and not any(s in href for s in SCAN_SKIP):
                p = href[len(prefix):]
                if p not in seen:
                    seen.add(p)
                    queue.append(p)
    return out


def test_every_page_and_api_answer_of_the_replay_formats_numbers_by_meaning(walk) -> None:
    """Issue 13, "Done when" 2, on the replay the walk ran (the same running bot, its own
    decisions, trades, backtest and logs): no float printed with more digits than its
    field's precision, no Python dict or list repr, no epoch number shown as a time — on
    every page the site links to and every API answer."""
    import requests

    from tests.web.test_formatting import api_problems, page_problems

    replay, site = walk
    started = time.monotonic()
    replay.cli("user", "passwd", "admin", "--password", SCAN_PASSWORD)
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(site.base + "/login", timeout=10).text).group(1)  # type: ignore[union-attr]
    assert s.post(site.base + "/login", data={"username": "admin", "password": SCAN_PASSWORD, "csrf_token": token},
                  timeout=10, allow_redirects=False).status_code == 302
    latest = s.get(site.base + "/api/decision", timeout=10).json()
    runs = s.get(site.base + "/api/backtest/runs", timeout=10).json()
    starts = ["/status/", "/market/?tf=1m", "/market/?tf=5m", "/market/candles.json?tf=5m", "/market/candles.json?tf=1m",
              "/decisions/?hours=336", "/why-not/?since=7d", "/api/status", "/api/snapshot", "/api/flow", "/api/decision",
              f"/api/decision?id={latest['id']}&trace=1", "/api/position", "/api/orders", "/api/logs", "/api/rules",
              "/api/backtest/runs", "/confirmations/api",
              *[f"/api/backtest/run/{r['id']}" for r in runs["runs"][:2]]]
    pages = _crawl(s, site, starts)
    problems: list[str] = []
    kinds: Counter[str] = Counter()
    for path, resp in pages:
        if "json" in resp.headers.get("Content-Type", ""):
            kinds["json"] += 1
            problems += api_problems(path, resp.json())
        else:
            kinds["html"] += 1
            problems += page_problems(path, resp.text)
    print(f"[replay scan] {len(pages)} answers ({dict(kinds)}) in {time.monotonic() - started:.1f} s")
    scanned = {re.sub(r"\d+", "N", p) for p, _ in pages}
    for must in ("/status/", "/flow/", "/position/", "/decisions/N", "/backtest/N", "/why-not/", "/logs/", "/rules/",
                 "/inputs/", "/control/", "/audit/", "/api/decision?id=N&trace=N"):
        assert must in scanned, (must, sorted(scanned))
    assert not problems, "\n".join(problems[:40])
