from __future__ import annotations

from click.testing import CliRunner

from cli.main import showdown


def test_user_add_list_passwd(home, monkeypatch):
    monkeypatch.setenv("SHOWDOWN_HOME", str(home.root))
    monkeypatch.setenv("SHOWDOWN_CONFIG_DIR", str(home.config_dir))
    runner = CliRunner()
    r = runner.invoke(showdown, ["user", "add", "alice", "--role", "operator", "--password", "alice-pass-123"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(showdown, ["user", "add", "alice", "--password", "alice-pass-123"])
    assert r.exit_code != 0 and "already exists" in r.output
    r = runner.invoke(showdown, ["user", "add", "bob", "--password", "short"])
    assert r.exit_code != 0 and "too short" in r.output
    r = runner.invoke(showdown, ["user", "list"])
    assert "alice" in r.output and "operator" in r.output and "never" in r.output
    r = runner.invoke(showdown, ["user", "passwd", "alice", "--password", "alice-new-pass-1"])
    assert r.exit_code == 0, r.output
    from web import users

    assert users.verify("alice", "alice-new-pass-1") is not None
    assert users.verify("alice", "alice-pass-123") is None
    r = runner.invoke(showdown, ["user", "passwd", "nobody", "--password", "whatever-123"])
    assert r.exit_code != 0 and "no user" in r.output
