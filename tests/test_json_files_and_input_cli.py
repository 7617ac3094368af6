"""Atomic plain-number JSON outputs and `showdown input ...` accept / refuse."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import showdown
from connectors.files.json_files import dumps_plain, read_input, write_flow, write_json_atomic
from tests.input_fuzz import GOOD


def test_numbers_written_without_exponent(tmp_path):
    doc = {"f": 1e-05, "g": 1.666e-05, "big": 1.5e20, "i": 10**20, "nan": float("nan"), "s": "é", "l": [], "d": {}}
    text = dumps_plain(doc)
    assert "e-" not in text and "e+" not in text and "E" not in text
    back = json.loads(text)
    assert back["f"] == 1e-05 and back["g"] == 1.666e-05 and back["big"] == 1.5e20 and back["nan"] is None
    assert back["s"] == "é"
    p = write_flow(tmp_path, {"x": 0.00001})
    assert p.read_text().strip().endswith("}") and json.loads(p.read_text()) == {"x": 1e-05}
    assert [f.name for f in tmp_path.iterdir()] == ["btc_flow.json"]  # no temp file left


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = write_json_atomic(tmp_path / "a.json", {"v": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"v": object()})
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.json"]


def test_input_cli_accepts_and_refuses(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOWDOWN_HOME", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(showdown, ["db", "upgrade"]).exit_code == 0  # history needs the schema
    good = tmp_path / "s.json"
    good.write_text(json.dumps(GOOD["sentiment"]))
    res = runner.invoke(showdown, ["input", "sentiment", str(good)])
    assert res.exit_code == 0, res.output
    assert read_input(tmp_path / "data", "sentiment") == GOOD["sentiment"]
    bad = {**GOOD["sentiment"], "score": "1", "label": "bearish", "extra": True}
    res = runner.invoke(showdown, ["input", "sentiment", "-"], input=json.dumps(bad))
    assert res.exit_code == 1
    for path in ("$.score", "$.extra"):
        assert path in res.output
    assert read_input(tmp_path / "data", "sentiment") == GOOD["sentiment"]  # last valid stays
    res = runner.invoke(showdown, ["input", "etf", "-"], input="{not json")
    assert res.exit_code == 1 and "not valid JSON" in res.output
    assert read_input(tmp_path / "data", "etf") is None
