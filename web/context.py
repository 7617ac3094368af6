"""What every request shares: the active config, the home, the database."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from engine.config import Config, ConfigStore
from engine.paths import Home


@dataclass
class Showdown:
    config: Config
    home: Home
    config_store: ConfigStore | None = None
    db: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    status_cache: dict[str, Any] = field(default_factory=dict)
    status_lock: threading.Lock = field(default_factory=threading.Lock)

    def open_database(self) -> None:
        from connectors.db import open_database

        self.db = open_database(self.config, self.home)

    def connect(self) -> None:
        """Make sure this thread has a connection (peewee keeps one per thread)."""
        if self.db is not None:
            self.db.connect(reuse_if_open=True)

    def reload_config(self) -> tuple[bool, list[str]]:
        """Re-read the config files (after an edit); keep the old config when invalid."""
        if self.config_store is None:
            return True, []
        ok, problems = self.config_store.reload()
        if ok:
            with self._lock:
                self.config = self.config_store.active
        return ok, problems


def sd() -> Showdown:
    return current_app.extensions["showdown"]  # type: ignore[no-any-return]
