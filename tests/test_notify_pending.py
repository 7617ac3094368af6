"""Notifications a process left pending (issue 15, finding 7): a real process queues a
WARNING while Telegram hangs (a listener that accepts and never answers), exits after its
close budget with the row `pending`; the next process sends it — or, when it is too old,
marks it failed with the reason. A living process's rows are never taken from it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import peewee
import pytest

from connectors.db.models import Notification
from connectors.notify.alerts import Notifier
from connectors.notify.pending import this_sender
from engine.paths import PROJECT_DIR
from tests.conftest import Backend
from tests.telegram_stub import TelegramStub, telegram_stub
from tests.test_notify import CHATS, TOKEN, tg_config


@pytest.fixture()
def hanging_listener() -> Iterator[str]:
    """Accepts every connection and never answers (what a hung Telegram looks like)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    srv.close()


@pytest.fixture()
def stub() -> Iterator[TelegramStub]:
    with telegram_stub(TOKEN, CHATS) as s:
        yield s


def _exit_while_telegram_hangs(backend: Backend, url: str, *messages: str) -> None:
    """A real process: notify, close with a 1 s budget while the request hangs, exit."""
    env = {**os.environ, **backend.env, "SHOWDOWN_HOME": str(backend.home.root), "PYTHONPATH": str(PROJECT_DIR),
           "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_IDS": ",".join(sorted(CHATS)),
           "SHOWDOWN__TELEGRAM__API_URL": url, "SHOWDOWN__TELEGRAM__TIMEOUT_S": "30",
           "SHOWDOWN__TELEGRAM__AGGREGATE_WINDOW_S": "0"}
    code = textwrap.dedent(f"""
        import time
        from connectors.db import open_database
        from connectors.notify.alerts import Notifier
        from engine.config import load_config
        from engine.paths import home
        cfg = load_config(home())
        open_database(cfg, home())
        n = Notifier(cfg)
        for i, message in enumerate({list(messages)!r}):
            n.notify("WARNING", "execution", f"DB_SLOW_{{i}}", message)
        time.sleep(0.5)  # the sender is inside the hanging request
        assert not n.close(timeout=1)
    """)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def _rows() -> list[Any]:
    return list(Notification.select().order_by(Notification.created_ms, Notification._meta.primary_key))


def test_rows_left_pending_by_an_ended_process_are_sent_or_failed_by_the_next(
        db: peewee.Database, backend: Backend, hanging_listener: str, stub: TelegramStub) -> None:
    _exit_while_telegram_hangs(backend, hanging_listener, "hours ago", "left behind")
    old, fresh = _rows()
    assert {old.delivery_status, fresh.delivery_status} == {"pending"}
    assert old.sender and old.sender == fresh.sender != this_sender()
    Notification.update(created_ms=Notification.created_ms - 7 * 3_600_000).where(
        Notification._meta.primary_key == old.get_id()).execute(db)
    n = Notifier(tg_config(backend, stub.url, aggregate_window_s=0), db)
    try:
        assert stub.wait_for(len(CHATS), 10), "the next process sends what the last one left pending"
        assert n.flush(5)
    finally:
        n.close(2)
    old, fresh = (Notification.get_by_id(r.get_id()) for r in (old, fresh))
    assert fresh.delivery_status == "sent" and fresh.sender == n.sender
    assert all("left behind" in t for t in stub.texts()) and stub.violations == []
    assert old.delivery_status == "failed" and "too old to send" in old.last_error  # never sent
    assert "ended before sending it" in old.last_error and n.resumed is not None and n.resumed.failed == 1


def test_a_living_process_keeps_its_pending_rows(
        db: peewee.Database, backend: Backend, hanging_listener: str, stub: TelegramStub) -> None:
    first = Notifier(tg_config(backend, hanging_listener, aggregate_window_s=0, timeout_s=30), db)
    try:
        first.notify("WARNING", "execution", "DB_SLOW", "still mine")
        time.sleep(0.3)
        # a second process's notifier (another pid): it must leave the row alone
        row = _rows()[0]
        Notification.update(sender=row.sender.rsplit(":", 2)[0] + f":{os.getppid()}:"
                            + _ticks(os.getppid())).execute(db)
        second = Notifier(tg_config(backend, stub.url, aggregate_window_s=0), db)
        deadline = time.monotonic() + 10
        while second.resumed is None and time.monotonic() < deadline:
            time.sleep(0.05)
        second.close(2)
        assert second.resumed is not None and second.resumed.resend == [] and stub.texts() == []
        assert _rows()[0].delivery_status == "pending"
    finally:
        first.close(1)


def _ticks(pid: int) -> str:
    from connectors.notify.pending import _start_ticks

    return _start_ticks(pid) or "?"
