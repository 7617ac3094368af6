"""Notifications: message text, aggregation policy, and delivery to a local Telegram stub.

Delivery tests run on both database backends (the `db` fixture) against
tests/telegram_stub.py, which validates every request as the Bot API documents
sendMessage. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import logging
import socket
import statistics
import time
from collections.abc import Iterator
from typing import Any

import peewee
import pytest

import connectors.notify.alerts as notify_mod
from connectors.db.models import Notification
from connectors.notify.alerts import Notifier
from engine.config import Config, ConfigError, load_config
from engine.notify import Alert, Settings, State, admit, drain, due, format_alert, next_due_ms
from tests.conftest import Backend
from tests.telegram_stub import TelegramStub, telegram_stub

TOKEN = "123456789:AAHfakeTokenForTests_abcdefghijklmnopq"
CHATS = {"111222333", "-100444555666"}
T0 = 1_767_614_400_000  # 2026-01-05T12:00:00Z


def alert(i: int = 1, level: str = "ERROR", code: str = "ORDER_FAILED", at: int = T0, **kw: Any) -> Alert:
    return Alert(i, level, kw.pop("source", "execution"), code, kw.pop("message", f"attempt {i} refused"),
                 at, kw.pop("context", {}), kw.pop("action", None))


# ------------------------------------------------------------------ message text

def test_message_has_headline_time_details_context_present_only_and_action() -> None:
    a = alert(context={"symbol": "BTCUSDT", "price": "97000.5", "side": "LONG", "order_id": 456,
                       "decision_id": None, "risk_mode": "DEFENSIVE"},
              message="Order refused after 3 retries: -2019 margin insufficient",
              action="Check free margin; the worker retries on the next decision.")
    lines = format_alert(a).splitlines()
    assert lines[0] == "[ERROR] [execution] [ORDER_FAILED]"
    assert lines[1] == "2026-01-05T12:00:00Z"
    assert lines[2] == "Order refused after 3 retries: -2019 margin insufficient"
    # decision_id is None: left out; order keeps §10's sequence.
    assert lines[3] == "symbol=BTCUSDT price=97000.5 side=LONG order=456 risk_mode=DEFENSIVE"
    assert lines[4] == "Action: Check free margin; the worker retries on the next decision."
    assert format_alert(alert(context={})).count("\n") == 2  # no empty context line, no action


def test_message_scrubs_configured_secrets_and_token_shapes() -> None:
    a = alert(message=f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed; api_key=abcdSECRETkey1",
              context={"symbol": "BTCUSDT", "price": "sekritsekrit"})
    text = format_alert(a, secrets=["sekritsekrit"])
    assert TOKEN not in text and "sekritsekrit" not in text and "abcdSECRETkey1" not in text
    assert "/bot***/sendMessage" in text and "price=***" in text


def test_count_in_headline() -> None:
    assert format_alert(alert(), count=7, window_s=300).splitlines()[0] == \
        "[ERROR] [execution] [ORDER_FAILED] ×7 in the last 5 min"


# ------------------------------------------------------------------ policy

S = Settings(window_s=300)


def test_ten_digested_repeats_become_one_message_with_count() -> None:
    state, sent = State(), []
    for i in range(10):
        state, out = admit(state, alert(i + 1, "WARNING", "STALE_INPUT", T0 + i * 1000), T0 + i * 1000, S)
        sent += out
    assert sent == []  # held for the digest
    assert next_due_ms(state, S) == T0 + 300_000
    state, out = due(state, T0 + 299_999, S)
    assert out == []
    state, out = due(state, T0 + 300_000, S)
    assert len(out) == 1
    d = out[0]
    assert d.text.splitlines()[0] == "[WARNING] [execution] [STALE_INPUT] ×10 in the last 5 min"
    assert d.carrier.id == 10 and [a.id for a in d.folded] == list(range(1, 10))
    assert next_due_ms(state, S) is None


def test_error_first_at_once_then_repeats_folded_into_one_summary() -> None:
    state, sent = State(), []
    for i in range(10):
        state, out = admit(state, alert(i + 1, at=T0 + i * 1000), T0 + i * 1000, S)
        sent += out
    assert [d.carrier.id for d in sent] == [1]  # the first goes at once
    state, out = due(state, T0 + 300_000, S)
    assert len(out) == 1 and out[0].count == 9
    assert "×10 in the last 5 min" in out[0].text.splitlines()[0]
    # Steady repeats: one message per window, not one per event.
    state, out = admit(state, alert(11, at=T0 + 310_000), T0 + 310_000, S)
    assert out == []
    state, out = due(state, T0 + 600_000, S)
    assert len(out) == 1 and "×1" not in out[0].text and out[0].carrier.id == 11
    # Window without repeats closes; the next occurrence goes at once again.
    state, _ = due(state, T0 + 900_000, S)
    state, out = admit(state, alert(12, at=T0 + 900_001), T0 + 900_001, S)
    assert [d.carrier.id for d in out] == [12]


def test_critical_goes_at_once_mid_window_and_carries_held_repeats() -> None:
    state, _ = admit(State(), alert(1, "WARNING", "DD", T0), T0, S)
    state, _ = admit(state, alert(2, "ERROR", "DD_BREACH", T0), T0, S)
    state, _ = admit(state, alert(3, "ERROR", "DD_BREACH", T0 + 5000), T0 + 5000, S)
    state, out = admit(state, alert(4, "CRITICAL", "DD_BREACH", T0 + 6000), T0 + 6000, S)
    assert len(out) == 1
    assert out[0].carrier.id == 4 and [a.id for a in out[0].folded] == [3]
    assert out[0].text.splitlines()[0] == "[CRITICAL] [execution] [DD_BREACH] ×3 in the last 5 min"
    # Every CRITICAL goes, even as a repeat and even when CRITICAL is listed for digest.
    s2 = Settings(window_s=300, digest_levels=frozenset({"INFO", "WARNING", "CRITICAL"}))
    state, out = admit(state, alert(5, "CRITICAL", "DD_BREACH", T0 + 7000), T0 + 7000, s2)
    assert [d.carrier.id for d in out] == [5]
    # The WARNING is still waiting for its digest.
    _, out = drain(state, S)
    assert [d.carrier.id for d in out] == [1]


def test_digest_with_several_events_lists_each_once_with_counts() -> None:
    state = State()
    for i, (lvl, code) in enumerate([("INFO", "A"), ("WARNING", "B"), ("INFO", "A"), ("INFO", "A")]):
        state, out = admit(state, alert(i + 1, lvl, code, T0 + i), T0 + i, S)
        assert out == []
    _, out = due(state, T0 + 300_000, S)
    lines = out[0].text.splitlines()
    assert lines[0] == "[WARNING] [notifier] [DIGEST] 4 notifications in the last 5 min"
    assert "[INFO] [execution] [A] ×3: attempt 4 refused" in lines[2]
    assert "[WARNING] [execution] [B]: attempt 2 refused" in lines[3]
    assert out[0].carrier.id == 4 and len(out[0].folded) == 3


def test_window_zero_sends_everything_at_once() -> None:
    s0 = Settings(window_s=0)
    state = State()
    for i in range(3):
        state, out = admit(state, alert(i + 1, "INFO"), T0, s0)
        assert [d.carrier.id for d in out] == [i + 1]


# ------------------------------------------------------------------ config

def test_schema_refuses_critical_digest_and_bad_ranges(backend: Backend) -> None:
    for key, value in [("DIGEST_LEVELS", "CRITICAL"), ("TIMEOUT_S", "0"), ("MAX_RETRIES", "11"),
                       ("API_URL", "ftp://x")]:
        with pytest.raises(ConfigError) as exc:
            load_config(backend.home, {**backend.env, f"SHOWDOWN__TELEGRAM__{key}": value})
        assert f"telegram.{key.lower()}" in str(exc.value)


# ------------------------------------------------------------------ delivery


def tg_config(backend: Backend, url: str, **over: Any) -> Config:
    env = {**backend.env, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_IDS": ",".join(sorted(CHATS)),
           "SHOWDOWN__TELEGRAM__API_URL": url, "SHOWDOWN__TELEGRAM__RETRY_BACKOFF_S": "0.05",
           "SHOWDOWN__TELEGRAM__TIMEOUT_S": "2", "SHOWDOWN__TELEGRAM__MIN_LEVEL": "INFO"}
    env.update({f"SHOWDOWN__TELEGRAM__{k.upper()}": str(v) for k, v in over.items()})
    return load_config(backend.home, env)


@pytest.fixture()
def stub() -> Iterator[TelegramStub]:
    with telegram_stub(TOKEN, CHATS) as s:
        yield s


@pytest.fixture()
def notifiers() -> Iterator[list[Notifier]]:
    made: list[Notifier] = []
    yield made
    for n in made:
        n.close(timeout=2)


def rows() -> list[Notification]:
    return list(Notification.select().order_by(Notification.created_ms, Notification._meta.primary_key))


def test_delivers_valid_sendmessage_to_every_chat_and_records_it(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    n = Notifier(tg_config(backend, stub.url), db)
    notifiers.append(n)
    rid = n.notify("error", "execution", "SL_NOT_PLACED", "Stop-loss refused twice",
                   context={"symbol": "BTCUSDT", "side": "SHORT", "order_id": "x1"}, action="Close by hand")
    assert n.flush(5)
    assert stub.violations == []
    assert sorted(str(m.chat_id) for m in stub.messages) == sorted(CHATS)
    assert all(m.body["disable_web_page_preview"] is True and "parse_mode" not in m.body for m in stub.messages)
    assert stub.messages[0].text.startswith("[ERROR] [execution] [SL_NOT_PLACED]\n")
    row = Notification.get_by_id(rid)
    assert (row.delivery_status, row.attempts, row.level, row.symbol) == ("sent", 2, "ERROR", "BTCUSDT")
    assert row.delivered_ms is not None and row.last_error is None
    assert row.context == {"symbol": "BTCUSDT", "side": "SHORT", "order_id": "x1", "action": "Close by hand"}


def test_ten_repeats_arrive_as_one_message_with_the_count(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    n = Notifier(tg_config(backend, stub.url, aggregate_window_s=1), db)
    notifiers.append(n)
    ids = [n.notify("WARNING", "analytics", "STALE_INPUT", f"sentiment is {i + 49} h old") for i in range(10)]
    assert stub.texts() == []  # held for the window
    assert stub.wait_for(2, timeout=3)  # one message, two chats
    time.sleep(0.3)
    assert stub.violations == [] and len(stub.messages) == 2
    assert stub.messages[0].text.splitlines()[0] == "[WARNING] [analytics] [STALE_INPUT] ×10 in the last 1 s"
    assert "sentiment is 58 h old" in stub.messages[0].text  # the newest details
    by_id = {r.id: r for r in rows()}
    assert by_id[ids[-1]].delivery_status == "sent"
    assert [by_id[i].delivery_status for i in ids[:-1]] == ["aggregated"] * 9
    assert {by_id[i].carried_by for i in ids[:-1]} == {ids[-1]}


def test_critical_is_sent_at_once_mid_window(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    n = Notifier(tg_config(backend, stub.url, aggregate_window_s=60), db)
    notifiers.append(n)
    n.notify("WARNING", "risk", "RISK_MODE", "mode NORMAL -> DEFENSIVE")
    t = time.monotonic()
    n.notify("CRITICAL", "risk", "DD_BREACH", "daily drawdown 5.2% > 5%", context={"risk_mode": "SAFE"})
    assert stub.wait_for(2, timeout=2)
    assert max(m.at for m in stub.messages) - t < 1.0
    assert all(m.text.startswith("[CRITICAL] [risk] [DD_BREACH]") for m in stub.messages)
    assert n.flush(5)  # releases the WARNING's digest
    assert [m.text.split("\n")[0] for m in stub.messages[2:]] == ["[WARNING] [risk] [RISK_MODE]"] * 2


def test_below_min_level_is_stored_not_sent(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    n = Notifier(tg_config(backend, stub.url, min_level="ERROR", aggregate_window_s=0), db)
    notifiers.append(n)
    n.notify("INFO", "analytics", "SNAPSHOT", "snapshot written")
    n.notify("WARNING", "analytics", "STALE_INPUT", "liquidations 30 h old")
    n.notify("ERROR", "execution", "ORDER_FAILED", "refused")
    assert n.flush(5)
    assert [(r.level, r.delivery_status) for r in rows()] == \
        [("INFO", "suppressed"), ("WARNING", "suppressed"), ("ERROR", "sent")]
    assert len(stub.messages) == 2 and all("[ERROR]" in t for t in stub.texts())


def test_429_retry_after_is_honoured(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    cfg = tg_config(backend, stub.url, aggregate_window_s=0)
    stub.chat_ids = {"111222333"}
    cfg.values["telegram"]["chat_ids"] = ["111222333"]
    stub.script = ["429:1"]
    n = Notifier(cfg, db)
    notifiers.append(n)
    rid = n.notify("ERROR", "execution", "MARKET_FALLBACK", "limit not filled, market used")
    assert n.flush(5)
    assert len(stub.requests) == 2
    assert stub.requests[1] - stub.requests[0] >= 0.95  # waited retry_after, not the 0.05 s backoff
    row = Notification.get_by_id(rid)
    assert (row.delivery_status, row.attempts) == ("sent", 2)


def test_429_longer_than_allowed_fails_without_waiting(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    stub.default = "429:120"
    n = Notifier(tg_config(backend, stub.url, aggregate_window_s=0, max_retry_after_s=5), db)
    notifiers.append(n)
    rid = n.notify("ERROR", "execution", "X", "y")
    t = time.monotonic()
    assert n.flush(5) and time.monotonic() - t < 2
    row = Notification.get_by_id(rid)
    assert row.delivery_status == "failed" and "retry_after 120 s > max_retry_after_s 5" in row.last_error


def test_5xx_is_retried_with_backoff_then_marked(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    stub.script = ["500", "500"]  # the first chat: two failures, then ok; the second: ok
    n = Notifier(tg_config(backend, stub.url, aggregate_window_s=0, max_retries=2), db)
    notifiers.append(n)
    rid = n.notify("ERROR", "recon", "ORPHAN_ORDER", "order on exchange, not in DB")
    assert n.flush(5)
    row = Notification.get_by_id(rid)
    assert (row.delivery_status, row.attempts, row.last_error) == ("sent", 4, None)
    gaps = [b - a for a, b in zip(stub.requests, stub.requests[1:3], strict=False)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095  # 0.05 s, then doubled
    stub.default = "500"
    rid = n.notify("ERROR", "recon", "ORPHAN_ORDER2", "again")
    assert n.flush(5)
    row = Notification.get_by_id(rid)
    assert (row.delivery_status, row.attempts) == ("failed", 6)
    assert row.last_error.count("HTTP 500: Internal Server Error") == 2  # one per chat


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_endpoint_down_marks_failed_and_caller_is_unaffected(
        db: peewee.Database, backend: Backend, notifiers: list[Notifier], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    n = Notifier(tg_config(backend, f"http://127.0.0.1:{_closed_port()}", aggregate_window_s=0,
                           max_retries=2), db)
    notifiers.append(n)
    t = time.perf_counter()
    ids = [n.notify("CRITICAL", "execution", "SL_NOT_PLACED", f"try {i}") for i in range(3)]
    assert time.perf_counter() - t < 0.1
    assert all(isinstance(i, int) for i in ids)
    assert n.flush(10)
    for r in rows():
        assert r.delivery_status == "failed" and r.attempts == 6  # 2 chats × (1 + 2 retries)
        assert "ConnectionError" in r.last_error and "/bot***/" in r.last_error and TOKEN not in r.last_error
    assert "not delivered" in caplog.text and TOKEN not in caplog.text


def test_notify_returns_fast_while_telegram_hangs(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    stub.default = "hang"
    n = Notifier(tg_config(backend, stub.url, aggregate_window_s=0, timeout_s=30), db)
    notifiers.append(n)
    n.notify("CRITICAL", "execution", "WARMUP", "first request hangs the sender")
    time.sleep(0.2)
    assert len(stub.requests) == 1  # the sender is stuck in it
    # notify() = one INSERT + a queue put. Time it against a bare INSERT, interleaved, so
    # the figure isolates what the notifier adds (MariaDB's fsync-per-commit INSERT costs
    # milliseconds on its own on a loaded box).
    times, inserts = [], []
    for i in range(100):
        t = time.perf_counter()
        n.notify("CRITICAL", "execution", "SL_NOT_PLACED", f"attempt {i}", context={"order_id": i})
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        Notification.insert(level="INFO", source="bench", code="BARE", message=str(i), context={"order_id": i},
                            delivery_status="suppressed").execute()
        inserts.append(time.perf_counter() - t)
    median, worst = statistics.median(times) * 1000, max(times) * 1000
    overhead = median - statistics.median(inserts) * 1000
    print(f"\nnotify() on {backend.name} with Telegram hanging: median {median:.2f} ms, "
          f"p95 {sorted(times)[94] * 1000:.2f} ms, max {worst:.2f} ms; bare INSERT median "
          f"{statistics.median(inserts) * 1000:.2f} ms; notifier overhead {overhead:.2f} ms")
    # Never waits on Telegram (the hang lasts 30 s); adds under a millisecond to the INSERT.
    assert overhead < 1 and worst < 1000
    if backend.name == "sqlite":
        assert median < 5
    assert Notification.select().where(Notification.delivery_status == "pending").count() == 101
    assert n.flush(0.2) is False  # honest: not delivered
    assert n.close(0.2) is False
    stub.release.set()  # the hung request ends; the abandoned sender must write nothing
    time.sleep(0.3)
    assert Notification.select().where(Notification.delivery_status == "pending").count() == 101


def test_queue_full_marks_failed_instead_of_blocking(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    stub.default = "hang"
    n = Notifier(tg_config(backend, stub.url, aggregate_window_s=0, timeout_s=30, queue_size=2), db)
    notifiers.append(n)
    n.notify("ERROR", "x", "FIRST", "hangs the sender")
    time.sleep(0.2)
    ids = [n.notify("ERROR", "x", "MORE", str(i)) for i in range(4)]
    statuses = [Notification.get_by_id(i).delivery_status for i in ids]
    assert statuses == ["pending", "pending", "failed", "failed"] and n.dropped == 2
    assert Notification.get_by_id(ids[-1]).last_error == "notifier queue full (2 waiting)"
    n.close(0.1)


def test_token_never_in_rows_or_logs(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 logs each request path at DEBUG
    stub.script = ["500"]
    n = Notifier(tg_config(backend, stub.url, aggregate_window_s=0, max_retries=1), db)
    notifiers.append(n)
    n.notify("ERROR", "execution", "LEAK", f"url was {stub.url}/bot{TOKEN}/sendMessage",
             context={"token": TOKEN, "nested": [{"t": TOKEN}]}, action=f"rotate {TOKEN}")
    n.notify("WARNING", "execution", "LEAK2", f"bare token {TOKEN}")
    bad = Notifier(tg_config(backend, f"http://127.0.0.1:{_closed_port()}", aggregate_window_s=0,
                             max_retries=0), db)
    notifiers.append(bad)
    bad.notify("ERROR", "execution", "DOWN", "endpoint down")
    assert n.flush(5) and bad.flush(5)
    assert "POST /bot***/sendMessage" in caplog.text  # the urllib3 line was there, scrubbed
    assert TOKEN not in caplog.text
    for r in Notification.select().dicts():
        assert TOKEN not in repr(r)
    assert all(TOKEN not in t for t in stub.texts())
    assert len(rows()) == 3


def test_no_token_stores_only(db: peewee.Database, backend: Backend) -> None:
    n = Notifier(load_config(backend.home, {**backend.env, "SHOWDOWN__TELEGRAM__MIN_LEVEL": "WARNING"}), db)
    assert not n.configured
    n.notify("ERROR", "execution", "X", "no telegram")
    n.notify("INFO", "execution", "Y", "below minimum")
    assert n.flush(1) and n.close(1)
    assert [r.delivery_status for r in rows()] == ["not_configured", "suppressed"]


def test_module_level_notify_stores_without_notifier_and_uses_installed_one(
        db: peewee.Database, backend: Backend, stub: TelegramStub, notifiers: list[Notifier]) -> None:
    previous = notify_mod.install(None)
    try:
        rid = notify_mod.notify("WARNING", "analytics", "LOOP_SILENT", "no snapshot for 10 min")
        assert Notification.get_by_id(rid).delivery_status == "not_configured"
        n = Notifier(tg_config(backend, stub.url, aggregate_window_s=0), db)
        notifiers.append(n)
        notify_mod.install(n)
        rid = notify_mod.notify("bogus", "analytics", "LOOP_SILENT", "still silent")  # never raises
        assert n.flush(5)
        row = Notification.get_by_id(rid)
        assert (row.level, row.delivery_status) == ("ERROR", "sent")
    finally:
        notify_mod.install(previous)


def test_db_down_alert_still_delivered(backend: Backend, stub: TelegramStub, notifiers: list[Notifier],
                                       tmp_path: Any) -> None:
    dead = peewee.SqliteDatabase(str(tmp_path / "missing-dir" / "x.sqlite"))  # cannot be opened
    n = Notifier(tg_config(backend, stub.url, aggregate_window_s=0), dead)
    notifiers.append(n)
    assert n.notify("CRITICAL", "db", "DB_LOST", "database connection lost") is None
    assert n.flush(5)
    assert len(stub.messages) == 2 and stub.messages[0].text.startswith("[CRITICAL] [db] [DB_LOST]")


# ------------------------------------------------------------------ CLI

def test_cli_notify_test_and_list(db: peewee.Database, backend: Backend, stub: TelegramStub) -> None:
    from click.testing import CliRunner

    from cli.main import showdown
    from connectors.db import database_proxy

    env = {**backend.env, "SHOWDOWN_HOME": str(backend.home.root), "TELEGRAM_BOT_TOKEN": TOKEN,
           "TELEGRAM_CHAT_IDS": ",".join(sorted(CHATS)), "SHOWDOWN__TELEGRAM__API_URL": stub.url}
    runner = CliRunner()
    try:
        out = runner.invoke(showdown, ["notify", "test"], env=env)
        assert out.exit_code == 0, out.output
        assert "[WARNING]: sent to 2 chat(s), 2 request(s)" in out.output
        assert stub.texts()[0].startswith("[WARNING] [cli] [TEST]\n") and stub.violations == []
        out = runner.invoke(showdown, ["notify", "test", "--level", "info"], env=env)
        assert "stored, not sent: below telegram.min_level (WARNING)" in out.output
        stub.default = "500"
        out = runner.invoke(showdown, ["notify", "test", "--level", "critical"],
                            env={**env, "SHOWDOWN__TELEGRAM__MAX_RETRIES": "0"})
        assert out.exit_code == 1 and "delivery failed" in out.output and "HTTP 500" in out.output
        assert TOKEN not in out.output
        out = runner.invoke(showdown, ["notify", "list"], env=env)
        lines = out.stdout.splitlines()  # stderr's first line says which database
        assert out.exit_code == 0 and len(lines) == 3
        assert "CRITICAL" in lines[0] and "failed(2)" in lines[0] and "cli/TEST" in lines[0]
        assert "INFO" in lines[1] and "suppressed(0)" in lines[1] and "sent(2)" in lines[2]
        out = runner.invoke(showdown, ["notify", "list", "--level", "WARNING", "--since", "1h"], env=env)
        assert len(out.stdout.splitlines()) == 2 and "INFO" not in out.stdout
        out = runner.invoke(showdown, ["notify", "list", "--since", "2999-01-01"], env=env)
        assert out.stdout.strip() == "no notifications"
        out = runner.invoke(showdown, ["notify", "list", "--since", "yesterday"], env=env)
        assert out.exit_code == 2 and "expected a duration like 30m" in out.output
    finally:
        database_proxy.initialize(db)
