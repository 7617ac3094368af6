"""The execution worker's write-ahead journal: an append-only file of what the worker
learned (fills and order states, positions, trades, alerts), fsynced before anything
else happens, so a worker killed while the database is down loses none of it.

One JSON line per record: {"id", "kind", "data"}. The database is written from the
journal, in order; each record's id is stored with its rows in the same transaction
(table `journal_applied`), so a record replayed after a crash between the commit and
the truncation is skipped, never written twice. A torn last line (killed mid-write) is
ignored: its record was never acknowledged, and the caller had not acted on it yet.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

log = logging.getLogger("showdown.execution")


class Journal:
    def __init__(self, path: Path):
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._life = secrets.token_hex(4)  # ids of this process never meet a dead one's
        self._seq = 0
        self._records = self._read()

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        with self.path.open("rb") as f:
            for n, line in enumerate(f, start=1):
                try:
                    rec = json.loads(line)
                    if not isinstance(rec, dict) or not {"id", "kind", "data"} <= set(rec):
                        raise ValueError("not a journal record")
                    records.append(rec)
                except ValueError as exc:
                    log.error("journal %s line %d unreadable (%s): skipped", self.path, n, exc)
        return records

    def pending(self) -> list[dict[str, Any]]:
        """Records not yet known to be in the database, oldest first."""
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def append(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Durably add a record (written and fsynced before this returns)."""
        self._seq += 1
        rec = {"id": f"{self._life}-{self._seq}", "kind": kind, "data": data}
        line = (json.dumps(rec, separators=(",", ":"), default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._records.append(rec)
        return rec

    def drop_through(self, n: int) -> list[str]:
        """The first n records are in the database: rewrite the file without them
        (atomically: a kill leaves the old file or the new one). Returns their ids."""
        if n <= 0:
            return []
        done, rest = self._records[:n], self._records[n:]
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            for rec in rest:
                f.write((json.dumps(rec, separators=(",", ":"), default=str) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._records = rest
        return [r["id"] for r in done]
