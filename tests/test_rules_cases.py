"""The rule test cases pass, cover every rule, and `showdown rules ...` runs them."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from cli.main import showdown
from engine.rules.testcases import run_tests
from tests.rules_support import RULES_DIR, case_files, default_rules


def test_rule_cases_pass_and_every_rule_fires_at_least_once() -> None:
    compiled, engine = default_rules()
    report = run_tests(compiled, engine, case_files())
    failures = [(r.where, r.name, r.failures) for r in report.results if not r.ok]
    assert not report.problems and not failures, failures
    assert report.uncovered() == [], f"rules no case makes fire: {report.uncovered()}"
    assert len(report.results) >= 40


def test_rule_cases_also_pass_on_the_reference_evaluator() -> None:
    compiled, _ = default_rules()
    assert run_tests(compiled, "python", case_files()).ok


def test_a_failing_expectation_is_reported() -> None:
    compiled, engine = default_rules()
    files = {"x.yaml": "cases:\n  - name: wrong\n    base: long_setup\n    expect: {action: short, confidence: {lt: 0.1}}\n",
             **{k: v for k, v in case_files().items() if k == "fixtures.yaml"}}
    (r,) = run_tests(compiled, engine, files).results
    assert not r.ok and r.where == "x.yaml:2:5"
    assert r.failures == ["action: expected 'short', got 'long'", "confidence: expected lt 0.1, got 1.0"]


def test_cli_check_and_test(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(showdown, ["rules", "check", str(RULES_DIR)])
    assert ok.exit_code == 0 and "ok: ruleset btc_default version" in ok.output
    res = runner.invoke(showdown, ["rules", "test", str(RULES_DIR)])
    assert res.exit_code == 0, res.output
    assert "cases passed" in res.output
    bad = tmp_path / "rules"
    shutil.copytree(RULES_DIR, bad)
    (bad / "risk.yaml").write_text((bad / "risk.yaml").read_text().replace("stage: risk", "stage: rsik", 1))
    res = runner.invoke(showdown, ["rules", "check", str(bad)])
    assert res.exit_code != 0 and "risk.yaml:" in res.output and "unknown stage 'rsik'" in res.output
