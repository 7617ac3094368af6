"""The human inputs (ETF, liquidation maps, sentiment) in force at each cycle of a backtest,
from the history tables: exactly connectors.stores.input_history.latest(kind, as_of_ms=T), so a
version sent after T is never used at T, and a period with no input says unknown.

latest() is one query; a 51-day backtest has 14,000 cycles. The versions' times are read
once and latest() is asked once per version in force (liquidations, sentiment) or per
UTC day (ETF: the table keeps days, and build_flow counts a day only once it is over).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from typing import Any

from connectors.db.models import LiquidationZones, NewsSentiment
from connectors.stores import input_history
from engine.inputs.common import iso_from_ms

DAY_MS = 86_400_000


def inputs_at(symbol: str, t_to: int, etf_params: Mapping[str, Any] | None = None,
              ) -> Callable[[int], dict[str, Any]]:
    times = {
        "liquidations": sorted({r.captured_at_ms for r in LiquidationZones.select(LiquidationZones.captured_at_ms)
                                .where((LiquidationZones.symbol == symbol)
                                       & (LiquidationZones.captured_at_ms <= t_to))}),
        "sentiment": sorted({r.as_of_ms for r in NewsSentiment.select(NewsSentiment.as_of_ms)
                             .where((NewsSentiment.symbol == symbol) & (NewsSentiment.as_of_ms <= t_to))}),
    }
    cache: dict[tuple[str, int], dict[str, Any] | None] = {}

    def version(kind: str, t: int) -> dict[str, Any] | None:
        i = bisect_right(times[kind], t)
        if i == 0:
            return None
        key = (kind, times[kind][i - 1])
        if key not in cache:
            cache[key] = input_history.latest(kind, as_of_ms=key[1], symbol=symbol)
        return cache[key]

    def at(t: int) -> dict[str, Any]:
        day = t // DAY_MS * DAY_MS
        if ("etf", day) not in cache:
            cache[("etf", day)] = input_history.latest("etf", as_of_ms=day, symbol=symbol, etf_params=etf_params)
        etf = cache[("etf", day)]
        # As live asks at T: the same days, the document dated T.
        etf = None if etf is None else {**etf, "as_of": iso_from_ms(t)}
        return {"etf": etf, "liquidations": version("liquidations", t),
                "sentiment": version("sentiment", t)}
    return at
