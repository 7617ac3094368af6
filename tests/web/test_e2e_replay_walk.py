"""Issue 13, "Done when": an operator walks a running replay in a real headless Chromium,
through a real Nginx in front of the site started plainly (gunicorn, as `showdown web`),
beside `showdown run --source replay` — the whole bot: exchange-sim, collector, analytics,
execution worker. The site and every CLI command find the replay's database on their own
(`showdown run` records it).

The walk: log in with the one-time password the site printed, change it with the printed
command and log in again; see a CLI backtest on the Backtests page; enter a sentiment and see
the next decision's trace use it; run an emergency stop, clear SAFE MODE from the site and
see the worker trade again; break a rule on disk and see the refusal on Status.

The rules are rules/examples/ema_cross.yaml (long or short at every cycle), so the worker
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.paths import shared_data_dir
from tests.web import test_e2e_browser
from tests.web.live import ROOT, LiveSite, free_port
from tests.web.test_e2e_browser import SHOTS, _skip_reason, wait_for

REPLAY_KLINES = "btcusdt-perp-1m-2025-11-10_2025-12-10.csv.gz"
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
        shutil.copy(ROOT / "rules" / "examples" / "ema_cross.yaml", self.rules / "strategy.yaml")
        shutil.copytree(ROOT / "config", root / "config", ignore=shutil.ignore_patterns("config.local.yaml"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOWDOWN", "DB_", "BINANCE_", "TELEGRAM_"))}
        self.env.update({"SHOWDOWN_HOME": str(root), "SHOWDOWN_CONFIG_DIR": str(root / "config"),
                         "SHOWDOWN_RULES_DIR": str(self.rules), "PYTHONPATH": str(ROOT),
                         "SHOWDOWN__EXCHANGE_SIM__PORT": str(free_port()),
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
    browser.get(site.base + "/status/")
    # the password change ended the session: the server-side session is gone, so the page
    # answers with the login form (401) instead of the status
    assert "session has ended" in browser.find_element(By.TAG_NAME, "body").text.lower()
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
        return card.is_displayed() and "strategy.yaml:" in card.text

    until("the refusal on the Status page", refusal_shown)
    shot(browser, "06-refusal-on-status")

    lap("refusal on Status")

    # 7. (issue 13 part 2) the trace summary and the why-not page: their steps go here.

    logs = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    # expected: the 401 of the ended session; the browser's own /favicon.ico guess on the raw
    # JSON trace (the site lives under /admin and names its icon itself)
    # and the 404 of /decisions/latest polled before the first decision exists
    assert not [m for m in logs if "401" not in m and "/favicon.ico" not in m
                and "/decisions/latest" not in m], logs
    assert time.monotonic() - started < 150, f"the walk took {time.monotonic() - started:.0f} s"
