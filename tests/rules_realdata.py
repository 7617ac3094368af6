"""The real 51-day BTCUSDT file as rule facts: every analytics cycle (snapshot + flow via
engine.analytics.build_cycles), with varied account and position facts so the risk
rules see drawdowns, trade counts, safe mode and open positions too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from engine.analytics.batch import build_cycles, derive_timeframes
from engine.analytics.flow import prepare_derivatives
from engine.rules.compiler import CompiledRules
from engine.rules.runtime import evaluate

FILE_51D = "btcusdt-perp-1m-2025-05-04_2025-06-24.csv.gz"
FUNDING = "btcusdt-perp-funding-8h.csv.gz"


def account_variant(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Deterministic mix: mostly a fresh account, sometimes in drawdown, busy, paused or in a position."""
    eq = 10_000.0
    acct = {"equity": eq, "start_of_day_equity": eq, "daily_pnl_pct": 0.0, "weekly_pnl_pct": 0.0,
            "trades_today": 0, "safe_mode": False, "entries_paused": False}
    if i % 7 == 3:
        acct.update(equity=9_750.0, daily_pnl_pct=-2.5, weekly_pnl_pct=-2.5)
    if i % 11 == 5:
        acct.update(weekly_pnl_pct=-5.5, daily_pnl_pct=-1.2)
    if i % 13 == 2:
        acct["trades_today"] = 3
    if i % 17 == 9:
        acct["safe_mode"] = True
    if i % 19 == 4:
        acct["entries_paused"] = True
    pos = {"side": "flat", "quantity": 0.0, "entry_price": None, "unrealized_pnl": None}
    if i % 5 == 1:
        pos = {"side": "long" if i % 2 else "short", "quantity": 0.01, "entry_price": 100_000.0, "unrealized_pnl": 3.5}
        # the manage stage's facts, spread over its thresholds (age, R, TP1)
        r = ((i * 37) % 41) / 10 - 1.0
        pos.update(age_min=float((i * 7) % 300), profit_pct=round(r * 0.4, 6), r_now=r, r_best=max(r, 0.0) + 0.5,
                   r_worst=min(r, 0.0) - 0.2, tp1_done=i % 3 == 0, stop=99_000.0 if i % 2 else 101_000.0)
    return acct, pos


def real_cycles(data_dir: Any, config: Any, days: float | None = None, every_nth: int = 1) -> Iterator[dict[str, Any]]:
    """Facts of the file's cycles (all of them, or the first `days` after a week of history)."""
    df = pd.read_csv(data_dir / FILE_51D, index_col=0)
    funding = pd.read_csv(data_dir / FUNDING).to_numpy()
    deriv = prepare_derivatives({"funding": funding, "candles_1m": df})
    start, end = int(df.index[0]), int(df.index[-1]) + 60_000
    t_from = start + 7 * 86_400_000 if days is not None else start
    t_to = min(end, t_from + int(days * 86_400_000)) if days is not None else end
    cycles = build_cycles(df, t_from, t_to, config, derivatives=deriv, inputs=None, with_flow=True,
                          frames=derive_timeframes(df))
    for i, c in enumerate(cycles):
        if i % every_nth:
            continue
        acct, pos = account_variant(i)
        yield {"snapshot": c["snapshot"], "flow": c["flow"], "account": acct, "position": pos}


def differential(compiled: CompiledRules, engine: Any, facts_iter: Any) -> dict[str, Any]:
    """durable_rules vs the reference evaluator: results, why-nots, trace self-checks."""
    n, mismatches, actions, first = 0, 0, {}, None
    for facts in facts_iter:
        a, ta = evaluate(compiled, facts, engine)
        b, tb = evaluate(compiled, facts, "python")
        if a != b or ta["not_fired"] != tb["not_fired"] or ta["disagreements"] or tb["disagreements"]:
            mismatches += 1
            if first is None:
                first = {"at": facts["snapshot"].get("timestamp_iso"), "durable": a, "python": b,
                         "disagreements": ta["disagreements"]}
        actions[a["action"]] = actions.get(a["action"], 0) + 1
        n += 1
    return {"cycles": n, "mismatches": mismatches, "actions": actions, "first_mismatch": first}
