"""Which minute the backtest loop must look at next (issue 16: the loop without waste).

The loop used to visit every minute: set the clock, feed one candle, ask whether the
core has something to do. Most minutes it has not. Here the loop jumps straight to the
next minute where something can happen, and the minutes it passes over are exactly the
ones where the minute-by-minute loop would have done nothing but track the price:

- flat, nothing working (`busy()` false): nothing happens until the next cycle (the
  feed catches up with the candles in between when the clock gets there: the core
  takes them in the same order either way);
- in a position whose last step settled (`quiet()`): until the next cycle, the next
  UTC day, or the first candle that reaches a resting level (SL, TP, liquidation) or a
  funding time (SimCore.untouched: the same test as on_candle's fast path), whichever
  comes first. The price extremes those minutes would have tracked one by one
  (manage.track: best and worst price of the trade) are folded in at once: max and min
  do not care about the order.

Visiting a minute more than needed is always safe; visiting one less never is, so every
test here is the minute loop's own.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine.execution import manage

MINUTE = 60_000
DAY_MS = 86_400_000


def manages(decision: Mapping[str, Any] | None) -> bool:
    """Whether a step in a position would read this decision: only its manage part is read
    there (engine/execution/core.py: _apply_manage; entries are only looked at while flat)."""
    return isinstance(decision, Mapping) and isinstance(decision.get("manage"), Mapping)


def next_visit(run: Any, now: int, next_cycle: int, t_to: int) -> int:
    """The next minute after `now` the loop has to look at (never past t_to, which is
    always visited: the period's end closes what is open)."""
    if now >= t_to:
        return now + MINUTE
    limit = min(next_cycle, t_to)
    if not run.busy():
        return limit
    if not run.quiet(now):
        return now + MINUTE
    limit = min(limit, (now // DAY_MS + 1) * DAY_MS)
    if limit <= now + MINUTE:
        return now + MINUTE
    core, c = run.ex.core, run.candles
    times, highs, lows = c.times, c.high, c.low
    first = j = bisect_right(times, now - MINUTE)  # the first candle not fed yet
    fed_by_skipped = limit - 2 * MINUTE  # the last candle the skipped minutes would feed
    n = len(times)
    while j < n and times[j] <= fed_by_skipped:
        if not core.untouched(times[j], highs[j], lows[j]):
            limit = times[j] + MINUTE  # the minute that feeds it is looked at
            break
        j += 1
    if j > first:
        closes = c.close[first:j]
        long = core.ledger.qty > 0
        manage.track(run.state, Decimal(repr(max(closes))), long)
        manage.track(run.state, Decimal(repr(min(closes))), long)
    return limit
