""""Why no trade?" over a window of cycles (pure): what the flat decisions said, which
cycles came closest to a trade and what stopped each, the rules that blocked most often,
and what the shadow version would have done on the same cycles.

Input: the window's decisions as {id, time, action, reason, confidence, trace} (trace: the
stored engine trace, or None) and the shadow disagreements as stored (risk_events
details: active_decision, shadow_decision, decision_id, timestamp_iso, shadow).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from engine import format as fmt
from engine.rules.summary import summarize


def _closeness(s: Mapping[str, Any], candidate: str | None) -> float:
    """How near a flat cycle came to a trade: a side that was a candidate and was then
    blocked ranks above any score; else the best score over the threshold."""
    best = max((sc["value"] or 0.0 for sc in s["scores"]), default=0.0)
    threshold = s.get("threshold") or 1.0
    return (1.0 if candidate in ("long", "short") else 0.0) + min(best / threshold, 1.0)


def _candidate(trace: Mapping[str, Any]) -> str | None:
    step = next((st for st in trace.get("stages") or [] if st.get("step") == "candidate"), None)
    return step.get("side") if step else None


def why_not(decisions: Iterable[Mapping[str, Any]], shadow: Iterable[Mapping[str, Any]] = (),
            closest: int = 10) -> dict[str, Any]:
    rows = list(decisions)
    actions = Counter(str(d.get("action")) for d in rows)
    flats = [d for d in rows if d.get("action") == "flat"]
    reasons = Counter(str(d.get("reason") or "unknown") for d in flats)
    blockers: Counter[str] = Counter()
    near: list[dict[str, Any]] = []
    misses: Counter[str] = Counter()
    for d in flats:
        tr = d.get("trace")
        if not (isinstance(tr, Mapping) and isinstance(tr.get("stages"), list)):
            continue
        s = summarize(tr, misses=3)
        by = s.get("decided_by")
        blockers[by["rule"] if by else f"(no rule: {d.get('reason')})"] += 1
        for m in s["nearest_misses"][:1]:
            misses[m["rule"]] += 1
        cand = _candidate(tr)
        near.append({"id": d.get("id"), "time": d.get("time"), "reason": d.get("reason"),
                     "candidate": cand if cand in ("long", "short") else None,
                     "closeness": _closeness(s, cand),
                     "scores": " / ".join(f"{sc['side']} {sc['text']}" for sc in s["scores"]),
                     "threshold": s["threshold_text"],
                     "stopped_by": (f"{by['rule']} ({by['kind']})" if by else str(d.get("reason"))),
                     "nearest_miss": s["nearest_misses"][0]["text"] if s["nearest_misses"] else None})
    near.sort(key=lambda n: (-n["closeness"], str(n["time"])))
    shadow_rows = []
    shadow_trades = 0
    for sd in shadow:
        a, b = sd.get("active_decision") or {}, sd.get("shadow_decision") or {}
        if b.get("action") in ("long", "short") and a.get("action") == "flat":
            shadow_trades += 1
        shadow_rows.append({"time": sd.get("timestamp_iso"), "decision_id": sd.get("decision_id"),
                            "active": f"{a.get('action')} ({a.get('reason')})",
                            "shadow": f"{b.get('action')} ({b.get('reason')}), confidence {fmt.score(b.get('confidence'))}",
                            "version": str(sd.get("shadow") or "")[:12]})
    return {
        "cycles": len(rows), "actions": {k: actions.get(k, 0) for k in ("long", "short", "flat")},
        "flat_reasons": reasons.most_common(),
        "closest": near[:closest],
        "blocking_rules": blockers.most_common(10),
        "nearest_miss_rules": misses.most_common(10),
        "shadow": {"disagreements": len(shadow_rows), "would_have_traded": shadow_trades, "rows": shadow_rows[:20]},
    }


def render_why_not(w: Mapping[str, Any], since: str) -> str:
    """The report `showdown rules why-not` prints."""
    a = w["actions"]
    out = [f"WHY NO TRADE? last {since}: {w['cycles']} cycle(s) — long {a['long']}, short {a['short']}, "
           f"flat {a['flat']}"]
    if not w["cycles"]:
        return out[0] + "\n  no decision in this window"
    out.append("\nflat reasons:")
    out += [f"  {n:>5}  {reason}" for reason, n in w["flat_reasons"]] or ["  none"]
    out.append("\nrules that blocked most often:")
    out += [f"  {n:>5}  {rule}" for rule, n in w["blocking_rules"]] or ["  none"]
    out.append("\nclosest to a trade (and what stopped each):")
    for c in w["closest"]:
        cand = f"candidate {c['candidate']}, " if c["candidate"] else ""
        out.append(f"  {c['time']}  decision {c['id']}: {cand}scores {c['scores']} (threshold {c['threshold']}); "
                   f"stopped by {c['stopped_by']}")
        if c["nearest_miss"]:
            out.append(f"      nearest miss: {c['nearest_miss']}")
    if not w["closest"]:
        out.append("  none")
    sh = w["shadow"]
    out.append(f"\nshadow version: {sh['disagreements']} disagreement(s), would have traded on "
               f"{sh['would_have_traded']} cycle(s) the active version left flat")
    for r in sh["rows"]:
        out.append(f"  {r['time']}  decision {r['decision_id']}: active {r['active']} | shadow {r['version']} {r['shadow']}")
    return "\n".join(out)
