"""Numbers shown to people, formatted by what they mean (pure; the one formatting layer).

Pages (Jinja filters in web/format.py), API renderings, `showdown` commands and backtest
reports all call these, so a price reads the same everywhere:

    price        to the tick (BTCUSDT 0.1)              89,160.4
    quantity     to the step (BTCUSDT 0.001)            0.010
    money        to the cent, USDT                      -38.66
    percent      a value already in %, 2 decimals       1.14 %
    funding      a rate per 8 h, shown in %             0.0030 % / 8h
    USD flows    compact                                -122.2 M
    R multiple   2 decimals                             1.25 R
    time         ISO-8601 UTC, from epoch ms            2025-12-07T12:00:00Z

`field(path, value)` picks the format from the field's name (the fact and document paths
of engine/facts.py and the analytics documents); `rounded(path, value)` gives the same
precision as a number, for JSON answers. Nothing here prints a raw float, a dict or list
repr, or an epoch number as a time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

TICK = Decimal("0.1")   # BTCUSDT perpetual PRICE_FILTER tickSize (engine/exchange/filters.py)
STEP = Decimal("0.001")  # BTCUSDT perpetual LOT_SIZE stepSize
CENT = Decimal("0.01")
NONE = "—"
MINUS = "-"

# epoch milliseconds between 2001 and 2286: a number this size in a time field is a time
_EPOCH_MS = (1_000_000_000_000, 9_999_999_999_999)


def dec(x: Any) -> Decimal | None:
    """Decimal of a Decimal, int, float or numeric string (floats via str: no binary noise)."""
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, Decimal):
        return x
    if isinstance(x, float):
        return None if not math.isfinite(x) else Decimal(repr(float(x)))  # numpy floats too
    try:
        return Decimal(str(x).strip())
    except (InvalidOperation, ValueError):
        return None


def _places(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]


def quantize(x: Any, step: Decimal) -> Decimal | None:
    d = dec(x)
    if d is None:
        return None
    return (d / step).to_integral_value(rounding=ROUND_HALF_UP) * step


def _group(d: Decimal, places: int, signed: bool = False, sep: str = ",") -> str:
    q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) if places else d.quantize(
        Decimal(1), rounding=ROUND_HALF_UP)
    if q == 0:
        q = abs(q)  # never "-0.00"
    text = f"{abs(q):,.{places}f}".replace(",", sep)
    sign = MINUS if q < 0 else ("+" if signed and q > 0 else "")
    return sign + text


def number(x: Any, places: int = 2, signed: bool = False) -> str:
    d = dec(x)
    return NONE if d is None else _group(d, places, signed)


def price(x: Any, tick: Decimal = TICK) -> str:
    q = quantize(x, tick)
    return NONE if q is None else _group(q, _places(tick))


def price_plain(x: Any, tick: Decimal = TICK) -> str | None:
    """A price as an exact decimal string on the tick, for JSON (no thousands separator)."""
    q = quantize(x, tick)
    return None if q is None else _group(q, _places(tick), sep="")


def qty(x: Any, step: Decimal = STEP) -> str:
    q = quantize(x, step)
    return NONE if q is None else _group(q, _places(step), sep="")


def qty_plain(x: Any, step: Decimal = STEP) -> str | None:
    q = quantize(x, step)
    return None if q is None else _group(q, _places(step), sep="")


def money(x: Any, signed: bool = False) -> str:
    """USDT to the cent: 10,024.85; signed: +2.76 / -38.66."""
    return number(x, 2, signed)


def money_plain(x: Any) -> str | None:
    """Cents as an exact decimal string, for JSON."""
    q = quantize(x, CENT)
    return None if q is None else _group(q, 2, sep="")


def pct(x: Any, places: int = 2, signed: bool = False) -> str:
    """A value already in percent: 1.1359 -> '1.14 %'."""
    d = dec(x)
    return NONE if d is None else f"{_group(d, places, signed)} %"


def fraction_pct(x: Any, places: int = 1) -> str:
    """A fraction shown in percent: 0.553 -> '55.3 %'."""
    d = dec(x)
    return NONE if d is None else f"{_group(d * 100, places)} %"


def funding(x: Any) -> str:
    """A funding rate (fraction per 8 h) in % per 8 h: 3.0093e-05 -> '0.0030 % / 8h'."""
    d = dec(x)
    return NONE if d is None else f"{_group(d * 100, 4, signed=False)} % / 8h"


def usd_compact(x: Any) -> str:
    """USD flows: -122200000 -> '-122.2 M'; 1.2e9 -> '1.20 B'; small sums to the dollar."""
    d = dec(x)
    if d is None:
        return NONE
    a = abs(d)
    if a >= Decimal("1e9"):
        return f"{_group(d / Decimal('1e9'), 2)} B"
    if a >= Decimal("1e6"):
        return f"{_group(d / Decimal('1e6'), 1)} M"
    return _group(d, 0)


def score(x: Any) -> str:
    return number(x, 2)


def r_multiple(x: Any) -> str:
    d = dec(x)
    return NONE if d is None else f"{_group(d, 2, signed=True)} R"


def time_iso(x: Any) -> str:
    """Epoch ms (or an ISO string, or a datetime) as ISO-8601 UTC to the second."""
    if x is None or x == "":
        return NONE
    if isinstance(x, datetime):
        d = x if x.tzinfo else x.replace(tzinfo=UTC)
        return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(x, str):
        try:
            return time_iso(datetime.fromisoformat(x.strip().replace("Z", "+00:00")))
        except ValueError:
            return x
    if isinstance(x, int | float) and not isinstance(x, bool):
        return datetime.fromtimestamp(float(x) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(x)


def duration(ms: Any) -> str:
    """A span as a trader says it: '45 min', '3 h 05 min', '2 d 4 h'."""
    d = dec(ms)
    if d is None:
        return NONE
    minutes = int(abs(d) // 60_000)
    if minutes < 60:
        return f"{minutes} min"
    hours, mins = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {mins:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


# ------------------------------------------------------------------ by field name

PRICE_KEYS = {"price", "sl", "tp1", "tp2", "entry_price", "exit_price", "mark_price", "liquidation_price",
              "entry_min", "entry_max", "avg_fill_price", "stop_price", "current_price", "zone", "entry_zone",
              "high", "low", "open", "close", "o", "h", "l", "c", "atr", "break_even", "mark", "index"}
MONEY_KEYS = {"pnl", "gross_pnl", "net_pnl", "fees", "funding_paid", "equity", "start_of_day_equity",
              "initial_equity", "final_equity", "net_profit", "realized_pnl", "unrealized_pnl", "position_size_usdt",
              "wallet", "balance", "notional", "day_usdt", "week_usdt", "usdt"}
QTY_KEYS = {"quantity", "filled_quantity", "qty", "volume", "v", "buy_volume", "sell_volume", "bid_volume",
            "ask_volume"}
USD_FLOW_KEYS = {"last_7d_total", "last_3d_total", "last_day", "net_flow_usd", "total", "strong_flow_usd"}
SCORE_KEYS = {"score", "bias", "bias_score", "global_score", "confidence", "strength", "weight", "penalty",
              "warning_penalty", "margin", "best", "long", "short", "score_long", "score_short", "raw_long",
              "raw_short", "size_mult", "sentiment_modifier", "ratio", "max_strength_above",
              "max_strength_below", "nearest_above_strength", "nearest_below_strength", "win_rate_frac"}
R_KEYS = {"r_multiple", "avg_r", "median_r", "r"}


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1].split("[", 1)[0]


def kind_of(path: str) -> str:
    """What a field means, from its dotted path: price, money, qty, usd, funding, pct,
    score, r, time, int, rsi, plain."""
    leaf = _leaf(path)
    low = path.lower()
    if leaf.endswith("_ms") or leaf in ("time_ms", "timestamp_ms"):
        return "time"
    if "funding" in low and not leaf.endswith("_pct") and leaf not in ("funding_paid", "funding"):
        return "funding"
    if leaf == "funding" and "derivatives" not in low:
        return "money"
    if leaf == "funding":
        return "funding"
    if leaf.endswith("_pct") or leaf in ("pct", "change_24h", "return_pct", "win_rate", "max_dd_pct",
                                         "daily_pnl_pct", "weekly_pnl_pct") or "atr_pct" in low or leaf.endswith("_rank"):
        return "pct"
    if "atr" in low.split("."):
        return "price"
    if leaf.endswith("_price") or leaf in PRICE_KEYS or leaf.startswith("ema_") or ".swings." in f".{low}" \
            or leaf.startswith("nearest_") and leaf.endswith("_price"):
        return "price"
    if leaf == "value" and ("oi." in low or "cvd." in low):
        return "qty"
    if leaf == "value" and "basis" in low:
        return "price"
    if leaf in MONEY_KEYS or leaf.endswith("_usdt"):
        return "money"
    if leaf in USD_FLOW_KEYS or leaf.endswith("_usd"):
        return "usd"
    if leaf in QTY_KEYS or leaf.endswith("_volume"):
        return "qty"
    if leaf in R_KEYS:
        return "r"
    if leaf == "rsi":
        return "rsi"
    if leaf.startswith("macd"):
        return "macd"
    if leaf in SCORE_KEYS or leaf.endswith("_score") or leaf.endswith("_strength"):
        return "score"
    return "plain"


_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "price": price, "money": money, "qty": qty, "usd": usd_compact, "funding": funding, "pct": pct,
    "score": score, "r": r_multiple, "time": time_iso, "rsi": lambda x: number(x, 1),
    "macd": lambda x: number(x, 2),
}


def plain_number(x: float | int | Decimal) -> str:
    """A number whose meaning is unknown: integers whole, others to 4 significant decimals."""
    if isinstance(x, int) and not isinstance(x, bool):
        if _EPOCH_MS[0] <= x <= _EPOCH_MS[1]:
            return time_iso(x)
        return f"{x:,}" if abs(x) >= 10_000 else str(x)
    d = dec(x)
    if d is None:
        return NONE
    if d == d.to_integral_value():
        return _group(d, 0)
    return _group(d, 2) if abs(d) >= 100 else f"{float(d):.4g}" if abs(d) < 0.01 else _group(d, 4).rstrip("0")


def field(path: str, value: Any) -> str:
    """`value` of field `path` as text, by what the field means. Lists of prices read
    'a – b'; dicts read 'key value, key value' (never a Python repr)."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        parts = [f"{k} {field(f'{path}.{k}', v)}" for k, v in value.items() if v is not None]
        return ", ".join(parts) if parts else NONE
    if isinstance(value, list | tuple):
        items = [field(path, v) for v in value]
        sep = " – " if kind_of(path) == "price" and len(items) == 2 else ", "
        return sep.join(items) if items else NONE
    kind = kind_of(path)
    if isinstance(value, str):
        # a decimal string (money columns come as text) in a numeric field: format it too
        return value if kind in ("plain", "time") or dec(value) is None else _FORMATTERS[kind](value)
    if kind == "plain" or not isinstance(value, int | float | Decimal):
        return plain_number(value) if isinstance(value, int | float | Decimal) else str(value)
    if kind == "time" and isinstance(value, int | float) and not _EPOCH_MS[0] <= value <= _EPOCH_MS[1]:
        return plain_number(int(value))
    return _FORMATTERS[kind](value)


_ROUND_PLACES = {"price": 1, "money": 2, "qty": 3, "usd": 0, "funding": 8, "pct": 4, "score": 4, "r": 2,
                 "rsi": 2, "macd": 2, "plain": 6}


def rounded(path: str, value: Any) -> Any:
    """The same value for JSON with its field's precision: floats rounded (prices to the
    tick, money to cents, %, scores to 4 places, funding rates to 8), recursively through
    dicts and lists. Integers, strings and booleans are unchanged."""
    if isinstance(value, Mapping):
        return {k: rounded(f"{path}.{k}" if path else str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(path, v) for v in value]
    if isinstance(value, float) and math.isfinite(value):
        places = _ROUND_PLACES.get(kind_of(path), 6)
        r = round(value, places)
        return 0.0 if r == 0 else r
    return value


_EPOCH_IN_TEXT = re.compile(r"(?<![\d.])(1\d{12})(?![\d.])")


def times_in_text(text: str | None) -> str | None:
    """Epoch-ms numbers written into free text (older activation notes) as ISO UTC."""
    if not text:
        return text
    return _EPOCH_IN_TEXT.sub(lambda m: time_iso(int(m.group(1))), text)


def signed_class(x: Any) -> str:
    """CSS class for a signed amount: 'pos', 'neg' or ''."""
    d = dec(x)
    return "" if d is None or d == 0 else ("pos" if d > 0 else "neg")
