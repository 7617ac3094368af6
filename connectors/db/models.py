"""Every table of PRODUCT.md §13, as peewee models bound to `database_proxy`.

Conventions: times are UTC epoch milliseconds in BIGINT columns named `*_ms` (one
unambiguous clock for candles, decisions and fills); money is `MoneyField` (exact
Decimal); documents (snapshot, flow, decision, trace, context) are `JSONField`.
Schema changes go through connectors/db/migrations.py, never through create_tables.
"""

from __future__ import annotations

import time

import peewee as pw

from connectors.db import database_proxy
from connectors.db.fields import JSONField, MoneyField


def now_ms() -> int:
    return int(time.time() * 1000)


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


def _symbol() -> pw.CharField:
    return pw.CharField(max_length=20, default="BTCUSDT")


# ---------------------------------------------------------------- market data

class Candle(BaseModel):
    """One kline. OHLCV are doubles (analytics speed); the three extras are NULL when the
    source file did not carry them — unknown, never invented."""

    symbol = _symbol()
    timeframe = pw.CharField(max_length=4)
    open_time_ms = pw.BigIntegerField()
    open = pw.DoubleField()
    high = pw.DoubleField()
    low = pw.DoubleField()
    close = pw.DoubleField()
    volume = pw.DoubleField()
    quote_volume = pw.DoubleField(null=True)
    trade_count = pw.BigIntegerField(null=True)
    taker_buy_volume = pw.DoubleField(null=True)

    class Meta:
        table_name = "candles"
        # Also the index for "latest N candles of a timeframe" (equality, equality, range).
        indexes = ((("symbol", "timeframe", "open_time_ms"), True),)


class Derivative(BaseModel):
    """Funding rate, open interest, mark/index price, premium…: one value per kind and time."""

    symbol = _symbol()
    kind = pw.CharField(max_length=32)  # funding_rate, open_interest, mark_price, index_price, premium
    time_ms = pw.BigIntegerField()
    value = pw.DoubleField()
    details = JSONField(null=True)  # e.g. next_funding_time_ms, open interest in USDT

    class Meta:
        table_name = "derivatives"
        indexes = ((("symbol", "kind", "time_ms"), True),)


# ---------------------------------------------------------------- human inputs

class EtpFlow(BaseModel):
    """Spot-ETF daily net flow, per fund, or `ALL` for the total."""

    symbol = _symbol()
    date = pw.CharField(max_length=10)  # YYYY-MM-DD, US trading day
    fund = pw.CharField(max_length=16, default="ALL")
    flow_usd = pw.DoubleField()
    source = pw.CharField(max_length=64, null=True)
    entered_by = pw.CharField(max_length=64, null=True)
    created_ms = pw.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "etp_flows"
        indexes = ((("symbol", "date", "fund"), True),)


class LiquidationZones(BaseModel):
    symbol = _symbol()
    captured_at_ms = pw.BigIntegerField()
    current_price = pw.DoubleField(null=True)
    zones = JSONField()  # [{side, price, strength, comment}]
    source = pw.CharField(max_length=64, null=True)
    entered_by = pw.CharField(max_length=64, null=True)
    created_ms = pw.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "liquidation_zones_history"
        indexes = ((("symbol", "captured_at_ms"), True),)


class NewsSentiment(BaseModel):
    symbol = _symbol()
    as_of_ms = pw.BigIntegerField()
    score = pw.DoubleField()  # -2 … +2
    label = pw.CharField(max_length=16)
    comment = pw.TextField(null=True)
    entered_by = pw.CharField(max_length=64, null=True)
    created_ms = pw.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "news_sentiment_history"
        indexes = ((("symbol", "as_of_ms"), False),)


# ---------------------------------------------------------------- analytics and decisions

class Snapshot(BaseModel):
    symbol = _symbol()
    as_of_ms = pw.BigIntegerField()
    document = JSONField()

    class Meta:
        table_name = "snapshots"
        indexes = ((("symbol", "as_of_ms"), True),)


class Flow(BaseModel):
    symbol = _symbol()
    as_of_ms = pw.BigIntegerField()
    document = JSONField()

    class Meta:
        table_name = "flows"
        indexes = ((("symbol", "as_of_ms"), True),)


class Ruleset(BaseModel):
    """Every ruleset version ever activated, with its YAML; `hash` is the content hash
    decisions carry as `ruleset_version`."""

    hash = pw.CharField(max_length=64, unique=True)
    yaml = pw.TextField()
    activated_by = pw.CharField(max_length=64, null=True)
    activated_at_ms = pw.BigIntegerField(null=True)
    note = pw.TextField(null=True)
    created_ms = pw.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "rulesets"


class DecisionTrace(BaseModel):
    symbol = _symbol()
    created_ms = pw.BigIntegerField(default=now_ms)
    trace = JSONField()

    class Meta:
        table_name = "decision_traces"


class Decision(BaseModel):
    symbol = _symbol()
    decided_at_ms = pw.BigIntegerField()
    action = pw.CharField(max_length=8)  # long / short / flat
    reason = pw.CharField(max_length=128, null=True)
    snapshot = pw.ForeignKeyField(Snapshot, null=True, column_name="snapshot_id", backref="+")
    flow = pw.ForeignKeyField(Flow, null=True, column_name="flow_id", backref="+")
    ruleset_version = pw.CharField(max_length=64, null=True)
    trace = pw.ForeignKeyField(DecisionTrace, null=True, column_name="trace_id", backref="+")
    document = JSONField()  # the whole decision object of PRODUCT.md §8.1

    class Meta:
        table_name = "decisions"
        indexes = ((("symbol", "decided_at_ms"), False),)


# ---------------------------------------------------------------- execution

class Order(BaseModel):
    symbol = _symbol()
    decision = pw.ForeignKeyField(Decision, null=True, column_name="decision_id", backref="+")
    client_order_id = pw.CharField(max_length=64)
    exchange_order_id = pw.CharField(max_length=64, null=True)
    role = pw.CharField(max_length=16)  # entry, sl, tp1, tp2, close
    side = pw.CharField(max_length=8)  # BUY / SELL
    type = pw.CharField(max_length=32)  # LIMIT, MARKET, STOP_MARKET, TAKE_PROFIT_MARKET
    status = pw.CharField(max_length=24)
    price = MoneyField(null=True)
    stop_price = MoneyField(null=True)
    quantity = MoneyField()
    filled_quantity = MoneyField(default="0")
    avg_fill_price = MoneyField(null=True)
    fee = MoneyField(default="0")
    fee_asset = pw.CharField(max_length=16, null=True)
    reduce_only = pw.BooleanField(default=False)
    created_ms = pw.BigIntegerField(default=now_ms)
    updated_ms = pw.BigIntegerField(default=now_ms)
    raw = JSONField(null=True)  # last exchange answer

    class Meta:
        table_name = "orders"
        indexes = (
            (("client_order_id",), True),
            (("symbol", "status"), False),
        )


class Position(BaseModel):
    symbol = _symbol()
    decision = pw.ForeignKeyField(Decision, null=True, column_name="decision_id", backref="+")
    side = pw.CharField(max_length=8)  # long / short
    status = pw.CharField(max_length=16)  # open / closed
    quantity = MoneyField()
    entry_price = MoneyField()
    sl_price = MoneyField(null=True)
    tp1_price = MoneyField(null=True)
    tp2_price = MoneyField(null=True)
    realized_pnl = MoneyField(default="0")
    fees = MoneyField(default="0")
    funding = MoneyField(default="0")
    opened_ms = pw.BigIntegerField()
    closed_ms = pw.BigIntegerField(null=True)
    details = JSONField(null=True)

    class Meta:
        table_name = "positions"
        indexes = ((("symbol", "status"), False),)


class Trade(BaseModel):
    """A round trip, written when a position closes: the trade summary."""

    symbol = _symbol()
    decision = pw.ForeignKeyField(Decision, null=True, column_name="decision_id", backref="+")
    position = pw.ForeignKeyField(Position, null=True, column_name="position_id", backref="+")
    side = pw.CharField(max_length=8)
    quantity = MoneyField()
    entry_price = MoneyField()
    exit_price = MoneyField()
    pnl = MoneyField()  # net: the wallet's change over the round trip (fees and funding paid)
    fees = MoneyField(default="0")  # how much of pnl went to fees (live: fees and funding together)
    funding = MoneyField(default="0")  # …and to funding
    r_multiple = pw.DoubleField(null=True)
    exit_reason = pw.CharField(max_length=32, null=True)
    opened_ms = pw.BigIntegerField()
    closed_ms = pw.BigIntegerField()
    details = JSONField(null=True)

    class Meta:
        table_name = "trades"
        indexes = ((("symbol", "closed_ms"), False),)


class EquityPoint(BaseModel):
    symbol = _symbol()
    time_ms = pw.BigIntegerField()
    equity = MoneyField()
    balance = MoneyField(null=True)
    unrealized_pnl = MoneyField(null=True)

    class Meta:
        table_name = "equity_curve"
        indexes = ((("symbol", "time_ms"), False),)


# ---------------------------------------------------------------- operations

class LogRecord(BaseModel):
    created_ms = pw.BigIntegerField()
    level = pw.CharField(max_length=10)
    component = pw.CharField(max_length=32)
    logger = pw.CharField(max_length=128)
    message = pw.TextField()
    context = JSONField(null=True)

    class Meta:
        table_name = "logs"
        indexes = (
            (("created_ms",), False),
            (("level", "created_ms"), False),
            (("component", "created_ms"), False),
        )


class Notification(BaseModel):
    symbol = pw.CharField(max_length=20, null=True)
    created_ms = pw.BigIntegerField(default=now_ms)
    level = pw.CharField(max_length=10)
    source = pw.CharField(max_length=32)
    code = pw.CharField(max_length=64)
    message = pw.TextField()
    context = JSONField(null=True)
    # pending | sent | failed | suppressed (below telegram.min_level) | not_configured
    # (no bot token or chat) | aggregated (carried by notification `carried_by`'s message)
    delivery_status = pw.CharField(max_length=16, default="pending")
    delivered_ms = pw.BigIntegerField(null=True)
    attempts = pw.IntegerField(default=0)
    carried_by = pw.BigIntegerField(null=True)
    last_error = pw.TextField(null=True)  # why delivery failed, secrets scrubbed
    # host:pid:start of the process whose sender holds a pending row (connectors/notify/pending.py)
    sender = pw.CharField(max_length=64, null=True)

    class Meta:
        table_name = "notifications"
        indexes = ((("delivery_status", "created_ms"), False), (("created_ms",), False))


class ReconciliationEvent(BaseModel):
    symbol = _symbol()
    created_ms = pw.BigIntegerField(default=now_ms)
    kind = pw.CharField(max_length=32)  # summary, orphan_position, phantom_position, missing_sl, orphan_order
    summary = pw.TextField()
    details = JSONField(null=True)

    class Meta:
        table_name = "reconciliation_events"
        indexes = ((("created_ms",), False),)


class RiskEvent(BaseModel):
    symbol = _symbol()
    created_ms = pw.BigIntegerField(default=now_ms)
    kind = pw.CharField(max_length=32)  # dd_breach, risk_mode_change, safe_mode, …
    risk_mode = pw.CharField(max_length=24, null=True)
    message = pw.TextField(null=True)
    details = JSONField(null=True)

    class Meta:
        table_name = "risk_events"
        indexes = ((("created_ms",), False),)


class BotState(BaseModel):
    """One row per loop (analytics, execution, collector…): state and heartbeat."""

    symbol = _symbol()
    component = pw.CharField(max_length=32)
    state = pw.CharField(max_length=16)  # RUNNING, IDLE, ERROR, RISK_OFF, SAFE_MODE
    risk_mode = pw.CharField(max_length=24, null=True)
    heartbeat_ms = pw.BigIntegerField(default=now_ms)
    details = JSONField(null=True)

    class Meta:
        table_name = "bot_state"
        indexes = ((("symbol", "component"), True),)


class User(BaseModel):
    username = pw.CharField(max_length=64, unique=True)
    password_hash = pw.CharField(max_length=255)
    role = pw.CharField(max_length=16, default="viewer")  # viewer, operator, admin
    active = pw.BooleanField(default=True)
    created_ms = pw.BigIntegerField(default=now_ms)
    last_login_ms = pw.BigIntegerField(null=True)

    class Meta:
        table_name = "users"


class WebSession(BaseModel):
    """A signed-in admin-site session, held server-side: the cookie carries a random id
    whose SHA-256 is `token_hash`. Deleting the row ends the session at once, in every
    gunicorn worker (logout, password or role change, "sign out everywhere")."""

    token_hash = pw.CharField(max_length=64, unique=True)
    user_id = pw.IntegerField(index=True)
    created_ms = pw.BigIntegerField(default=now_ms)
    seen_ms = pw.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "web_sessions"


class AuditEntry(BaseModel):
    """Who changed what, when. `username` is text, not a foreign key: the trail outlives
    a deleted user."""

    created_ms = pw.BigIntegerField(default=now_ms)
    username = pw.CharField(max_length=64)
    action = pw.CharField(max_length=64)
    target = pw.CharField(max_length=128, null=True)
    details = JSONField(null=True)

    class Meta:
        table_name = "audit_log"
        indexes = ((("created_ms",), False),)


# ---------------------------------------------------------------- backtest

class BacktestRun(BaseModel):
    symbol = _symbol()
    ruleset_version = pw.CharField(max_length=64)
    period_start_ms = pw.BigIntegerField()
    period_end_ms = pw.BigIntegerField()
    initial_equity = MoneyField()
    final_equity = MoneyField(null=True)
    max_dd_pct = pw.DoubleField(null=True)
    sharpe = pw.DoubleField(null=True)
    sortino = pw.DoubleField(null=True)
    win_rate = pw.DoubleField(null=True)
    trade_count = pw.IntegerField(null=True)
    status = pw.CharField(max_length=16, default="running")  # running, done, failed
    params = JSONField(null=True)  # fill mode, slippage, fees…
    metrics = JSONField(null=True)
    notes = pw.TextField(null=True)
    created_ms = pw.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "backtest_runs"


# The *_backtest twins: same columns plus run_id; references point at the twins.

def _run() -> pw.ForeignKeyField:
    return pw.ForeignKeyField(BacktestRun, column_name="run_id", backref="+", on_delete="CASCADE")


class DecisionBacktest(Decision):
    run = _run()
    snapshot = pw.BigIntegerField(null=True, column_name="snapshot_id")  # type: ignore[assignment]  # plain id: runs may not store snapshots
    flow = pw.BigIntegerField(null=True, column_name="flow_id")  # type: ignore[assignment]
    trace = pw.BigIntegerField(null=True, column_name="trace_id")  # type: ignore[assignment]

    class Meta:
        table_name = "decisions_backtest"
        indexes = ((("run", "decided_at_ms"), False),)


class OrderBacktest(Order):
    run = _run()
    decision = pw.ForeignKeyField(DecisionBacktest, null=True, column_name="decision_id", backref="+")

    class Meta:
        table_name = "orders_backtest"
        indexes = ((("run", "client_order_id"), True),)


class PositionBacktest(Position):
    run = _run()
    decision = pw.ForeignKeyField(DecisionBacktest, null=True, column_name="decision_id", backref="+")

    class Meta:
        table_name = "positions_backtest"
        indexes = ((("run", "opened_ms"), False),)


class TradeBacktest(Trade):
    run = _run()
    decision = pw.ForeignKeyField(DecisionBacktest, null=True, column_name="decision_id", backref="+")
    position = pw.ForeignKeyField(PositionBacktest, null=True, column_name="position_id", backref="+")

    class Meta:
        table_name = "trades_backtest"
        indexes = ((("run", "closed_ms"), False),)


class EquityPointBacktest(EquityPoint):
    run = _run()

    class Meta:
        table_name = "equity_curve_backtest"
        indexes = ((("run", "time_ms"), False),)


# Creation order respects foreign keys.
class JournalApplied(BaseModel):
    """The execution journal's records already in the database (connectors/stores/journal.py):
    written with the record's rows in one transaction, so a replay never writes twice."""

    id = pw.CharField(max_length=40, primary_key=True)
    applied_ms = pw.BigIntegerField(default=now_ms)

    class Meta:
        table_name = "journal_applied"


ALL_MODELS: list[type[BaseModel]] = [
    Candle, Derivative, EtpFlow, LiquidationZones, NewsSentiment,
    Snapshot, Flow, Ruleset, DecisionTrace, Decision,
    Order, Position, Trade, EquityPoint,
    LogRecord, Notification, ReconciliationEvent, RiskEvent, BotState, User, WebSession, AuditEntry,
    BacktestRun, DecisionBacktest, OrderBacktest, PositionBacktest, TradeBacktest, EquityPointBacktest,
]
# Bookkeeping tables beyond PRODUCT.md §13 (created by their own migrations).
INTERNAL_MODELS: list[type[BaseModel]] = [JournalApplied]
