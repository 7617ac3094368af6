"""Notifications (PRODUCT.md §10), the pure part: message text and the aggregation policy.

Delivery — the database row, the Telegram sender thread — is connectors/notify/alerts.py.
"""

from engine.notify.message import (
    CONTEXT_KEYS,
    LEVELS,
    Alert,
    at_or_above,
    format_alert,
    format_digest,
    level_no,
    normalise_level,
    scrub,
    scrub_value,
)
from engine.notify.policy import Delivery, Settings, State, admit, drain, due, next_due_ms

__all__ = [
    "CONTEXT_KEYS", "LEVELS", "Alert", "Delivery", "Settings", "State", "admit", "at_or_above", "drain",
    "due", "format_alert", "format_digest", "level_no", "next_due_ms", "normalise_level", "scrub",
    "scrub_value",
]
