"""Binance USD-M futures behind the Exchange interface, on python-binance's Client.futures_*."""

from connectors.binance.exchange import BinanceExchange

__all__ = ["BinanceExchange"]
