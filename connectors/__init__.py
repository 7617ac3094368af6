"""The outside world and the loops that drive the pure core (engine/), grouped by role.

Arrows run one way, top to bottom; a lower group never imports a higher one
(tests/test_layout.py checks it):

    loops/      long-running processes: analysis, execution worker, collector, supervisor,
                rules watcher, backtest runner
    stores/     the project's records read and written through the database
    market/ notify/ files/
                market data from files and clocks; notifications and logs; JSON, rule and
                report files
    binance/ db/ exchange_sim/
                adapters: Binance's REST API, the database (peewee), the simulated Binance
"""
