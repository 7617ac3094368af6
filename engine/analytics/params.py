"""Read analytics settings from the effective config (a Config or its plain dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TF_MS: dict[str, int] = {"tf_1m": 60_000, "tf_5m": 300_000, "tf_15m": 900_000, "tf_1h": 3_600_000}
DAY_MS = 86_400_000


def plain(config: Any) -> Mapping[str, Any]:
    """The config as nested dicts, whether given a engine.config.Config or a dict."""
    values = getattr(config, "values", config)
    if not isinstance(values, Mapping):
        raise TypeError(f"config: expected a mapping or engine.config.Config, got {type(config).__name__}")
    return values


def section(config: Any, name: str) -> Mapping[str, Any]:
    values = plain(config)
    if name not in values:
        raise KeyError(f"config: section {name!r} missing (see config/config.yaml)")
    return values[name]


def tf_key(name: str) -> str:
    """Accept "5m" or "tf_5m"; return "tf_5m"."""
    key = name if name.startswith("tf_") else f"tf_{name}"
    if key not in TF_MS:
        raise KeyError(f"unknown timeframe {name!r} (known: {', '.join(TF_MS)})")
    return key


def anchor_ms(t_ms: int, tf: str, analytics: Mapping[str, Any]) -> int:
    """Start of the UTC day `anchor_days[tf]` days before T's day: indicators start here."""
    return (t_ms // DAY_MS - int(analytics["anchor_days"][tf])) * DAY_MS
