"""Compare two runs and replay recorded decisions (pure).

compare: decisions at the same cycle time that differ (action, reason, levels, size,
confidence, mode, checks), with both traces re-derived from the facts each run saw —
decide() is deterministic, so re-deciding gives the trace the run had.
parity: recorded live/paper traces carry the facts they saw; the backtest decision path
re-decides each and every decision must come out identical. Given the cycles the backtest
builds for the same times (batch analytics over the stored history), parity also checks
that the backtest would have seen the same snapshot and flow as live did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.backtest.loop import BacktestResult
from engine.decision import decide

# What makes two decisions different; ids, trace links and the version hash do not.
DECISION_KEYS = ("action", "reason", "entry_zone", "sl", "tp1", "tp2", "risk_level", "position_size_usdt",
                 "leverage", "confidence", "risk_checks", "risk_mode")


def differs(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [k for k in DECISION_KEYS if a.get(k) != b.get(k)]


def compare_runs(a: BacktestResult, b: BacktestResult, compiled_a: Any, compiled_b: Any,
                 cycles: Sequence[Mapping[str, Any]], engine_a: Any = "python", engine_b: Any = "python",
                 metrics_a: Mapping[str, Any] | None = None, metrics_b: Mapping[str, Any] | None = None,
                 max_traces: int = 50) -> dict[str, Any]:
    by_t = {c["t_ms"]: c for c in cycles}
    db = {d["t_ms"]: d for d in b.decisions}
    diffs: list[dict[str, Any]] = []
    for da in a.decisions:
        dbb = db.get(da["t_ms"])
        if dbb is None:
            continue
        keys = differs(da["decision"], dbb["decision"])
        if not keys:
            continue
        item: dict[str, Any] = {"t_ms": da["t_ms"], "fields": keys,
                                "a": {k: da["decision"].get(k) for k in DECISION_KEYS},
                                "b": {k: dbb["decision"].get(k) for k in DECISION_KEYS}}
        if len(diffs) < max_traces:
            cyc = by_t[da["t_ms"]]
            for side, d, comp, eng in (("a", da, compiled_a, engine_a), ("b", dbb, compiled_b, engine_b)):
                facts = {"snapshot": cyc["snapshot"], "flow": cyc["flow"], "account": d["account"],
                         "position": d["position"], **(cyc.get("declared") or {})}
                item[f"trace_{side}"] = decide(comp, facts, eng)[1]
        diffs.append(item)
    keys = sorted(set(metrics_a or {}) | set(metrics_b or {}))
    side_by_side = {k: {"a": (metrics_a or {}).get(k), "b": (metrics_b or {}).get(k)} for k in keys
                    if not isinstance((metrics_a or {}).get(k), dict)}
    return {"a": a.version, "b": b.version, "period": [a.t_from, a.t_to], "metrics": side_by_side,
            "decisions_compared": len(a.decisions), "decisions_differing": len(diffs), "differences": diffs}


# Only live has an order book (the collector's depth): a backtest has none to rebuild.
LIVE_ONLY = {"snapshot": ("orderbook",), "flow": ()}


def fact_differences(recorded: Mapping[str, Any], rebuilt: Mapping[str, Any], skip: Sequence[str] = (),
                     path: str = "") -> list[str]:
    """Leaf paths where two fact documents differ (a number equal as float is equal)."""
    out: list[str] = []
    for k in sorted(set(recorded) | set(rebuilt)):
        if k in skip:
            continue
        a, b, where = recorded.get(k), rebuilt.get(k), f"{path}{k}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += fact_differences(a, b, (), where + ".")
        elif a != b:
            out.append(where)
    return out


def _ruleset_differences(rec: Mapping[str, Any], replayed: Mapping[str, Any]) -> list[str]:
    """The ruleset version recorded with the decision (its row, its document, its trace)
    against the version replayed: a decision made (or edited) under another ruleset differs."""
    seen = {"decision row": rec.get("ruleset_version", replayed.get("ruleset_version")),
            "decision document": rec["decision"].get("ruleset_version"),
            "trace": ((rec.get("trace") or {}).get("ruleset") or {}).get("version",
                                                                          replayed.get("ruleset_version"))}
    want = replayed.get("ruleset_version")
    return [f"ruleset_version ({where}: {v!r}, replayed: {want!r})" for where, v in seen.items() if v != want]


def _stored_differences(rec: Mapping[str, Any], built: Mapping[str, Any] | None) -> list[str]:
    """The stored `snapshots` and `flows` rows of the cycle, field by field, against the
    facts the decision saw and (when rebuilt) against what the backtest builds."""
    out: list[str] = []
    for name in ("snapshot", "flow"):
        row = rec["stored"].get(name)
        if row is None:
            out.append(f"{name}s row missing")
            continue
        seen = rec["facts"].get(name) or {}
        out += [f"{name}s row.{p} (vs the trace)" for p in fact_differences(row, seen, LIVE_ONLY[name])]
        if built is not None and built.get(name) is not None:
            out += [f"{name}s row.{p}" for p in fact_differences(row, built[name], LIVE_ONLY[name])]
    return out


def parity(records: Iterable[Mapping[str, Any]], compiled: Any, engine: Any = "python",
           cycles: Mapping[int, Mapping[str, Any]] | None = None,
           expected_times: Iterable[int] | None = None) -> dict[str, Any]:
    """records: {"id", "t_ms", "facts", "decision", "trace"} as stored by the live cycle,
    with "stored" ({"snapshot", "flow"}: the stored rows) and "ruleset_version" (the
    decision row's) when read from the database.
    cycles: {t_ms: {"snapshot", "flow"}} as the backtest builds them (None: decisions only).
    expected_times: the cycles that must each have exactly one decision (with `cycles`,
    their times count too): a missing or an extra decision cycle is a difference."""
    n, out, analytics = 0, [], 0
    times: dict[int, int] = {}
    for rec in records:
        n += 1
        t = int(rec["t_ms"]) if rec.get("t_ms") is not None else None
        if t is not None:
            times[t] = times.get(t, 0) + 1
        again, trace = decide(compiled, rec["facts"], engine)
        keys = differs(rec["decision"], again) + _ruleset_differences(rec, again)
        facts_keys: list[str] = []
        built = cycles.get(t) if cycles is not None and t is not None else None
        if cycles is not None:
            for name in ("snapshot", "flow"):
                seen = rec["facts"].get(name) or {}
                facts_keys += [f"{name}.{p}" for p in fact_differences(
                    seen, (built or {}).get(name) or {}, LIVE_ONLY[name])] if built else [f"{name} (not rebuilt)"]
            for name, rebuilt in ((built or {}).get("declared") or {}).items():   # indicators, expressions
                facts_keys += [f"{name}.{p}" for p in fact_differences(rec["facts"].get(name) or {}, rebuilt)]
        if "stored" in rec:
            facts_keys += _stored_differences(rec, built)
        analytics += bool(facts_keys)
        if keys or facts_keys:
            out.append({"id": rec.get("id"), "timestamp_iso": rec["decision"].get("timestamp_iso"), "fields": keys,
                        "facts_differing": facts_keys[:50], "recorded": rec["decision"], "replayed": again,
                        "recorded_trace": rec.get("trace"), "replayed_trace": trace})
    expected = set(expected_times or ()) | (set(cycles) if cycles is not None else set())
    for t in sorted(expected - set(times)):
        out.append({"t_ms": t, "fields": ["cycle missing"], "facts_differing": [],
                    "why": "a cycle of the period without its recorded decision (deleted, or never made)"})
    for t, count in sorted(times.items()):
        if expected and t not in expected:
            out.append({"t_ms": t, "fields": ["cycle extra"], "facts_differing": [],
                        "why": "a recorded decision at a time that is no cycle of the period"})
        if count > 1:
            out.append({"t_ms": t, "fields": ["cycle extra"], "facts_differing": [],
                        "why": f"{count} recorded decisions for one cycle"})
    return {"cycles": n, "differences": len(out), "analytics_differences": analytics,
            "cycle_differences": sum(1 for i in out if "t_ms" in i and "id" not in i), "items": out}
