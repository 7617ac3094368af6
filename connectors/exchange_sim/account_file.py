"""A paper account on disk, so it survives a restart as a real one does: exchange-sim's
(and the in-process paper exchange's) balance, position, open orders, order history,
fills, funding and — for a replay — its market clock.

Written atomically (temp file + fsync + rename: a crash leaves the old file or the new,
never half of one) after every change of the account, and at most once a wall second
for the clock alone. One file per database (the caller names it), so a replay's account
never mixes with a live paper one. A file that cannot be read back is a loud error naming
it — never a silent fresh account, which would look like money appearing or vanishing."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.clock import Clock
from engine.exchange.sim.core import SimConfig, SimCore
from engine.exchange.sim.exchange import CandleFeed, SimExchange
from engine.exchange.sim.snapshot import SnapshotError, core_snapshot, restore_core
from engine.exchange.types import MarginType, Order, OrderRequest

CLOCK_SAVE_EVERY_S = 1.0


def _write_atomic(path: Path, text: str) -> None:
    """Temp file beside it + fsync + rename + fsync of the directory. (connectors/files
    has the same for the site's files; an adapter may not import it.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class AccountFileError(RuntimeError):
    """The stored paper account cannot be read: names the file and what is wrong."""


def read_account(path: Path) -> dict[str, Any] | None:
    """The stored account, or None when there is none yet."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AccountFileError(f"{path}: paper account unreadable ({exc}); refusing to start with a fresh "
                               "account — repair the file or move it away to start over") from None
    if not isinstance(data, dict):
        raise AccountFileError(f"{path}: paper account is not a JSON object; move it away to start over")
    return data


def restore_or_fail(path: Path, apply: Callable[[dict[str, Any]], None]) -> bool:
    """Apply the stored account (True) or leave a fresh one (False: no file)."""
    data = read_account(path)
    if data is None:
        return False
    try:
        apply(data)
    except (SnapshotError, KeyError, TypeError, ValueError) as exc:
        raise AccountFileError(f"{path}: {exc}; refusing to start with a fresh account — repair the file "
                               "or move it away to start over") from None
    return True


def change_mark(core: SimCore) -> tuple:
    """Cheap: changes whenever the account does (a fill, an order placed, triggered,
    cancelled or expired, funding, leverage, a balance change)."""
    led = core.ledger
    return (len(core.fills), len(core.orders), len(core.funding_events), len(core._resting),
            sum(1 for o in core.orders.values() if o.is_open), led.wallet, led.leverage, led.margin_type)


class AccountSaver:
    """Saves `snapshot()` to `path` when `mark()` changed, or when only `clock()` moved
    and a wall second passed since the last save."""

    def __init__(self, path: Path, snapshot: Callable[[], dict[str, Any]], mark: Callable[[], tuple],
                 clock: Callable[[], int]):
        self.path = Path(path)
        self._snapshot, self._mark, self._clock = snapshot, mark, clock
        self._saved_mark: tuple | None = None
        self._saved_clock: int | None = None
        self._saved_at = 0.0
        self.saves = 0

    def maybe_save(self, force: bool = False) -> bool:
        mark = self._mark()
        clock = self._clock()
        if not force and mark == self._saved_mark and (
                clock == self._saved_clock or time.monotonic() - self._saved_at < CLOCK_SAVE_EVERY_S):
            return False
        _write_atomic(self.path, json.dumps(self._snapshot(), separators=(",", ":")) + "\n")
        self._saved_mark, self._saved_clock, self._saved_at = mark, clock, time.monotonic()
        self.saves += 1
        return True


class KeptSimExchange(SimExchange):
    """The in-process paper exchange (paper mode on live prices) with its account on
    disk: resumed from `saved` (read_account of `path`), saved after every change."""

    def __init__(self, feed: CandleFeed, clock: Clock, config: SimConfig, path: Path,
                 saved: dict[str, Any] | None):
        super().__init__(feed, clock, config)
        if saved is not None:
            restore_or_fail(path, self._restore)
        self.saver = AccountSaver(path, self._snapshot, lambda: change_mark(self.core), lambda: self._fed)
        self.saver.maybe_save(force=True)

    def _snapshot(self) -> dict[str, Any]:
        return {"paper": 1, "fed_ms": self._fed, "core": core_snapshot(self.core)}

    def _restore(self, data: dict[str, Any]) -> None:
        if data.get("paper") != 1:
            raise SnapshotError("not an in-process paper account")
        restore_core(self.core, data["core"])
        self._fed = int(data["fed_ms"])

    def sync(self) -> None:
        super().sync()
        saver = getattr(self, "saver", None)  # None while __init__ feeds the first candles
        if saver is not None:
            saver.maybe_save()

    def place_order(self, request: OrderRequest) -> Order:
        try:
            return super().place_order(request)
        finally:
            self.saver.maybe_save()

    def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        try:
            return super().cancel_order(symbol, client_order_id)
        finally:
            self.saver.maybe_save()

    def cancel_all(self, symbol: str) -> None:
        super().cancel_all(symbol)
        self.saver.maybe_save()

    def set_leverage(self, symbol: str, leverage: int) -> None:
        super().set_leverage(symbol, leverage)
        self.saver.maybe_save()

    def set_margin_type(self, symbol: str, margin_type: MarginType) -> None:
        super().set_margin_type(symbol, margin_type)
        self.saver.maybe_save()


def paper_feed_start(saved: dict[str, Any] | None, default_ms: int) -> int:
    """Where the candle feed of a resumed paper account starts: right after the last
    candle it saw (a restart must not skip what the price did meanwhile), else default."""
    if saved is None or not isinstance(saved.get("fed_ms"), int) or saved["fed_ms"] < 0:
        return default_ms
    return min(default_ms, saved["fed_ms"] + 60_000)
