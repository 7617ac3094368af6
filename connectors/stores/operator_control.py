"""The operator's commands to the running execution worker, from the command line.

They go where the admin site's Control page puts them: the `bot_state` row with component
"control" (details: entries_paused, emergency_stop, clear_safe_mode), which the worker reads
every loop and marks done once obeyed. So a command reaches the worker that runs, within
one loop, wherever it was typed.
"""

from __future__ import annotations

from typing import Any

from connectors.db import database_proxy
from connectors.db.models import AuditEntry, BotState, now_ms
from engine.inputs.common import iso_from_ms

CONTROL = "control"
EXECUTION = "execution"


def _row(symbol: str, component: str) -> BotState | None:
    return BotState.get_or_none((BotState.symbol == symbol) & (BotState.component == component))


def safe_mode(symbol: str) -> tuple[str | None, int | None]:
    """(SAFE MODE reason or None, the worker's last heartbeat ms or None if it never ran)."""
    row = _row(symbol, EXECUTION)
    if row is None:
        return None, None
    reason = (row.details or {}).get("safe_mode") or ("unknown" if row.state == "SAFE_MODE" else None)
    return reason, int(row.heartbeat_ms)


def control(symbol: str) -> dict[str, Any]:
    row = _row(symbol, CONTROL)
    return dict(row.details or {}) if row is not None else {}


def request_clear_safe_mode(symbol: str, by: str, reason: str | None) -> dict[str, Any]:
    """Ask the worker to leave SAFE MODE (audited); returns the request."""
    at = now_ms()
    request = {"requested_at": iso_from_ms(at - at % 1000), "by": by, "status": "requested", "reason": reason}
    with database_proxy.atomic():
        row = _row(symbol, CONTROL)
        before = dict(row.details or {}) if row is not None else {}
        after = dict(before, clear_safe_mode=request)
        if row is None:
            BotState.create(symbol=symbol, component=CONTROL, state="IDLE", details=after, heartbeat_ms=at)
        else:
            BotState.update(details=after).where(BotState.id == row.id).execute()
        AuditEntry.create(username=by, action="control.clear_safe_mode", target="safe_mode",
                          details={"before": {"safe_mode": reason}, "after": {"clear_safe_mode": request}})
    return request


def request_emergency_stop(symbol: str, by: str, reason: str) -> dict[str, Any]:
    """Ask the running worker to cancel every order and close the position at market (it
    then stays in SAFE MODE); entries are paused too, as the Control page does. Audited."""
    at = now_ms()
    request = {"requested_at": iso_from_ms(at - at % 1000), "by": by, "status": "requested", "reason": reason[:200]}
    with database_proxy.atomic():
        row = _row(symbol, CONTROL)
        before = dict(row.details or {}) if row is not None else {}
        after = dict(before, entries_paused=True, emergency_stop=request, by=by, at=request["requested_at"])
        if row is None:
            BotState.create(symbol=symbol, component=CONTROL, state="IDLE", details=after, heartbeat_ms=at)
        else:
            BotState.update(details=after).where(BotState.id == row.id).execute()
        AuditEntry.create(username=by, action="control.emergency_stop", target="position",
                          details={"before": {"entries_paused": bool(before.get("entries_paused"))},
                                   "after": {"entries_paused": True, "emergency_stop": request}})
    return request


def worker_running(symbol: str, loop_seconds: float) -> bool:
    """A worker heartbeat fresher than five loops (at least 15 s): one is running to obey."""
    _, beat_ms = safe_mode(symbol)
    return beat_ms is not None and now_ms() - beat_ms < max(5 * loop_seconds, 15) * 1000
