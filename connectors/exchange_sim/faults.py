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
  refusals: {"POST /fapi/v1/algoOrder": {"-2021": 0.05, "-4130": 0.02}, ...}: an order
      request refused (nothing executed) with that code and Binance's message, with that
      probability, where the code can apply (-2022 reduce-only orders, -2021 conditional
      orders, -4130 close-position stops)
  refuse_next: [{"endpoint": "POST /fapi/v1/algoOrder", "code": -4130}, ...]: the next
      matching requests are refused, one entry each, in order
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

# Order refusals (HTTP 400), Binance's messages (error-code page of the USDⓈ-M docs)
REFUSABLE: dict[int, str] = {
    -1111: "Precision is over the maximum defined for this asset.",
    -2019: "Margin is insufficient.",
    -2021: "Order would immediately trigger.",
    -2022: "ReduceOnly Order is rejected.",
    -4014: "Price not increased by tick size.",
    -4016: "Price is higher than mark price multiplier cap.",
    -4024: "Price is lower than mark price multiplier floor.",
    -4130: "An open stop or take profit order with GTE and closePosition in the direction is existing.",
    -4164: "Order's notional must be no smaller than 100 (unless you choose reduce only).",
}
ORDER_ENDPOINTS = ("POST /fapi/v1/order", "POST /fapi/v1/algoOrder")


def applies(code: int, params: dict[str, str], stop_exists: bool = False) -> bool:
    """Whether Binance could answer `code` to this order request (`stop_exists`: a
    close-position stop of that side and type is open, the condition of -4130)."""
    if code == -2022:
        return params.get("reduceOnly", "").lower() == "true"
    if code == -2021:
        return bool(params.get("triggerPrice"))
    if code == -4130:
        return params.get("closePosition", "").lower() == "true" and stop_exists
    return True


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
    refusals: dict[str, dict[int, float]] = field(default_factory=dict)
    refuse_next: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 1

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        for code in self.error_rates:
            if code not in INJECTABLE:
                raise ValueError(f"faults.error_rates: cannot inject {code}; choose from {sorted(INJECTABLE)}")
        for where, codes in self.refusals.items():
            if where not in ORDER_ENDPOINTS:
                raise ValueError(f"faults.refusals: {where!r} is not an order endpoint {ORDER_ENDPOINTS}")
            for code in codes:
                if code not in REFUSABLE:
                    raise ValueError(f"faults.refusals: cannot refuse with {code}; choose from {sorted(REFUSABLE)}")
        for r in self.refuse_next:
            if r.get("endpoint") not in ORDER_ENDPOINTS or int(r.get("code", 0)) not in REFUSABLE:
                raise ValueError(f"faults.refuse_next: {r!r} needs an endpoint of {ORDER_ENDPOINTS} and a code "
                                 f"of {sorted(REFUSABLE)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaultPlan:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"faults: unknown key(s) {sorted(unknown)}; allowed {sorted(known)}")
        d = dict(d)
        d["error_rates"] = {int(k): float(v) for k, v in (d.get("error_rates") or {}).items()}
        d["refusals"] = {w: {int(k): float(v) for k, v in c.items()} for w, c in (d.get("refusals") or {}).items()}
        d["refuse_next"] = [dict(r) for r in d.get("refuse_next") or []]
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "error_rates": {str(k): v for k, v in self.error_rates.items()},
            "refusals": {w: {str(k): v for k, v in c.items()} for w, c in self.refusals.items()}}

    def refusal(self, endpoint: str, params: dict[str, str], stop_exists: bool = False) -> int | None:
        """The code an order request is refused with, or None. `refuse_next` entries are
        forced (tests): -4130 there applies to any close-position stop."""
        for i, r in enumerate(self.refuse_next):
            if r["endpoint"] == endpoint and applies(int(r["code"]), params, True):
                del self.refuse_next[i]
                return int(r["code"])
        for code, rate in self.refusals.get(endpoint, {}).items():
            if applies(code, params, stop_exists) and self.rng.random() < rate:
                return code
        return None

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
