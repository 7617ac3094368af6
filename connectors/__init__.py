"""The outside world: Binance, the database, Telegram, input files."""
