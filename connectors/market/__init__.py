"""Market data from files and clocks: kline and funding files (Binance dumps included),
their import into the database, the exchange's clock, the paper feed of a replay.

May import connectors.notify, .files and the adapters (.binance, .db); never stores or loops.
"""
