"""Storage on both backends: schema by migration, exact money, idempotent upserts,
unique keys, reconnect after the server drops the connection."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import peewee
import pytest

from connectors.db import database_proxy, describe, make_database
from connectors.db.candles import coverage, latest_candles, upsert_candles
from connectors.db.migrations import LATEST, current_version, upgrade
from connectors.db.models import (
    ALL_MODELS,
    BacktestRun,
    BotState,
    Candle,
    Decision,
    DecisionTrace,
    EquityPoint,
    Order,
    OrderBacktest,
    Position,
    Snapshot,
    Trade,
)

MARIADB = pytest.param("mariadb", marks=pytest.mark.mariadb)
SECTION_13_TABLES = {
    "candles", "derivatives", "etp_flows", "liquidation_zones_history", "news_sentiment_history",
    "snapshots", "flows", "decisions", "decision_traces", "rulesets", "orders", "trades",
    "positions", "equity_curve", "logs", "notifications", "reconciliation_events", "risk_events",
    "bot_state", "users", "web_sessions", "audit_log", "backtest_runs", "decisions_backtest", "orders_backtest",
    "trades_backtest", "positions_backtest", "equity_curve_backtest",
}
MONEY = [Decimal("0.0010"), Decimal("123456789012.123456789012345"), Decimal("-0.5"),
         Decimal("1E-12"), Decimal("0.1"), Decimal("67000.00")]


def test_migration_creates_every_table_and_is_idempotent(db: peewee.Database) -> None:
    tables = set(db.get_tables())
    assert tables >= SECTION_13_TABLES
    assert "schema_version" in tables
    assert current_version(db) == LATEST
    again = upgrade(db)
    assert again.applied == [] and again.before == again.after == LATEST
    assert {m._meta.table_name for m in ALL_MODELS} == SECTION_13_TABLES


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode(backend, db: peewee.Database) -> None:
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert str(backend.home.var) in describe(backend.config, backend.home)


@pytest.mark.parametrize("backend", [MARIADB], indirect=True)
def test_mariadb_uses_utf8mb4(backend, db: peewee.Database) -> None:
    Snapshot.create(as_of_ms=1, document={"comment": "₿ 🚀 ünïcode"})
    assert Snapshot.get().document["comment"] == "₿ 🚀 ünïcode"
    assert "***" not in describe(backend.config, backend.home)  # no password set, none shown


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_read_then_write_transaction_waits_for_another_writer(backend, db: peewee.Database) -> None:
    """The heartbeat upsert reads then writes in one transaction while the log thread writes
    through its own connection. A deferred BEGIN would fail the write at once ("database is
    locked": its read snapshot went stale); the write lock taken at BEGIN makes the other
    writer wait its turn instead."""
    import threading

    BotState.create(component="analytics", state="RUNNING", heartbeat_ms=1)
    other = make_database(backend.config, backend.home)
    other.connect()
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            BotState.insert(component="collector", state="RUNNING", heartbeat_ms=2).execute(other)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=other_writer)
    with database_proxy.atomic():
        row = BotState.get(BotState.component == "analytics")
        writer.start()
        writer.join(0.5)  # it cannot commit while our transaction holds the write lock
        assert writer.is_alive()
        BotState.update(state="IDLE", heartbeat_ms=3).where(BotState.id == row.id).execute()
    writer.join(10)
    other.close()
    assert not errors and not writer.is_alive()
    assert {b.component: b.state for b in BotState.select()} == {"analytics": "IDLE", "collector": "RUNNING"}


def test_money_round_trips_decimal_exactly(db: peewee.Database) -> None:
    for value in MONEY:
        o = Order.create(client_order_id=f"capi_entry_{MONEY.index(value)}", role="entry", side="BUY",
                         type="LIMIT", status="NEW", price=value, quantity=value, fee=value)
        p = Position.create(side="long", status="open", quantity=value, entry_price=value,
                            realized_pnl=value, opened_ms=1)
        t = Trade.create(side="long", quantity=value, entry_price=value, exit_price=value, pnl=value,
                         fees=value, opened_ms=1, closed_ms=2)
        e = EquityPoint.create(time_ms=1, equity=value, unrealized_pnl=value)
        got = [Order.get_by_id(o.id).price, Order.get_by_id(o.id).fee, Position.get_by_id(p.id).entry_price,
               Position.get_by_id(p.id).realized_pnl, Trade.get_by_id(t.id).pnl, Trade.get_by_id(t.id).fees,
               EquityPoint.get_by_id(e.id).equity]
        for g in got:
            assert isinstance(g, Decimal)
            assert g == value and str(g) == str(value), (g, value)


def test_money_refuses_floats_and_garbage(db: peewee.Database) -> None:
    with pytest.raises(TypeError, match="Order.price: money must be Decimal"):
        Order.create(client_order_id="x1", role="entry", side="BUY", type="LIMIT", status="NEW",
                     price=0.1, quantity=Decimal("1"))
    with pytest.raises(ValueError, match="Order.quantity: 'abc' is not a decimal"):
        Order.create(client_order_id="x2", role="entry", side="BUY", type="LIMIT", status="NEW",
                     quantity="abc")


def test_decision_links_and_json_documents(db: peewee.Database) -> None:
    snap = Snapshot.create(as_of_ms=1_700_000_000_000, document={"price": 67000.5, "nested": {"a": [1, 2]}})
    trace = DecisionTrace.create(trace={"fired": ["long_candidate"], "facts": {"x": None}})
    d = Decision.create(decided_at_ms=1_700_000_000_000, action="flat", snapshot=snap, trace=trace,
                        ruleset_version="ab" * 32, document={"action": "flat", "sl": None})
    got = Decision.get_by_id(d.id)
    assert got.snapshot.document["nested"] == {"a": [1, 2]}
    assert got.trace.trace["fired"] == ["long_candidate"]
    assert got.document == {"action": "flat", "sl": None}
    with pytest.raises(peewee.IntegrityError):  # foreign keys enforced on both backends
        Decision.create(decided_at_ms=1, action="flat", snapshot=999_999, document={})


def test_unique_keys(db: peewee.Database) -> None:
    Candle.create(timeframe="1m", open_time_ms=60_000, open=1, high=1, low=1, close=1, volume=0)
    with db.atomic(), pytest.raises(peewee.IntegrityError):
        Candle.create(timeframe="1m", open_time_ms=60_000, open=2, high=2, low=2, close=2, volume=0)
    Candle.create(timeframe="5m", open_time_ms=60_000 * 5, open=1, high=1, low=1, close=1, volume=0)
    Order.create(client_order_id="capi_entry_1", role="entry", side="BUY", type="LIMIT", status="NEW",
                 quantity=Decimal("0.001"))
    with db.atomic(), pytest.raises(peewee.IntegrityError):
        Order.create(client_order_id="capi_entry_1", role="entry", side="BUY", type="LIMIT",
                     status="NEW", quantity=Decimal("0.002"))
    # The same client order id may recur in another backtest run, not within one.
    r1 = BacktestRun.create(ruleset_version="v", period_start_ms=0, period_end_ms=1, initial_equity=Decimal(1))
    r2 = BacktestRun.create(ruleset_version="v", period_start_ms=0, period_end_ms=1, initial_equity=Decimal(1))
    for run in (r1, r2):
        OrderBacktest.create(run=run, client_order_id="capi_entry_1", role="entry", side="BUY",
                             type="LIMIT", status="NEW", quantity=Decimal("0.001"))
    with db.atomic(), pytest.raises(peewee.IntegrityError):
        OrderBacktest.create(run=r1, client_order_id="capi_entry_1", role="entry", side="BUY",
                             type="LIMIT", status="NEW", quantity=Decimal("0.001"))
    assert Candle.select().count() == 2 and Order.select().count() == 1


def _minutes(start: int, n: int, price: float = 100.0) -> list[dict]:
    return [{"open_time_ms": (start + i) * 60_000, "open": price, "high": price + 1, "low": price - 1,
             "close": price + 0.5, "volume": 1.5 + i} for i in range(n)]


def test_candle_upsert_is_idempotent_and_keeps_known_extras(db: peewee.Database) -> None:
    rows = _minutes(28_000_000, 10)
    rows[0]["taker_buy_volume"] = 0.7
    rows[0]["trade_count"] = 42
    assert upsert_candles(rows, symbol="BTCUSDT", timeframe="1m") == 10
    before = list(Candle.select().order_by(Candle.open_time_ms).tuples())
    # Same rows again, now without the extras: nothing changes, the known extras stay.
    bare = [{k: v for k, v in r.items() if k not in ("taker_buy_volume", "trade_count")} for r in rows]
    upsert_candles(bare, symbol="BTCUSDT", timeframe="1m")
    assert list(Candle.select().order_by(Candle.open_time_ms).tuples()) == before
    first = Candle.get(Candle.open_time_ms == rows[0]["open_time_ms"])
    assert first.taker_buy_volume == 0.7 and first.trade_count == 42 and first.quote_volume is None
    # A corrected row replaces the OHLCV.
    upsert_candles([{**rows[1], "close": 100.25}], symbol="BTCUSDT", timeframe="1m")
    assert Candle.get(Candle.open_time_ms == rows[1]["open_time_ms"]).close == 100.25
    assert Candle.select().count() == 10


def test_latest_candles_has_no_look_ahead(db: peewee.Database) -> None:
    start = 28_000_000
    upsert_candles(_minutes(start, 30), symbol="BTCUSDT", timeframe="1m")
    df = latest_candles("BTCUSDT", "1m", 5)
    assert list(df.index) == [(start + i) * 60_000 for i in range(25, 30)]
    assert list(df.columns) == ["open", "high", "low", "close", "volume", "quote_volume",
                                "trade_count", "taker_buy_volume"]
    assert df["quote_volume"].isna().all()
    # At 10:30:30 the 10:30 candle is still forming: the newest one available opened 10:29.
    now = (start + 20) * 60_000 + 30_000
    assert latest_candles("BTCUSDT", "1m", 3, before_ms=now).index[-1] == (start + 19) * 60_000
    assert latest_candles("BTCUSDT", "1m", 3, before_ms=(start + 20) * 60_000).index[-1] == (start + 19) * 60_000


def test_coverage_reports_gaps(db: peewee.Database) -> None:
    rows = _minutes(28_000_000, 10)
    del rows[3:6]
    upsert_candles(rows, symbol="BTCUSDT", timeframe="1m")
    cov = coverage("BTCUSDT")["1m"]
    assert (cov.count, cov.missing, len(cov.gaps)) == (7, 3, 1)
    assert cov.gaps[0].first_missing_ms == (28_000_000 + 3) * 60_000
    assert cov.gaps[0].last_missing_ms == (28_000_000 + 5) * 60_000


# SQLite has no server connection to lose.
@pytest.mark.parametrize("backend", [MARIADB], indirect=True)
def test_reconnects_after_the_server_drops_the_connection(backend, db: peewee.Database) -> None:
    Candle.create(timeframe="1m", open_time_ms=60_000, open=1, high=1, low=1, close=1, volume=0)
    conn_id = db.execute_sql("SELECT CONNECTION_ID()").fetchone()[0]
    killer = make_database(backend.config, backend.home)  # a second connection, proxy untouched
    killer.execute_sql(f"KILL {int(conn_id)}")
    killer.close()
    # The next query on the dropped connection reconnects and succeeds.
    assert database_proxy.obj is db
    assert Candle.select().count() == 1
    assert db.execute_sql("SELECT CONNECTION_ID()").fetchone()[0] != conn_id
    assert np.isfinite(Candle.get().close)
