"""Execution: decisions in, orders out. Pure core (core.step, reconcile.reconcile) over
plain data (model); the worker in connectors/loops/execution_worker.py does the I/O."""

from engine.execution.core import step
from engine.execution.model import ExecSettings, ExecState, View

__all__ = ["ExecSettings", "ExecState", "View", "step"]
