"""Analytics: the snapshot and flow documents (README.md in this folder documents every formula)."""

from engine.analytics.batch import build_cycles, derive_timeframes
from engine.analytics.flow import build_flow, prepare_derivatives
from engine.analytics.snapshot import build_snapshot

__all__ = ["build_snapshot", "build_flow", "build_cycles", "derive_timeframes", "prepare_derivatives"]
