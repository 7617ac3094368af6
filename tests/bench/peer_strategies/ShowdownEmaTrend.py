"""A freqtrade strategy of our own (not from freqtrade-strategies) that the current fact
set can express without declared indicators: long while EMA(20) > EMA(50) on 5m, short
while below, entered only when flat, freqtrade's ROI table and a 10 % stop. Its YAML twin
is rules/examples/ema_trend_roi/. It calibrates the cross-check (tests/freqtrade_peer.py):
the fill model (entries and signal exits at the candle open, ROI targets stepping with the
trade's age, the stop) is compared here on hundreds of trades, independently of the ports.
Runs only inside freqtrade's virtualenv (tests/bench/freqtrade_driver.py)."""

import talib.abstract as ta
from freqtrade.strategy import IStrategy
from pandas import DataFrame


class ShowdownEmaTrend(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = True
    minimal_roi = {"60": 0.01, "30": 0.03, "20": 0.04, "0": 0.05}
    stoploss = -0.10
    use_exit_signal = False
    process_only_new_candles = True

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["ema20"] = ta.EMA(dataframe, timeperiod=20)
        dataframe["ema50"] = ta.EMA(dataframe, timeperiod=50)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["ema20"] > dataframe["ema50"], "enter_long"] = 1
        dataframe.loc[dataframe["ema20"] < dataframe["ema50"], "enter_short"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe
