"""Logging: never blocks on a dead database, reports what it dropped, never leaks a secret."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from connectors.db import open_database
from connectors.db.migrations import upgrade
from connectors.db.models import LogRecord
from connectors.notify.logs import Redactor, setup_logging
from engine.config import load_config

SECRETS = {
    "BINANCE_API_KEY": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    "BINANCE_API_SECRET": "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
    "TELEGRAM_BOT_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "SHOWDOWN_SECRET_KEY": "flask-session-signing-key-2f9a",
}


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    # pytest's capture handlers would format every one of the 10,000s of records: mute them.
    levels = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(logging.CRITICAL + 1)
    yield
    for h, lv in zip(handlers, levels):
        h.setLevel(lv)
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def _log_10k(config, where, name: str):
    setup = setup_logging(config, where, "test", buffer_records=1000)
    log = logging.getLogger(f"showdown.{name}")
    started = time.perf_counter()
    for i in range(10_000):
        log.info("tick %d", i, extra={"price": 67000.5 + i})
    return setup, time.perf_counter() - started


def test_unreachable_database_never_blocks_the_caller(tmp_path) -> None:
    from tests.conftest import make_home

    # Baseline: the same records with a working database (SQLite).
    up_home = make_home(tmp_path / "up")
    up_cfg = load_config(up_home, {"SHOWDOWN__DATABASE__SQLITE_FILE": "up.sqlite"})
    up_db = open_database(up_cfg, up_home)
    upgrade(up_db)
    up_db.close()
    setup, with_db = _log_10k(up_cfg, up_home, "up")
    setup.close()

    where = make_home(tmp_path / "down")
    # Port 1: connection refused at once — the database is simply not there.
    config = load_config(where, {"DB_HOST": "127.0.0.1", "DB_PORT": "1", "DB_NAME": "nowhere"})
    setup, without_db = _log_10k(config, where, "down")
    # The caller pays for formatting and the file, never for the database: an outage
    # costs about nothing (generous factor: the machine is shared and noisy).
    assert without_db < 2 * with_db + 1.0, f"DB down: {without_db:.1f} s, DB up: {with_db:.1f} s"
    assert without_db < 30
    assert setup.db_handler.dropped >= 9_000 - setup.db_handler._batch
    lines = (where.logs / "showdown.log").read_text().splitlines()
    assert len(lines) == 10_000
    rec = json.loads(lines[-1])
    assert rec["message"] == "tick 9999" and rec["component"] == "test" and rec["context"]["price"] == 76999.5
    setup.close()


def test_records_reach_the_table_once_the_database_is_back(fresh_backend) -> None:
    b = fresh_backend
    # The database does not exist / has no schema yet: an outage from the writer's view.
    setup = setup_logging(b.config, b.home, "execution", buffer_records=500, retry_max_s=0.2)
    log = logging.getLogger("showdown.execution")
    started = time.perf_counter()
    for i in range(2_000):
        log.warning("order %d placed", i)
    assert time.perf_counter() - started < 3.0
    db = open_database(b.config, b.home, create_missing=True)
    upgrade(db)
    try:
        assert setup.db_handler.wait_written(timeout=20), "log writer did not catch up"
        rows = list(LogRecord.select().order_by(LogRecord.id))
        kept = [r for r in rows if r.component == "execution"]
        assert 400 <= len(kept) <= 1_000  # the buffer bound (plus the batch in hand), not all 2,000
        report = [r for r in rows if "dropped" in r.message]
        assert len(report) == 1
        assert report[0].context["dropped"] == 2_000 - len(kept)
        assert report[0].level == "WARNING"
        log.error("after recovery", extra={"order_id": 42})
        assert setup.db_handler.wait_written(timeout=10)
        last = LogRecord.select().order_by(LogRecord.id.desc()).get()
        assert (last.message, last.level, last.context) == ("after recovery", "ERROR", {"order_id": 42})
    finally:
        setup.close()
        db.close()


def test_secrets_never_reach_file_or_table(backend, db) -> None:
    env = {**backend.env, **SECRETS}
    config = load_config(backend.home, env)
    assert set(SECRETS.values()) <= set(config.secrets())
    setup = setup_logging(config, backend.home, "collector")
    log = logging.getLogger("showdown.binance")
    key, secret, token = SECRETS["BINANCE_API_KEY"], SECRETS["BINANCE_API_SECRET"], SECRETS["TELEGRAM_BOT_TOKEN"]
    log.info("connecting with key %s", key)
    log.warning("signed request failed: %s", {"apiKey": key, "secret": secret})
    log.info("telegram url https://api.telegram.org/bot%s/sendMessage", token, extra={"token_echo": token})
    log.info("flask key in context", extra={"cfg": {"web": SECRETS["SHOWDOWN_SECRET_KEY"]}})
    log.info("pasted by hand: api_key=abc123unconfigured password: hunter2hunter2 url mysql://bob:pw123456@db/x")
    try:
        raise RuntimeError(f"exchange refused signature for {secret}")
    except RuntimeError:
        log.exception("order failed")
    assert setup.db_handler.wait_written(timeout=10)
    setup.close()
    text = (backend.home.logs / "showdown.log").read_text()
    rows = list(LogRecord.select().order_by(LogRecord.id))
    table = "\n".join(f"{r.message} {json.dumps(r.context)}" for r in rows)
    assert len(text.splitlines()) == 6 and len(rows) == 6
    for leaked in [*SECRETS.values(), "abc123unconfigured", "hunter2hunter2", "pw123456"]:
        assert leaked not in text, leaked
        assert leaked not in table, leaked
    assert "***" in text and "connecting with key ***" in table
    assert "order failed" in table and "RuntimeError" in table  # the traceback is kept, scrubbed


def test_redactor_keeps_ordinary_text() -> None:
    r = Redactor(["s3cr3t-value"])
    assert r("ruleset ab12cd34 fired long_candidate at 67000.5") == "ruleset ab12cd34 fired long_candidate at 67000.5"
    assert r("x=s3cr3t-value") == "x=***"
    assert r('{"api_secret": "zzz"}') == '{"api_secret": "***"}'
