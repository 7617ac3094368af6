"""`showdown exchange-sim`: an offline Binance USD-M testnet on 127.0.0.1.

It answers the /fapi endpoints python-binance calls, with Binance's JSON shapes, error
bodies, signature / timestamp checks, weight headers and rate limits, over the pure
simulated core (engine.exchange.sim). Prices come from replaying a klines file.
Control endpoints live under /_sim, apart from /fapi."""
