"""The exchange: one interface, a Binance implementation and a simulated one."""
