"""Issue 13, observation 1: a replay keeps its own database, and the operator's tools must look
at the one the running bot writes. `showdown run` records which database is in force; every
command and the site use it by default, say which on their first line, and `--db` picks the
other; two backtests from the two databases never share an export directory."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import showdown
from connectors.db import open_database
from connectors.db.migrations import upgrade
from engine.config import ConfigError, load_config
from engine.paths import PROJECT_DIR, Home
from tests.analytics_data import FILE_NOV

REPLAY_ENV = {"SHOWDOWN__DATABASE__SQLITE_FILE": "replay-showdown.sqlite"}


@pytest.fixture()
def where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    for name in ("DB_HOST", "DB_NAME", "SHOWDOWN_DB", "BINANCE_BASE_URL", "SHOWDOWN__DATABASE__SQLITE_FILE",
                 "SHOWDOWN_CONFIG_DIR", "SHOWDOWN_RULES_DIR", "SHOWDOWN_DB_QUIET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHOWDOWN_HOME", str(tmp_path))
    return Home(root=tmp_path, config_dir=PROJECT_DIR / "config", rules_dir=PROJECT_DIR / "rules").ensure()


def _replay_db_with_bot_data(where: Home) -> None:
    """What a replay's `showdown run` leaves in its own database: a user, candles, an
    analytics heartbeat with a refused edit, an activated ruleset."""
    from connectors.db.models import BotState, Candle
    from connectors.stores.rules_store import record_activation
    from web import users

    db = open_database(load_config(where, REPLAY_ENV), where)
    upgrade(db)
    users.add("admin", "first-pass-1234", "admin")
    t0 = 1_765_065_600_000
    for i in range(3):
        Candle.create(symbol="BTCUSDT", timeframe="1m", open_time_ms=t0 + i * 60_000, open=1, high=1, low=1,
                      close=1, volume=1)
    record_activation("a" * 64, {"strategy.yaml": "[]"}, {}, "startup")
    BotState.create(symbol="BTCUSDT", component="analytics", state="RUNNING", details={
        "last_refusal": {"at": 1.0, "source": "watch", "version": "b" * 64, "active": "a" * 64,
                         "problems": ["strategy.yaml:12:7: unknown operator 'gtx'"]}})
    db.close()


def recorded_by_run(where: Home) -> None:
    """What `showdown run` writes when it replays (cli/run_cmd.py, database_choice.record_in_force)."""
    (where.var / "database_in_force.json").write_text(json.dumps(
        {"database": "replay", "source": "replay", "exchange_port": 8900, "since": "2026-12-02T07:00:00Z"}))


def test_commands_use_the_database_showdown_run_records(where: Home) -> None:
    _replay_db_with_bot_data(where)
    recorded_by_run(where)
    run = CliRunner()

    status = run.invoke(showdown, ["status"])
    assert status.exit_code == 0, status.output
    first = status.output.splitlines()[0]
    assert first.startswith("database: REPLAY (sqlite:///") and "replay-showdown.sqlite" in first, first
    assert "in force since `showdown run` at 2026-12-02T07:00:00Z" in first
    assert "1m:        3 from 2025-12-07 00:00" in status.output
    assert "strategy.yaml:12:7: unknown operator 'gtx'" in status.output  # the refusal, from the replay's loop

    versions = run.invoke(showdown, ["rules", "versions"])
    assert versions.exit_code == 0 and "* " + "a" * 64 in versions.output, versions.output
    assert "admin" in run.invoke(showdown, ["user", "list"]).output
    # the command the console prints after the first start
    passwd = run.invoke(showdown, ["user", "passwd", "admin", "--password", "second-pass-1234"])
    assert passwd.exit_code == 0 and "password of admin changed" in passwd.output, passwd.output
    from web import users

    open_database(load_config(where, REPLAY_ENV), where)
    assert users.verify("admin", "second-pass-1234") is not None

    # --db live looks at the other one, and says so first
    live = run.invoke(showdown, ["status", "--db", "live"])
    assert live.output.splitlines()[0].startswith("database: LIVE (sqlite:///"), live.output
    assert "chosen with --db" in live.output.splitlines()[0]
    assert "no database file yet" in live.output and live.exit_code == 1


def test_without_a_recorded_run_the_live_database_is_used(where: Home) -> None:
    from connectors.files.database_choice import choose, in_force

    assert in_force(where) is None
    c = choose(where, {})
    assert c.database == "live" and c.overlay == {}
    assert choose(where, {"SHOWDOWN_DB": "replay"}).overlay["SHOWDOWN__DATABASE__SQLITE_FILE"] == "replay-showdown.sqlite"
    with pytest.raises(ConfigError, match="--db / SHOWDOWN_DB: expected one of live, replay, got 'both'"):
        choose(where, {"SHOWDOWN_DB": "both"})
    # applying the replay's overrides twice names the same database (children inherit them)
    twice = choose(where, {"SHOWDOWN_DB": "replay", **REPLAY_ENV})
    assert twice.overlay["SHOWDOWN__DATABASE__SQLITE_FILE"] == "replay-showdown.sqlite"
    assert choose(where, {"SHOWDOWN_DB": "replay", "DB_HOST": "h", "DB_NAME": "bot_replay"}).overlay["DB_NAME"] \
        == "bot_replay"


def test_the_site_shows_the_database_in_force_and_its_backtests(where: Home, monkeypatch) -> None:
    """A CLI backtest in the replay's database shows on the Backtests page of a site started
    plainly (`showdown web`): it opens the database `showdown run` recorded."""
    from connectors.db.models import BacktestRun
    from web import create_app, users

    _replay_db_with_bot_data(where)
    BacktestRun.create(ruleset_version="c" * 64, period_start_ms=1, period_end_ms=2, initial_equity=10000,
                       status="done", notes="from the CLI")
    recorded_by_run(where)
    monkeypatch.setenv("SHOWDOWN__WEB__COOKIE_SECURE", "false")
    app = create_app(home=where)
    client = app.test_client()
    with app.app_context():
        users.set_password("admin", "site-pass-12345")
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post("/login", data={"username": "admin", "password": "site-pass-12345",
                                       "csrf_token": token}).status_code == 302
    html = client.get("/backtest/").get_data(as_text=True)
    assert "c" * 12 in html
    assert 'id="database"' in html and "database: replay" in html


@pytest.mark.slow
def test_backtests_of_the_two_databases_export_to_their_own_directories(where: Home, shared_data: Path,
                                                                         tmp_path: Path) -> None:
    with gzip.open(shared_data / FILE_NOV, "rt") as f:
        lines = f.read().splitlines()[:1 + 6 * 60]
    klines = tmp_path / "k.csv"
    klines.write_text("\n".join(lines) + "\n")
    run = CliRunner()
    outs = []
    for which in ("live", "replay"):
        assert run.invoke(showdown, ["db", "upgrade", "--db", which]).exit_code == 0
        assert run.invoke(showdown, ["import", "klines", str(klines), "--db", which]).exit_code == 0
        res = run.invoke(showdown, ["backtest", "--db", which, "--from", "2025-11-10T03:00:00Z",
                                    "--to", "2025-11-10T05:00:00Z"])
        assert res.exit_code == 0, res.output
        assert re.search(r"^run 1: ", res.stdout, re.M), res.output  # each database numbers its runs from 1
        outs.append(res.stdout.strip().splitlines()[-1].removeprefix("exports: "))
    assert outs == [str(where.var / "backtests" / "sqlite-showdown-1"),
                    str(where.var / "backtests" / "sqlite-replay-showdown-1")]
    assert all((Path(o) / "report.html").exists() for o in outs)


def test_input_from_the_cli_is_judged_by_the_replay_clock(where: Home) -> None:
    """`showdown input sentiment` in a replay: an as-of dated by the wall clock lies in the
    replay's future (never used there): refused, saying so; dated by the replay clock: taken."""
    from connectors.stores.market_state import record_market_source

    _replay_db_with_bot_data(where)
    open_database(load_config(where, REPLAY_ENV), where)
    record_market_source("replay", ["REPLAY"])
    recorded_by_run(where)
    run = CliRunner()
    wall = json.dumps({"as_of": "2026-12-02T07:00:00Z", "score": 1, "label": "bullish", "comment": "typed today"})
    refused = run.invoke(showdown, ["input", "sentiment", "-"], input=wall)
    assert refused.exit_code == 1
    assert "2026-12-02T07:00:00Z is after the market clock 2025-12-07T00:03:00Z" in refused.output
    replayed = json.dumps({"as_of": "2025-12-07T00:03:00Z", "score": 1, "label": "bullish", "comment": "replay"})
    taken = run.invoke(showdown, ["input", "sentiment", "-"], input=replayed)
    assert taken.exit_code == 0 and "accepted: sentiment input recorded" in taken.output, taken.output
