"""Binance request signing and its verification, exactly as Binance documents SIGNED
endpoints: signature = HMAC-SHA256(secret, totalParams) in hex, where totalParams is the
query string concatenated with the request body (the `signature` parameter excluded);
the request carries X-MBX-APIKEY; the server accepts it when
timestamp < serverTime + 1000 and serverTime − timestamp <= recvWindow (default 5000,
at most 60000)."""

from __future__ import annotations

import hashlib
import hmac

from engine.exchange.errors import ExchangeError


class AuthError(ExchangeError):
    def __init__(self, code: int, msg: str, status: int = 400):
        self.status = status
        super().__init__(msg, code)


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _strip_signature(raw: str) -> tuple[str, str | None]:
    if not raw:
        return raw, None
    kept, sig = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            sig = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), sig


def check_api_key(api_key: str | None, keys: dict[str, str]) -> str:
    """USER_STREAM endpoints (listenKey): the API key only, no signature. Returns the secret."""
    if not api_key:
        raise AuthError(-2014, "API-key format invalid.", 401)
    secret = keys.get(api_key)
    if secret is None:
        raise AuthError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    return secret


def verify(raw_query: str, raw_body: str, params: dict[str, str], api_key: str | None,
           keys: dict[str, str], server_time_ms: int) -> None:
    """Raise AuthError with Binance's code and message when the request is not valid."""
    secret = check_api_key(api_key, keys)
    ts_raw = params.get("timestamp", "")
    if not ts_raw.isdigit():
        raise AuthError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    rw_raw = params.get("recvWindow", "5000")
    try:
        recv_window = int(rw_raw)
    except ValueError:
        raise AuthError(-1102, "Mandatory parameter 'recvWindow' was not sent, was empty/null, or malformed.") \
            from None
    if recv_window > 60000 or recv_window <= 0:
        raise AuthError(-1131, "recvWindow must be less than 60000")
    ts = int(ts_raw)
    if ts >= server_time_ms + 1000:
        raise AuthError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_time_ms - ts > recv_window:
        raise AuthError(-1021, "Timestamp for this request is outside of the recvWindow.")
    query, sig_q = _strip_signature(raw_query)
    body, sig_b = _strip_signature(raw_body)
    sig = sig_q or sig_b
    if not sig or not hmac.compare_digest(sign(secret, query + body), sig.lower()):
        raise AuthError(-1022, "Signature for this request is not valid.")
