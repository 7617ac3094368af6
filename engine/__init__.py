"""Showdown's core: pure analytics, rules, risk, execution state machine and simulations."""
