"""Hostile input against the compiler, the CLI (`showdown rules check`), the watcher, the
config and the shadow-ruleset path: refused clearly (file:line:col), within
TIME_BOUND_S, and the active version stays (issue 12)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import showdown
from connectors.files.rules_files import read_rules_dir
from connectors.loops.analysis_loop import load_ruleset_spec
from connectors.loops.rules_watcher import RulesWatcher
from engine import yaml_bounded
from engine.config import ConfigError, build_config, load_config
from engine.paths import PROJECT_DIR, Home
from engine.rules.compiler import RulesRefused, compile_texts
from engine.rules.registry import RulesRegistry
from tests.hostile_corpus import BAD_SHADOW_PATHS, HOSTILE_FILE, RULE_CASES, TIME_BOUND_S, Case, alias_bomb
from tests.rules_support import RULES_DIR, config, rule_files

IDS = [c.name for c in RULE_CASES]


def _refusal(case: Case) -> tuple[list[str], float]:
    files = {**rule_files(), HOSTILE_FILE: case.text}
    started = time.perf_counter()
    with pytest.raises(RulesRefused) as exc:
        compile_texts(files, config())
    return [str(p) for p in exc.value.problems], time.perf_counter() - started


@pytest.mark.parametrize("case", RULE_CASES, ids=IDS)
def test_compiler_refuses_quickly_at_the_right_place(case: Case) -> None:
    problems, seconds = _refusal(case)
    assert seconds < TIME_BOUND_S, f"{case.name}: {seconds:.2f} s"
    mine = [p for p in problems if p.startswith(HOSTILE_FILE + ":")]
    assert any(case.expect in p for p in mine), problems[:5]
    if case.line is not None:
        assert any(p.startswith(f"{HOSTILE_FILE}:{case.line}:") and case.expect in p for p in mine), mine[:5]
    assert all(len(p) < 400 for p in problems), "a refusal quotes at most a short excerpt"


def test_the_issue_alias_bomb_is_refused_before_any_walk() -> None:
    """Finding 1: ~600 bytes, 9 aliases per level; 6 levels took 7.9 s and 7 took 69 s."""
    text = alias_bomb(6)
    assert len(text) < 700
    problems, seconds = _refusal(Case("bomb", text, "", None))
    assert seconds < 0.5, f"{seconds:.2f} s"
    assert any("expands to more than" in p for p in problems), problems


def test_3000_deep_nesting_is_refused_at_its_position_without_recursion_error() -> None:
    """Finding 5: a RecursionError before; now line 2, column of the 49th bracket."""
    text = "ruleset: btc_default\nrules: " + "[" * 3000 + "]" * 3000 + "\n"
    problems, _ = _refusal(Case("deep", text, "", None))
    assert f"{HOSTILE_FILE}:2:56: refused before reading: nested deeper than 48 levels" in problems[0], problems


def test_rule_test_files_are_bounded_too() -> None:
    from engine.rules.testcases import load_cases

    started = time.perf_counter()
    _, cases, problems = load_cases({"bomb.yaml": alias_bomb(8), "deep.yaml": "cases: " + "[" * 3000})
    assert time.perf_counter() - started < TIME_BOUND_S and not cases
    assert any(p.startswith("bomb.yaml:") and "expands to more than" in p for p in problems), problems
    assert any(p.startswith("deep.yaml:1:") and "nested deeper" in p for p in problems), problems


def test_limits_do_not_refuse_the_shipped_files() -> None:
    for p in [*RULES_DIR.glob("*.yaml"), *RULES_DIR.glob("tests/*.yaml"), *(PROJECT_DIR / "config").glob("*.yaml")]:
        yaml_bounded.load(p.read_text(encoding="utf-8"), "rt")


# -- the CLI ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile") / "rules"
    shutil.copytree(RULES_DIR, d)
    return d


@pytest.mark.parametrize("case", RULE_CASES, ids=IDS)
def test_cli_rules_check_refuses_within_the_bound(case: Case, hostile_dir: Path) -> None:
    (hostile_dir / HOSTILE_FILE).write_text(case.text, encoding="utf-8")
    # CPU time: what the input costs, whatever else the machine runs (the suite shares 2 cores)
    started = time.process_time()
    out = CliRunner().invoke(showdown, ["rules", "check", str(hostile_dir)])
    seconds = time.process_time() - started
    assert out.exit_code == 1, out.output
    assert out.exception is None or isinstance(out.exception, SystemExit), repr(out.exception)
    assert seconds < TIME_BOUND_S, f"{case.name}: {seconds:.2f} s of CPU"
    assert f"{HOSTILE_FILE}:" in out.output and case.expect in out.output, out.output[-800:]


def test_cli_3000_deep_no_traceback(tmp_path: Path) -> None:
    """Finding 5, through the real command: a clear refusal, exit 1, no Python traceback."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    (rules / HOSTILE_FILE).write_text("ruleset: btc_default\nrules: " + "[" * 3000 + "]" * 3000 + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOWDOWN")}
    r = subprocess.run([sys.executable, "-m", "cli.main", "rules", "check", str(rules)], cwd=PROJECT_DIR, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "RecursionError" not in r.stderr, r.stderr[-2000:]
    assert f"{HOSTILE_FILE}:2:56: refused before reading: nested deeper than 48 levels" in r.stderr


# -- the watcher ----------------------------------------------------------------------------
def test_watcher_refuses_every_case_within_the_bound(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    reg = RulesRegistry(lambda: read_rules_dir(rules), config)
    assert reg.reload("startup").ok
    active = reg.active.version  # type: ignore[union-attr]
    watcher = RulesWatcher(reg, [rules], debounce_ms=50, step_ms=10).start()
    worst = 0.0
    try:
        time.sleep(0.2)
        for case in RULE_CASES:
            seen = len(reg.refusals)
            started = time.perf_counter()
            (rules / HOSTILE_FILE).write_text(case.text, encoding="utf-8")
            while len(reg.refusals) == seen and time.perf_counter() - started < 10:
                time.sleep(0.01)
            seconds = time.perf_counter() - started
            worst = max(worst, seconds)
            assert len(reg.refusals) > seen, f"{case.name}: no refusal within 10 s"
            assert seconds < TIME_BOUND_S, f"{case.name}: refused after {seconds:.2f} s"
            problems = reg.refusals[-1]["problems"]
            assert any(p.startswith(HOSTILE_FILE + ":") and case.expect in p for p in problems), problems[:3]
            assert reg.active.version == active  # type: ignore[union-attr]
            (rules / HOSTILE_FILE).unlink()
            time.sleep(0.15)
    finally:
        watcher.stop()
        reg.close()
    print(f"watcher: worst refusal {worst * 1000:.0f} ms")


# -- the config -------------------------------------------------------------------------------
def _base() -> tuple[dict, dict]:
    from engine.config import _load_yaml, _schema

    return _load_yaml(PROJECT_DIR / "config" / "config.yaml"), _schema(PROJECT_DIR / "config")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_config_refuses_non_finite_numbers_with_the_key_path(value: float) -> None:
    """Finding 3: NaN passed the JSON Schema (every comparison with NaN is false)."""
    base, schema = _base()
    with pytest.raises(ConfigError) as exc:
        build_config(base, {"risk": {"risk_percent": value}}, {}, schema)
    assert any(p.startswith("risk.risk_percent: expected a finite number") and "config.local.yaml" in p
               for p in exc.value.problems), exc.value.problems
    with pytest.raises(ConfigError) as exc:
        build_config(base, None, {"SHOWDOWN__RISK__SL_ATR_K": str(value)}, schema)
    assert any(p.startswith("risk.sl_atr_k: expected a finite number") and "env SHOWDOWN__RISK__SL_ATR_K" in p
               for p in exc.value.problems), exc.value.problems


def test_config_file_with_nan_or_a_bomb_is_refused_with_its_position(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    shutil.copytree(PROJECT_DIR / "config", config_dir, ignore=shutil.ignore_patterns("config.local.yaml"))
    where = Home(root=tmp_path, config_dir=config_dir, rules_dir=RULES_DIR)
    local = config_dir / "config.local.yaml"
    local.write_text("risk:\n  risk_percent: .nan\n")
    with pytest.raises(ConfigError) as exc:
        load_config(where, env={})
    assert "risk.risk_percent: expected a finite number, got nan (from config.local.yaml)" in exc.value.problems
    local.write_text("risk:\n  modes: " + "[" * 3000 + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        load_config(where, env={})
    assert time.perf_counter() - started < TIME_BOUND_S
    assert exc.value.problems[0].startswith(f"{local}:2:") and "nested deeper" in exc.value.problems[0]
    local.write_text(alias_bomb(8).replace("rules: []\n", ""))
    with pytest.raises(ConfigError) as exc:
        load_config(where, env={})
    assert "expands to more than" in exc.value.problems[0]


# -- the shadow ruleset path ---------------------------------------------------------------------
@pytest.mark.parametrize("spec", BAD_SHADOW_PATHS)
def test_shadow_path_outside_the_rules_dir_is_refused_unread(spec: str, tmp_path: Path) -> None:
    """Finding 2: any readable file could be named, and its content was quoted in the refusal."""
    from connectors.files.rules_files import RulesPathRefused

    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    secret = tmp_path / "secret.yaml"
    secret.write_text("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n")
    (rules / "link_out.yaml").symlink_to(secret)
    spec = spec.replace("{outside}", str(secret))
    with pytest.raises((RulesPathRefused, LookupError)) as exc:
        load_ruleset_spec(spec, rules)
    assert "BEGIN PRIVATE KEY" not in str(exc.value) and "root:" not in str(exc.value)
    assert "MIIEvQ" not in str(exc.value)


def test_symlinked_rule_file_pointing_outside_is_not_read(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (rules / "zz_link.yaml").symlink_to(secret)
    files, _ = read_rules_dir(rules)
    assert "zz_link.yaml" not in files and set(files) == set(rule_files())


def test_shadow_inside_the_rules_dir_still_works(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    (rules / "candidate").mkdir()
    shutil.copy(rules / "strategy.yaml", rules / "candidate" / "strategy.yaml")
    files, _ = load_ruleset_spec("candidate", rules)
    assert set(files) == {"strategy.yaml"}
    files, _ = load_ruleset_spec(str(rules / "candidate" / "strategy.yaml"), rules)
    assert set(files) == {"strategy.yaml"}


# -- the SQLite file (finding 7) ------------------------------------------------------------------
def test_sqlite_file_is_created_private_and_an_old_one_is_tightened(tmp_path: Path) -> None:
    """It holds the admin-site password hashes: 0600, not the umask's 0644."""
    from connectors.db import open_database
    from connectors.db.migrations import upgrade
    from connectors.db.models import User

    config_dir = tmp_path / "config"
    shutil.copytree(PROJECT_DIR / "config", config_dir, ignore=shutil.ignore_patterns("config.local.yaml"))
    where = Home(root=tmp_path, config_dir=config_dir, rules_dir=RULES_DIR).ensure()
    cfg = load_config(where, env={})
    path = where.var / str(cfg.get("database.sqlite_file"))
    old = os.umask(0o022)
    try:
        db = open_database(cfg, where)
        upgrade(db)
        User.create(username="u", password_hash="scrypt:x", role="viewer")
        for p in (path, path.with_name(path.name + "-wal")):
            assert p.stat().st_mode & 0o777 == 0o600, (p.name, oct(p.stat().st_mode))
        db.close()
        os.chmod(path, 0o644)                    # made by an earlier version
        open_database(cfg, where).close()
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_refusals_kept_for_heartbeat_logs_and_telegram_are_short() -> None:
    """What a refusal quotes travels to bot_state (viewers), the logs and Telegram."""
    tests = {"t.yaml": f"cases:\n  - name: x\n    base: {'k' * 50_000}\n    expect: {{action: flat}}\n"}
    reg = RulesRegistry(lambda: (rule_files(), tests), config)
    try:
        out = reg.reload("startup")
        assert not out.ok and out.problems
        assert all(len(p) <= 400 for p in reg.refusals[-1]["problems"]), max(map(len, reg.refusals[-1]["problems"]))
    finally:
        reg.close()
