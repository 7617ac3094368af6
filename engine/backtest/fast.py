"""The `fast` decision source of the backtest (issue 16): rules over the whole period.

engine/rules/vector.py evaluates every market condition over all cycles at once and
memoises the rules' result per pattern; this turns a cycle's result into its decision
document. A flat result is the flat decision as decide() writes it (only the time and
the result fill it); a trade or a manage request goes through decide() itself on that
cycle's full facts (the reference evaluator), so sizing and levels are decide()'s own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.decision import _flat, decide
from engine.rules.compiler import CompiledRules
from engine.rules.vector import VectorRules, market_columns


class FastDecisions:
    """Per-cycle decisions of one ruleset over one run's cycles."""

    def __init__(self, compiled: CompiledRules, cycles: Sequence[Mapping[str, Any]]):
        self.compiled = compiled
        self.index = {int(c["t_ms"]): i for i, c in enumerate(cycles)}

        def docs(fact: str) -> list[Any]:
            if fact in ("snapshot", "flow"):
                return [c.get(fact) for c in cycles]
            return [(c.get("declared") or {}).get(fact) for c in cycles]
        self.rules = VectorRules(compiled, market_columns(compiled, docs), len(cycles))
        self.times = [_timestamp(c.get("snapshot")) for c in cycles]
        self.symbol = compiled.settings.get("symbol", "BTCUSDT")
        self.full = 0       # cycles that went through decide()

    def decide(self, t_ms: int, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The decision at t_ms; `facts` are the cycle's full facts (cycle_facts)."""
        i = self.index[int(t_ms)]
        res = self.rules.result(i, facts)
        if res["action"] == "flat" and not res.get("manage"):
            return _flat(self.symbol, self.times[i], res["reason"], res["confidence"], dict(res["risk_checks"]),
                         res["risk_mode"], self.compiled.version)
        self.full += 1
        return decide(self.compiled, facts, "python")[0]

    def trace(self, t_ms: int, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The trace of the cycle at t_ms, rebuilt on demand from its facts (the decision
        record keeps the account and position; the cycle gives the market facts): decide()'s
        own, with the reference evaluator (equal to durable_rules' but for the engine name)."""
        self.index[int(t_ms)]          # a cycle of this run, else KeyError
        return decide(self.compiled, facts, "python")[1]

    def describe(self) -> dict[str, Any]:
        return {**self.rules.describe(), "cycles": len(self.times), "cycles_through_decide": self.full}


def _timestamp(snapshot: Any) -> str | None:
    """snapshot.timestamp_iso as decide() reads it (a string, else unknown)."""
    v = snapshot.get("timestamp_iso") if isinstance(snapshot, Mapping) else None
    return v if type(v) is str else None
