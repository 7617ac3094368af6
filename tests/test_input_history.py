"""Input history: every accepted version recorded; the version in force at T read back (both backends)."""

from __future__ import annotations

import copy
import json

from click.testing import CliRunner

from cli.main import showdown
from connectors.db.models import EtpFlow, LiquidationZones, NewsSentiment
from connectors.files.json_files import read_input
from connectors.stores.input_history import append, latest
from engine.inputs import validate_etf, validate_liquidations, validate_sentiment
from engine.inputs.common import iso_time
from tests.input_fuzz import GOOD


def ms(text: str) -> int:
    return iso_time(text, "$", [])


def test_sentiment_versions_and_the_one_in_force(db):
    v1, _ = validate_sentiment(GOOD["sentiment"])
    v2, _ = validate_sentiment({"as_of": "2025-12-08T06:00:00Z", "score": -1.5, "label": "bearish", "comment": "x"})
    assert append("sentiment", v1) is None and append("sentiment", v2) is None
    assert NewsSentiment.select().count() == 2
    assert latest("sentiment") == v2
    assert latest("sentiment", ms("2025-12-08T05:59:59Z")) == v1
    assert latest("sentiment", ms("2025-12-06T23:59:59Z")) is None
    # The same as_of sent again: the later entry is the correction.
    v1b = {**v1, "comment": "corrected"}
    append("sentiment", v1b)
    assert latest("sentiment", ms("2025-12-07T01:00:00Z")) == v1b


def test_liquidation_maps_round_trip_exactly(db):
    m1, _ = validate_liquidations(GOOD["liquidations"])
    m2 = copy.deepcopy(m1)
    m2["as_of"] = "2025-12-07T12:55:01Z"
    m2["below_price"] = []
    m2["current_price"] = 89500.5
    append("liquidations", m1)
    append("liquidations", m2)
    assert LiquidationZones.select().count() == 2
    assert latest("liquidations") == m2
    assert latest("liquidations", ms("2025-12-07T12:55:00Z")) == m1
    assert latest("liquidations", ms("2025-12-07T11:55:00Z")) is None
    again = {**m2, "current_price": 89600}
    append("liquidations", again)  # same as_of: replaces
    assert LiquidationZones.select().count() == 2 and latest("liquidations") == again


def test_etf_days_recorded_corrections_kept_and_rebuilt_to_t(db):
    doc, _ = validate_etf(GOOD["etf"])
    append("etf", doc)
    assert {(r.date, r.fund, r.flow_usd) for r in EtpFlow.select()} == {
        ("2025-12-04", "ALL", -194_600_000), ("2025-12-05", "ALL", 87_300_000)}
    newer = copy.deepcopy(doc)
    newer["history"][1]["net_flow_usd"] = 90_000_000  # correction of 12-05
    newer["history"].append({"date": "2025-12-08", "net_flow_usd": 10_000_000})
    newer["as_of"] = "2025-12-09T00:00:00Z"
    newer["summary"].update(last_7d_total=-94_600_000, last_3d_total=-94_600_000)
    fixed, problems = validate_etf(newer)
    assert not problems
    append("etf", fixed)
    assert EtpFlow.select().count() == 3
    now = latest("etf")
    assert [(h["date"], h["net_flow_usd"]) for h in now["history"]] == [
        ("2025-12-04", -194_600_000), ("2025-12-05", 90_000_000), ("2025-12-08", 10_000_000)]
    assert now["summary"]["last_3d_total"] == -94_600_000 and validate_etf(now)[1] == []
    at = latest("etf", ms("2025-12-06T12:00:00Z"))
    assert [h["date"] for h in at["history"]] == ["2025-12-04", "2025-12-05"]
    assert at["as_of"] == "2025-12-06T12:00:00Z" and at["summary"]["last_3d_total"] == -104_600_000
    assert latest("etf", ms("2025-12-03T12:00:00Z")) is None


def test_input_cli_records_history(backend, tmp_path, monkeypatch):
    for k, v in backend.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SHOWDOWN_HOME", str(backend.home.root))
    runner = CliRunner()
    assert runner.invoke(showdown, ["db", "upgrade"]).exit_code == 0
    for kind in ("sentiment", "liquidations", "etf"):
        f = tmp_path / f"{kind}.json"
        f.write_text(json.dumps(GOOD[kind]))
        res = runner.invoke(showdown, ["input", kind, str(f)])
        assert res.exit_code == 0, res.output
        assert "history table" in res.output
    bad = {**GOOD["sentiment"], "score": -2}  # label no longer matches: refused, nothing recorded
    res = runner.invoke(showdown, ["input", "sentiment", "-"], input=json.dumps(bad))
    assert res.exit_code == 1
    assert NewsSentiment.select().count() == 1 and LiquidationZones.select().count() == 1
    assert EtpFlow.select().count() == 2
    assert latest("sentiment") == read_input(backend.home.data, "sentiment")
    assert latest("liquidations") == read_input(backend.home.data, "liquidations")


def test_input_cli_refuses_when_schema_missing(backend, tmp_path, monkeypatch):
    if backend.name != "sqlite":
        return  # the MariaDB session database is always migrated
    for k, v in backend.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SHOWDOWN_HOME", str(backend.home.root))
    f = tmp_path / "s.json"
    f.write_text(json.dumps(GOOD["sentiment"]))
    res = CliRunner().invoke(showdown, ["input", "sentiment", str(f)])
    assert res.exit_code == 1 and "showdown db upgrade" in res.output
    assert read_input(backend.home.data, "sentiment") is None
