"""Run freqtrade's backtester offline on our candles: the peer side of bench_freqtrade.py.

Runs INSIDE freqtrade's own virtualenv (never the product's): `python freqtrade_driver.py
JOB.json` where JOB names the 1m candle file, the strategy class and its directory (the
GPL originals are read from ../shared/peers/freqtrade-strategies, never copied), the
timeframe, the period and the output file. It prints nothing we parse; the trades go to
the output JSON (side, open/close time in ms and rate, exit reason).

Offline, as freqtrade's own test suite does it: the exchange object is given the
BTC/USDT:USDT perpetual market (the shape ccxt builds from Binance's exchangeInfo) in
place of loading markets over the network; leverage tiers come from the file freqtrade
ships for dry runs. Data in freqtrade's layout (json): the strategy's timeframe resampled
from the 1m file the way Binance aggregates (open first, high max, low min, close last,
volume sum, labelled by the open), and 1h `mark` (= trade price candles: our simulator
marks at the last price) and `funding_rate` (0: funding changes P&L, never the trades we
compare) beside them. --fee 0 (our side runs without fees too).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd

PAIR = "BTC/USDT:USDT"

MARKET: dict[str, Any] = {
    "id": "BTCUSDT", "lowercaseId": "btcusdt", "symbol": PAIR, "base": "BTC", "quote": "USDT", "settle": "USDT",
    "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap", "spot": False, "margin": False,
    "swap": True, "future": False, "option": False, "index": None, "active": True, "contract": True, "linear": True,
    "inverse": False, "subType": "linear", "taker": 0.0005, "maker": 0.0002, "contractSize": 1.0, "expiry": None,
    "expiryDatetime": None, "strike": None, "optionType": None, "created": 1569398400000,
    "precision": {"amount": 0.001, "price": 0.1, "base": 1e-08, "quote": 1e-08},
    "limits": {"leverage": {"min": 1.0, "max": 125.0}, "amount": {"min": 0.001, "max": 1000.0},
               "price": {"min": 556.8, "max": 4529764.0}, "cost": {"min": 100.0, "max": None},
               "market": {"min": 0.001, "max": 120.0}},
    "marginModes": {"cross": True, "isolated": True}, "tierBased": False, "percentage": True, "feeSide": "get",
    "info": {"symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL", "status": "TRADING",
             "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": "2",
             "quantityPrecision": "3", "underlyingType": "COIN", "settlePlan": "0", "triggerProtect": "0.0500",
             "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.10", "minPrice": "556.80",
                          "maxPrice": "4529764"},
                         {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001", "maxQty": "1000"},
                         {"filterType": "MIN_NOTIONAL", "notional": "100"}]},
}


def resample(df1m: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    rule = {"5m": "5min", "15m": "15min", "1h": "1h", "4h": "4h"}[timeframe]
    d = df1m.copy()
    d.index = pd.to_datetime(d["open_time_ms"], unit="ms", utc=True)
    out = d.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}).dropna()
    out.index.name = "date"
    return out.reset_index()


def write_data(datadir: Path, df1m: pd.DataFrame, timeframe: str) -> None:
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType
    handler = get_datahandler(datadir, "json")
    candles = resample(df1m, timeframe)
    handler.ohlcv_store(PAIR, timeframe, candles, CandleType.FUTURES)
    hourly = resample(df1m, "1h")
    handler.ohlcv_store(PAIR, "1h", hourly, CandleType.MARK)
    funding = pd.DataFrame({"date": hourly["date"], "funding_rate": 0.0})
    handler.ohlcv_store(PAIR, "1h", funding, CandleType.FUNDING_RATE)


def _offline_markets(self: Any, reload: bool = False) -> None:
    self._api_async.set_markets({PAIR: dict(MARKET)})


def run(job: dict[str, Any]) -> dict[str, Any]:
    from freqtrade.commands.optimize_commands import setup_optimize_configuration
    from freqtrade.enums import RunMode
    from freqtrade.exchange.exchange import Exchange
    from freqtrade.optimize.backtesting import Backtesting

    df1m = pd.read_csv(job["candles"])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        datadir = root / "data"
        (datadir / "futures").mkdir(parents=True)
        write_data(datadir, df1m, job["timeframe"])
        config = {
            "trading_mode": "futures", "margin_mode": "isolated", "stake_currency": "USDT",
            "stake_amount": job.get("stake_amount", 1000), "dry_run": True, "dry_run_wallet": job.get("wallet", 100000),
            "max_open_trades": 1, "timeframe": job["timeframe"], "fee": 0.0, "dataformat_ohlcv": "json",
            "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": [PAIR],
                         "ccxt_config": {}, "ccxt_async_config": {}},
            "pairlists": [{"method": "StaticPairList"}],
            "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
            "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
            "unfilledtimeout": {"entry": 10, "exit": 10}, "bot_name": "showdown-peer",
        }
        if job.get("startup_candle_count") is not None:   # warm up from the file's first candle, as ours
            config["startup_candle_count"] = int(job["startup_candle_count"])
        cfg_file = root / "config.json"
        cfg_file.write_text(json.dumps(config))
        args = {"config": [str(cfg_file)], "strategy": job["strategy"], "strategy_path": job["strategy_path"],
                "datadir": str(datadir), "user_data_dir": str(root / "user_data"), "timerange": job["timerange"],
                "export": "none", "fee": 0.0, "timeframe": job["timeframe"], "cache": "none"}
        (root / "user_data").mkdir()
        with mock.patch.object(Exchange, "_load_async_markets", _offline_markets):
            cfg = setup_optimize_configuration(args, RunMode.BACKTEST)
            bt = Backtesting(cfg)
            bt.start()
        res = bt.results["strategy"][job["strategy"]]
    trades = [{"side": "short" if t["is_short"] else "long",
               "open_ms": int(pd.Timestamp(t["open_date"]).timestamp() * 1000),
               "close_ms": int(pd.Timestamp(t["close_date"]).timestamp() * 1000),
               "open_rate": float(t["open_rate"]), "close_rate": float(t["close_rate"]),
               "exit_reason": t["exit_reason"], "amount": float(t["amount"])} for t in res["trades"]]
    return {"strategy": job["strategy"], "timeframe": job["timeframe"], "trades": trades}


if __name__ == "__main__":
    job = json.loads(Path(sys.argv[1]).read_text())
    out = run(job)
    Path(job["out"]).write_text(json.dumps(out))
