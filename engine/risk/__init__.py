"""Risk: position sizing and the hard limits around it."""
