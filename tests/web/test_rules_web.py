"""Rules page and /api/rules: validate with file:line:col, tests, diff, save only when
valid and tested (atomic, audited), history, roll back, shadow; roles."""

from __future__ import annotations

from connectors.stores.rules_store import unpack
from tests.web.conftest import api_token, csrf_from, login


def _post(client, op, text, name="strategy.yaml"):
    page = client.get(f"/rules/?file={name}").get_data(as_text=True)
    return client.post("/rules/", data={"op": op, "file": name, "text": text, "csrf_token": csrf_from(page)})


def _broken(text: str) -> tuple[str, int]:
    """Misspell an operator on line 28 (liquidation.max_strength_below: {gte: 0.6})."""
    lines = text.splitlines(True)
    assert "{gte: 0.6}" in lines[27]
    lines[27] = lines[27].replace("{gte: 0.6}", "{gtee: 0.6}")
    return "".join(lines), 28


def test_viewer_reads_but_cannot_edit(app):
    viewer = login(app.test_client(), "viewer")
    html = viewer.get("/rules/?file=strategy.yaml").get_data(as_text=True)
    assert 'id="rules-text"' in html and "readonly" in html and "long.structure" in html
    assert 'id="rules-save"' not in html
    token = csrf_from(html)
    r = viewer.post("/rules/", data={"op": "save", "file": "strategy.yaml", "text": "x", "csrf_token": token})
    assert r.status_code == 403
    assert viewer.post("/api/rules/save", json={"file": "strategy.yaml", "text": "x"},
                       headers={"X-CSRFToken": api_token(viewer)}).status_code == 403


def test_validate_lists_problems_with_line_and_refuses_save(operator, home):
    original = (home.rules_dir / "strategy.yaml").read_text()
    bad, line = _broken(original)
    r = _post(operator, "validate", bad)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert f'data-file="strategy.yaml" data-line="{line}"' in html and "gtee" in html
    assert f"strategy.yaml:{line}:" in html
    # the draft stays in the editor (the trader fixes it, not retypes it)
    assert "{gtee: 0.6}" in html
    r = _post(operator, "save", bad)
    assert r.status_code == 422 and "Not saved" in r.get_data(as_text=True)
    assert (home.rules_dir / "strategy.yaml").read_text() == original


def test_save_refused_when_a_rule_test_fails(operator, home):
    original = (home.rules_dir / "strategy.yaml").read_text()
    # valid YAML and valid rules, but the long setup no longer passes its test case
    changed = original.replace("weight: 0.20", "weight: 0.01", 1)
    assert changed != original
    r = _post(operator, "test", changed)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="rules-test-failures"' in html
    r = _post(operator, "save", changed)
    assert r.status_code == 422
    assert (home.rules_dir / "strategy.yaml").read_text() == original


def test_valid_edit_is_diffed_saved_atomically_and_audited(operator, app, home):
    from connectors.db.models import AuditEntry

    original = (home.rules_dir / "strategy.yaml").read_text()
    edited = original.replace("why: 5m and 15m structure", "why: 5m and 15m market structure", 1)
    assert edited != original
    r = _post(operator, "validate", edited)
    assert r.status_code == 200 and 'id="rules-valid"' in r.get_data(as_text=True)
    r = _post(operator, "test", edited)
    assert r.status_code == 200 and "cases passed" in r.get_data(as_text=True)
    html = _post(operator, "diff", edited).get_data(as_text=True)
    assert 'class="add">+' in html and "market structure" in html and "on disk" in html
    r = _post(operator, "save", edited)
    assert r.status_code == 302
    assert (home.rules_dir / "strategy.yaml").read_text() == edited
    assert not [p for p in home.rules_dir.iterdir() if p.name.startswith(".")]  # no temp file left
    with app.app_context():
        entry = AuditEntry.select().where(AuditEntry.action == "rules.save").get()
    assert entry.username == "operator" and entry.target == "rules/strategy.yaml"
    assert "+" in entry.details["diff"] and "market structure" in entry.details["diff"]


def _store_version(app, home, by="watch", at_ms=1_700_000_000_000):
    from connectors.files.rules_files import read_rules_dir
    from connectors.stores.rules_store import record_activation
    from engine.rules.compiler import content_hash

    files, tests = read_rules_dir(home.rules_dir)
    with app.app_context():  # as the analysis loop records an activation
        record_activation(content_hash(files), files, tests, by, at_ms=at_ms)
    return content_hash(files), files


def test_history_and_rollback(operator, app, home):
    v1, files1 = _store_version(app, home, at_ms=1_700_000_000_000)
    edited = files1["strategy.yaml"].replace("why: 5m and 15m structure", "why: edited", 1)
    assert _post(operator, "save", edited).status_code == 302
    v2, _ = _store_version(app, home, at_ms=1_700_000_300_000)
    html = operator.get("/rules/").get_data(as_text=True)
    assert v1[:12] in html and v2[:12] in html and html.count("roll back") == 1  # only the inactive one
    # the diff is now against the active version (v2) from the table
    html = _post(operator, "diff", edited).get_data(as_text=True)
    assert f"active {v2[:12]}" in html and "no difference" in html
    r = operator.post("/api/rules/rollback", json={"version": v1}, headers={"X-CSRFToken": api_token(operator)})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["written"] == ["strategy.yaml"] and r.get_json()["in_effect"]
    assert (home.rules_dir / "strategy.yaml").read_text() == files1["strategy.yaml"]
    r = operator.post("/api/rules/rollback", json={"version": "nope"}, headers={"X-CSRFToken": api_token(operator)})
    assert r.status_code == 404


def test_api_validate_and_save(operator, home):
    h = {"X-CSRFToken": api_token(operator)}
    bad, line = _broken((home.rules_dir / "strategy.yaml").read_text())
    r = operator.post("/api/rules/validate", json={"file": "strategy.yaml", "text": bad}, headers=h)
    assert r.status_code == 422
    assert any(p["file"] == "strategy.yaml" and p["line"] == line for p in r.get_json()["problems"])
    r = operator.post("/api/rules/save", json={"file": "../etc/passwd.yaml", "text": "x"}, headers=h)
    assert r.status_code == 400
    r = operator.post("/api/rules/save", json={"file": "strategy.yaml", "text": bad}, headers=h)
    assert r.status_code == 422 and r.get_json()["error"] == "refused"
    listing = operator.get("/api/rules").get_json()
    assert {f["name"] for f in listing["files"]} == {"risk.yaml", "strategy.yaml"}


def test_shadow_stores_candidate_and_sets_config(admin, app, home):
    from connectors.db.models import Ruleset

    edited = (home.rules_dir / "strategy.yaml").read_text().replace("weight: 0.20", "weight: 0.25", 1)
    r = admin.post("/api/rules/shadow", json={"file": "strategy.yaml", "text": edited},
                   headers={"X-CSRFToken": api_token(admin)})
    assert r.status_code == 200, r.get_json()
    version = r.get_json()["version"]
    with app.app_context():
        row = Ruleset.get(Ruleset.hash == version)
        assert row.activated_at_ms is None and unpack(row.yaml)[0]["strategy.yaml"] == edited
    local = (home.config_dir / "config.local.yaml").read_text()
    assert f"shadow_ruleset: {version}" in local
    assert app.extensions["showdown"].config.get("engine.shadow_ruleset") == version
    # the rules dir itself is untouched: shadow never activates anything
    assert "weight: 0.25" not in (home.rules_dir / "strategy.yaml").read_text()
    html = admin.get("/rules/").get_data(as_text=True)
    assert 'id="shadow-version"' in html and "never (candidate)" in html


def test_trace_of_a_real_decision_is_rendered(viewer, app, home):
    """A decision made by the rules engine shows its trace as text: rules fired with their
    values, aggregation, why-not, ruleset version."""
    from connectors.db.models import Decision, DecisionTrace
    from connectors.files.rules_files import read_rules_dir
    from engine.rules.registry import RulesRegistry
    from engine.rules.samples import typical_long

    reg = RulesRegistry(lambda: read_rules_dir(home.rules_dir), lambda: app.extensions["showdown"].config)
    assert reg.reload("test").ok
    decision, trace = reg.decide(typical_long())
    reg.close()
    with app.app_context():
        tr = DecisionTrace.create(trace=trace)
        d = Decision.create(decided_at_ms=1_700_000_000_000, action=decision["action"], reason=decision["reason"],
                            ruleset_version=trace["ruleset"]["version"], trace=tr, document=decision)
    html = viewer.get(f"/decisions/{d.id}").get_data(as_text=True)
    assert 'id="trace-text"' in html and "DECISION LONG" in html
    assert "long.structure" in html and "[why not]" in html and trace["ruleset"]["version"] in html


MANAGE_RULES = """
  - id: manage.break_even
    stage: manage
    when:
      position:
        r_now: {gte: 1}
    then:
      stop: {break_even: true}
    why: once 1 R in profit the trade may not turn into a loss

  - id: manage.time_stop
    stage: manage
    when:
      position:
        age_min: {gte: 240}
    then:
      close: {reason: time_stop}
    why: four hours is long enough
"""


def test_api_validates_management_rules_and_refuses_a_widening_shape_with_its_position(operator, home):
    """The editor judges the manage stage like any other: a valid one passes, a stop with two
    ways at once is refused at its line and column and nothing is written."""
    h = {"X-CSRFToken": api_token(operator)}
    original = (home.rules_dir / "strategy.yaml").read_text()
    good = original.rstrip("\n") + "\n" + MANAGE_RULES
    r = operator.post("/api/rules/validate", json={"file": "strategy.yaml", "text": good}, headers=h)
    assert r.status_code == 200, r.get_json()
    bad = good.replace("stop: {break_even: true}", "stop: {break_even: true, trail_percent: 1}")
    line = bad.splitlines().index("      stop: {break_even: true, trail_percent: 1}") + 1
    r = operator.post("/api/rules/validate", json={"file": "strategy.yaml", "text": bad}, headers=h)
    assert r.status_code == 422
    probs = r.get_json()["problems"]
    assert any(p["file"] == "strategy.yaml" and p["line"] == line and "both given" in p["message"] for p in probs), probs
    r = operator.post("/api/rules/save", json={"file": "strategy.yaml", "text": bad}, headers=h)
    assert r.status_code == 422 and (home.rules_dir / "strategy.yaml").read_text() == original


def test_declared_indicators_and_expressions_are_checked_by_the_editor(operator, home):
    """A malformed indicator or expression is refused with file:line:col and nothing is
    written; a valid declaration compiles, and an unused one comes back as a warning."""
    h = {"X-CSRFToken": api_token(operator)}
    original = (home.rules_dir / "strategy.yaml").read_text()
    assert "\nrules:\n" in original
    head, tail = original.split("\nrules:\n", 1)
    lines = head.count("\n") + 1
    decl = ("\nindicators:\n  rsi_7: {function: RSII, timeframe: 1h, params: {timeperiod: 7}}\n"
            "expressions:\n  turn: \"crosses_above(rsi_7 30)\"\n")
    bad = head + decl + "rules:\n" + tail
    r = operator.post("/api/rules/validate", json={"file": "strategy.yaml", "text": bad}, headers=h)
    assert r.status_code == 422
    got = {(p["line"], p["col"]): p["message"] for p in r.get_json()["problems"]}
    assert "not a TA-Lib function; did you mean 'RSI'?" in got[(lines + 2, 21)]
    assert got[(lines + 4, 30)].startswith("expression turn: unexpected '30'")
    r = _post(operator, "save", bad)
    assert r.status_code == 422 and "Not saved" in r.get_data(as_text=True)
    assert (home.rules_dir / "strategy.yaml").read_text() == original
    good = head + decl.replace("RSII", "RSI").replace("rsi_7 30", "rsi_7, 30") + "rules:\n" + tail
    r = operator.post("/api/rules/validate", json={"file": "strategy.yaml", "text": good}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert [w["message"] for w in r.get_json()["warnings"]] == ["expression turn is declared but no rule reads it"]
