"""Notifications and logs: the alert outbox (database row first, Telegram sender thread)
and the JSON-lines log with its database table.

May import connectors.files and the adapters (.db); never market, stores or loops.
"""
