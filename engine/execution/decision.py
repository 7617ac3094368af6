"""A decision (PRODUCT.md §8.1) read as a trade plan, and the reasons to refuse it.

`parse_plan` refuses what is malformed; `refusal` refuses what is well-formed but must
not be traded now (stale, market moved, spread, session, volatility, cooldown, drawdown,
equity). Both return a snake_case reason a trader can read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.execution.model import MAX_ID_LEN, ExecSettings, ExecState, View

RISK_CHECKS = ("daily_dd_ok", "weekly_dd_ok", "max_trades_per_day_ok", "session_ok", "no_major_news")
_ID_OK = re.compile(rf"^[A-Za-z0-9]{{1,{MAX_ID_LEN}}}$")


class Malformed(ValueError):
    """The decision cannot be read as a trade; str() is the reason."""


@dataclass(frozen=True)
class Plan:
    id: str
    side: str  # long / short
    zone_lo: Decimal
    zone_hi: Decimal
    sl: Decimal
    tp1: Decimal | None
    tp2: Decimal | None
    size_usdt: Decimal
    leverage: int
    confidence: float
    ts_ms: int
    risk_checks: tuple[tuple[str, bool], ...] = ()
    assumed_equity: Decimal | None = None

    @property
    def long(self) -> bool:
        return self.side == "long"

    @property
    def mid(self) -> Decimal:
        return (self.zone_lo + self.zone_hi) / 2

    def to_dict(self) -> dict[str, Any]:
        # Its fields one level deep (asdict copies recursively: a tenth of a backtest's entry
        # step; the only nested field, risk_checks, is rebuilt below anyway)
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        for k, v in d.items():
            if isinstance(v, Decimal):
                d[k] = str(v)
        d["risk_checks"] = [list(x) for x in self.risk_checks]
        return d

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Plan:
        """from_dict, parsed once per plan dict: the state's plan dict is replaced whole,
        never edited (ExecState.copy shares it), so the same dict object is the same plan.
        One slot, holding the dict itself, so its id can never be reused by another."""
        last = _PARSED[0]
        if last is not None and last[0] is d:
            return last[1]
        plan = cls.from_dict(d)
        _PARSED[0] = (d, plan)
        return plan

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        def dec(k: str) -> Decimal | None:
            return None if d.get(k) is None else Decimal(str(d[k]))
        return cls(id=str(d["id"]), side=d["side"], zone_lo=dec("zone_lo"), zone_hi=dec("zone_hi"),  # type: ignore[arg-type]
                   sl=dec("sl"), tp1=dec("tp1"), tp2=dec("tp2"), size_usdt=dec("size_usdt"),  # type: ignore[arg-type]
                   leverage=int(d["leverage"]), confidence=float(d["confidence"]), ts_ms=int(d["ts_ms"]),
                   risk_checks=tuple((str(k), bool(v)) for k, v in d.get("risk_checks") or ()),
                   assumed_equity=dec("assumed_equity"))


_PARSED: list[tuple[Mapping[str, Any], Plan] | None] = [None]


def decision_id(decision: Mapping[str, Any]) -> str | None:
    """The decision's id as our client ids carry it: `id` / `decision_id`, alphanumeric."""
    raw = decision.get("id", decision.get("decision_id"))
    if raw is None:
        return None
    s = str(raw)
    return s if _ID_OK.match(s) else None


def _num(d: Mapping[str, Any], key: str) -> Decimal:
    v = d.get(key)
    if isinstance(v, bool) or v is None:
        raise Malformed(f"malformed_{key}")
    try:
        x = Decimal(str(v))
    except InvalidOperation:
        raise Malformed(f"malformed_{key}") from None
    if not x.is_finite():
        raise Malformed(f"malformed_{key}")
    return x


def timestamp_ms(d: Mapping[str, Any]) -> int:
    ts = d.get("timestamp_iso")
    if not isinstance(ts, str):
        raise Malformed("malformed_timestamp_iso")
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        raise Malformed("malformed_timestamp_iso") from None
    if dt.tzinfo is None:
        raise Malformed("timestamp_iso_without_timezone")
    return int(dt.timestamp() * 1000)


def parse_plan(d: Mapping[str, Any], symbol: str = "BTCUSDT") -> Plan | None:
    """None for a flat decision; a Plan for long/short; Malformed otherwise."""
    if not isinstance(d, Mapping):
        raise Malformed("decision_not_an_object")
    action = d.get("action")
    if action not in ("long", "short", "flat"):
        raise Malformed("malformed_action")
    if d.get("symbol", symbol) != symbol:
        raise Malformed("wrong_symbol")
    did = decision_id(d)
    if did is None:
        raise Malformed("malformed_decision_id")
    ts = timestamp_ms(d)
    if action == "flat":
        return None
    zone = d.get("entry_zone")
    if not isinstance(zone, list | tuple) or len(zone) != 2:
        raise Malformed("malformed_entry_zone")
    lo, hi = _num({"z": zone[0]}, "z"), _num({"z": zone[1]}, "z")
    if not 0 < lo <= hi:
        raise Malformed("malformed_entry_zone")
    sl, size = _num(d, "sl"), _num(d, "position_size_usdt")
    tp1 = _num(d, "tp1") if d.get("tp1") is not None else None
    tp2 = _num(d, "tp2") if d.get("tp2") is not None else None
    if size <= 0:
        raise Malformed("malformed_position_size_usdt")
    conf = float(_num(d, "confidence"))
    if not 0 <= conf <= 1:
        raise Malformed("malformed_confidence")
    lev = d.get("leverage")
    if not isinstance(lev, int) or isinstance(lev, bool) or not 1 <= lev <= 125:
        raise Malformed("malformed_leverage")
    long = action == "long"
    # SL beyond the zone on the losing side, targets beyond it on the winning side, in order.
    if (long and not sl < lo) or (not long and not sl > hi):
        raise Malformed("sl_on_wrong_side")
    for tp in (tp1, tp2):
        if tp is not None and ((long and not tp > hi) or (not long and not tp < lo)):
            raise Malformed("tp_on_wrong_side")
    if tp1 is not None and tp2 is not None and ((long and tp2 < tp1) or (not long and tp2 > tp1)):
        raise Malformed("tp2_before_tp1")
    checks = d.get("risk_checks") or {}
    if not isinstance(checks, Mapping):
        raise Malformed("malformed_risk_checks")
    eq = d.get("assumed_equity_usdt")
    return Plan(id=did, side=action, zone_lo=lo, zone_hi=hi, sl=sl, tp1=tp1, tp2=tp2, size_usdt=size,
                leverage=lev, confidence=conf, ts_ms=ts,
                risk_checks=tuple((k, bool(checks[k])) for k in RISK_CHECKS if k in checks),
                assumed_equity=None if eq is None else _num(d, "assumed_equity_usdt"))


def pnl_pct(equity: Decimal, start: str | None) -> float:
    if not start or Decimal(start) <= 0:
        return 0.0
    return float((equity - Decimal(start)) / Decimal(start) * 100)


def zone_distance_pct(plan: Plan, price: Decimal) -> float:
    """How far price is outside the entry zone, in % of price (0 inside)."""
    if price < plan.zone_lo:
        return float((plan.zone_lo - price) / price * 100)
    if price > plan.zone_hi:
        return float((price - plan.zone_hi) / price * 100)
    return 0.0


# A decision is made at its cycle's close and read after it: one stamped later than now
# by more than clock jitter was made on another clock.
FUTURE_TOLERANCE_MS = 60_000


def market_refusal(plan: Plan, view: View, cfg: ExecSettings, now_ms: int) -> str | None:
    """Reasons tied to the market and the clock: checked before and during an entry."""
    if now_ms - plan.ts_ms > cfg.decision_max_age_s * 1000:
        return "decision_stale"
    if plan.ts_ms - now_ms > FUTURE_TOLERANCE_MS:
        return "decision_from_the_future"  # another clock's (a replay's vs live), never ours
    price = view.last
    if (plan.long and price <= plan.sl) or (not plan.long and price >= plan.sl):
        return "price_beyond_sl"
    if zone_distance_pct(plan, price) > cfg.max_distance_from_zone_pct:
        return "price_too_far_from_zone"
    spread = view.spread_pct()
    if spread is None or spread > cfg.max_spread_pct:
        return "abnormal_spread"
    if view.volatility_pct is not None and view.volatility_pct > cfg.max_volatility_pct:
        return "volatility_too_high"
    return None


def refusal(plan: Plan, view: View, state: ExecState, cfg: ExecSettings, now_ms: int) -> str | None:
    """Why this plan must not be entered now (None: go)."""
    if state.safe_mode:
        return "safe_mode"
    for name, ok in plan.risk_checks:
        if not ok:
            return f"risk_check_failed_{name}"
    if state.last_exit_ms and now_ms - state.last_exit_ms < cfg.cooldown_after_exit_s * 1000:
        return "cooldown_after_exit"
    if pnl_pct(view.equity, state.day_start_equity) <= cfg.daily_dd_limit_pct:
        return "daily_drawdown_breached"
    if pnl_pct(view.equity, state.week_start_equity) <= cfg.weekly_dd_limit_pct:
        return "weekly_drawdown_breached"
    if plan.assumed_equity is not None and view.equity < plan.assumed_equity * (
            1 - Decimal(str(cfg.equity_tolerance_pct)) / 100):
        return "equity_below_assumed"
    if plan.size_usdt / plan.leverage > view.available:
        return "insufficient_margin"
    hour = now_ms // 3_600_000 % 24
    if any(a <= hour < b for a, b in cfg.restricted_hours_utc):
        return "restricted_session"
    return market_refusal(plan, view, cfg, now_ms)
