"""Retention on both backends: old candles, derivatives, log rows and notifications go;
decisions, trades and inputs stay; a dry run only counts; the CLI applies the config."""

from __future__ import annotations

from decimal import Decimal

from click.testing import CliRunner

from cli.main import showdown
from connectors.db.models import Candle, Decision, Derivative, LogRecord, Notification, Trade
from connectors.db.retention import DAY_MS, prune

NOW = 1_765_065_600_000  # 2025-12-07T00:00Z
KEEP = {"candles_1m_days": 365, "candles_days": 730, "derivatives_days": 730, "logs_days": 90,
        "notifications_days": 365}


def _seed() -> None:
    for tf, ages in (("1m", (10, 364, 366, 700)), ("1h", (10, 366, 729, 731))):
        Candle.insert_many([{"symbol": "BTCUSDT", "timeframe": tf, "open_time_ms": NOW - age * DAY_MS, "open": 1,
                             "high": 1, "low": 1, "close": 1, "volume": 1} for age in ages]).execute()
    Candle.create(symbol="ETHUSDT", timeframe="1m", open_time_ms=NOW - 900 * DAY_MS, open=1, high=1, low=1,
                  close=1, volume=1)  # another symbol's: not this prune's business
    Derivative.insert_many([{"symbol": "BTCUSDT", "kind": "funding_rate", "time_ms": NOW - age * DAY_MS,
                             "value": 0.0001} for age in (1, 729, 731)]).execute()
    LogRecord.insert_many([{"created_ms": NOW - age * DAY_MS, "level": "INFO", "component": "x", "logger": "x",
                            "message": "m"} for age in (1, 89, 91)]).execute()
    Notification.create(level="INFO", source="x", code="y", message="m", created_ms=NOW - 400 * DAY_MS)
    Decision.create(symbol="BTCUSDT", decided_at_ms=NOW - 1000 * DAY_MS, action="flat", reason="old",
                    document={"action": "flat"})
    Trade.create(side="long", quantity=Decimal("0.01"), entry_price=Decimal("1"), exit_price=Decimal("2"),
                 pnl=Decimal("0.01"), opened_ms=NOW - 1000 * DAY_MS, closed_ms=NOW - 999 * DAY_MS)


def test_prune_removes_only_what_retention_lets_go(db) -> None:
    _seed()
    expected = {"candles 1m": 2, "candles 5m-1d": 1, "derivatives": 1, "logs": 1, "notifications": 1}
    assert prune(NOW, KEEP, dry_run=True) == expected
    assert Candle.select().count() == 9  # the dry run deleted nothing
    assert prune(NOW, KEEP) == expected
    assert sorted((c.timeframe, (NOW - c.open_time_ms) // DAY_MS) for c in Candle.select().where(
        Candle.symbol == "BTCUSDT")) == [("1h", 10), ("1h", 366), ("1h", 729), ("1m", 10), ("1m", 364)]
    assert Candle.select().where(Candle.symbol == "ETHUSDT").count() == 1
    assert Derivative.select().count() == 2 and LogRecord.select().count() == 2 and Notification.select().count() == 0
    assert Decision.select().count() == 1 and Trade.select().count() == 1  # kept for good
    assert prune(NOW, KEEP) == dict.fromkeys(expected, 0)  # nothing left to do


def test_cli_prune_applies_the_configured_retention(db, backend) -> None:
    _seed()
    env = {**backend.env, "SHOWDOWN_HOME": str(backend.home.root), "SHOWDOWN__RETENTION__LOGS_DAYS": "1"}
    out = CliRunner().invoke(showdown, ["db", "prune", "--dry-run"], env=env)
    assert out.exit_code == 0, out.output
    assert "would remove" in out.output and "logs" in out.output
    assert LogRecord.select().count() == 3
    out = CliRunner().invoke(showdown, ["db", "prune"], env=env)
    assert out.exit_code == 0 and "removed" in out.output, out.output
    assert LogRecord.select().count() == 0  # every seeded log row is older than a day of the wall clock
