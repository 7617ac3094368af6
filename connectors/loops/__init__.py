"""The long-running processes and what drives them: the analysis loop (facts -> rules ->
decision every cycle), the execution worker (decision -> protected orders, reconciliation),
the collector (market data into the database), the supervisor of `showdown run`, the rules
watcher (hot reload) and the backtest runner.

May import everything below it: connectors.stores, .market, .notify, .files and the
adapters (.binance, .db, .exchange_sim), and engine. Nothing in connectors imports a loop.
"""
