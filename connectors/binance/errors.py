"""Binance answers → typed exchange errors (engine.exchange.errors)."""

from __future__ import annotations

import requests
from binance.exceptions import BinanceAPIException, BinanceRequestException

from engine.exchange import errors as E  # noqa: N812

# Binance error code -> typed error class
BY_CODE: dict[int, type[E.ExchangeError]] = {
    -1000: E.TransientError,  # UNKNOWN
    -1001: E.TransientError,  # DISCONNECTED: internal error
    -1003: E.RateLimited,
    -1006: E.ResponseLost,  # unexpected response: execution status unknown
    -1007: E.ResponseLost,  # timeout: execution status unknown
    -1008: E.TransientError,  # server overloaded
    -1021: E.TimestampOutOfSync,
    -1022: E.FatalExchangeError,  # signature
    -2014: E.FatalExchangeError,
    -2015: E.FatalExchangeError,
    -2011: E.UnknownOrder,  # cancel rejected: unknown order
    -2013: E.UnknownOrder,  # order does not exist
    -2019: E.InsufficientMargin,
    -2021: E.WouldImmediatelyTrigger,
    -2022: E.ReduceOnlyRejected,
    -4015: E.InvalidClientOrderId,  # client order id not valid (length / characters)
    -4116: E.DuplicateClientOrderId,  # client order id duplicated
    -4164: E.MinNotional,
}


def _retry_after(resp: requests.Response | None, default: float) -> float:
    if resp is None:
        return default
    try:
        return float(resp.headers.get("Retry-After", default))
    except (TypeError, ValueError):
        return default


def translate(exc: Exception, where: str) -> E.ExchangeError:
    """Map an exception raised by python-binance / requests to a typed error."""
    if isinstance(exc, E.ExchangeError):
        return exc
    if isinstance(exc, BinanceAPIException):
        status = exc.status_code
        code = exc.code
        msg = exc.message or ""
        resp = getattr(exc, "response", None)
        if status in (429, 418) or code == -1003:
            return E.RateLimited(msg or "rate limited", _retry_after(resp, 60.0 if status == 418 else 1.0),
                                 code or status, where)
        if status >= 500:
            # 5xx: Binance says the execution status is UNKNOWN — it may have happened.
            return E.ResponseLost(msg or f"HTTP {status}", code or status, where)
        cls = BY_CODE.get(code) if code else None
        if cls is not None:
            return cls(msg, code, where)
        if code is not None and code <= -2000:  # -2xxx / -4xxx / -5xxx: order-level refusals
            return E.OrderRejected(msg, code, where)
        return E.FatalExchangeError(msg or f"HTTP {status}", code or status, where)
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return E.ResponseLost(f"no answer ({type(exc).__name__})", None, where)
    if isinstance(exc, BinanceRequestException):
        return E.TransientError(f"malformed answer: {exc.message[:200]}", None, where)
    return E.FatalExchangeError(f"{type(exc).__name__}: {exc}", None, where)
