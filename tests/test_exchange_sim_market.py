"""The simulator's market replay: closed vs in-progress candles, aggregation, gaps."""

from decimal import Decimal as D

from connectors.exchange_sim.market import MINUTE
from tests.simnet import make_venue


def test_klines_closed_and_in_progress() -> None:
    v = make_venue(history_minutes=100)
    m = v.market
    ks = m.klines("1m", None, None, 3)
    assert [k[0] for k in ks] == [m.now_ms - 2 * MINUTE, m.now_ms - MINUTE, m.now_ms]
    last_closed = m.rows[99]
    assert ks[1][0] == last_closed[0] and float(ks[1][4]) == last_closed[4]
    assert float(ks[2][5]) == 0.0  # in progress: just opened
    assert v.core.last_price == D(repr(last_closed[4]))  # the core has seen every closed candle


def test_5m_aggregates_1m() -> None:
    v = make_venue(history_minutes=600)
    m = v.market
    k5 = m.klines("5m", None, None, 3)[0]
    rows = [r for r in m.rows if k5[0] <= r[0] < k5[0] + 5 * MINUTE]
    assert len(rows) == 5
    assert (float(k5[1]), float(k5[2]), float(k5[3]), float(k5[4])) == (
        rows[0][1], max(r[2] for r in rows), min(r[3] for r in rows), rows[-1][4])
    assert k5[6] == k5[0] + 5 * MINUTE - 1


def test_gap_hides_history_and_step_moves_clock() -> None:
    v = make_venue(history_minutes=600)
    m = v.market
    start = m.now_ms - 300 * MINUTE
    m.gap = (start, start + 180 * MINUTE)
    ks = m.klines("1m", start - 10 * MINUTE, None, 1000)
    times = [k[0] for k in ks]
    assert len(times) == 311 - 180 and not any(start <= t < start + 180 * MINUTE for t in times)
    before = m.now_ms
    assert v.step(minutes=30) == before + 30 * MINUTE
    assert v.core.now_ms == before + 30 * MINUTE
