"""Notifications another process left `pending` (issue 15, finding 7): a process that
exits while Telegram hangs leaves its queued rows undelivered. Each row names the process
that queued it (`sender`: host, pid and the pid's start time, so a reused pid is not
taken for the old process); the next configured notifier takes over the rows of a process
that is gone — sends them, or marks them failed with the reason when they are too old to
be worth sending. None stays pending forever.

A row of a process on another host (or of an older version, without a sender) is taken
over once it is older than `stale_s`: its process cannot be asked whether it still lives.
The takeover is a compare-and-set on the row, so two starting processes never both send it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache

import peewee

from connectors.db.models import Notification


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()[:30]


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def this_sender() -> str:
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_ticks(pid) or '?'}"[:64]


def sender_gone(sender: str | None, age_ms: int, stale_s: float) -> bool:
    """Is the process that queued this row gone (so its rows are ours to finish)?"""
    parts = (sender or "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != _host() or not parts[1].isdigit():
        return age_ms > stale_s * 1000
    pid, ticks = int(parts[1]), parts[2]
    if pid == os.getpid():
        return False
    now_ticks = _start_ticks(pid)
    if now_ticks is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return ticks != "?" and os.path.exists("/proc/self/stat")  # /proc readable for us, not for it: gone
    return ticks != "?" and now_ticks != ticks


@dataclass(frozen=True)
class Takeover:
    resend: list[Notification]
    failed: int


def take_over(me: str, now: int, max_age_s: float, stale_s: float, db: peewee.Database | None = None,
              limit: int = 500) -> Takeover:
    """Claim the pending rows of ended processes: the fresh ones to send again (returned),
    the too-old ones marked failed with the reason."""
    rows = list(Notification.select().where((Notification.delivery_status == "pending")
                                            & ((Notification.sender != me) | Notification.sender.is_null()))
                .order_by(Notification.created_ms).limit(limit).execute(db))
    resend, failed = [], 0
    for row in rows:
        age_ms = now - int(row.created_ms)
        if not sender_gone(row.sender, age_ms, stale_s):
            continue
        same = (Notification._meta.primary_key == row.get_id()) & (Notification.delivery_status == "pending") & (
            Notification.sender.is_null() if row.sender is None else Notification.sender == row.sender)
        who = row.sender or "an earlier version"
        if age_ms > max_age_s * 1000:
            n = Notification.update(delivery_status="failed", last_error=(
                f"left pending by {who}, which ended before sending it; {age_ms // 1000} s old when taken over "
                f"(telegram.resume_max_age_s {max_age_s:g}): too old to send")).where(same).execute(db)
            failed += n
        elif Notification.update(sender=me).where(same).execute(db) == 1:
            row.sender = me
            resend.append(row)
    return Takeover(resend, failed)
