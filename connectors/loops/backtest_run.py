"""One backtest from the database, end to end: rules → history → loop → metrics → tables
→ exports. Shared by `showdown backtest` and the tests; the loop itself is engine.backtest."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from connectors.db import models as M  # noqa: N812
from connectors.files.rules_files import read_rules_dir
from connectors.stores.backtest_inputs import inputs_at
from connectors.stores.backtest_store import load_history
from engine.analytics.batch import build_cycles
from engine.analytics.columns import build_columns
from engine.analytics.params import plain
from engine.backtest.gc_pause import without_cyclic_gc
from engine.backtest.loop import BacktestResult, run_backtest
from engine.backtest.metrics import compute_metrics
from engine.backtest.params import BacktestParams
from engine.config import Config
from engine.rules.compiler import CompiledRules, RulesRefused, compile_texts
from engine.rules.durable_backend import DurableRules


def rule_texts(spec: str | None, default_dir: Path) -> dict[str, str]:
    """PATH (a rules directory or one .yaml file) or HASH (a version stored in `rulesets`)."""
    if spec is None:
        return read_rules_dir(default_dir)[0]
    p = Path(spec)
    if p.is_dir():
        return read_rules_dir(p)[0]
    if p.is_file():
        return {p.name: p.read_text(encoding="utf-8")}
    row = M.Ruleset.get_or_none(M.Ruleset.hash == spec) or M.Ruleset.get_or_none(M.Ruleset.hash.startswith(spec))
    if row is None:
        raise FileNotFoundError(f"rules {spec!r}: neither a path nor a stored ruleset version")
    try:
        files = json.loads(row.yaml)
        if isinstance(files, dict):
            return {str(k): str(v) for k, v in files.items()}
    except ValueError:
        pass
    return {"rules.yaml": row.yaml}


def with_overrides(config: Any, overrides: Mapping[str, Any]) -> Config:
    """A copy of the configuration with dotted keys replaced (backtest experiments only)."""
    values = copy.deepcopy(getattr(config, "values", config))
    for dotted, v in overrides.items():
        node = values
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = YAML(typ="safe", pure=True).load(v) if isinstance(v, str) else v
    return Config(values=values)


@dataclass
class Prepared:
    compiled: CompiledRules
    engine: Any        # what decide() runs one cycle with: a DurableRules or "python"
    loop_engine: Any = None   # what run_backtest decides with ("fast" for the fast engine)


_COMPILED: dict[tuple[int, tuple[tuple[str, str], ...]], tuple[Any, CompiledRules]] = {}


def compiled_once(files: Mapping[str, str], config: Any) -> CompiledRules:
    """compile_texts, once per (config object, file texts) in this process: the command
    reads the warm-up of the rules before loading history, then runs them (0.5 s apiece)."""
    key = (id(config), tuple(sorted(files.items())))
    hit = _COMPILED.get(key)
    if hit is None or hit[0] is not config:   # the config held beside: its id is not reused
        if len(_COMPILED) > 8:
            _COMPILED.clear()
        hit = _COMPILED[key] = (config, compile_texts(dict(files), config))
    return hit[1]


def prepare(files: Mapping[str, str], config: Any, params: BacktestParams) -> Prepared:
    compiled = compiled_once(files, config)
    engine: Any = DurableRules(compiled) if params.engine == "durable" else "python"
    return Prepared(compiled, engine, "fast" if params.engine == "fast" else engine)


def warmup_days(compiled: CompiledRules, config: Any) -> int:
    """Days before the first cycle's day that the ruleset's declared indicators need."""
    declared = compiled.declared
    minutes = declared.cycle_minutes or int(plain(config).get("engine", {}).get("cycle_minutes", 5))
    return max(declared.anchor_days(minutes * 60_000).values(), default=0)


def warmup_days_of(specs: list[Mapping[str, str]], config: Any) -> int:
    """warmup_days of rule files (0 for files that do not compile: running them says why)."""
    days = 0
    for files in specs:
        with contextlib.suppress(RulesRefused):
            days = max(days, warmup_days(compiled_once(files, config), config))
    return days


@without_cyclic_gc   # the cycles' documents are built here too (engine/backtest/gc_pause.py)
def run_from_db(symbol: str, t_from: int, t_to: int, config: Any, files: Mapping[str, str],
                params: BacktestParams, progress: Callable[[int], None] | None = None,
                history: tuple[Any, Any, Any] | None = None, cycles: list[dict[str, Any]] | None = None,
                keep_cycles: bool = True,
                ) -> tuple[BacktestResult, dict[str, Any], Prepared, list[dict[str, Any]] | None]:
    """One run over stored history: (result, metrics, prepared rules, the cycles, for a
    second run over the same ones; None unless `keep_cycles`: the cycles' documents are let
    go before the metrics and the exports load their libraries, so the peaks do not add up)."""
    prep = prepare(files, config, params)
    declared = prep.compiled.declared
    candles, derivatives, funding = history or load_history(symbol, t_from, t_to, config,
                                                            warmup_days(prep.compiled, config))
    if candles.empty:
        raise ValueError("no 1m candles stored for this period: run `showdown import klines FILE` first")
    if cycles is None:
        etf_params = (config.get("analytics") or {}).get("etf")
        # the fast engine takes the analytics as columns (documents only where it needs them)
        build: Any = build_columns if params.engine == "fast" and not declared.fields else build_cycles
        cycles = build(candles, t_from, t_to, config, derivatives=derivatives,
                       inputs=inputs_at(symbol, t_to, etf_params), with_flow=True,
                       cycle_minutes=declared.cycle_minutes)
    result = run_backtest(candles, t_from, t_to, config, prep.compiled, params, prep.loop_engine,
                          funding=funding, cycles=cycles, progress=progress)
    if not keep_cycles:
        cycles = None
    metrics = compute_metrics(result.trades, result.equity, result.initial_equity, result.final_equity)
    return result, metrics, prep, cycles
