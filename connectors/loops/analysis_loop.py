"""`showdown analyze`: the analytics loop — snapshot, flow, decision every cycle.

Per cycle at T: load_cycle_inputs -> build_snapshot / build_flow -> facts (+ account
and position from what the execution worker writes) -> the active ruleset decides
(and the shadow one beside it) -> snapshot, flow and decision stored with one
timestamp_iso -> heartbeat row `bot_state` component "analytics".

When a cycle runs is decided by the data (engine/cycle.py): the 1m candle closing at T
stored, or the wall clock past T + max wait (then stale: flat with the reason). A cycle
that fails is logged, notified, recorded in the heartbeat, and the next one runs.

The loop owns the hot reload: a watcher on rules/ and config/ reloads the registry
(compile -> validate -> rule tests -> swap); a cycle takes its version once at its
start, so a swap lands between cycles. Every activation is stored in `rulesets`; every
refusal is logged, notified and kept in the heartbeat for `showdown status`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.db import database_proxy
from connectors.db.models import BotState, now_ms
from connectors.files.rules_files import VERSION_PREFIX, read_confined, read_rules_dir
from connectors.loops.rules_watcher import RulesWatcher
from connectors.notify.alerts import notify
from connectors.stores import rules_store
from connectors.stores.account_state import read_account, read_position, read_protections
from connectors.stores.analytics_io import load_cycle_inputs, load_declared_frames, record_cycle
from engine.analytics.flow import build_flow
from engine.analytics.snapshot import build_snapshot
from engine.candles import ms_to_iso
from engine.cycle import due, floor_cycle, mark_stale
from engine.paths import home
from engine.rules.compiler import CompiledRules
from engine.rules.registry import RulesRegistry
from engine.rules.series import cycle_facts

log = logging.getLogger("showdown.analytics")
COMPONENT = "analytics"
SOURCE_NAMES = {"watch": "watcher", "startup": "startup"}
DEFAULT_MAX_WAIT_S = 90.0
HEARTBEAT_EVERY_S = 30.0


@dataclass
class CycleOutcome:
    t_ms: int
    ok: bool
    stale: bool = False
    decision: dict[str, Any] | None = None
    decision_id: int | None = None
    snapshot_id: int | None = None
    flow_id: int | None = None
    error: str | None = None
    shadow: dict[str, Any] | None = None
    seconds: float = 0.0


@dataclass
class LoopState:
    last_cycle_ms: int | None = None
    last_decision_id: int | None = None
    last_action: str | None = None
    last_error: str | None = None
    last_refusal: dict[str, Any] | None = None
    risk_mode: str | None = None
    cycles: int = 0
    failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def candle_stored(symbol: str, t_ms: int) -> bool:
    """The 1m candle closing at T (open time T - 1 min) is in the database."""
    marker = database_proxy.param
    sql = ("SELECT 1 FROM `candles` WHERE `symbol` = ? AND `timeframe` = '1m' AND `open_time_ms` = ?"
           .replace("?", marker))
    return database_proxy.execute_sql(sql, (symbol, int(t_ms) - 60_000)).fetchone() is not None


class AnalysisLoop:
    def __init__(self, config_loader: Callable[[], Any], rules_dir: Path, config_dir: Path | None = None,
                 data_dir: Path | None = None, clock: Callable[[], float] = time.time,
                 registry: RulesRegistry | None = None, var_dir: Path | None = None):
        self._config_loader = config_loader
        self.config = config_loader()
        self.rules_dir = Path(rules_dir)
        self.config_dir = Path(config_dir) if config_dir else None
        self.data_dir = data_dir
        self.var_dir = Path(var_dir) if var_dir else home().var
        self.clock = clock
        self.symbol = str(self.config.get("symbol") or "BTCUSDT")
        self.state = LoopState()
        self._shadow_spec: str | None = None
        self.registry = registry or RulesRegistry(lambda: read_rules_dir(self.rules_dir), self._safe_config,
                                                  on_event=self._on_rules_event)
        self.watcher: RulesWatcher | None = None
        self._stop = threading.Event()

    # -- configuration and rules ---------------------------------------------------
    def _safe_config(self) -> Any:
        """The config as it is now; a refused edit keeps the last good one (and says so)."""
        try:
            self.config = self._config_loader()
        except Exception as exc:
            log.error("configuration refused, keeping the last good one: %s", exc)
            notify("WARNING", COMPONENT, "config_refused", f"configuration refused: {exc}")
        return self.config

    def _on_rules_event(self, kind: str, ev: dict[str, Any]) -> None:
        if kind == "activated":
            v = self.registry.active
            by = SOURCE_NAMES.get(str(ev.get("source")), str(ev.get("source")))
            if v is not None and v.version == ev.get("version"):
                by = rules_store.take_attribution(self.var_dir, v.version) or by
                rules_store.record_activation(v.version, v.compiled.files, v.test_files, by)
            log.info("ruleset %s activated by %s (previous %s); %s", ev.get("version"), by, ev.get("previous") or "none",
                     ev.get("tests"), extra={"context": {"warnings": ev.get("warnings")}})
            if ev.get("previous"):
                notify("INFO", COMPONENT, "rules_activated",
                       f"ruleset {ev.get('version')} active (was {ev.get('previous')}), by {by}")
        elif kind == "refused":
            self.state.last_refusal = {k: ev.get(k) for k in ("at", "source", "version", "active", "problems")}
            problems = ev.get("problems") or []
            log.error("rules refused, %s stays active: %s", ev.get("active"), "; ".join(problems[:10]))
            # the console too: whoever watches `showdown run` sees why the edit did not take
            print(f"RULES REFUSED ({ev.get('source')}): version {ev.get('version')} not activated, "
                  f"{ev.get('active')} stays active:\n" + "\n".join(f"  {p}" for p in problems[:20]),
                  file=sys.stderr, flush=True)
            notify("WARNING", COMPONENT, "rules_refused",
                   f"rule files refused ({len(problems)} problem(s)); {ev.get('active')} stays active:\n"
                   + "\n".join(problems[:5]), {"problems": problems[:50]})
            self._heartbeat("RUNNING")

    def start_rules(self, watch: bool = True) -> None:
        out = self.registry.reload("startup")
        if not out.ok and self.registry.active is None:
            raise RuntimeError("the rules do not compile and no earlier version is active:\n  "
                               + "\n  ".join(out.problems))
        self.refresh_shadow()
        if watch:
            paths = [self.rules_dir] + ([self.config_dir] if self.config_dir else [])
            self.watcher = RulesWatcher(self.registry, paths, debounce_ms=50, step_ms=10).start()

    def refresh_shadow(self) -> None:
        """engine.shadow_ruleset: a stored version hash, or a rule file / directory inside the
        rules directory (anything else is refused without being read)."""
        spec = self.config.get("engine.shadow_ruleset")
        if spec == self._shadow_spec:
            return
        self._shadow_spec = spec
        if not spec:
            self.registry.set_shadow(None)
            return
        try:
            files, tests = load_ruleset_spec(str(spec), self.rules_dir)
        except (LookupError, OSError, ValueError) as exc:
            log.error("shadow ruleset %s not loaded: %s", spec, exc)
            notify("WARNING", COMPONENT, "shadow_refused", f"shadow ruleset {spec} not loaded: {exc}")
            return
        out = self.registry.set_shadow(files, tests)
        if out.ok:
            log.info("shadow ruleset %s evaluated beside the active one", out.version)
        else:
            log.error("shadow ruleset %s refused: %s", spec, "; ".join(out.problems[:5]))

    # -- one cycle ---------------------------------------------------------------------
    def run_cycle(self, t_ms: int, stale: bool = False) -> CycleOutcome:
        started = time.perf_counter()
        cfg = self.config
        try:
            frames, deriv, inputs = load_cycle_inputs(self.symbol, t_ms, cfg)
            snapshot = build_snapshot(frames, t_ms, cfg, depth=deriv.get("depth"))
            flow = build_flow(snapshot, deriv, inputs, t_ms, cfg)
            if stale:
                mark_stale(flow, f"the 1m candle closing at {ms_to_iso(t_ms)} was not stored within the max wait")
            facts = {"snapshot": snapshot, "flow": flow,
                     "account": read_account(self.symbol, t_ms, float(cfg.get("paper.starting_equity_usdt") or 0)),
                     "position": read_position(self.symbol, t_ms, snapshot.get("price")),
                     "protections": read_protections(self.symbol, t_ms)}
            decision, trace = self.registry.decide(facts, lambda compiled: self.declared_facts(compiled, t_ms, facts))
            rec = record_cycle(snapshot, flow, self.data_dir)
            if decision.get("timestamp_iso") is None:   # no snapshot time in the facts: the cycle's
                decision["timestamp_iso"] = rec.timestamp_iso
            stored = rules_store.store_decision(decision, trace, rec.snapshot_id, rec.flow_id, t_ms, self.data_dir)
            shadow = trace.get("shadow")
            if shadow:
                rules_store.record_shadow_disagreement(self.symbol, shadow, stored.decision_id)
        except Exception as exc:
            return self._failed(t_ms, exc, started)
        st = self.state
        st.last_cycle_ms, st.last_decision_id, st.last_action = t_ms, stored.decision_id, decision["action"]
        st.risk_mode, st.last_error = decision.get("risk_mode"), None
        st.cycles += 1
        self._heartbeat("RUNNING")
        log.info("cycle %s: %s (%s) confidence %s, decision %s", rec.timestamp_iso, decision["action"],
                 decision.get("reason"), decision.get("confidence"), stored.decision_id)
        return CycleOutcome(t_ms, True, stale, decision, stored.decision_id, rec.snapshot_id, rec.flow_id,
                            shadow=shadow, seconds=time.perf_counter() - started)

    def declared_facts(self, compiled: CompiledRules, t_ms: int, facts: dict[str, Any]) -> dict[str, Any]:
        """A version's declared indicators and expressions at T (the backtest's code, one cycle)."""
        cycle_ms = self.cycle_minutes(compiled) * 60_000
        frames = load_declared_frames(self.symbol, t_ms, compiled.declared, cycle_ms)
        return cycle_facts(compiled.declared, frames, t_ms, cycle_ms, facts)

    def cycle_minutes(self, compiled: CompiledRules | None = None) -> int:
        """The active ruleset's `cycle:` when it sets one, else engine.cycle_minutes."""
        if compiled is None and self.registry.active is not None:
            compiled = self.registry.active.compiled
        own = compiled.declared.cycle_minutes if compiled is not None else None
        return int(own or self.config.get("engine.cycle_minutes") or 5)

    def _failed(self, t_ms: int, exc: Exception, started: float) -> CycleOutcome:
        msg = f"{type(exc).__name__}: {exc}"
        self.state.failures += 1
        self.state.last_error = f"{ms_to_iso(t_ms)}: {msg}"
        log.error("cycle %s failed: %s", ms_to_iso(t_ms), msg, exc_info=True)
        notify("ERROR", COMPONENT, "cycle_failed", f"analytics cycle {ms_to_iso(t_ms)} failed: {msg}")
        try:
            self._heartbeat("ERROR")
        except Exception:  # the database itself may be what failed
            log.exception("heartbeat not written")
        return CycleOutcome(t_ms, False, error=msg, seconds=time.perf_counter() - started)

    def _heartbeat(self, state: str) -> None:
        st, reg = self.state, self.registry.status()
        details = {"last_cycle_iso": ms_to_iso(st.last_cycle_ms) if st.last_cycle_ms else None,
                   "last_cycle_ms": st.last_cycle_ms, "last_decision_id": st.last_decision_id,
                   "last_action": st.last_action, "active_ruleset": reg["active"], "shadow_ruleset": reg["shadow"],
                   "last_refusal": st.last_refusal, "last_error": st.last_error, "cycles": st.cycles,
                   "failures": st.failures, "pid_started_ms": st.extra.get("started_ms"),
                   "cycle_minutes": self.cycle_minutes()}
        with database_proxy.atomic():
            row = BotState.get_or_none((BotState.symbol == self.symbol) & (BotState.component == COMPONENT))
            if row is None:
                BotState.insert(symbol=self.symbol, component=COMPONENT, state=state, risk_mode=st.risk_mode,
                                heartbeat_ms=now_ms(), details=details).execute()
            else:
                BotState.update(state=state, risk_mode=st.risk_mode, heartbeat_ms=now_ms(), details=details).where(
                    BotState.id == row.id).execute()  # type: ignore[attr-defined]

    # -- the loop ----------------------------------------------------------------------
    def run(self, start_ms: int | None = None, poll_s: float = 1.0, max_cycles: int | None = None) -> None:
        minutes = self.cycle_minutes()
        t = floor_cycle(int(start_ms if start_ms is not None else self.clock() * 1000), minutes)
        self.state.extra["started_ms"] = now_ms()
        self._heartbeat("RUNNING")
        last_beat = self.clock()
        done = 0
        while not self._stop.is_set():
            now = int(self.clock() * 1000)
            cfg = self.config
            verdict = due(t, candle_stored(self.symbol, t), now,
                          float(cfg.get("engine.settle_seconds") or 0),
                          float(cfg.get("engine.max_wait_seconds") or DEFAULT_MAX_WAIT_S))
            if verdict == "wait":
                if self.clock() - last_beat >= HEARTBEAT_EVERY_S:
                    self._heartbeat("RUNNING")
                    last_beat = self.clock()
                self._stop.wait(poll_s)
                continue
            self._safe_config()
            self.refresh_shadow()
            self.run_cycle(t, stale=verdict == "stale")
            last_beat = self.clock()
            done += 1
            if max_cycles is not None and done >= max_cycles:
                return
            # The next close of the active ruleset's cycle (a reload may have changed it).
            minutes = self.cycle_minutes()
            t = floor_cycle(t, minutes) + minutes * 60_000

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop watching, free the rulesets, leave the heartbeat IDLE (no loop runs: a
        rollback then activates directly)."""
        self.stop()
        if self.watcher is not None:
            self.watcher.stop()
        try:
            self._heartbeat("IDLE")
        except Exception:
            log.exception("final heartbeat not written")
        self.registry.close()


def load_ruleset_spec(spec: str, rules_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Rule files of a shadow candidate: a stored version hash (a unique prefix), or a rule
    file / directory inside `rules_dir`. A path elsewhere raises RulesPathRefused (a
    ValueError) before anything is read: the config must not be a way to read files."""
    if VERSION_PREFIX.fullmatch(spec):
        try:
            return rules_store.unpack(rules_store.find_version(spec).yaml)
        except LookupError:
            if not (rules_dir / spec).exists():
                raise
    return read_confined(spec, rules_dir)
