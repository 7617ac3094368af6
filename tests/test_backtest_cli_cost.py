"""Issue 16: `showdown backtest` pays only for what it uses. Importing the CLI and resolving
the backtest command loads neither the Binance client, the web app, plotting nor SciPy
(they cost over a second of CPU before: every command module was imported at start)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, sys, time
c0 = time.process_time()
import click
from cli.main import showdown
ctx = click.Context(showdown)
cmd = showdown.get_command(ctx, "backtest")
cpu = time.process_time() - c0
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"matplotlib", "binance", "web", "scipy", "seaborn",
                                                         "quantstats", "flask", "yfinance", "websockets"})
print(json.dumps({"cpu": cpu, "heavy": heavy, "name": cmd.name,
                  "db_option": any(p.name == "db" for p in cmd.params)}))
"""


def test_backtest_command_imports_nothing_it_does_not_use() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["name"] == "backtest" and got["db_option"]
    assert got["heavy"] == [], got
    assert got["cpu"] < 1.5, got   # ~0.6 s here; generous for a loaded machine


def test_every_command_still_listed_and_run_finds_its_children() -> None:
    from click.testing import CliRunner

    from cli.main import command_names, showdown
    res = CliRunner().invoke(showdown, ["--help"])
    assert res.exit_code == 0
    for name in ("backtest", "collect", "analyze", "execute", "web", "import", "emergency-stop", "testnet-check"):
        assert name in res.output and name in command_names()
    res = CliRunner().invoke(showdown, ["emergency-stop", "--help"])  # a command its module is not named after
    assert res.exit_code == 0 and "--db" in res.output
