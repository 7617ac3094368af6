"""A trace as text a trader can check by hand (pure)."""

from __future__ import annotations

from typing import Any

from engine import format as fmt
from engine.rules.summary import readable_condition


def _v(v: Any, cond: str | None = None) -> str:
    """A value the trace saw, formatted by the field its condition reads."""
    if v is None:
        return "unknown"
    return fmt.field((cond or "").split(" ", 1)[0], v)


def _s(v: Any) -> str:
    return fmt.score(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def _asserted(a: Any) -> str:
    parts = []
    for action, params in (a or {}).items():
        inner = ", ".join(f"{k}={_s(v)}" for k, v in params.items())
        parts.append(f"{action}({inner})")
    return "; ".join(parts)


def _manage_text(m: dict[str, Any]) -> str:
    """The manage stage's asks in words: close / reduce / stop and target moves."""
    parts = [f"close ({m['close']['reason']}, {m['close']['rule']})"] if m.get("close") else []
    if m.get("reduce"):
        parts.append(f"reduce by {m['reduce']['fraction']:.0%} ({m['reduce']['reason']}, {m['reduce']['rule']})")
    for key, word in (("stops", "stop"), ("targets", "target")):
        for it in m.get(key) or ():
            how = ", ".join(f"{k}={v}" for k, v in it.items() if k != "rule")
            parts.append(f"{word} {how} ({it['rule']})")
    return "; ".join(parts)


def render_trace(trace: dict[str, Any], show_not_fired: bool = True) -> str:
    rs = trace.get("ruleset", {})
    d = trace.get("decision") or {}
    out = [f"ruleset {rs.get('name')} version {rs.get('version')}  (engine: {trace.get('engine')})"]
    if d:
        out.append(f"DECISION {str(d.get('action')).upper()}  reason={d.get('reason')}  "
                   f"confidence={_s(d.get('confidence'))}  mode={d.get('risk_mode')}  at {d.get('timestamp_iso')}")
        if d.get("action") != "flat":
            out.append(f"  entry zone {fmt.field('entry_zone', d.get('entry_zone'))}  SL {fmt.price(d.get('sl'))}  "
                       f"TP1 {fmt.price(d.get('tp1'))}  TP2 {fmt.price(d.get('tp2'))}  "
                       f"size {fmt.money(d.get('position_size_usdt'))} USDT  leverage {d.get('leverage')}x  "
                       f"risk level {d.get('risk_level')}")
        checks = d.get("risk_checks") or {}
        out.append("  risk checks: " + ", ".join(f"{k}={'ok' if v else 'FAILED'}" for k, v in checks.items()))
    for e in trace.get("errors") or []:
        out.append(f"  ERROR: {e}")
    for p in trace.get("input_problems") or []:
        out.append(f"  input problem: {p}")
    if trace.get("indicators"):
        out.append("\n[indicators] declared, at this cycle")
        for i in trace["indicators"]:
            params = ", ".join(f"{k}={v}" for k, v in {**i.get("params", {}), **i.get("inputs", {})}.items())
            out.append(f"  {i['name']:<24} {_v(i['value']):<22} {i['function']}({params}) on {i['timeframe']}")
    if trace.get("expressions"):
        out.append("\n[expressions] computed before the rules ran")
        for e in trace["expressions"]:
            out.append(f"  {e['name']:<24} {_v(e['value']):<22} = {e['expression']}")
    for st in trace.get("stages", []):
        if "stage" in st:
            fired = st.get("fired", [])
            out.append(f"\n[{st['stage']}] {len(fired)} rule(s) fired")
            for e in fired:
                out.append(f"  + {e['rule']}: {e['why']}")
                for cond, value in e["conditions"]:
                    out.append(f"      {readable_condition(cond)}   (was {_v(value, cond)})")
                out.append(f"      => {_asserted(e.get('asserted'))}")
        elif st.get("step") == "aggregation":
            out.append(f"\n[aggregation] score_long={_s(st['score_long'])} score_short={_s(st['score_short'])}"
                       f" (raw {_s(st['raw_long'])} / {_s(st['raw_short'])}, clamped to 0–1)")
            for c in st.get("contributions", []):
                out.append(f"      {c['side']:<5} {c['weight']:+.2f}  {c['factor']:<14} {c['rule']}")
            if st.get("warnings"):
                out.append("      warnings: " + ", ".join(f"{w['code']} (-{_s(w['penalty'])})" for w in st["warnings"]))
        elif st.get("step") == "candidate":
            out.append(f"  -> candidate: {st['side']} ({st['reason']})")
        elif st.get("step") == "risk":
            o = st["outcome"]
            out.append(f"  -> after risk: side={o['side']} mode={o['mode']} confidence={_s(o['confidence'])} "
                       f"size x{_s(o['size_mult'])} leverage cap {o['leverage_cap']} "
                       f"(sentiment x{_s(st['sentiment_modifier'])}, warning penalty {_s(st['warning_penalty'])})")
        elif st.get("step") == "manage":
            out.append("  -> manage the open position: " + (_manage_text(st) or "nothing"))
    if d.get("manage"):
        out.append(f"\n[manage] asked of the open {d['manage'].get('side')} position: {_manage_text(d['manage'])}")
    sizing = trace.get("sizing") or {}
    if sizing:
        out.append("\n[sizing] " + ", ".join(f"{k}={fmt.field(k, v)}" for k, v in sizing.items()))
    if show_not_fired and trace.get("not_fired"):
        out.append("\n[why not] rules that did not fire, and the first condition that stopped each")
        for rule, cond, value in trace["not_fired"]:
            out.append(f"  - {rule}: {readable_condition(cond)}   (was {_v(value, cond)})" if cond
                       else f"  - {rule}: (no failing condition)")
    for dis in trace.get("disagreements") or []:
        out.append(f"  ENGINE DISAGREEMENT: {dis}")
    if trace.get("shadow"):
        out.append(f"\n[shadow] {trace['shadow']}")
    return "\n".join(out)
