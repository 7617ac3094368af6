"""Plain data of the execution core: settings, the exchange view it reads, the state it
keeps between loops, and what it returns (order intents and events).

Everything the state holds survives a JSON round trip (`to_json` / `from_json`), so the
worker writes it before it sends anything (write-ahead) and a restart rebuilds it from
disk and the exchange, never from memory.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from engine.exchange.filters import SymbolFilters
from engine.exchange.types import Order, OrderRequest

NO_POSITION, ENTERING, IN_POSITION, CLOSING = "NO_POSITION", "ENTERING", "IN_POSITION", "CLOSING"
ROLES = ("entry", "sl", "tp1", "tp2", "close")
PROTECTIVE = ("sl", "tp1", "tp2")
# Binance's newClientOrderId: ^[\.A-Z\:/a-z0-9_-]{1,36}$. Ours: "<prefix>_<role>_<decision id>[_n]",
# the prefix "c" + 3 characters salted per installation (per database: a reset database
# gets a new one, so no id of ours can match an order of an earlier life), "capi" unsalted.
# Longest: "cxxx_entry_" (11) + id (<= 20) + "_nnn" (4) = 35.
MAX_ID_LEN = 20
DEFAULT_PREFIX = "capi"
PREFIX_RE = re.compile(r"^c[a-z0-9]{3}$")
CID_RE = re.compile(r"^(c[a-z0-9]{3})_(entry|sl|tp1|tp2|close)_([A-Za-z0-9]{1,20})(?:_(\d{1,3}))?$")


def client_id(role: str, decision_id: str, n: int, prefix: str = DEFAULT_PREFIX) -> str:
    """<prefix>_<role>_<decision id> for the first order of a role, then _2, _3 … for re-placements."""
    if role not in ROLES:
        raise ValueError(f"unknown order role {role!r}")
    cid = f"{prefix}_{role}_{decision_id}" + (f"_{n}" if n > 1 else "")
    if not CID_RE.match(cid):
        raise ValueError(f"client order id {cid!r} breaks the <prefix>_<role>_<id>[_n] pattern (<= 36 chars)")
    return cid


def parse_client_id(cid: str, prefix: str | None = None) -> tuple[str, str, int] | None:
    """(role, decision id, n) of one of our ids (of this installation when `prefix` is
    given); None for anything else."""
    m = CID_RE.match(cid)
    if not m or (prefix is not None and m.group(1) != prefix):
        return None
    return m.group(2), m.group(3), int(m.group(4) or 1)


@dataclass(frozen=True)
class ExecSettings:
    """The `execution:` section (plus the few risk/session keys the core reads)."""

    decision_max_age_s: int = 600
    chase_threshold_pct: float = 0.15
    chase_after_s: int = 30
    max_chases: int = 3
    market_fallback_min_confidence: float = 0.75
    market_fallback_max_spread_pct: float = 0.02
    max_spread_pct: float = 0.05
    max_distance_from_zone_pct: float = 0.3
    max_volatility_pct: float = 0.6
    cooldown_after_exit_s: int = 900
    order_max_age_s: int = 900
    stale_distance_pct: float = 1.0
    equity_tolerance_pct: float = 2.0
    orphan_sl_pct: float = 1.0
    tp1_fraction: float = 0.5
    working_type: str = "CONTRACT_PRICE"
    daily_dd_limit_pct: float = -2.0
    weekly_dd_limit_pct: float = -5.0
    restricted_hours_utc: tuple[tuple[int, int], ...] = ((21, 23),)
    id_prefix: str = DEFAULT_PREFIX  # this installation's client-id prefix (the worker sets it)

    @classmethod
    def from_config(cls, cfg: Any) -> ExecSettings:
        """From a Config (or anything with .get(dotted)); unknown keys are the schema's job."""
        ex = dict(cfg.get("execution") or {})
        known = {k: v for k, v in ex.items() if k in cls.__dataclass_fields__}
        hours = tuple(tuple(h) for h in (cfg.get("sessions.restricted_hours_utc") or []))
        return cls(**known, daily_dd_limit_pct=float(cfg.get("risk.daily_dd_limit_pct", -2.0)),
                   weekly_dd_limit_pct=float(cfg.get("risk.weekly_dd_limit_pct", -5.0)),
                   restricted_hours_utc=hours)  # type: ignore[arg-type]


@dataclass(frozen=True)
class View:
    """What the exchange says right now. `orders` holds orders the state watches that are
    no longer open (the worker looks them up by client id); a watched id absent from
    both never reached the exchange."""

    position_qty: Decimal  # signed, one-way mode
    entry_price: Decimal
    open_orders: tuple[Order, ...]
    last: Decimal
    mark: Decimal
    bid: Decimal | None
    ask: Decimal | None
    filters: SymbolFilters
    equity: Decimal
    wallet: Decimal
    available: Decimal
    volatility_pct: float | None = None
    orders: Mapping[str, Order] = field(default_factory=dict)

    def spread_pct(self) -> float | None:
        if self.bid is None or self.ask is None or self.bid <= 0:
            return None
        return float((self.ask - self.bid) / ((self.ask + self.bid) / 2) * 100)


@dataclass(frozen=True)
class Place:
    role: str
    request: OrderRequest
    after_cancel: str | None = None  # send only if this cancel went through (else skip)


@dataclass(frozen=True)
class Cancel:
    role: str
    client_order_id: str


@dataclass(frozen=True)
class SetLeverage:
    """Put the symbol's leverage on the exchange to the plan's, while flat, before the
    entry that follows it (which is skipped if this fails)."""

    leverage: int


Intent = Place | Cancel | SetLeverage


@dataclass(frozen=True)
class Event:
    code: str  # snake_case, stable: notifications and tests key on it
    level: str  # INFO / WARNING / ERROR / CRITICAL
    message: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecState:
    phase: str = NO_POSITION
    decision_id: str | None = None  # the decision whose trade is being worked
    plan: dict[str, Any] | None = None  # Plan.to_dict() of that decision
    seq: dict[str, int] = field(default_factory=dict)  # role -> last suffix used
    live: dict[str, str] = field(default_factory=dict)  # role -> client id currently wanted
    watch: dict[str, list[str]] = field(default_factory=dict)  # cid -> [role, filled, avg] seen so far
    entry_placed_ms: int = 0
    entry_limit: str | None = None
    chases: int = 0
    replace_entry: str | None = None  # "chase" / "stale": cancelled, re-place once it is closed
    chasing_stopped: str | None = None
    tp1_done: bool = False
    sl_price: str | None = None
    sl_refused: str | None = None  # a stop level the exchange refused: not asked again this trade
    opened_ms: int = 0
    wallet_before: str | None = None
    entry_fills: list[list[str]] = field(default_factory=list)  # [qty, price]
    exit_fills: list[list[str]] = field(default_factory=list)  # [role, qty, price]
    last_exit_ms: int = 0
    entered: list[str] = field(default_factory=list)  # decision ids already acted on (never twice)
    refused: dict[str, str] = field(default_factory=dict)  # {"decision_id", "reason"} last said
    safe_mode: str | None = None  # reason; cleared only by the operator
    day_key: int = -1
    day_start_equity: str | None = None
    week_key: int = -1
    week_start_equity: str | None = None
    trades_today: int = 0
    # Position management (engine/execution/manage.py): the extremes of the price since the
    # position opened (best and worst R), the last decision whose manage part was carried
    # out, the take-profit a rule moved, and the reason of a rule's close (the trade's exit reason).
    best_price: str | None = None
    worst_price: str | None = None
    managed: str | None = None
    target_price: str | None = None
    exit_reason: str | None = None
    id_prefix: str | None = None  # this installation's client-id prefix, for a start while the DB is down
    # Wallet watch (engine/execution/incidents.py): the wallet and the explaining income
    # since `income_from_ms`, read together; a later wallet the income does not explain is
    # an incident. Kept across restarts: an account changed (or forgotten) while the worker
    # was down is caught on its first loop.
    wallet_seen: str | None = None
    income_seen: list[list[Any]] | None = None  # [type, amount, time ms] from income_from_ms on
    income_from_ms: int = 0

    def copy(self) -> ExecState:
        """A copy the core may change without touching this one: every list and dict the
        core mutates in place is copied (one level deeper for the lists inside `watch` and
        the fills); `plan` is shared, as the core only ever replaces it whole (never edits
        it), which also lets Plan.of parse it once per decision. Explicit rather than
        deepcopy: this runs every loop, and deepcopy was a third of the backtest's time in
        a position (issue 16). tests/test_backtest_realism.py checks it against deepcopy."""
        new = object.__new__(type(self))   # not dataclasses.replace: __init__ over 35 fields, per step
        new.__dict__.update(self.__dict__)
        new.seq, new.live, new.refused = dict(self.seq), dict(self.live), dict(self.refused)
        new.watch = {k: list(v) for k, v in self.watch.items()}
        new.entry_fills, new.exit_fills = [list(f) for f in self.entry_fills], [list(f) for f in self.exit_fills]
        new.entered = list(self.entered)
        return new

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> ExecState:
        if not d:
            return cls()
        known = {k: copy.deepcopy(v) for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)
