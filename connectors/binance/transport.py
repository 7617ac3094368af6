"""Calling python-binance with time sync, weight tracking and retries.

- Signed calls carry timestamp = local clock + offset; the offset is measured from
  /fapi/v1/time. On -1021 we re-sync and retry once.
- Retries with exponential backoff ONLY for transient errors (5xx, -1001, network);
  a rate limit waits its Retry-After; everything else is raised at once.
- Order placement is not blindly retried when the answer was lost: the caller
  (BinanceExchange.place_order) looks the order up by client order id first.
- Never logs parameters that could hold keys; python-binance keeps keys in headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from binance.client import Client

from connectors.binance.errors import translate
from connectors.binance.weights import WeightGovernor
from engine.exchange.errors import (
    RateLimited,
    ResponseLost,
    TimestampOutOfSync,
    TransientError,
)

log = logging.getLogger("showdown.binance")


@dataclass
class Transport:
    client: Client
    governor: WeightGovernor
    max_retries: int = 4
    backoff_s: float = 0.2
    backoff_max_s: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    synced: bool = False
    stats: dict[str, int] = field(default_factory=lambda: {"calls": 0, "retries": 0, "resyncs": 0,
                                                           "rate_limited": 0})

    def sync_time(self) -> int:
        """Measure the server-clock offset (ms) from /fapi/v1/time; returns it."""
        before = time.time() * 1000
        server = self._raw("futures_time", 1)["serverTime"]
        after = time.time() * 1000
        offset = int(server - (before + after) / 2)
        self.client.timestamp_offset = offset
        self.synced = True
        return offset

    def _raw(self, method: str, weight: int, **params: Any) -> Any:
        self.governor.before(weight)
        self.stats["calls"] += 1
        try:
            return getattr(self.client, method)(**params)
        finally:
            resp = self.client.response
            if resp is not None:
                self.governor.observe(resp.headers.get("X-MBX-USED-WEIGHT-1M"))
            self.client.response = None

    def call(self, method: str, weight: int = 1, signed: bool = False, retry_lost: bool = True,
             **params: Any) -> Any:
        """One API call with the retry policy above. `retry_lost=False` raises ResponseLost
        instead of retrying (for non-idempotent calls the caller reconciles first)."""
        if signed and not self.synced:
            self.sync_time()
        resynced = False
        attempt = 0
        while True:
            try:
                return self._raw(method, weight, **dict(params))
            except Exception as raw:  # noqa: BLE001 - translated below
                exc = translate(raw, method)
            if isinstance(exc, TimestampOutOfSync) and not resynced:
                resynced = True
                self.stats["resyncs"] += 1
                before = getattr(self.client, "timestamp_offset", 0)
                log.warning("%s: re-syncing the clock with the server", exc)  # exc names the call and -1021
                offset = self.sync_time()
                log.warning("clock re-synced: offset %+d ms (was %+d ms)", offset, before or 0)
                continue
            if isinstance(exc, RateLimited):
                self.stats["rate_limited"] += 1
                self.governor.back_off(exc.retry_after)
                log.warning("%s: rate limited, waiting %.1f s (Retry-After)", method, exc.retry_after)
            elif (isinstance(exc, ResponseLost) and not retry_lost) or not isinstance(exc, TransientError):
                raise exc
            attempt += 1
            if attempt > self.max_retries:
                raise exc
            self.stats["retries"] += 1
            if not isinstance(exc, RateLimited):
                delay = min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s)
                log.warning("%s: %s; retry %d in %.2f s", method, exc, attempt, delay)
                self.sleep(delay)
