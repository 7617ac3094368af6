"""Find, in the replayed real 1m data, a window where a long trade goes the full way:
entry limit not touched → chase (re-placed at the bid, fills) → TP1 → SL to break-even →
TP2. The decision's levels are derived from that window (explicit steps on real data)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

TICK = Decimal("0.1")


def q(x: float, rounding: str = ROUND_DOWN) -> float:
    return float((Decimal(repr(x)) / TICK).to_integral_value(rounding=rounding) * TICK)


@dataclass
class Scenario:
    i: int  # index of the candle in progress when the decision arrives
    limit: float
    zone: tuple[float, float]
    sl: float
    tp1: float
    tp2: float
    chase_fill: float
    tp1_candle: int
    tp2_candle: int


def find_long(rows: list[tuple], start: int, drift: float = 0.002, horizon: int = 90) -> Scenario:
    for i in range(start, len(rows) - horizon - 5):
        p0 = rows[i][1]
        limit = q(p0 * (1 - 0.0008))
        if rows[i][3] <= limit or rows[i + 1][1] < limit * (1 + drift):
            continue  # first candle must not touch the limit; price must run away from it
        chase = rows[i + 1][4]  # the bid when the chase is placed: marketable, fills at the last price
        d = max(chase - limit, 0) + p0 * 0.001
        zone = (q(limit - d, ROUND_UP), q(limit + d, ROUND_DOWN))
        if not zone[0] <= chase <= zone[1]:
            continue
        sl = q(zone[0] - p0 * 0.002)
        entry = chase
        be = q(entry, ROUND_UP)
        fut = rows[i + 3:i + 3 + horizon]
        if rows[i + 2][2] >= zone[1] or rows[i + 2][3] <= sl:
            continue  # nothing may happen in the unprotected minute
        top = max(r[2] for r in fut)
        tp2 = q(top * 0.9998)
        tp1 = q(entry + (tp2 - entry) * 0.5, ROUND_UP)
        if tp1 <= zone[1] * 1.0005 or tp2 <= tp1 + 20:
            continue
        j1 = next((k for k, r in enumerate(fut) if r[2] >= tp1 or r[3] <= sl), None)
        if j1 is None or fut[j1][3] <= sl or fut[j1][2] >= tp2:
            continue
        j2 = next((k for k, r in enumerate(fut[j1 + 1:], j1 + 1) if r[2] >= tp2 or r[3] <= be), None)
        if j2 is None or fut[j2][3] <= be or j2 < j1 + 2:
            continue
        # the candle after TP1 (SL still at the plan's level) must not hit break-even either
        return Scenario(i, limit, zone, sl, tp1, tp2, chase, i + 3 + j1, i + 3 + j2)
    raise LookupError("no full-trade window in the data")
