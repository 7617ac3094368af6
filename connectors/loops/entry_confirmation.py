"""Going live safely: on mainnet the first `execution.confirm_first_entries` entries
(default 3) each wait for the operator's confirmation before any order is sent.

The request lives in the `bot_state` row 'control' (details.entry_confirmations:
{decision id: {status, plan, requested_ms, decided_by, decided_ms}}, and
details.entries_confirmed, the count so far), beside the other operator switches the
worker reads every loop. The admin site (web/sections/confirmations.py, admin role, CSRF,
audited) confirms or rejects it; a Telegram message carries the trade plan. An entry
not confirmed while its decision is valid expires with it (`decision_max_age_s`).
While waiting, the worker runs its step with no decision — as with paused entries, so
what is open stays protected and nothing new is sent.
"""

from __future__ import annotations

from typing import Any

from connectors.db import models as M  # noqa: N812
from connectors.stores.execution_store import DB_ERRORS
from engine.execution.decision import Malformed, timestamp_ms
from engine.execution.model import Event

COMPONENT = "control"


def plan_text(d: dict[str, Any]) -> str:
    zone = d.get("entry_zone") or ["?", "?"]
    return (f"{str(d.get('action')).upper()} {d.get('symbol', 'BTCUSDT')}: entry {zone[0]}–{zone[1]}, SL {d.get('sl')}, "
            f"TP1 {d.get('tp1')}, TP2 {d.get('tp2')}, size {d.get('position_size_usdt')} USDT at "
            f"{d.get('leverage')}x (decision {d.get('id')}, confidence {d.get('confidence')})")


class EntryConfirmation:
    def __init__(self, config: Any, symbol: str):
        self.enabled = config.get("mode") == "mainnet"
        self.required = int(config.get("execution.confirm_first_entries", 3) or 0)
        self.max_age_ms = int(config.get("execution.decision_max_age_s", 600)) * 1000
        self.symbol = symbol

    def gate(self, decision: dict[str, Any] | None, flat: bool, control: dict[str, Any],
             now_ms: int) -> tuple[dict[str, Any] | None, list[Event]]:
        """The decision the step may act on, and what to report."""
        if not self.enabled or decision is None or not flat or decision.get("action") not in ("long", "short"):
            return decision, []
        if int(control.get("entries_confirmed") or 0) >= self.required:
            return decision, []
        did = str(decision.get("id") or decision.get("decision_id"))
        asks = dict(control.get("entry_confirmations") or {})
        ask = asks.get(did)
        try:
            expired = now_ms - timestamp_ms(decision) > self.max_age_ms
        except Malformed:
            expired = False  # the core refuses it and says why
        if ask is None:
            if expired:
                return None, []
            n = int(control.get("entries_confirmed") or 0) + 1
            self._write(did, {"status": "pending", "plan": plan_text(decision), "requested_ms": now_ms,
                              "number": n, "of": self.required})
            return None, [Event("entry_confirmation_needed", "CRITICAL",
                                f"MAINNET entry {n} of the first {self.required} waits for your confirmation "
                                f"(admin site, Confirmations): {plan_text(decision)}", {"decision_id": did})]
        if ask.get("status") == "confirmed":
            return decision, []
        if ask.get("status") == "pending" and expired:
            self._write(did, dict(ask, status="expired", decided_ms=now_ms))
            return None, [Event("entry_confirmation_expired", "WARNING", f"entry of decision {did} expired "
                                "unconfirmed with its decision; nothing was sent", {"decision_id": did})]
        return None, []

    def _write(self, did: str, record: dict[str, Any]) -> None:
        try:
            row = M.BotState.get_or_none((M.BotState.symbol == self.symbol) & (M.BotState.component == COMPONENT))
            details = dict(row.details or {}) if row else {}
            asks = dict(details.get("entry_confirmations") or {})
            asks[did] = record
            details["entry_confirmations"] = asks
            if row is None:
                M.BotState.create(symbol=self.symbol, component=COMPONENT, state="IDLE", details=details,
                                  heartbeat_ms=record.get("requested_ms") or 0)
            else:
                M.BotState.update(details=details).where(M.BotState.id == row.id).execute()
        except DB_ERRORS:
            pass  # no database: no request recorded, so nothing is confirmed either — nothing is sent
