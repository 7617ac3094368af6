"""Simulated exchange: a pure, deterministic core (no I/O, no wall clock) that matches
our resting orders against a price stream. Time only moves when events bring it."""

from engine.exchange.sim.core import SimConfig, SimCore

__all__ = ["SimConfig", "SimCore"]
