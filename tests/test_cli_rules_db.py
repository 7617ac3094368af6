"""`showdown analyze --once`, `rules versions|activate|trace|shadow-report`, `status` over a real DB."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from cli.main import showdown
from connectors.db.candles import upsert_candles
from engine.candles import aggregate
from engine.rules.compiler import content_hash
from tests.analytics_data import synthetic_1m
from tests.rules_support import RULES_DIR

DAY = 86_400_000
START = 1_765_065_600_000 - 4 * DAY
AT = "2025-12-06T12:00:00Z"


def test_analyze_versions_rollback_trace(db, backend, tmp_path: Path) -> None:
    df = synthetic_1m(days=4, start_ms=START)
    upsert_candles(df, symbol="BTCUSDT", timeframe="1m")
    for tf in ("5m", "15m", "1h"):
        upsert_candles(aggregate(df, tf), symbol="BTCUSDT", timeframe=tf)
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    env = {**backend.env, "SHOWDOWN_HOME": str(backend.home.root), "SHOWDOWN_RULES_DIR": str(rules)}
    run = CliRunner()

    first = run.invoke(showdown, ["analyze", "--once", "--at", AT], env=env)
    assert first.exit_code == 0, first.output
    v1 = content_hash({p.name: p.read_text() for p in rules.glob("*.yaml")})
    assert f"ruleset {v1}" in first.output
    decision_id = first.output.split(" decision ")[1].split()[0]

    trace = run.invoke(showdown, ["rules", "trace", decision_id], env=env)
    assert trace.exit_code == 0 and f"version {v1}" in trace.output and "[why not]" in trace.output

    (rules / "risk.yaml").write_text((rules / "risk.yaml").read_text() + "\n# tuned\n")
    assert run.invoke(showdown, ["analyze", "--once", "--at", AT], env=env).exit_code == 0
    v2 = content_hash({p.name: p.read_text() for p in rules.glob("*.yaml")})
    versions = run.invoke(showdown, ["rules", "versions"], env=env).output
    assert f"* {v2}" in versions and f"  {v1}" in versions

    back = run.invoke(showdown, ["rules", "activate", v1[:8], "--by", "alice"], env=env)
    assert back.exit_code == 0, back.output
    assert "no analytics loop running" in back.output
    assert "# tuned" not in (rules / "risk.yaml").read_text()           # the files are the truth again
    assert content_hash({p.name: p.read_text() for p in rules.glob("*.yaml")}) == v1
    versions = run.invoke(showdown, ["rules", "versions"], env=env).output
    assert f"* {v1}" in versions and "by alice" in versions

    status = run.invoke(showdown, ["status"], env=env).output
    assert f"rules: active {v1}" in status and "analytics: IDLE" in status

    assert "no shadow disagreement" in run.invoke(showdown, ["rules", "shadow-report"], env=env).output
    missing = run.invoke(showdown, ["rules", "activate", "ffffffffff"], env=env)
    assert missing.exit_code != 0 and "no stored ruleset version" in missing.output
