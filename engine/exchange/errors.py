"""Typed exchange errors. Callers decide by type, never by parsing messages.

`code` keeps Binance's numeric code (or the HTTP status when there is no code) so logs
stay comparable with Binance's documentation. Messages never contain keys or secrets.
"""

from __future__ import annotations


class ExchangeError(Exception):
    """Base of every exchange error."""

    transient = False

    def __init__(self, msg: str, code: int | None = None, where: str = ""):
        self.code = code
        self.msg = msg
        self.where = where
        prefix = f"{where}: " if where else ""
        suffix = f" (code {code})" if code is not None else ""
        super().__init__(f"{prefix}{msg}{suffix}")


class TransientError(ExchangeError):
    """Network blip, timeout, 5xx, 'unknown error' — safe to retry with backoff."""

    transient = True


class RateLimited(TransientError):
    """-1003 / HTTP 429 / HTTP 418 (IP ban). Wait `retry_after` seconds before the next call."""

    def __init__(self, msg: str, retry_after: float, code: int | None = -1003, where: str = ""):
        self.retry_after = retry_after
        super().__init__(msg, code, where)


class TimestampOutOfSync(TransientError):
    """-1021: our timestamp is outside recvWindow of the server's clock; re-sync and retry."""


class ResponseLost(TransientError):
    """The request may have been executed but no answer arrived (timeout, dropped
    connection). For orders: look the order up by client order id before retrying."""


class OrderRejected(ExchangeError):
    """The exchange refused this order; retrying the same order will not help."""


class InsufficientMargin(OrderRejected):
    """-2019: margin is insufficient."""


class WouldImmediatelyTrigger(OrderRejected):
    """-2021: a stop / take-profit price that would trigger at once."""


class ReduceOnlyRejected(OrderRejected):
    """-2022: a reduce-only order that would open or increase a position."""


class MinNotional(OrderRejected):
    """-4164 (or caught locally before sending): order notional below the minimum."""


class DuplicateClientOrderId(OrderRejected):
    """-4116 'ClientOrderId is duplicated': an open order already carries this client
    order id. No second order was created."""


class InvalidClientOrderId(OrderRejected):
    """-4015 'Client order id is not valid' (over 36 characters or outside Binance's
    characters): our id is malformed. Nothing was created and nothing matches it."""


class AccountModeRefused(ExchangeError):
    """The account is not in the mode the worker trades (one-way, positions BOTH) and
    cannot be put in it: a human must look before anything is traded."""


class UnknownOrder(ExchangeError):
    """-2011 (cancel rejected) / -2013 (order does not exist)."""


class FatalExchangeError(ExchangeError):
    """Bad keys, bad signature, bad parameters, permissions: a human must look."""
