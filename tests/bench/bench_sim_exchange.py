"""Simulated exchange core throughput: real 1m candles/s with 3 resting orders.

Two runs: 'resting' (an entry limit far below, a close-position stop and a reduce-only
take-profit around an open position: the common state between trades) and 'active'
(the same bracket re-placed 0.3 % around price whenever it fills, so fills, fees and
liquidation re-arming happen all along). Target: >= 200,000 candles/s."""

from __future__ import annotations

import time
from decimal import Decimal as D

from candles import load_1m

from engine.exchange.filters import BTCUSDT_PERP, round_price
from engine.exchange.sim import SimConfig, SimCore
from engine.exchange.types import OrderRequest


def bracket(core: SimCore, price: float, width: float, n: int) -> None:
    core.cancel_all()
    if core.ledger.qty == 0:
        core.place(OrderRequest("BTCUSDT", "BUY", "MARKET", D("0.010"), client_order_id=f"e{n}"))
    down = round_price(price * (1 - width), BTCUSDT_PERP)
    up = round_price(price * (1 + width), BTCUSDT_PERP)
    core.place(OrderRequest("BTCUSDT", "SELL", "STOP_MARKET", stop_price=down, close_position=True,
                            client_order_id=f"sl{n}"))
    core.place(OrderRequest("BTCUSDT", "SELL", "TAKE_PROFIT_MARKET", D("0.010"), stop_price=up,
                            reduce_only=True, client_order_id=f"tp{n}"))
    core.place(OrderRequest("BTCUSDT", "BUY", "LIMIT", D("0.010"), round_price(price * (1 - 2 * width),
                            BTCUSDT_PERP), client_order_id=f"add{n}"))


def run(rows, width: float, replace: bool) -> tuple[float, int]:
    core = SimCore(SimConfig(starting_balance=D("100000"), leverage=5))
    core.set_funding_schedule((t, "0.0001") for t in range(rows[0][0], rows[-1][0], 8 * 3600 * 1000))
    t, o, h, low, c, v = rows[0]
    core.on_candle(t, o, h, low, c, v)
    n = 0
    bracket(core, c, width, n)
    on_candle = core.on_candle
    fills = core.fills
    seen = len(fills)
    start = time.perf_counter()
    for t, o, h, low, c, v in rows[1:]:
        on_candle(t, o, h, low, c, v)
        if replace and len(fills) != seen:  # a leg filled: re-place the bracket
            n += 1
            bracket(core, c, width, n)
            seen = len(fills)
    return time.perf_counter() - start, len(core.fills)


def main() -> None:
    rows = load_1m()
    if rows is None:
        return
    for name, width, replace in (("resting", 0.3, False), ("active", 0.003, True)):
        secs, fills = run(rows, width, replace)
        print(f"sim_exchange {name}: {len(rows) - 1} candles in {secs:.3f} s = "
              f"{(len(rows) - 1) / secs:,.0f} candles/s ({fills} fills; target >= 200,000)")


if __name__ == "__main__":
    main()
