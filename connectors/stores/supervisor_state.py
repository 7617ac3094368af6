"""The supervisor's crash loops (connectors/loops/supervisor.py), kept where the Status
page and `showdown status` read them: bot_state row component "supervisor" (not a loop
with a heartbeat: the site lists it apart), details {"crash_loops": {child: {exits,
minutes, last_code, since_ms}}}. Written at every `showdown run` start (empty) and
whenever a crash loop starts, grows or ends."""

from __future__ import annotations

from typing import Any

from connectors.db.models import BotState, now_ms

COMPONENT = "supervisor"


def record_crash_loops(symbol: str, loops: dict[str, dict[str, Any]]) -> None:
    state = "ERROR" if loops else "RUNNING"
    details = {"crash_loops": loops, "time_ms": now_ms()}
    updated = (BotState.update(state=state, heartbeat_ms=now_ms(), details=details)
               .where((BotState.symbol == symbol) & (BotState.component == COMPONENT)).execute())
    if not updated:
        BotState.insert(symbol=symbol, component=COMPONENT, state=state, details=details).execute()


def crash_loops(symbol: str) -> tuple[dict[str, dict[str, Any]], int | None]:
    """The crash loops last recorded, and when (None: no `showdown run` recorded any)."""
    row = BotState.get_or_none((BotState.symbol == symbol) & (BotState.component == COMPONENT))
    if row is None:
        return {}, None
    d = row.details or {}
    loops = d.get("crash_loops")
    return (loops if isinstance(loops, dict) else {}), int(row.heartbeat_ms)


def describe(child: str, loop: dict[str, Any]) -> str:
    return (f"{child} crash-looping: {loop.get('exits')} restarts in {loop.get('minutes')} min "
            f"(last exit code {loop.get('last_code')})")
