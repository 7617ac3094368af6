"""In a real Chromium through Nginx and gunicorn, on a replay-like site (issue 13): the trace
summary and the why-not page (screenshots kept), the backtest equity chart showing the whole
period, the market chart with room after the last bar, the Position page."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.web.live import ROOT, LiveSite
from tests.web.test_e2e_browser import _browser_and_proxy_present, browser, shot, wait_for  # noqa: F401

pytestmark = [pytest.mark.slow]

SEED = ("from engine.config import load_config; from engine.paths import home; "
        "from connectors.db import open_database; from tests.web.seed_replay import seed_replay; import json; "
        "open_database(load_config(), home().ensure()); print(json.dumps(seed_replay()))")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    import json

    with LiveSite(tmp_path_factory.mktemp("glance")) as s:
        out = subprocess.run([sys.executable, "-c", SEED], env=s.env(), cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout
        s.ids = json.loads(out.strip().splitlines()[-1])
        yield s


@pytest.fixture(scope="module")
def logged_in(site, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.get(site.base + "/login")
    browser.find_element(By.ID, "username").send_keys("admin")
    browser.find_element(By.ID, "password").send_keys(site.password)
    browser.find_element(By.ID, "login-submit").click()
    wait_for(browser, "#bot-state")
    return browser


def test_trace_summary_at_a_glance(site, logged_in):
    from selenium.webdriver.common.by import By

    b = logged_in
    b.get(site.base + f"/decisions/{site.ids['decision_ids'][-1]}")
    summary = wait_for(b, "#trace-summary")
    long_bar = b.find_element(By.CSS_SELECTOR, "#score-long .fill")
    threshold = b.find_element(By.CSS_SELECTOR, "#score-long .threshold")
    bar_box = b.find_element(By.CSS_SELECTOR, "#score-long").rect
    # the threshold line stands at 55 % of the bar; the score fills less than that (a flat, weak cycle)
    assert abs((threshold.rect["x"] - bar_box["x"]) / bar_box["width"] - 0.55) < 0.01
    assert 0 < long_bar.rect["width"] < threshold.rect["x"] - bar_box["x"]
    assert "Decided by flat.weak" in summary.text and "Nearest misses" in summary.text
    b.set_window_size(1400, 1300)
    shot(b, "13-trace-summary")
    b.find_element(By.CSS_SELECTOR, "details#trace > summary").click()  # sections collapse
    assert b.find_element(By.ID, "trace").get_attribute("open") is None
    assert not b.find_element(By.ID, "trace-text").is_displayed()
    b.set_window_size(1400, 1000)


def test_why_not_page(site, logged_in):
    b = logged_in
    b.get(site.base + "/why-not/")
    counts = wait_for(b, "#why-not-counts").text
    assert "13 cycle(s)" in counts
    assert "flat.weak" in wait_for(b, "#blocking-rules").text
    b.set_window_size(1400, 1300)
    shot(b, "13-why-not")
    b.set_window_size(1400, 1000)


def test_backtest_equity_chart_opens_on_the_whole_period(site, logged_in):
    b = logged_in
    b.get(site.base + f"/backtest/{site.ids['run_id']}")
    wait_for(b, "#chart canvas")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(b, 10).until(lambda d: d.execute_script("return !!(window.showdownCharts && showdownCharts.equity)"))
    rng = b.execute_script("const r = window.showdownCharts.equity.timeScale().getVisibleRange(); return [r.from, r.to];")
    first, last = b.execute_script("const p = JSON.parse(document.getElementById('chart').dataset.equity);"
                                   "return [p[0].time, p[p.length - 1].time];")
    assert rng[0] <= first and rng[1] >= last, (rng, first, last)  # all 18 days, not the last 8
    shot(b, "13-backtest-run")


def test_market_chart_leaves_room_after_the_last_bar(site, logged_in):
    b = logged_in
    b.get(site.base + "/market/?tf=5m")
    wait_for(b, "#chart canvas")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(b, 10).until(lambda d: d.execute_script("return !!window.showdownChart"))
    logical = b.execute_script("const r = window.showdownChart.timeScale().getVisibleLogicalRange(); return r && r.to;")
    bars = b.execute_script("return window.showdownChart ? 300 : 0")
    assert logical is not None and logical >= bars - 1 + 3, logical  # markers on the last bar are not cut
    shot(b, "13-market")


def test_position_page(site, logged_in):
    b = logged_in
    b.get(site.base + "/position/")
    assert "89,234.6" in wait_for(b, "#mark-price").text
    wait_for(b, "#chart canvas")
    shot(b, "13-position")
    # the worker sees a new mark: the open trade's figures follow within a refresh
    script = ("from engine.config import load_config; from engine.paths import home; "
              "from connectors.db import open_database; from connectors.db import models as m; "
              "open_database(load_config(), home().ensure()); "
              "r = m.BotState.get(m.BotState.component == 'execution'); d = dict(r.details); "
              "d['position'] = dict(d['position'], mark_price='89300.00000000'); "
              "m.BotState.update(details=d).where(m.BotState.id == r.id).execute()")
    subprocess.run([sys.executable, "-c", script], env=site.env(), cwd=ROOT, check=True)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(b, 15).until(lambda d: "89,300.0" in d.find_element(By.ID, "mark-price").text)
    assert "+2.79 USDT" in b.find_element(By.ID, "unrealized-pnl").text  # (89300 - 89160.4) x 0.02


def _set_execution(site, **details) -> None:
    """Change the execution worker's heartbeat details, as the running worker would."""
    script = ("import json, sys; from engine.config import load_config; from engine.paths import home; "
              "from connectors.db import open_database; from connectors.db import models as m; "
              "open_database(load_config(), home().ensure()); "
              "r = m.BotState.get(m.BotState.component == 'execution'); d = dict(r.details); "
              "d.update(json.loads(sys.argv[1])); d = {k: v for k, v in d.items() if v is not None}; "
              "st = 'SAFE_MODE' if d.get('safe_mode') else 'RUNNING'; "
              "m.BotState.update(details=d, state=st).where(m.BotState.id == r.id).execute()")
    import json

    subprocess.run([sys.executable, "-c", script, json.dumps(details)], env=site.env(), cwd=ROOT, check=True)


def test_safe_mode_banner_comes_and_goes_without_a_reload(site, logged_in):
    """Issue 13 item 2: the worker enters SAFE MODE while a page is open — the banner shows
    within a refresh, on any page (here Position) and on Status; it goes when SAFE MODE ends."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    b = logged_in
    try:
        # appears on a page other than Status (site.js reads /api/status itself)...
        b.get(site.base + "/position/")
        wait_for(b, "#mark-price")
        assert not b.find_elements(By.ID, "safe-mode-banner")
        b.execute_script("window.sameLoad = 'yes';")  # gone if the page reloads
        _set_execution(site, safe_mode="emergency_stop")
        WebDriverWait(b, 15).until(lambda d: d.find_elements(By.ID, "safe-mode-banner"))
        banner = b.find_element(By.ID, "safe-mode-banner").text
        assert "SAFE MODE (emergency_stop)." in banner and "orders cancelled" in banner, banner
        assert b.find_element(By.CSS_SELECTOR, "#safe-mode-banner a").text == "Control"  # admin: the way out
        assert b.execute_script("return window.sameLoad") == "yes", "the Position page reloaded"
        shot(b, "13-safe-mode-banner")
        # ...and goes on Status (fed by the Status page's own refresh, status.js)
        b.get(site.base + "/status/")
        assert "SAFE MODE (emergency_stop)." in wait_for(b, "#safe-mode-banner").text
        b.execute_script("window.sameLoad = 'yes';")
        _set_execution(site, safe_mode=None)
        WebDriverWait(b, 15).until(lambda d: not d.find_elements(By.ID, "safe-mode-banner"))
        assert b.execute_script("return window.sameLoad") == "yes", "the Status page reloaded"
        # the refresh that removed the banner rewrote the figures too: prices to the tick, quantities to the step
        position = b.find_element(By.ID, "position").text
        assert "89,160.4" in position and "88,712.3" in position and "0.020" in position, position
        assert "88,712.3" in b.find_element(By.ID, "orders").text
    finally:
        _set_execution(site, safe_mode=None)


def test_liquidation_zones_are_shaded_bands_by_strength(site, logged_in):
    """Issue 13 item 8: a liquidation zone on the market chart is a band over its price range
    (shaded, more opaque the stronger), not two lines at its edges: the middle of the band
    is tinted, not the chart's background."""
    import io

    from PIL import Image
    from selenium.webdriver.support.ui import WebDriverWait

    script = ("from engine.config import load_config; from engine.paths import home; "
              "from connectors.db import open_database; from connectors.db import models as m; "
              "open_database(load_config(), home().ensure()); "
              "f = m.Flow.select().order_by(m.Flow.as_of_ms.desc()).first(); d = dict(f.document); "
              "d['liquidation_zones'] = {'below_price': [{'price': 88750, 'zone': [88700, 88800], 'side': 'long', "
              "'strength': 0.9}, {'price': 88600, 'zone': [88580, 88620], 'side': 'long', 'strength': 0.2}], "
              "'above_price': []}; "
              "m.Flow.create(symbol=f.symbol, as_of_ms=f.as_of_ms + 1, document=d)")
    subprocess.run([sys.executable, "-c", script], env=site.env(), cwd=ROOT, check=True)
    b = logged_in
    b.get(site.base + "/market/?tf=5m")
    wait_for(b, "#chart canvas")
    WebDriverWait(b, 10).until(lambda d: d.execute_script(
        "return !!(window.showdownLiqBands && showdownLiqBands.drawn.length === 2)"))
    drawn = b.execute_script("return showdownLiqBands.drawn")
    strong = next(r for r in drawn if r["low"] == 88700)
    weak = next(r for r in drawn if r["low"] == 88580)
    assert strong["bottom"] - strong["top"] > 8, strong  # the 100 USD range, not a line
    alpha = [float(r["fill"].rsplit(",", 1)[1].rstrip(")")) for r in (strong, weak)]
    assert alpha[0] > alpha[1] + 0.2, drawn  # the stronger zone is shaded darker
    shot(b, "13-market-liquidation-bands")
    chart = b.find_element("id", "chart")
    png = Image.open(io.BytesIO(chart.screenshot_as_png)).convert("RGB")
    ratio = png.width / chart.rect["width"]
    y = round((strong["top"] + strong["bottom"]) / 2 * ratio)
    r, g, bl = png.getpixel((round(png.width * 0.4), y))
    assert r > 0x16 + 40 and r > g + 30, (r, g, bl)  # red-tinted (long liquidations), background #161c24
