"""`showdown testnet-check`: one complete protected trade life on Binance futures testnet
(or any venue given by --base-url, e.g. exchange-sim) at minimum size, each step
reported, everything cleaned up at the end whatever happened.

Steps: preflight (time, one-way mode, filters, balance) → leverage and margin type →
entry at market → SL and TP1/TP2 on the exchange (checked there) → TP1 partial (waits
--tp1-wait-s for the take-profit to trigger; if the market does not get there, half is
closed at market and the report says so) → stop to break-even (checked there) → close →
reconciliation (flat, no open order, fills add up) → cleanup (cancel all, close any rest).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from typing import Any

import click

from cli.config_cmd import load_or_exit
from engine.exchange.errors import UnknownOrder, WouldImmediatelyTrigger
from engine.exchange.filters import round_price, round_quantity
from engine.exchange.types import OrderRequest

TESTNET_FUTURES = "https://testnet.binancefuture.com"


@dataclass
class Report:
    steps: list[tuple[str, bool, str]] = field(default_factory=list)

    def ok(self, name: str, detail: str) -> None:
        self.steps.append((name, True, detail))
        click.echo(f"  ok    {name}: {detail}")

    def fail(self, name: str, detail: str) -> None:
        self.steps.append((name, False, detail))
        click.echo(f"  FAIL  {name}: {detail}")

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(ok for _, ok, _ in self.steps)


def _wait(pred: Callable[[], Any], timeout_s: float, every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got or time.monotonic() >= deadline:
            return got
        time.sleep(every_s)


def trade_life(ex: Any, symbol: str, report: Report, leverage: int = 2, tp1_wait_s: float = 60.0,
               sl_pct: Decimal = Decimal("0.01"), tp_pct: Decimal = Decimal("0.002")) -> None:
    """The checks, in order; raises nothing a venue answers (each failure is a FAIL line)."""
    tag = f"tnc{int(time.time())}"
    f = ex.symbol_filters(symbol)
    offset = ex.t.sync_time() if hasattr(ex, "t") else 0
    report.ok("preflight", f"server clock offset {offset} ms; tick {f.tick_size}, step {f.step_size}, "
              f"min notional {f.min_notional}")
    if ex.positions(symbol)[0].quantity != 0 or ex.open_orders(symbol):
        report.fail("preflight", f"{symbol} already has a position or open orders: refusing to touch them")
        return
    ex.ensure_one_way_mode()
    ex.set_leverage(symbol, leverage)
    ex.set_margin_type(symbol, "ISOLATED")
    bal = ex.balance()
    report.ok("account", f"one-way mode, leverage {leverage}x, ISOLATED; available {bal.available:.2f} USDT")
    mark = ex.premium_index(symbol).mark_price
    # minimum size that still splits in two halves each above the minimum notional
    qty = round_quantity(max(f.min_qty * 2, (f.min_notional * 2 * Decimal("1.05") / mark)), f, market=True)
    qty = (qty / (f.step_size * 2)).to_integral_value(ROUND_UP) * f.step_size * 2
    entry = ex.place_order(OrderRequest(symbol, "BUY", "MARKET", qty, client_order_id=f"{tag}_entry"))
    pos = _wait(lambda: (p := ex.positions(symbol)[0]).quantity == qty and p, 10)
    if not pos:
        report.fail("entry", f"market BUY {qty}: {entry.status}, position {ex.positions(symbol)[0].quantity}")
        return
    px = pos.entry_price
    report.ok("entry", f"market BUY {qty} {symbol} filled at {px:.2f}")
    sl_price = round_price(px * (1 - sl_pct), f)
    tp1 = round_price(px * (1 + tp_pct), f)
    tp2 = round_price(px * (1 + tp_pct * 3), f)
    half = qty / 2
    ex.place_order(OrderRequest(symbol, "SELL", "STOP_MARKET", stop_price=sl_price, close_position=True,
                                working_type="MARK_PRICE", client_order_id=f"{tag}_sl"))
    ex.place_order(OrderRequest(symbol, "SELL", "TAKE_PROFIT_MARKET", half, stop_price=tp1, reduce_only=True,
                                client_order_id=f"{tag}_tp1"))
    ex.place_order(OrderRequest(symbol, "SELL", "TAKE_PROFIT_MARKET", half, stop_price=tp2, reduce_only=True,
                                client_order_id=f"{tag}_tp2"))
    open_ids = {o.client_order_id for o in ex.open_orders(symbol)}
    want = {f"{tag}_sl", f"{tag}_tp1", f"{tag}_tp2"}
    if want <= open_ids:
        report.ok("protection", f"SL {sl_price:.2f} (close position), TP1 {tp1:.2f} × {half}, TP2 {tp2:.2f} × {half} "
                  "open on the exchange")
    else:
        report.fail("protection", f"missing on the exchange: {sorted(want - open_ids)}")
        return
    filled = _wait(lambda: ex.order(symbol, f"{tag}_tp1").filled_qty > 0, tp1_wait_s, 1.0)
    if filled:
        report.ok("tp1", f"TP1 triggered on the exchange; position {ex.positions(symbol)[0].quantity}")
    else:
        ex.cancel_order(symbol, f"{tag}_tp1")
        ex.place_order(OrderRequest(symbol, "SELL", "MARKET", half, reduce_only=True, client_order_id=f"{tag}_tp1m"))
        left = _wait(lambda: ex.positions(symbol)[0].quantity == qty - half, 10)
        (report.ok if left else report.fail)(
            "tp1", f"price did not reach TP1 in {tp1_wait_s:g} s: half ({half}) closed at market instead; position "
            f"{ex.positions(symbol)[0].quantity}")
    be = round_price(px, f)
    try:
        ex.place_order(OrderRequest(symbol, "SELL", "STOP_MARKET", stop_price=be, close_position=True,
                                    working_type="MARK_PRICE", client_order_id=f"{tag}_be"))
    except WouldImmediatelyTrigger:
        # price at or under the entry: a stop there would fire at once (-2021); the old SL
        # stays until the rest is closed at market just below — the worker's own rule
        report.ok("break-even", f"stop at the entry {be:.2f} refused with -2021 (mark "
                  f"{ex.premium_index(symbol).mark_price:.2f} not above it): the rest is closed at market")
    else:
        ex.cancel_order(symbol, f"{tag}_sl")  # the new stop first, then the old one goes: never naked
        stops = [o for o in ex.open_orders(symbol) if o.type == "STOP_MARKET"]
        if [o.stop_price for o in stops] == [be]:
            report.ok("break-even", f"stop moved to {be:.2f} (the entry) on the exchange; the old SL is cancelled")
        else:
            report.fail("break-even", f"stops on the exchange: {[str(o.stop_price) for o in stops]}")
    ex.cancel_all(symbol)
    rest = ex.positions(symbol)[0].quantity
    if rest > 0:
        ex.place_order(OrderRequest(symbol, "SELL", "MARKET", rest, reduce_only=True, client_order_id=f"{tag}_close"))
    flat = _wait(lambda: ex.positions(symbol)[0].quantity == 0, 10)
    (report.ok if flat else report.fail)("close", f"remaining {rest} closed at market; position "
                                         f"{ex.positions(symbol)[0].quantity}")
    orders = [ex.order(symbol, cid) for cid in (f"{tag}_entry", f"{tag}_tp1", f"{tag}_tp2", f"{tag}_sl")]
    sold = sum((o.filled_qty for o in orders[1:]), Decimal(0))
    for extra in (f"{tag}_be", f"{tag}_tp1m", f"{tag}_close"):
        with contextlib.suppress(UnknownOrder):  # that order was never needed
            sold += ex.order(symbol, extra).filled_qty
    problems = []
    if ex.open_orders(symbol):
        problems.append(f"{len(ex.open_orders(symbol))} orders still open")
    if sold != orders[0].filled_qty:
        problems.append(f"bought {orders[0].filled_qty}, sold {sold}")
    (report.fail if problems else report.ok)("reconciliation", "; ".join(problems) or
                                            f"flat, no open order, bought {orders[0].filled_qty} = sold {sold}")


def cleanup(ex: Any, symbol: str, report: Report) -> None:
    try:
        ex.cancel_all(symbol)
        q = ex.positions(symbol)[0].quantity
        if q != 0:
            ex.place_order(OrderRequest(symbol, "SELL" if q > 0 else "BUY", "MARKET", abs(q), reduce_only=True))
        report.ok("cleanup", "open orders cancelled, nothing left open" if q == 0 else f"closed what was left ({q})")
    except Exception as exc:  # noqa: BLE001 - say it, loudly
        report.fail("cleanup", f"{exc} — CHECK THE ACCOUNT BY HAND")


def register(group: click.Group) -> None:
    @group.command("testnet-check")
    @click.option("--base-url", help=f"Venue REST base (default: Binance futures testnet {TESTNET_FUTURES}).")
    @click.option("--tp1-wait-s", type=float, default=60.0, show_default=True,
                  help="How long to wait for TP1 to trigger before closing half at market.")
    @click.option("--leverage", type=int, default=2, show_default=True)
    def testnet_check(base_url: str | None, tp1_wait_s: float, leverage: int) -> None:
        """One protected trade life on the testnet at minimum size, each step reported, then cleaned up."""
        from connectors.binance import BinanceExchange

        cfg = load_or_exit()
        bcfg = dict(cfg["binance"])
        if not bcfg.get("api_key") or not bcfg.get("api_secret"):
            raise click.ClickException("testnet-check needs BINANCE_API_KEY and BINANCE_API_SECRET "
                                       "(testnet keys, in .env or the environment)")
        if base_url:
            bcfg["base_url"] = base_url
        else:
            bcfg["base_url"], bcfg["testnet"] = None, True
        symbol = str(cfg.get("symbol"))
        where = base_url or TESTNET_FUTURES
        click.echo(f"testnet-check on {where}, {symbol}:")
        ex = BinanceExchange(bcfg)
        report = Report()
        try:
            trade_life(ex, symbol, report, leverage=leverage, tp1_wait_s=tp1_wait_s)
        except Exception as exc:  # noqa: BLE001 - reported, then cleaned up
            report.fail("error", f"{type(exc).__name__}: {exc}")
        finally:
            cleanup(ex, symbol, report)
        passed = sum(ok for _, ok, _ in report.steps)
        click.echo(f"{'PASSED' if report.passed else 'FAILED'}: {passed}/{len(report.steps)} steps")
        if not report.passed:
            raise SystemExit(1)
