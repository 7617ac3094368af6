"""The declarations of a rule file: `cycle:`, `indicators:` and `expressions:`.

    cycle: 1h                      # decide at each 1h close (default: engine.cycle_minutes)
    indicators:                    # any TA-Lib function, checked against TA-Lib's metadata
      rsi_7: {function: RSI, timeframe: 1h, params: {timeperiod: 7}}
      bb: {function: BBANDS, timeframe: 1h, params: {timeperiod: 20}, input: typprice}
    expressions:                   # engine/rules/expressions.py: computed before the facts are asserted
      oversold_turn: "crosses_above(rsi_7, 30)"
      below_band_pct: "pct(close_1h, bb.lowerband)"

Rules read them as facts `indicators` (rsi_7, bb.upperband ...) and `expressions`
(oversold_turn ...). Checked here with file:line:col; the compiler calls `collect`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap

from engine import facts as F
from engine.analytics import declared as D
from engine.candles import TIMEFRAME_MS
from engine.rules import expressions as X
from engine.rules import language as L

FACTS = ("indicators", "expressions")
IND_KEYS = ("function", "timeframe", "params", "input", "inputs", "why")


@dataclass(frozen=True)
class Declared:
    """Everything a ruleset declares; empty for a ruleset that declares nothing."""
    indicators: tuple[D.IndicatorSpec, ...] = ()
    expressions: tuple[X.Compiled, ...] = ()
    candles: tuple[str, ...] = ()           # candle series the expressions read, e.g. close_1h
    fields: tuple[str, ...] = ()            # snapshot / flow fields they read (this cycle's value only)
    cycle_minutes: int | None = None        # `cycle:`; None = engine.cycle_minutes
    cycle_where: str = ""
    history: int = 0                        # earlier cycles the expressions look back
    leaves: dict[str, dict[str, str]] = field(default_factory=dict)   # fact -> field -> type
    # names whose declaration was refused (already reported: rules reading them say nothing more)
    refused: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.indicators and not self.expressions

    def timeframes(self) -> tuple[str, ...]:
        tfs = {s.timeframe for s in self.indicators} | {c.rpartition("_")[2] for c in self.candles}
        return tuple(tf for tf in D.TIMEFRAMES if tf in tfs)

    def anchor_days(self, cycle_ms: int) -> dict[str, int]:
        """Per timeframe, how many days before T's day its series starts (see declared.py)."""
        out = D.anchor_days(self.indicators, cycle_ms, self.history + 1)
        for tf in self.timeframes():
            out.setdefault(tf, int(-(-((self.history + 2) * max(cycle_ms, TIMEFRAME_MS[tf])) // D.DAY_MS)) + 1)
        return out


def candle_names() -> dict[str, str]:
    """close_1h, typprice_4h, ... -> their timeframe."""
    return {f"{s}_{tf}": tf for s in D.series_names() for tf in D.TIMEFRAMES}


def fact_field_types() -> dict[str, str]:
    """snapshot.* and flow.* fields an expression may read: the numbers and booleans of the
    fact contract (engine/facts.py). Both are built before the rules run, at every cycle."""
    out: dict[str, str] = {}
    for fact in ("snapshot", "flow"):
        for path, code in F.leaf_types(F.FACTS[fact]).items():
            if code in ("number", "integer", "boolean"):
                out[f"{fact}.{path}"] = "boolean" if code == "boolean" else "number"
    return out


def collect(docs: list[tuple[Any, CommentedMap, str]], config_number: Callable[..., Any]) -> Declared:
    """Check the declarations of every file. `docs`: [(that file's compiler — positions and
    problems —, its document, its text)] in file order; `config_number(fc, raw, pos, what)`
    resolves a ${config.value} (the compiler's own, so it is recorded with the version)."""
    specs: list[D.IndicatorSpec] = []
    seen: dict[str, str] = {}
    cycle: int | None = None
    cycle_where = ""
    for f, doc, _ in docs:
        raw = doc.get("indicators")
        if "indicators" in doc:
            pos = f.val_pos(doc, "indicators", f.key_pos(doc, "indicators", (1, 1)))
            if not isinstance(raw, CommentedMap) or not raw:
                f.err(pos, "`indicators:` is not a mapping (expected name: {function: RSI, timeframe: 1h, params: {...}})")
            else:
                for name, body in raw.items():
                    npos = f.key_pos(raw, name, pos)
                    if str(name) in seen:
                        f.err(npos, f"indicator {name!r} is declared twice, first at {seen[str(name)]} (expected unique names)")
                        continue
                    spec = _indicator(f, str(name), body, npos, f.val_pos(raw, name, npos))
                    if spec is not None:
                        seen[spec.name] = spec.where
                        specs.append(spec)
        if "cycle" in doc:
            cpos = f.val_pos(doc, "cycle", (1, 1))
            v = doc.get("cycle")
            if not isinstance(v, str) or v not in D.TIMEFRAMES:
                f.err(cpos, f"cycle: got {v!r} (expected one of {', '.join(D.TIMEFRAMES)}: the candle close the rules decide at)")
            else:
                minutes = TIMEFRAME_MS[v] // 60_000
                if cycle is not None and minutes != cycle:
                    f.err(cpos, f"cycle: {v} differs from the cycle set at {cycle_where} (expected one cycle per ruleset)")
                cycle, cycle_where = minutes, f.where(cpos)
    names: dict[str, tuple[Any, ...]] = {}   # name -> (type, history[, read at this cycle only])
    for s in specs:
        for fld in s.fields:
            names[fld] = ("number", 0)
    candles = candle_names()
    for c in candles:
        names.setdefault(c, ("number", 0))
    fact_fields = fact_field_types()
    for n, typ in fact_fields.items():
        names[n] = (typ, 0, True)          # read at this cycle only
    exprs: list[X.Compiled] = []
    refused: set[str] = set()
    for _f, doc, _ in docs:
        raw = doc.get("indicators")
        if isinstance(raw, CommentedMap):
            refused |= {str(n) for n in raw if str(n) not in seen}
    for f, doc, text in docs:
        raw = doc.get("expressions")
        if "expressions" not in doc:
            continue
        pos = f.val_pos(doc, "expressions", f.key_pos(doc, "expressions", (1, 1)))
        if not isinstance(raw, CommentedMap) or not raw:
            f.err(pos, "`expressions:` is not a mapping (expected name: \"crosses_above(ema_fast, ema_slow)\")")
            continue
        for name, body in raw.items():
            npos = f.key_pos(raw, name, pos)
            vpos = f.val_pos(raw, name, npos)
            if not isinstance(name, str) or not L.NAME_RE.match(name):
                f.err(npos, f"expression name {name!r} is not valid (expected lowercase letters, digits and _)")
                continue
            if name in names:
                f.err(npos, f"expression name {name!r} is already an indicator, a candle series or an expression "
                            "(expected a new name)")
                continue
            if not isinstance(body, str) or not body.strip():
                f.err(vpos, f"expression {name}: expected a formula as text, e.g. \"close_1h > ema_200\"")
                continue
            col0 = vpos[1] + _quote_offset(text, vpos)

            def cfg(dotted: str, f: Any = f, vpos: tuple[int, int] = vpos) -> Any:
                before = len(f.problems)
                v = config_number(f, "${" + dotted + "}", vpos, f"config value ${{{dotted}}}")
                if len(f.problems) > before:
                    msg = f.problems.pop().message
                    raise ValueError(msg)
                return v
            try:
                node, typ, hist = X.parse(str(body), names, cfg)
            except X.ExpressionError as exc:
                unknown = getattr(exc, "name", None)
                if not (unknown and unknown.split(".")[0] in refused):   # else its refused declaration says it all
                    f.err((vpos[0], col0 + exc.col - 1), f"expression {name}: {exc}")
                refused.add(name)
                continue
            now_only = any(len(names.get(r, ())) > 2 and names[r][2] for r in X.references(node))
            names[name] = (typ, hist, True) if now_only else (typ, hist)
            exprs.append(X.Compiled(name=name, text=str(body).strip(), node=node, type=typ, history=hist,
                                    where=f.where(vpos)))
    read = set().union(*(X.references(e.node) for e in exprs)) if exprs else set()
    leaves: dict[str, dict[str, str]] = {"indicators": {fld: "number" for s in specs for fld in s.fields},
                                         "expressions": {e.name: e.type for e in exprs}}
    return Declared(indicators=tuple(specs), expressions=tuple(exprs),
                    candles=tuple(sorted(c for c in read if c in candles)),
                    fields=tuple(sorted(c for c in read if c in fact_fields)),
                    cycle_minutes=cycle, cycle_where=cycle_where, history=max((e.history for e in exprs), default=0),
                    leaves=leaves, refused=frozenset(refused))


def _quote_offset(text: str, vpos: tuple[int, int]) -> int:
    """+1 when the scalar at vpos starts with a quote (the formula starts after it)."""
    lines = text.splitlines()
    if 0 < vpos[0] <= len(lines):
        line = lines[vpos[0] - 1]
        if len(line) >= vpos[1] and line[vpos[1] - 1] in "\"'":
            return 1
    return 0


def _indicator(f: Any, name: str, body: Any, npos: tuple[int, int], vpos: tuple[int, int]) -> D.IndicatorSpec | None:
    if not L.NAME_RE.match(name):
        f.err(npos, f"indicator name {name!r} is not valid (expected lowercase letters, digits and _, e.g. rsi_7)")
        return None
    if name in candle_names():
        f.err(npos, f"indicator name {name!r} is a candle series (expected another name)")
        return None
    if not isinstance(body, CommentedMap):
        f.err(vpos, f"indicator {name}: expected a mapping {{function: RSI, timeframe: 1h, params: {{timeperiod: 14}}}}")
        return None
    ok = True
    for k in body:
        if k not in IND_KEYS:
            f.err(f.key_pos(body, k, vpos), f"indicator {name}: unknown key {k!r}{_hint(str(k), IND_KEYS)} "
                                           f"(expected {', '.join(IND_KEYS)})")
            ok = False
    fn = body.get("function")
    fpos = f.val_pos(body, "function", vpos)
    names = D.function_names()
    if not isinstance(fn, str) or fn.upper() not in names:
        shown = fn if isinstance(fn, str) else None
        hint = _hint(str(shown).upper(), names) if shown else ""
        f.err(fpos, f"indicator {name}: function {shown!r} is not a TA-Lib function{hint} "
                    "(expected a name from TA-Lib's function list, e.g. RSI, EMA, BBANDS, ADX)")
        return None
    fn = fn.upper()
    info = D.function_info(fn)
    tf = body.get("timeframe")
    tpos = f.val_pos(body, "timeframe", vpos)
    if tf not in D.TIMEFRAMES:
        f.err(tpos, f"indicator {name}: timeframe {tf!r} (expected one of {', '.join(D.TIMEFRAMES)})")
        ok = False
    params: dict[str, Any] = {}
    raw_params = body.get("params")
    ppos = f.val_pos(body, "params", vpos)
    if raw_params is not None and not isinstance(raw_params, CommentedMap):
        f.err(ppos, f"indicator {name}: params must be a mapping of {fn}'s parameters "
                    f"(expected {', '.join(info['parameters']) or 'none'})")
        ok = False
    elif raw_params:
        for k, v in raw_params.items():
            kpos = f.key_pos(raw_params, k, ppos)
            if k not in info["parameters"]:
                known = ", ".join(f"{p} (default {d})" for p, (_, d) in info["parameters"].items()) or "none"
                f.err(kpos, f"indicator {name}: {fn} has no parameter {k!r}{_hint(str(k), list(info['parameters']))} "
                            f"(expected {known})")
                ok = False
                continue
            kind = info["parameters"][k][0]
            val = f.number(v, f.val_pos(raw_params, k, kpos), f"indicator {name}: {fn} {k}", integer=kind == "integer")
            if val is _missing(f):
                ok = False
            else:
                params[str(k)] = float(val) if kind == "number" else int(val)
    inputs: dict[str, str] = {}
    single = [i for i, s in info["inputs"].items() if isinstance(s, str)]
    series = D.series_names()
    for key in ("input", "inputs"):
        if key not in body:
            continue
        ipos = f.val_pos(body, key, vpos)
        given = {single[0]: body[key]} if key == "input" and len(single) == 1 else body[key]
        if key == "input" and len(single) != 1:
            f.err(ipos, f"indicator {name}: {fn} has {len(single)} single-series inputs, `input:` needs exactly one "
                        f"(expected inputs: {{{', '.join(f'{i}: close' for i in single) or 'none'}}})")
            ok = False
            continue
        if not isinstance(given, dict | CommentedMap):
            f.err(ipos, f"indicator {name}: inputs must be a mapping (expected {', '.join(single)})")
            ok = False
            continue
        for iname, sname in given.items():
            if iname not in single:
                f.err(ipos, f"indicator {name}: {fn} has no single-series input {iname!r} "
                            f"(expected {', '.join(single) or 'none: its inputs are fixed'})")
                ok = False
            elif sname not in series:
                f.err(ipos, f"indicator {name}: input {sname!r}{_hint(str(sname), series)} is not a series "
                            f"(expected one of {', '.join(series)})")
                ok = False
            else:
                inputs[str(iname)] = str(sname)
    for i in single:
        default = info["inputs"][i]
        if i not in inputs and default not in series:
            f.err(vpos, f"indicator {name}: {fn} needs the input {i!r} (expected inputs: {{{i}: close}})")
            ok = False
    if "why" in body and not isinstance(body["why"], str):
        f.err(f.val_pos(body, "why", vpos), f"indicator {name}: why must be text")
        ok = False
    if not ok:
        return None
    lookback, why = D.check_params(fn, params)
    if lookback is None:
        f.err(ppos if raw_params else fpos, f"indicator {name}: {fn} {dict(params)}: {why}")
        return None
    return D.IndicatorSpec(name=name, function=fn, timeframe=str(tf), params=tuple(sorted(params.items())),
                           inputs=tuple(sorted(inputs.items())), outputs=info["outputs"], lookback=lookback,
                           where=f.where(npos))


def _missing(f: Any) -> Any:
    from engine.rules.compiler import _MISSING
    return _MISSING


def _hint(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
