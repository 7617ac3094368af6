"""Rulesets, decisions and traces in the database; data/decision.json on disk.

- `rulesets`: one row per version (content hash). `yaml` holds a JSON object
  {"files": {name: YAML text}, "tests": {name: YAML text}}: every rule file and the
  test cases it was activated with, so a rollback restores exactly what ran.
  Re-activating a known version updates `activated_by` / `activated_at_ms` (the row with
  the latest activated_at_ms is the active one, which is what the admin site shows) and
  appends a line to `note`, so the activation history is kept too.
- `decisions` + `decision_traces`: one decision per (symbol, cycle time); a re-run cycle
  (replay, `analyze --once`) replaces its document and keeps its ids, like the snapshot
  and flow rows of record_cycle.
- Shadow disagreements: `risk_events` rows of kind "shadow_disagreement" (no new table:
  they are risk-relevant events of one cycle, and the admin site already lists them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.db import database_proxy
from connectors.db.models import Decision, DecisionTrace, RiskEvent, Ruleset, now_ms
from connectors.files import json_files
from engine.format import time_iso
from engine.paths import home

DECISION_FILE = "decision.json"
SHADOW_KIND = "shadow_disagreement"


# ------------------------------------------------------------------------- rulesets
def pack(files: Mapping[str, str], tests: Mapping[str, str] | None) -> str:
    return json.dumps({"files": dict(sorted(files.items())), "tests": dict(sorted((tests or {}).items()))},
                      ensure_ascii=False)


def unpack(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(rule files, test files) of a stored version."""
    doc = json.loads(text)
    return dict(doc.get("files") or {}), dict(doc.get("tests") or {})


def record_activation(version: str, files: Mapping[str, str], tests: Mapping[str, str] | None,
                      activated_by: str, at_ms: int | None = None) -> int:
    """Store (or re-stamp) an activated version; returns its row id."""
    at = int(at_ms if at_ms is not None else now_ms())
    line = f"{time_iso(at)} activated by {activated_by}"
    with database_proxy.atomic():
        row = Ruleset.get_or_none(Ruleset.hash == version)
        if row is None:
            return int(Ruleset.insert(hash=version, yaml=pack(files, tests), activated_by=activated_by[:64],
                                      activated_at_ms=at, note=line).execute())
        note = ((row.note or "") + "\n" + line).strip()[-20000:]
        Ruleset.update(activated_by=activated_by[:64], activated_at_ms=at, note=note).where(
            Ruleset.id == row.id).execute()  # type: ignore[attr-defined]
        return int(row.id)  # type: ignore[attr-defined]


def active_version() -> Ruleset | None:
    """The row with the latest activation (what is in force)."""
    return (Ruleset.select().where(Ruleset.activated_at_ms.is_null(False))
            .order_by(Ruleset.activated_at_ms.desc(), Ruleset.id.desc()).first())  # type: ignore[attr-defined]


def versions(limit: int = 50) -> list[Ruleset]:
    return list(Ruleset.select().order_by(Ruleset.activated_at_ms.desc(), Ruleset.id.desc())  # type: ignore[attr-defined]
                .limit(limit))


def find_version(prefix: str) -> Ruleset:
    """The version whose hash starts with `prefix` (unique); raises LookupError."""
    rows = list(Ruleset.select().where(Ruleset.hash.startswith(prefix)).limit(2))
    if not rows:
        raise LookupError(f"no stored ruleset version {prefix!r} (see `showdown rules versions`)")
    if len(rows) > 1:
        raise LookupError(f"{prefix!r} matches several versions: give more of the hash")
    return rows[0]


# ------------------------------------------------------------------------- decisions
@dataclass(frozen=True)
class StoredDecision:
    decision_id: int
    trace_id: int


def store_decision(decision: dict[str, Any], trace: dict[str, Any], snapshot_id: int | None, flow_id: int | None,
                   at_ms: int, data_dir: Path | None = None) -> StoredDecision:
    """The decision row (linked to snapshot, flow and trace), the trace row, and
    data/decision.json — in one transaction: the file is written last, inside it, so a
    failed write rolls the rows back. Sets decision["trace_id"] (and the file's
    "decision_id")."""
    symbol = str(decision.get("symbol") or "BTCUSDT")
    where = Path(data_dir) if data_dir is not None else home().ensure().data
    with database_proxy.atomic():
        old = Decision.get_or_none((Decision.symbol == symbol) & (Decision.decided_at_ms == at_ms))
        if old is not None and old.trace_id is not None:  # type: ignore[attr-defined]
            trace_id = int(old.trace_id)  # type: ignore[attr-defined]
            DecisionTrace.update(trace=trace, created_ms=now_ms()).where(DecisionTrace.id == trace_id).execute()  # type: ignore[attr-defined]
        else:
            trace_id = int(DecisionTrace.insert(symbol=symbol, trace=trace).execute())
        decision["trace_id"] = trace_id
        trace["decision"] = decision
        DecisionTrace.update(trace=trace).where(DecisionTrace.id == trace_id).execute()  # type: ignore[attr-defined]
        fields = {"action": decision["action"], "reason": (decision.get("reason") or "")[:128],
                  "snapshot": snapshot_id, "flow": flow_id, "ruleset_version": decision.get("ruleset_version"),
                  "trace": trace_id, "document": decision}
        if old is None:
            decision_id = int(Decision.insert(symbol=symbol, decided_at_ms=at_ms, **fields).execute())
        else:
            decision_id = int(old.id)  # type: ignore[attr-defined]
            Decision.update(**fields).where(Decision.id == decision_id).execute()  # type: ignore[attr-defined]
        json_files.write_json_atomic(where / DECISION_FILE, {**decision, "decision_id": decision_id})
    return StoredDecision(decision_id, trace_id)


def load_trace(decision_id: int) -> dict[str, Any] | None:
    d = Decision.get_or_none(Decision.id == decision_id)
    if d is None or d.trace_id is None:  # type: ignore[attr-defined]
        return None
    t = DecisionTrace.get_or_none(DecisionTrace.id == d.trace_id)  # type: ignore[attr-defined]
    return dict(t.trace) if t is not None else None


# ------------------------------------------------------------------------- shadow
def record_shadow_disagreement(symbol: str, disagreement: Mapping[str, Any], decision_id: int | None) -> int:
    a, s = disagreement.get("active_decision") or {}, disagreement.get("shadow_decision") or {}
    msg = (f"active {disagreement.get('active')} {a.get('action')} ({a.get('reason')}) vs "
           f"shadow {disagreement.get('shadow')} {s.get('action')} ({s.get('reason')})")
    return int(RiskEvent.insert(symbol=symbol, kind=SHADOW_KIND, risk_mode=a.get("risk_mode"), message=msg,
                                details={**disagreement, "decision_id": decision_id}).execute())


def shadow_disagreements(since_ms: int = 0, limit: int = 200) -> list[RiskEvent]:
    return list(RiskEvent.select().where((RiskEvent.kind == SHADOW_KIND) & (RiskEvent.created_ms >= since_ms))
                .order_by(RiskEvent.created_ms.desc()).limit(limit))


# ------------------------------------------------------------------------- attribution
ATTRIBUTION_FILE = "rules_activation_request.json"


def request_attribution(var_dir: Path, version: str, by: str) -> None:
    """Say who wants `version` active before writing its files into the rules directory:
    the loop's watcher then records that name instead of "watcher" (the CLI rollback
    uses it; the admin site can too)."""
    json_files.write_json_atomic(Path(var_dir) / ATTRIBUTION_FILE, {"version": version, "by": by, "at_ms": now_ms()})


def take_attribution(var_dir: Path, version: str, max_age_ms: int = 600_000) -> str | None:
    p = Path(var_dir) / ATTRIBUTION_FILE
    try:
        doc = json_files.read_json(p)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("version") != version or now_ms() - int(doc.get("at_ms") or 0) > max_age_ms:
        return None
    p.unlink(missing_ok=True)
    return str(doc.get("by") or "") or None


# ------------------------------------------------------------------------- why not
def decisions_window(symbol: str, span_ms: int, until_ms: int, limit: int = 5000) -> tuple[
        int | None, list[dict[str, Any]], list[dict[str, Any]]]:
    """The decisions of the `span_ms` up to `until_ms` — the market clock (a replay's
    decisions carry replayed times, so its window counts back from the replay's "now"; one
    dated after it is the future, not in the window) — each with its trace, and the shadow
    disagreements recorded on them: (until_ms, or None when no decision is stored at all,
    decisions, shadow)."""
    if Decision.select(Decision.id).where(Decision.symbol == symbol).limit(1).first() is None:
        return None, [], []
    until = int(until_ms)
    rows = list(Decision.select().where((Decision.symbol == symbol) & (Decision.decided_at_ms > until - span_ms)
                                        & (Decision.decided_at_ms <= until))
                .order_by(Decision.decided_at_ms.desc()).limit(limit))
    trace_ids = [r.trace_id for r in rows if r.trace_id is not None]  # type: ignore[attr-defined]
    traces: dict[int, Any] = {}
    for i in range(0, len(trace_ids), 500):
        for t in DecisionTrace.select(DecisionTrace.id, DecisionTrace.trace).where(
                DecisionTrace.id.in_(trace_ids[i:i + 500])):
            traces[int(t.id)] = t.trace  # type: ignore[attr-defined]
    out = [{"id": int(r.id), "time": time_iso(int(r.decided_at_ms)), "action": r.action,  # type: ignore[attr-defined]
            "reason": r.reason, "trace": traces.get(r.trace_id)} for r in rows]  # type: ignore[attr-defined]
    ids = {d["id"] for d in out}
    shadow = [dict(e.details or {}) for e in RiskEvent.select().where(RiskEvent.kind == SHADOW_KIND)
              .order_by(RiskEvent.created_ms.desc()).limit(limit)
              if (e.details or {}).get("decision_id") in ids]
    return until, out, shadow
