"""Configuration: precedence, validation with key paths, redaction, last-good on reload."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import showdown
from engine.config import ConfigError, ConfigStore, load_config
from engine.paths import PROJECT_DIR, Home


@pytest.fixture()
def where(tmp_path: Path) -> Home:
    cfg = tmp_path / "config"
    cfg.mkdir()
    for name in ("config.yaml", "schema.yaml"):
        shutil.copy(PROJECT_DIR / "config" / name, cfg / name)
    return Home(root=tmp_path, config_dir=cfg, rules_dir=tmp_path / "rules")


def test_committed_defaults_validate(where: Home) -> None:
    cfg = load_config(where, env={})
    assert cfg.get("mode") == "paper"
    assert cfg.get("risk.max_trades_per_day") == 3
    assert not cfg.uses_mariadb()
    assert cfg.sources["risk.max_trades_per_day"] == "config.yaml"


def test_precedence_env_over_local_over_base(where: Home) -> None:
    (where.config_dir / "config.local.yaml").write_text("risk: {max_trades_per_day: 5}\ndatabase: {port: 3307}\n")
    cfg = load_config(where, env={"DB_PORT": "3310", "DB_HOST": "127.0.0.1"})
    assert cfg.get("risk.max_trades_per_day") == 5
    assert cfg.sources["risk.max_trades_per_day"] == "config.local.yaml"
    assert cfg.get("database.port") == 3310
    assert cfg.sources["database.port"] == "env DB_PORT"
    assert cfg.uses_mariadb()


def test_generic_env_override_is_typed(where: Home) -> None:
    cfg = load_config(where, env={"SHOWDOWN__RISK__RISK_PERCENT": "0.75", "BINANCE_TESTNET": "true"})
    assert cfg.get("risk.risk_percent") == 0.75
    assert cfg.get("binance.testnet") is True


@pytest.mark.parametrize(
    ("local", "needle"),
    [
        ("risk: {max_trades_per_day: many}", "risk.max_trades_per_day: expected integer, got 'many'"),
        ("risk: {risk_percent: 9}", "risk.risk_percent: expected number in (0, 5], got 9"),
        ("risk: {bogus_key: 1}", "risk: unknown key 'bogus_key'"),
        ("mode: moon", "mode: expected one of ['paper', 'testnet', 'mainnet', 'backtest']"),
        ("risk: [1, 2", "config.local.yaml:2:1: not valid YAML"),
    ],
)
def test_invalid_edit_is_refused_with_key_path(where: Home, local: str, needle: str) -> None:
    (where.config_dir / "config.local.yaml").write_text(local + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(where, env={})
    assert any(needle in p for p in info.value.problems), info.value.problems


def test_env_with_wrong_type_names_the_variable(where: Home) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(where, env={"DB_PORT": "threethousand"})
    assert "env DB_PORT: expected an integer" in info.value.problems[0]


def test_reload_keeps_last_good_config(where: Home) -> None:
    store = ConfigStore(where, env={})
    local = where.config_dir / "config.local.yaml"
    local.write_text("risk: {max_trades_per_day: 4}\n")
    assert store.reload() == (True, [])
    assert store.active.get("risk.max_trades_per_day") == 4
    local.write_text("risk: {max_trades_per_day: -1}\n")
    ok, problems = store.reload()
    assert not ok and "risk.max_trades_per_day" in problems[0]
    assert store.active.get("risk.max_trades_per_day") == 4


def test_config_show_redacts_secrets_and_names_sources(where: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOWDOWN_CONFIG_DIR", str(where.config_dir))
    monkeypatch.setenv("BINANCE_API_SECRET", "s3cr3t-value-123")
    result = CliRunner().invoke(showdown, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "s3cr3t-value-123" not in result.output
    assert "binance.api_secret = ***    # env BINANCE_API_SECRET" in result.output
    assert "risk.max_trades_per_day = 3    # config.yaml" in result.output


def test_dotenv_sits_between_local_file_and_environment(where: Home) -> None:
    (where.config_dir / "config.local.yaml").write_text("binance: {api_key: from-local, testnet: false}\n"
                                                        "risk: {max_trades_per_day: 5}\n")
    (where.root / ".env").write_text("BINANCE_API_KEY=from-dotenv\nBINANCE_API_SECRET=dotenv-secret\n"
                                     "SHOWDOWN__RISK__MAX_TRADES_PER_DAY=4\nBINANCE_TESTNET=true\n")
    cfg = load_config(where, env={"BINANCE_API_SECRET": "env-secret"})
    assert cfg.get("binance.api_key") == "from-dotenv" and cfg.sources["binance.api_key"] == ".env BINANCE_API_KEY"
    assert cfg.get("binance.api_secret") == "env-secret" and cfg.sources["binance.api_secret"] == \
        "env BINANCE_API_SECRET"
    assert cfg.get("risk.max_trades_per_day") == 4 and cfg.get("binance.testnet") is True
    assert {"from-dotenv", "env-secret"} <= set(cfg.secrets())  # scrubbed from logs and pages like any secret
    redacted = cfg.redacted()["binance"]
    assert redacted["api_key"] == redacted["api_secret"] == "***"


def test_dotenv_bad_value_is_refused_naming_the_file(where: Home) -> None:
    (where.root / ".env").write_text("BINANCE_TESTNET=maybe\n")
    with pytest.raises(ConfigError) as err:
        load_config(where, env={})
    assert "env .env:BINANCE_TESTNET: expected a boolean" in str(err.value)


def test_env_example_names_every_environment_variable() -> None:
    from engine.config import ENV_KEYS

    names = {line.lstrip("#").split("=", 1)[0] for line in (PROJECT_DIR / ".env.example").read_text().splitlines()
             if "=" in line and not line.startswith("# ")}
    assert set(ENV_KEYS) <= names, set(ENV_KEYS) - names


def test_config_show_never_prints_a_dotenv_secret(where: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOWDOWN_CONFIG_DIR", str(where.config_dir))
    monkeypatch.setenv("SHOWDOWN_HOME", str(where.root))
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    (where.root / ".env").write_text("BINANCE_API_KEY=dotenv-key-value-987\n")
    result = CliRunner().invoke(showdown, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "dotenv-key-value-987" not in result.output
    assert "binance.api_key = ***    # .env BINANCE_API_KEY" in result.output
