"""The supervisor: restarts a crashed child, stops children in rank order, and leaves no
orphan even when it is itself SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from connectors.loops.supervisor import ChildSpec, Supervisor


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _script(tmp_path: Path, name: str, body: str) -> list[str]:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def test_crashed_child_is_restarted_and_stop_follows_rank(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    crasher = _script(tmp_path, "crasher", f"""
        import sys
        open({str(log)!r}, "a").write("crasher started\\n")
        sys.exit(3)
    """)
    sleeper = _script(tmp_path, "sleeper", f"""
        import signal, sys, time
        name = sys.argv[1]
        def bye(*_):
            open({str(log)!r}, "a").write(f"{{name}} stopped\\n")
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        while True:
            time.sleep(0.05)
    """)
    lines: list[str] = []
    sup = Supervisor([
        ChildSpec("crasher", crasher, stop_rank=5),
        ChildSpec("worker", [*sleeper, "worker"], stop_rank=20),
        ChildSpec("web", [*sleeper, "web"], stop_rank=0),
    ], out=lines.append, max_backoff_s=0.3)
    sup.start()
    import threading
    t = threading.Thread(target=sup.watch, kwargs={"poll_s": 0.05})
    t.start()
    deadline = time.monotonic() + 10
    while (not log.exists() or log.read_text().count("crasher started") < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    sup.stop()
    t.join(5)
    text = log.read_text()
    assert text.count("crasher started") >= 3, text
    assert any("crasher exited with 3; restarting" in line for line in lines)
    order = [line.split()[0] for line in text.splitlines() if line.endswith("stopped")]
    assert order == ["web", "worker"], order  # lower rank first: the worker outlives the site
    assert all(not _alive(r.proc.pid) for r in sup.children.values())


def test_no_orphan_when_supervisor_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    runner = _script(tmp_path, "runner", f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from connectors.loops.supervisor import ChildSpec, Supervisor
        child = [sys.executable, "-c",
                 "import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"]
        Supervisor([ChildSpec("child", child)]).run_until_signalled()
    """)
    proc = subprocess.Popen(runner)
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "child never started"
        time.sleep(0.05)
    child_pid = int(pidfile.read_text())
    assert _alive(child_pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid), "child outlived its SIGKILLed supervisor"


def test_crash_loop_is_alerted_critical_once(tmp_path: Path) -> None:
    """Issue 15, finding 3: a child restarted forever used to be restarted in silence."""
    crasher = _script(tmp_path, "crasher", """
        import sys
        sys.exit(7)
    """)
    alerts: list[tuple[str, str, str, dict]] = []
    lines: list[str] = []
    sup = Supervisor([ChildSpec("execution", crasher)], out=lines.append, max_backoff_s=0.05,
                     alert=lambda *a: alerts.append(a), crash_loop=(3, 1.0))
    sup.start()
    import threading
    t = threading.Thread(target=sup.watch, kwargs={"poll_s": 0.02})
    t.start()
    deadline = time.monotonic() + 10
    while sum("exited with 7" in line for line in lines) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    sup.stop()
    t.join(5)
    assert sum("exited with 7" in line for line in lines) >= 5
    assert [(level, code) for level, code, _, _ in alerts] == [("CRITICAL", "child_crash_loop")]  # once
    assert alerts[0][3]["child"] == "execution" and alerts[0][3]["last_code"] == 7
    assert alerts[0][3]["exits"] == 3 and sup.crash_loops["execution"]["exits"] >= 3  # grows while it loops


def test_crash_loop_reported_for_status_while_it_lasts(tmp_path: Path, db, backend) -> None:
    """Issue 15, item 3: the crash loop goes where Status and `showdown status` read it —
    child name and restarts in the window, growing while it loops."""
    from click.testing import CliRunner

    from cli.main import showdown
    from connectors.stores.supervisor_state import crash_loops, record_crash_loops

    crasher = _script(tmp_path, "crasher", """
        import sys
        sys.exit(3)
    """)
    lines: list[str] = []
    sup = Supervisor([ChildSpec("execute", crasher)], out=lines.append, max_backoff_s=0.05,
                     crash_loop=(3, 1.0), report=lambda loops: record_crash_loops("BTCUSDT", loops))
    sup.start()
    import threading
    t = threading.Thread(target=sup.watch, kwargs={"poll_s": 0.02})
    t.start()
    deadline = time.monotonic() + 10
    while sum("exited with 3" in line for line in lines) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    sup.stop()
    t.join(5)
    loops, _ = crash_loops("BTCUSDT")
    assert set(loops) == {"execute"} and loops["execute"]["exits"] >= 4 and loops["execute"]["last_code"] == 3
    env = {**backend.env, "SHOWDOWN_HOME": str(backend.home.root)}
    out = CliRunner().invoke(showdown, ["status"], env=env).output
    assert f"CRASH LOOP: execute crash-looping: {loops['execute']['exits']} restarts in 1.0 min (last exit code 3)" in out
