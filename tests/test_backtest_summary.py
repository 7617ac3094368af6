"""`showdown backtest`'s summary line: every figure formatted by its meaning (engine/format.py)."""

from __future__ import annotations

from engine.backtest.present import compare_value, summary_line

METRICS = {"trades": 9, "net_profit": -132.05109152, "return_pct": -1.320511, "max_dd_pct": -1.700765,
           "sharpe": -3.685084, "win_rate": 33.3333}


def test_summary_line_reads_money_to_the_cent_and_percents_to_two_places():
    line = summary_line(1, "e9490c6fa00f76af00", 73436, METRICS)
    assert line == ("run 1: rules e9490c6fa00f, 73,436 minutes, 9 trades, net -132.05 USDT (-1.32 %), "
                    "max DD -1.70 %, Sharpe -3.69, win rate 33.33 %")


def test_summary_line_without_trades_shows_dashes_not_none():
    empty = {"trades": 0, "net_profit": 0.0, "return_pct": 0.0, "max_dd_pct": 0.0, "sharpe": None, "win_rate": None}
    line = summary_line(2, "ab" * 8, 60, empty)
    assert "None" not in line and line.endswith("Sharpe —, win rate —") and "net 0.00 USDT (0.00 %)" in line


def test_compare_values_by_meaning():
    assert compare_value("net_profit", 1234.5678) == "1,234.57"
    assert compare_value("return_pct", 12.345678) == "12.35 %"
    assert compare_value("sharpe", -3.685084) == "-3.69"
    assert compare_value("trades", 9) == "9"
    assert compare_value("profit_factor", "∞ (no losing trade)") == "∞ (no losing trade)"
