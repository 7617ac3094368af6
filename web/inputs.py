"""Accept or refuse a human input (ETF flows, liquidation map, sentiment) from the site or
the API — the same path as `showdown input`: validate whole (engine.inputs), write the
canonical document atomically to <home>/data, append it to its history table, audit it."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from connectors.files import json_files
from connectors.stores.input_history import accept
from engine.inputs import validate_payload, zone_notes
from web import audit
from web.context import sd

KINDS = ("etf", "liquidations", "sentiment")


def _user_name() -> str | None:
    return getattr(current_user, "username", None)


def current(kind: str) -> Any:
    try:
        return json_files.read_input(sd().home.data, kind)
    except ValueError:
        return None


def submit(kind: str, raw: str | bytes) -> tuple[dict[str, Any] | None, list[dict[str, str]], list[str]]:
    """(document, problems, notes). Problems are {path, message}; nothing is written unless
    there are none."""
    from web.queries import market_now

    # judged against the market clock: in a replay an as-of past the replayed "now" is future
    doc, problems = validate_payload(kind, raw, market_now())
    if doc is None:
        return None, [{"path": getattr(p, "path", ""), "message": getattr(p, "message", str(p))} for p in problems], []
    before = current(kind)
    accept(kind, doc, sd().home.data, symbol=str(sd().config.get("symbol") or "BTCUSDT"),
           entered_by=_user_name(), source="admin")
    notes = [str(n) for n in zone_notes(doc)] if kind == "liquidations" else []
    audit.record(f"input.{kind}", json_files.INPUT_FILES[kind], before or {}, doc)
    return doc, [], notes
