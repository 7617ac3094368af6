"""quantstats.stats, imported for what a backtest uses of it (Sharpe, Sortino, Calmar,
drawdown details) and nothing more (issue 16: `showdown backtest` CPU and peak memory).

Importing it the plain way costs ~0.6 s of CPU and ~50 MB of memory the ratios never use:
- the package's __init__ imports its plotting and reports (seaborn, matplotlib);
- stats.py takes `norm` and `linregress` from scipy.stats at import (all of scipy.stats:
  ~0.5 s, ~35 MB), used only by a few ratios we do not compute (probabilistic Sharpe,
  value at risk, greeks);
- its _compat imports yfinance (pandas readers, bs4, curl: ~0.25 s) to download benchmarks.
So the package is put in place as a bare namespace over its own directory (its modules
import each other as usual), and scipy.stats and yfinance are stand-in modules while it
imports: what it takes from them (`norm`, `linregress`, the `yf` module) imports the real
one on first use. The stand-ins leave sys.modules at once: any later `import scipy.stats`
gets the real module. Every QuantStats function still works, SciPy's and yfinance's too.
(importlib's LazyLoader does not do: the import system reads a module's __spec__ on every
`import`, which loads it.)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

# imported by quantstats.stats (norm, linregress) and quantstats._compat (yfinance) at import
DEFERRED = ("scipy.stats", "yfinance")


class Deferred:
    """`module.name`, imported on first use (a call or an attribute)."""

    __slots__ = ("_module", "_name")

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name

    def target(self) -> Any:
        return getattr(importlib.import_module(self._module), self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.target(), attr)

    def __repr__(self) -> str:
        return f"<deferred {self._module}.{self._name}>"


def _bare_package(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:
        pkg = types.ModuleType(name)
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__, pkg.__file__ = spec, spec.origin
        sys.modules[name] = pkg


class StandIn(types.ModuleType):
    """In sys.modules for `name` while quantstats.stats is imported: the names taken from it
    then are Deferred; once it is removed, every attribute is the real module's."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            return Deferred(self.__name__, attr)
        return getattr(importlib.import_module(self.__name__), attr)


def quantstats_stats() -> Any:
    """The quantstats.stats module (imported once per process)."""
    done = sys.modules.get("quantstats.stats")
    if done is not None:
        return done
    _bare_package("quantstats")
    placed = {name: StandIn(name) for name in DEFERRED if name not in sys.modules}
    sys.modules.update(placed)
    try:
        return importlib.import_module("quantstats.stats")
    finally:
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
