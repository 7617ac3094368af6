"""Trading session and restricted hours by UTC hour (config `sessions`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def session_at(hour: int, sessions: Mapping[str, Any]) -> tuple[str, bool]:
    """(ASIA|EU|US, restricted) for a UTC hour 0..23.

    Each session runs from its start hour to the next one's start (wrapping at
    midnight); a restricted range [start, end) may wrap too (e.g. [22, 2]).
    """
    starts = sorted([
        (int(sessions["asia_start_utc"]) % 24, "ASIA"),
        (int(sessions["eu_start_utc"]) % 24, "EU"),
        (int(sessions["us_start_utc"]) % 24, "US"),
    ])
    current = starts[-1][1]  # before the first start of the day: the last session still runs
    for start, name in starts:
        if hour >= start:
            current = name
    restricted = False
    for start, end in sessions.get("restricted_hours_utc", []) or []:
        s, e = int(start) % 24, int(end) % 24 if int(end) != 24 else 24
        if (s <= e and s <= hour < e) or (s > e and (hour >= s or hour < e)):
            restricted = True
    return current, restricted
