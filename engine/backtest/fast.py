"""The `fast` decision source of the backtest (issue 16): rules over the whole period.

engine/rules/vector.py evaluates every market condition over all cycles at once and
memoises the rules' result per pattern; this turns a cycle's result into its decision
document. A flat result is the flat decision as decide() writes it (only the time and
the result fill it); a trade or a manage request goes through decide() itself on that
cycle's full facts (the reference evaluator), so sizing and levels are decide()'s own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.analytics.columns import CycleColumns
from engine.decision import _flat, decide
from engine.rules.compiler import CompiledRules
from engine.rules.vector import VectorRules, doc_column, market_columns


class FastDecisions:
    """Per-cycle decisions of one ruleset over one run's cycles: documents (a list of
    build_cycles' cycles) or columns (engine.analytics.columns.CycleColumns)."""

    def __init__(self, compiled: CompiledRules, cycles: Sequence[Mapping[str, Any]]):
        self.compiled = compiled
        column: Callable[[str, str], Sequence[Any]]
        floats = None
        if isinstance(cycles, CycleColumns):
            self.times = cycles.times
            column, floats = cycles.column, cycles.float_array
        else:
            self.times = [int(c["t_ms"]) for c in cycles]
            by_fact: dict[str, list[Any]] = {}

            def column(fact: str, path: str) -> Sequence[Any]:
                docs = by_fact.get(fact)
                if docs is None:
                    docs = by_fact[fact] = [c.get(fact) if fact in ("snapshot", "flow")
                                            else (c.get("declared") or {}).get(fact) for c in cycles]
                return doc_column(docs, compiled, fact, path)
        self.column = column
        self.rules = VectorRules(compiled, market_columns(compiled, column, floats), len(self.times))
        self.stamps = [v if type(v) is str else None for v in column("snapshot", "timestamp_iso")]
        self.symbol = compiled.settings.get("symbol", "BTCUSDT")
        self.full = 0       # cycles that went through decide()
        self._atr: Sequence[Any] | None = None
        self._flats: dict[int, dict[str, Any]] = {}
        self._flat_docs: dict[str, dict[str, Any]] = {}

    def decide(self, i: int, own: Mapping[str, Any], full: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
        """The decision of cycle i. `own`: the run's facts at it (account, position,
        protections); `full()`: the cycle's whole facts, built only for decide()."""
        res = self.rules.result(i, own)
        flat = self._flat_of(res)
        if flat is not None:
            # the pattern's risk_checks document is shared by its flat decisions: the loop and the
            # execution step only read a flat decision, and the log copies what it hands out
            # (sharing it lets the log see a repeated decision by identity: issue 16)
            doc = flat.copy()
            doc["timestamp_iso"] = self.stamps[i]
            return doc
        self.full += 1          # a trade or a manage request: decide() sizes and prices it
        return decide(self.compiled, full(), "python", result={**res, "risk_checks": dict(res["risk_checks"])})[0]

    def flat(self, i: int, own: Mapping[str, Any]) -> dict[str, Any] | None:
        """Cycle i's flat decision as the shared document of its pattern (timestamp_iso None:
        the decision is it with self.stamps[i] in that field), or None when the cycle's result
        is not flat or asks to manage (then decide() is needed). Not to be changed: shared."""
        return self._flat_of(self.rules.result(i, own))

    def flat_run(self, k: int, stop: int, own: Mapping[str, Any]) -> list[dict[str, Any]]:
        """flat(i, own) for i = k, k+1, ... before `stop`, up to the first that is None: the
        flat decisions of a stretch whose own facts are these same documents. With them
        fixed, a cycle's result is a function of its market row alone (VectorRules.result's
        memo key), so each distinct row is looked up once per stretch."""
        key_of, out = self.rules.market_key, []
        seen: dict[bytes, dict[str, Any] | None] = {}
        for i in range(k, stop):
            key = key_of(i)
            if key in seen:
                flat = seen[key]
            else:
                flat = seen[key] = self._flat_of(self.rules.result(i, own))
            if flat is None:
                break
            out.append(flat)
        return out

    def _flat_of(self, res: Mapping[str, Any]) -> dict[str, Any] | None:
        if res["action"] != "flat" or res.get("manage"):
            return None
        flat = self._flats.get(id(res))      # results are memoised: one flat document each
        if flat is None:
            flat = _flat(self.symbol, None, res["reason"], res["confidence"], dict(res["risk_checks"]),
                         res["risk_mode"], self.compiled.version)
            # patterns with the same flat decision share one document (repr tells 0, 0.0 and False apart)
            flat = self._flats[id(res)] = self._flat_docs.setdefault(repr(flat), flat)
        return flat

    def atr_pct_5m(self, i: int) -> Any:
        """snapshot.volatility.atr_pct.tf_5m at cycle i (the atr slippage model reads it)."""
        if self._atr is None:
            self._atr = self.column("snapshot", "volatility.atr_pct.tf_5m")
        return self._atr[i]

    def trace(self, i: int, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The trace of cycle i, rebuilt on demand from its facts (the decision record keeps
        the account and position; the cycle gives the market facts): decide()'s own, with the
        reference evaluator (equal to durable_rules' but for the engine name)."""
        self.times[i]          # a cycle of this run, else IndexError
        return decide(self.compiled, facts, "python")[1]

    def describe(self) -> dict[str, Any]:
        return {**self.rules.describe(), "cycles": len(self.times), "cycles_through_decide": self.full}


def rebuild_trace(compiled: CompiledRules, cycles: Sequence[Mapping[str, Any]], record: Mapping[str, Any],
                  protections: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The trace of one recorded decision ({t_ms, id, decision, account, position}), rebuilt
    after the run: the cycle's market facts (its document, assembled on demand from columns)
    with the account and position the record kept, through decide() and the reference
    evaluator — equal to durable_rules' trace but for the engine name. A ruleset reading
    `protections` needs them passed (the run's trades at that cycle are not recorded)."""
    if "protections" in compiled.paths and protections is None:
        raise ValueError("this ruleset reads protections: pass the protections facts of that cycle")
    times = cycles.times if isinstance(cycles, CycleColumns) else [int(c["t_ms"]) for c in cycles]
    t = int(record["t_ms"])
    i = times.index(t)
    cyc = cycles[i]
    facts = {"snapshot": cyc["snapshot"], "flow": cyc["flow"], "account": dict(record["account"]),
             "position": dict(record["position"]), **(cyc.get("declared") or {})}
    if protections is not None:
        facts["protections"] = dict(protections)
    return decide(compiled, facts, "python")[1]
