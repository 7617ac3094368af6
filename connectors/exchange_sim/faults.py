"""Fault injection for the simulator: seeded, so a run is reproducible.

Plan keys (all optional; set from config / CLI or POST /_sim/faults as JSON):
  error_rates: {"-1001": 0.02, "-1003": 0.01, "503": 0.01, ...} probability per request
  latency_ms: added to every /fapi answer
  timeout_rate: request dropped unanswered after `timeout_sleep_s`, NOT executed
  lost_response_rate: request executed, then the connection is closed unanswered
  rate_limit_next: the next N requests answer 429 / -1003 with Retry-After
  retry_after_s: the Retry-After of injected and real rate limits (default: to next minute)
  clock_skew_ms: added to the server clock (provokes -1021 until the client re-syncs)
  partial_fill_fraction: limit orders fill at most this fraction of candle volume
  seed: RNG seed
Faults never touch /_sim and never /fapi/v1/time (so clients can always re-sync).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# code -> (HTTP status, Binance message)
INJECTABLE: dict[int, tuple[int, str]] = {
    -1000: (500, "An unknown error occurred while processing the request."),
    -1001: (503, "Internal error; unable to process your request. Please try again."),
    -1003: (429, "Too many requests; current limit is 2400 requests per minute."),
    -1007: (503, "Timeout waiting for response from backend server. Send status unknown; "
                 "execution status unknown."),
    -1021: (400, "Timestamp for this request is outside of the recvWindow."),
    418: (418, "Way too many requests; IP banned until further notice."),
    502: (502, "Bad Gateway"),
    503: (503, "Service Unavailable."),
}


@dataclass
class FaultPlan:
    error_rates: dict[int, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    timeout_rate: float = 0.0
    timeout_sleep_s: float = 0.3
    lost_response_rate: float = 0.0
    rate_limit_next: int = 0
    retry_after_s: float | None = None
    clock_skew_ms: int = 0
    partial_fill_fraction: float | None = None
    seed: int = 1

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        for code in self.error_rates:
            if code not in INJECTABLE:
                raise ValueError(f"faults.error_rates: cannot inject {code}; choose from {sorted(INJECTABLE)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaultPlan:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"faults: unknown key(s) {sorted(unknown)}; allowed {sorted(known)}")
        d = dict(d)
        d["error_rates"] = {int(k): float(v) for k, v in (d.get("error_rates") or {}).items()}
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "error_rates": {str(k): v for k, v in self.error_rates.items()}}

    def draw(self) -> str | int | None:
        """What happens to the next request: None (normal), 'timeout', 'lost', 'ratelimit' or a code."""
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return "ratelimit"
        r = self.rng.random()
        acc = 0.0
        for kind, rate in (("timeout", self.timeout_rate), ("lost", self.lost_response_rate)):
            acc += rate
            if r < acc:
                return kind
        for code, rate in self.error_rates.items():
            acc += rate
            if r < acc:
                return code
        return None
