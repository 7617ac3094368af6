"""How a backtest fills, slips and pays (PRODUCT.md §11), parsed from the command line's words."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

FILLS = ("ideal", "hybrid", "market")


@dataclass(frozen=True)
class BacktestParams:
    """fill: ideal  — a limit fills at its price when the price touches it;
             hybrid — a limit fills only when the price trades through it (else it waits,
                      and the execution core chases / falls back to market, which slips);
             market — every entry goes at market: the last close ± slippage.
    slippage: ("none", 0) | ("bps", N) fixed | ("atr", K): K × ATR(5m) in % of price, per cycle.
    Slippage moves every taker fill (market, stop, take-profit) against us."""

    fill: str = "ideal"
    slippage_kind: str = "none"
    slippage_value: float = 0.0
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0004")
    equity: Decimal = Decimal("10000")
    # rules evaluator: "fast" (market conditions over all cycles at once, engine/backtest/fast.py),
    # "durable" (durable_rules, the code live runs) or "python" (the reference evaluator)
    engine: str = "fast"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in d.items()}


def parse_slippage(text: str) -> tuple[str, float]:
    """none | bps:N | atr:K"""
    t = text.strip().lower()
    if t == "none":
        return "none", 0.0
    kind, _, num = t.partition(":")
    if kind not in ("bps", "atr") or not num:
        raise ValueError(f"slippage {text!r}: expected none, bps:N or atr:K")
    v = float(num)
    if not v >= 0:
        raise ValueError(f"slippage {text!r}: must be >= 0")
    return kind, v


def parse_fees(text: str) -> tuple[Decimal, Decimal]:
    """'maker,taker' as fractions (0.0002,0.0004) or percents with % (0.02%,0.04%)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise ValueError(f"fees {text!r}: expected maker,taker")
    out = []
    for p in parts:
        v = Decimal(p[:-1]) / 100 if p.endswith("%") else Decimal(p)
        if v < 0 or v > Decimal("0.01"):
            raise ValueError(f"fee {p!r} out of range (0 … 1%)")
        out.append(v)
    return out[0], out[1]
