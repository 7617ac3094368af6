"""A freqtrade strategy of our own (not from freqtrade-strategies) written on a fact the
product always had (the 5m EMA 20/50 spread): long while EMA(20) > EMA(50) on 5m, never a
second trade, a short ROI table and a 1 % stop. Its YAML twin is rules/examples/ema_trend_roi/.
It calibrates the cross-check (tests/freqtrade_peer.py): entries at the candle open, ROI
targets stepping with the trade's age and the stop are compared on hundreds of short
trades, independently of the ports. Long only: freqtrade's same-candle reversal (a
look-ahead ours cannot copy) would shift every trade after it and blunt the comparison.
Runs only inside freqtrade's virtualenv (tests/bench/freqtrade_driver.py)."""

import talib.abstract as ta
from freqtrade.strategy import IStrategy
from pandas import DataFrame


class ShowdownEmaTrend(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False
    minimal_roi = {"40": 0.003, "20": 0.006, "0": 0.01}
    stoploss = -0.01
    use_exit_signal = False
    process_only_new_candles = True

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["ema20"] = ta.EMA(dataframe, timeperiod=20)
        dataframe["ema50"] = ta.EMA(dataframe, timeperiod=50)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["ema20"] > dataframe["ema50"], "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe
