"""Watch the rules and config directories (watchfiles) and reload between cycles.

watchfiles groups a burst of file events (editor temp-file + rename, several writes)
into one batch: one reload per batch. The registry compares content hashes, so a batch
that changes nothing in the end changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import watchfiles

from engine.rules.registry import RulesRegistry


def _interesting(change: Any, path: str) -> bool:
    name = Path(path).name
    return name.endswith((".yaml", ".yml")) and not name.startswith((".", "#")) and not name.endswith("~")


class RulesWatcher:
    def __init__(self, registry: RulesRegistry, paths: Iterable[Path], debounce_ms: int = 150, step_ms: int = 20):
        self.registry = registry
        self.paths = [Path(p) for p in paths]
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.ready = threading.Event()

    def start(self) -> RulesWatcher:
        self._thread = threading.Thread(target=self._run, name="rules-watcher", daemon=True)
        self._thread.start()
        self.ready.wait(5)
        return self

    def _run(self) -> None:
        self.ready.set()
        for _changes in watchfiles.watch(*self.paths, watch_filter=_interesting, debounce=self.debounce_ms,
                                         step=self.step_ms, stop_event=self._stop, yield_on_timeout=False,
                                         raise_interrupt=False):
            self.batches += 1
            self.registry.reload("watch")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
