"""The quiet console of `showdown run` (issue 13, point 8): routine output to the file,
warnings, errors and banners to the console, one status line now and then."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.loops.console import QuietConsole, routine, status_line


def test_routine_lines_are_told_from_what_a_person_must_see():
    assert routine("[collector] new candles 1, backfilled 0, derivative rows 3") == (
        "collector", "new candles 1, backfilled 0, derivative rows 3")
    # what `showdown collect` really prints (its counts per timeframe): routine too
    line = "[collector] new candles {'1m': 3, '5m': 1, '15m': 0, '1h': 0}, backfilled {'1m': 0}, derivative rows 4"
    assert routine(line) == ("collector", line.removeprefix("[collector] "))
    assert routine("[execute] 2025-12-07 12:00:01,123 INFO connectors.loops.execution_worker loop 5")[0] == "execute"
    assert routine("[analyze] cycle 2025-12-07T12:00:00Z: flat (both_sides_weak) confidence 0.24")[0] == "analyze"
    assert routine('[web] 127.0.0.1 - - [07/Dec/2025:12:00:00 +0000] "GET /api/status HTTP/1.0" 200 912')[0] == "web"
    assert routine("[web] [2025-12-07 12:00:00 +0000] [123] [INFO] Booting worker with pid: 123")[0] == "web"
    for loud in ("[run] started collector (pid 42)",
                 "[analyze] 2025-12-07 12:00:01,123 WARNING engine.rules refused: strategy.yaml:3:5: bad",
                 "[execute] 2025-12-07 12:00:01,123 ERROR connectors.loops.execution_worker SAFE MODE",
                 "[web] one-time password: abc", "[collector] Traceback (most recent call last):",
                 "[analyze] shadow disagrees: {...}"):
        assert routine(loud) is None, loud


def test_console_prints_the_loud_lines_and_one_status_line(tmp_path):
    shown: list[str] = []
    now = [0.0]
    console = QuietConsole(tmp_path / "logs" / "run.log", echo=shown.append, status_every_s=60, clock=lambda: now[0])
    for i in range(30):  # a replay at 120x: a collector pass every half second
        console(f"[collector] new candles 1, backfilled 0, derivative rows {i}")
        now[0] += 0.5
    console("[analyze] 2025-12-07 12:00:01,123 WARNING engine.rules refused: strategy.yaml:3:5: bad")
    assert shown == ["[analyze] 2025-12-07 12:00:01,123 WARNING engine.rules refused: strategy.yaml:3:5: bad"]
    now[0] += 46  # a minute since the start
    console("[analyze] cycle 2025-12-07T12:00:00Z: flat (both_sides_weak) confidence 0.24")
    assert len(shown) == 2 and shown[1].startswith("[status ")
    assert "collector: new candles 1, backfilled 0, derivative rows 29" in shown[1]
    assert "analyze: cycle 2025-12-07T12:00:00Z: flat" in shown[1] and "31 routine line(s)" in shown[1]
    console.close()
    assert len((tmp_path / "logs" / "run.log").read_text().splitlines()) == 32  # everything is in the file


def test_status_line_shortens_log_prefixes():
    line = status_line({"execute": "2025-12-07 12:00:01,123 INFO connectors.loops.execution_worker: in position"},
                       3, "logs/run.log", datetime(2025, 12, 7, 12, tzinfo=UTC))
    assert line == "[status 2025-12-07T12:00:00Z] execute: in position · 3 routine line(s) in logs/run.log"
