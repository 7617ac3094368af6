"""`showdown notify test|list`: send a test notification; print recent notifications."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import click
import peewee

from cli.common import open_db_or_exit
from connectors.db.models import Notification
from connectors.notify.alerts import Notifier
from engine.config import Config
from engine.notify import LEVELS, level_no
from engine.notify.message import utc_iso

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now_ms: int) -> int:
    """'90m', '2h', '7d' (ago) or an ISO date/time (UTC unless it says otherwise) → epoch ms."""
    m = _DURATION.match(text.strip().lower())
    if m:
        return now_ms - int(m.group(1)) * _UNIT_S[m.group(2)] * 1000
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected a duration like 30m, 2h, 7d or an ISO date/time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _open() -> tuple[Config, peewee.Database]:
    return open_db_or_exit()


def register(group: click.Group) -> None:
    @group.group("notify")
    def notify() -> None:
        """Notifications: stored in the database, sent to Telegram."""

    @notify.command("test")
    @click.option("--level", type=click.Choice(list(LEVELS), case_sensitive=False),
                  help="Level of the test message (default: telegram.min_level, so it is sent).")
    @click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for delivery.")
    def test(level: str | None, timeout: float) -> None:
        """Send a test notification and report what became of it."""
        config, db = _open()
        notifier = Notifier(config, db)
        level = (level or notifier.min_level).upper()
        try:
            rid = notifier.notify(level, "cli", "TEST", "Test notification from 'showdown notify test'.",
                                  context={"symbol": config.get("symbol")},
                                  action="None: this is a test.")
            delivered = notifier.close(timeout)
            row = Notification.get_or_none(Notification._meta.primary_key == rid) if rid else None
        finally:
            db.close()
        if row is None:
            raise click.ClickException("the notification could not be stored (see the log)")
        status = row.delivery_status
        if status == "sent":
            click.echo(f"notification {rid} [{level}]: sent to {len(notifier.chat_ids)} chat(s), "
                       f"{row.attempts} request(s)")
        elif status == "suppressed":
            click.echo(f"notification {rid} [{level}]: stored, not sent: below telegram.min_level "
                       f"({notifier.min_level})")
        elif status == "not_configured":
            click.echo(f"notification {rid} [{level}]: stored, not sent: Telegram not configured "
                       "(set TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_IDS)")
        elif status == "failed":
            raise click.ClickException(f"notification {rid} [{level}]: delivery failed: {row.last_error}")
        else:
            raise click.ClickException(f"notification {rid} [{level}]: still {status} after {timeout:g} s"
                                       + ("" if delivered else " (Telegram did not answer in time)"))

    @notify.command("list")
    @click.option("--level", type=click.Choice(list(LEVELS), case_sensitive=False),
                  help="Only this level and above.")
    @click.option("--since", help="Only newer than this: 30m, 2h, 7d, or an ISO date/time (UTC).")
    @click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
    def list_(level: str | None, since: str | None, limit: int) -> None:
        """Print recent notifications, newest first."""
        _, db = _open()
        try:
            q = Notification.select().order_by(Notification.created_ms.desc()).limit(limit)
            if level:
                q = q.where(Notification.level.in_([lv for lv in LEVELS if level_no(lv) >= level_no(level.upper())]))
            if since:
                q = q.where(Notification.created_ms >= parse_since(since, int(time.time() * 1000)))
            rows = list(q)
        finally:
            db.close()
        if not rows:
            click.echo("no notifications")
            return
        for r in rows:
            first = (r.message.splitlines() or [""])[0]
            first = first if len(first) <= 80 else first[:79] + "…"
            click.echo(f"{r.get_id():>6}  {utc_iso(r.created_ms)}  {r.level:<8} {r.source}/{r.code}  "
                       f"{r.delivery_status}({r.attempts})  {first}")


@contextlib.contextmanager
def notifier_installed(config: Config) -> Iterator[None]:
    """A long-running command's alerts go out through a Notifier (Telegram when
    configured) for its whole life; flushed on the way out."""
    from connectors.notify.alerts import Notifier, install

    notifier = Notifier(config)
    previous = install(notifier)
    try:
        yield
    finally:
        install(previous)
        notifier.close(timeout=5)
