"""`showdown run` offline: replays the recorded data through exchange-sim, says so loudly
on the console and in the database (for the dashboard), and stops cleanly and in order on
a Ctrl-C at the terminal (SIGINT to the whole foreground process group)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.run_cmd import REPLAY_KLINES, REPLAY_START_MS
from engine.paths import PROJECT_DIR, shared_data_dir
from tests.free_ports import free_port_pair


@pytest.mark.slow
def test_run_replays_loudly_and_stops_cleanly(tmp_path: Path) -> None:
    if not (shared_data_dir() / REPLAY_KLINES).exists():
        pytest.skip(f"needs {shared_data_dir() / REPLAY_KLINES} (../shared/data absent)")
    port = free_port_pair()   # and port + 1, the user-data stream's
    env = {**os.environ, "SHOWDOWN_HOME": str(tmp_path), "PYTHONPATH": str(PROJECT_DIR),
           "SHOWDOWN__EXCHANGE_SIM__PORT": str(port)}
    for name in ("DB_HOST", "BINANCE_BASE_URL"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "--source", "replay", "--no-web",
                             "--speed", "120"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own group, as a shell job in a terminal
    db = tmp_path / "var" / "replay-showdown.sqlite"
    deadline = time.monotonic() + 120
    latest = 0
    try:
        while time.monotonic() < deadline:
            if db.exists():
                with sqlite3.connect(db) as con:
                    try:
                        latest = con.execute("select max(open_time_ms) from candles where timeframe='1m'"
                                             ).fetchone()[0] or 0
                    except sqlite3.OperationalError:
                        latest = 0
                if latest > REPLAY_START_MS + 2 * 60_000:  # the replay moved past its start
                    break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        out, _ = proc.communicate(timeout=60)
    assert latest > REPLAY_START_MS + 2 * 60_000, out
    assert "PRICES ARE RECORDED DATA, NOT LIVE" in out
    stops = [line.split()[2] for line in out.splitlines() if line.startswith("[run] stopped ")]
    # readers first, the worker after them (it leaves what is open protected), the market last
    assert stops[-2:] == ["execute", "exchange-sim"] and set(stops[:-2]) == {"analyze", "collector"}, out
    assert all(f"stopped {n} (exit 0)" in out for n in ("analyze", "collector", "execute", "exchange-sim")), out
    assert proc.returncode == 0, out
    # quiet console (issue 13): the collector's pass every half second goes to logs/run.log, not here
    # (tests/test_console.py covers which lines are routine); every line is kept in the file
    assert "new candles" not in out, out
    assert "[run] started collector" in (tmp_path / "logs" / "run.log").read_text(encoding="utf-8")
    with sqlite3.connect(db) as con:
        state, details = con.execute("select state, details from bot_state where component='market_data'").fetchone()
        maps = con.execute("select count(*) from liquidation_zones_history").fetchone()[0]
        books = con.execute("select count(*) from derivatives where kind = 'depth'").fetchone()[0]
    assert state == "REPLAY" and "NOT LIVE" in details
    assert maps > 1  # several recorded maps, each in force from its capture time
    assert books == 0  # the simulator's synthetic order book is not taken for a market's
    # no live database was created next to the replay one
    assert not (tmp_path / "var" / "showdown.sqlite").exists()
    left = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True).stdout
    assert not left.strip(), f"exchange-sim left behind: {left}"
    with socket.socket() as s, pytest.raises(OSError):
        s.connect(("127.0.0.1", port))


def test_a_used_up_replay_starts_over_without_the_old_workers_state(db, backend, tmp_path, monkeypatch) -> None:
    """Once the recorded file is used up the replay starts over on an empty database, and
    the execution worker's state of the old replay (entered ids, last exit) goes too."""
    import gzip

    from cli.execute_cmd import state_file_name
    from cli.run_cmd import REPLAY_START, replay_resume_point
    from connectors.db.models import Candle

    monkeypatch.setenv("SHOWDOWN_HOME", str(backend.home.root))
    data_dir = tmp_path / "shared"
    data_dir.mkdir()
    end = REPLAY_START_MS + 3 * 3_600_000
    with gzip.open(data_dir / REPLAY_KLINES, "wt") as fh:
        fh.write("open_time_ms,open,high,low,close,volume\n")
        fh.writelines(f"{t},1,1,1,1,1\n" for t in range(REPLAY_START_MS, end + 1, 60_000))
    Candle.create(symbol="BTCUSDT", timeframe="1m", open_time_ms=REPLAY_START_MS + 60_000, open=1, high=1,
                  low=1, close=1, volume=1)
    state = backend.home.data / state_file_name(backend.config)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text('{"entered": ["1"]}')
    assert replay_resume_point(backend.config, data_dir) == "2025-12-06T00:02:00Z"  # resumes
    assert state.exists()
    Candle.create(symbol="BTCUSDT", timeframe="1m", open_time_ms=end - 30 * 60_000, open=1, high=1, low=1,
                  close=1, volume=1)
    assert replay_resume_point(backend.config, data_dir) == REPLAY_START  # used up: over again
    assert not state.exists() and Candle.select().count() == 0
