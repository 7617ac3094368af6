"""The project's records, read and written through the database: execution state and
fills, backtest runs, human-input history, rulesets and decisions, analytics cycles,
collected candles and derivatives, account and market state.

May import connectors.market, .notify, .files and the adapters (.db, .binance); never
connectors.loops.
"""
