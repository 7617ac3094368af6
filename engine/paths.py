"""Where things live.

Runtime state (SQLite file in var/, JSON snapshots and inputs in data/, logs in logs/)
lives under one home: the repository root by default, or SHOWDOWN_HOME. Configuration
and rules are part of the project, not runtime state, and are read from the project
directory (SHOWDOWN_CONFIG_DIR / SHOWDOWN_RULES_DIR override them, for tests and
packaged installs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
SHARED_DATA_DIR = PROJECT_DIR.parent / "shared" / "data"


@dataclass(frozen=True)
class Home:
    root: Path
    config_dir: Path
    rules_dir: Path

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def ensure(self) -> Home:
        for d in (self.var, self.data, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        return self


def home(env: Mapping[str, str] | None = None) -> Home:
    env = os.environ if env is None else env
    root = Path(env.get("SHOWDOWN_HOME") or PROJECT_DIR).resolve()
    config_dir = Path(env.get("SHOWDOWN_CONFIG_DIR") or PROJECT_DIR / "config").resolve()
    rules_dir = Path(env.get("SHOWDOWN_RULES_DIR") or PROJECT_DIR / "rules").resolve()
    return Home(root=root, config_dir=config_dir, rules_dir=rules_dir)


def shared_data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("SHOWDOWN_SHARED_DATA") or SHARED_DATA_DIR).resolve()
