"""The compiler refuses malformed rule files with the right position and a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from engine.rules.compiler import RulesRefused, compile_texts
from engine.rules.json_schema import build_schema
from tests.rules_support import RULES_DIR, config, default_rules, rule_files

SIGNAL_WHEN = "      snapshot:\n        price: {gt: 1}\n"
SCORE = "      score: {side: long, factor: f, weight: 0.1}\n"


def rule(stage: str = "signal", when: str = SIGNAL_WHEN, then: str = SCORE, rid: str = "a.b",
         why: str = "    why: test\n", extra: str = "") -> str:
    return (f"  - id: {rid}\n    stage: {stage}\n    when:\n{when}    then:\n{then}{why}{extra}")


def doc(*rules: str, head: str = "ruleset: t\n") -> str:
    return head + "rules:\n" + "".join(rules)


def w(path_line: str, fact: str = "snapshot") -> str:
    return f"      {fact}:\n        {path_line}\n"


# (name, file text with @@ marking where the problem must be reported, words the message must contain)
CASES = [
    ("unknown field", doc(rule(when=w("@@pricee: {gt: 1}"))), ["unknown field snapshot.pricee", "did you mean 'price'"]),
    ("group not leaf", doc(rule(when=w("@@market_structure: {eq: range}"))), ["group of fields", "tf_5m"]),
    ("unknown fact", doc(rule(when="      @@snapshott:\n        price: {gt: 1}\n")), ["unknown fact 'snapshott'", "snapshot"]),
    ("unknown operator", doc(rule(when=w("price: {@@greater: 1}"))), ["unknown operator 'greater'", "expected one of"]),
    ("operator wrong type", doc(rule(when=w("market_structure.tf_5m: {@@gt: 1}"))), ["does not apply", "eq, neq, in"]),
    ("text for number", doc(rule(when=w("price: {gt: @@high}"))), ["got the text 'high'", "expected a number"]),
    ("bad enum value", doc(rule(when=w("market_structure.tf_5m: {eq: @@up}"))), ["'up' is not a possible value", "HH-HL"]),
    ("in needs list", doc(rule(when=w("market_structure.tf_5m: {in: @@HH-HL}"))), ["expected a non-empty list"]),
    ("bad item in list", doc(rule(when=w("market_structure.tf_5m: {in: [HH-HL, @@UP]}"))), ["'UP' is not a possible value"]),
    ("between one value", doc(rule(when=w("price: {between: @@[1]}"))), ["[low, high]"]),
    ("between reversed", doc(rule(when=w("price: {between: @@[5, 1]}"))), ["low 5 is above high 1"]),
    ("text for boolean", doc(rule(when=w("session.restricted: {eq: @@yes}"))), ["expected true or false"]),
    ("float for integer", doc(rule(when=w("trades_today: {gte: @@2.5}", "account"))), ["expected an integer"]),
    ("is_known false", doc(rule(when=w("price: {is_known: @@false}"))), ["expected true"]),
    ("unknown config ref", doc(rule(when=w('price: {gt: @@"${risk.max_fundin_8h}"}'))),
     ["not a configuration value", "max_funding_8h"]),
    ("non-numeric config ref", doc(rule(when=w('price: {gt: @@"${symbol}"}'))), ["'BTCUSDT', not a number"]),
    ("malformed config ref", doc(rule(when=w('price: {gt: @@"${risk.max funding}"}'))), ["not a valid config reference"]),
    ("config ref to a section", doc(rule(when=w('price: {gt: @@"${risk.modes}"}'))), ["not a number"]),
    ("duplicate id", doc(rule(), rule(rid="@@a.b")), ["duplicate rule id 'a.b'", "first defined at"]),
    ("unknown stage", doc(rule(stage="@@signals")), ["unknown stage 'signals'", "did you mean 'signal'"]),
    ("missing stage", doc("  - @@id: a.b\n    when:\n" + SIGNAL_WHEN + "    then:\n" + SCORE + "    why: x\n"),
     ["has no `stage:`"]),
    ("missing why", doc(rule(why="").replace("  - id", "  - @@id")), ["has no `why:`"]),
    ("missing when", doc("  - @@id: a.b\n    stage: signal\n    then:\n" + SCORE + "    why: x\n"), ["has no `when:`"]),
    ("empty when", doc(rule().replace("    when:\n" + SIGNAL_WHEN, "    when: @@{}\n")), ["`when:` is a mapping"]),
    ("unknown action", doc(rule(then="      @@scores: {side: long, factor: f, weight: 0.1}\n")),
     ["unknown action 'scores'", "did you mean 'score'"]),
    ("action in wrong stage", doc(rule(stage="risk", then="      @@score: {side: long, factor: f, weight: 0.1}\n")),
     ["means nothing in stage risk", "expected stage signal"]),
    ("score missing side", doc(rule(then="      score: @@{factor: f, weight: 0.1}\n")), ["missing `side`"]),
    ("score bad side", doc(rule(then="      score: {side: @@both, factor: f, weight: 0.1}\n")), ["'both' is not a possible value"]),
    ("weight out of range", doc(rule(then="      score: {side: long, factor: f, weight: @@1.5}\n")), ["out of range", "[-1.0, 1.0]"]),
    ("weight zero", doc(rule(then="      score: {side: long, factor: f, weight: @@0}\n")), ["changes nothing"]),
    ("weight text", doc(rule(then="      score: {side: long, factor: f, weight: @@big}\n")), ["got the text 'big'"]),
    ("unknown check", doc(rule(stage="risk", then="      block: {check: @@daily_ok}\n")), ["'daily_ok' is not a possible value", "daily_dd_ok"]),
    ("unknown mode", doc(rule(stage="risk", then="      mode: {set: @@yolo}\n")), ["'yolo' is not a possible value", "risk_off"]),
    ("empty multiplier", doc(rule(stage="risk", then="      multiplier: @@{}\n")), ["no parameter given"]),
    ("unknown action parameter", doc(rule(then="      score: {side: long, factor: f, weight: 0.1, @@extra: 1}\n")),
     ["unknown parameter 'extra'"]),
    ("unknown rule key", doc(rule(extra="    @@priority: 1\n")), ["unknown rule key 'priority'"]),
    ("unknown top key", "ruleset: t\n@@version: 2\nrules:\n" + rule(), ["unknown top-level key 'version'"]),
    ("missing ruleset", "@@rules:\n" + rule(), ["missing `ruleset:`"]),
    ("rules not a list", "ruleset: t\nrules: @@{a: 1}\n", ["expected a non-empty list of rules"]),
    ("empty file", "@@", ["the file is empty"]),
    ("yaml colon in text", doc(rule(why="    why: the crowd leans short@@: fuel\n")), ["not valid YAML", "mapping values"]),
    ("yaml duplicate key", doc(rule(when="      snapshot:\n        price: {gt: 1}\n        @@price: {lt: 9}\n")),
     ["not valid YAML", "appears twice"]),
    ("yaml custom tag", doc(rule(then="      score: {side: long, factor: f, weight: @@!eval 0.1}\n")), ["tag"]),
    ("rule is a string", doc("  - @@just a string\n"), ["rule #1 is the text"]),
    ("invalid id", doc(rule(rid="@@A B")), ["rule id 'A B' is not valid"]),
    ("score read in signal stage", doc(rule(when="      @@score:\n        long: {gt: 0.5}\n")), ["does not exist yet in stage signal"]),
    ("outcome read in candidate stage", doc(rule(stage="candidate", when="      @@outcome:\n        confidence: {gt: 0.5}\n",
                                              then="      veto: {reason: x}\n")), ["decided before stage decision"]),
    ("contradictory bounds", doc(rule(when=w("@@price: {gt: 5, lt: 3}"))), ["can never fire", "price gt 5"]),
    ("contradictory enum", doc(rule(when=w("@@market_structure.tf_5m: {eq: range, neq: range}"))), ["can never fire"]),
    ("unknown and bound", doc(rule(when=w("@@price: {is_unknown: true, gt: 3}"))), ["can never fire"]),
    ("fact conditions not a mapping", doc(rule(when="      snapshot: @@5\n")), ["conditions on snapshot are the number 5"]),
    ("shorthand value", doc(rule(when=w("price: @@5"))), ["expected {operator: value}"]),
    ("empty in list", doc(rule(when=w("market_structure.tf_5m: {in: @@[]}"))), ["expected a non-empty list"]),
    ("veto without reason", doc(rule(stage="risk", then="      veto: @@{error: true}\n")), ["missing `reason`"]),
    ("negative leverage cap", doc(rule(stage="risk", then="      cap: {leverage: @@-1}\n")), ["out of range"]),
    ("unknown flag", doc(rule(stage="risk", then="      flag: {set: @@go_fast}\n")), ["'go_fast' is not a possible value"]),
    ("candidate in signal stage", doc(rule(then="      @@candidate: {side: long}\n")), ["means nothing in stage signal"]),
    ("not a number", doc(rule(when=w("price: {gt: @@.nan}"))), ["not a finite number"]),
    ("quoted number", doc(rule(when=w('price: {gt: @@"1"}'))), ["got the text '1'"]),
    ("top level list", "@@- a\n- b\n", ["the top level is a list"]),
    ("weight in wrong stage reference", doc(rule(when=w('data_age_s: {gt: @@"-${risk.nope}"}'))), ["not a configuration value"]),
]


def _locate(text: str) -> tuple[str, int, int]:
    i = text.index("@@")
    before = text[:i]
    line = before.count("\n") + 1
    col = i - (before.rfind("\n") + 1) + 1
    return text.replace("@@", "", 1), line, col


def test_there_are_at_least_50_malformed_cases() -> None:
    assert len(CASES) >= 50
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("name,text,words", CASES, ids=[c[0] for c in CASES])
def test_malformed_file_is_refused_at_the_right_place(name: str, text: str, words: list[str]) -> None:
    clean, line, col = _locate(text)
    with pytest.raises(RulesRefused) as info:
        compile_texts({"bad.yaml": clean}, config())
    problems = info.value.problems
    at = [p for p in problems if (p.file, p.line, p.col) == ("bad.yaml", line, col)]
    assert at, f"expected a problem at bad.yaml:{line}:{col}, got {[str(p) for p in problems]}"
    msg = " ".join(p.message for p in at)
    for word in words:
        assert word in msg, f"{word!r} not in {msg!r}"
    assert "(expected" in msg or "tag" in msg     # every message says what was expected


def test_ruleset_name_must_agree_across_files() -> None:
    good = doc(rule())
    with pytest.raises(RulesRefused) as info:
        compile_texts({"a.yaml": good, "b.yaml": doc(rule(rid="c.d"), head="ruleset: other\n")}, config())
    assert [str(p) for p in info.value.problems] == [
        "b.yaml:1:1: ruleset 'other' differs from 't' in a.yaml (expected one ruleset name across the rule files)"]


def test_duplicate_id_across_files_names_both_places() -> None:
    with pytest.raises(RulesRefused) as info:
        compile_texts({"a.yaml": doc(rule()), "b.yaml": doc(rule())}, config())
    (p,) = info.value.problems
    assert (p.file, p.line, p.col) == ("b.yaml", 3, 9) and "first defined at a.yaml:3:5" in p.message


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = doc(rule(when=w("pricee: {gt: 1}")), rule(rid="x.y", stage="nope"))
    with pytest.raises(RulesRefused) as info:
        compile_texts({"bad.yaml": text}, config())
    assert len(info.value.problems) == 2


def test_default_rules_compile_with_config_values_resolved() -> None:
    compiled, _ = default_rules()
    assert compiled.name == "btc_default" and len(compiled.rules) >= 80
    assert compiled.config_values["risk.max_funding_8h"] == config().get("risk.max_funding_8h")
    neg = [c for c in compiled.rule("short.funding_ok").conditions if c.op == "gte"][0]
    assert neg.value == -config().get("risk.max_funding_8h")
    assert set(compiled.by_stage) == {"signal", "candidate", "risk", "decision", "manage"}


def test_version_is_a_content_hash_of_the_rule_files() -> None:
    files = rule_files()
    a = compile_texts(files, config()).version
    assert compile_texts(dict(files), config()).version == a
    files["risk.yaml"] += "\n# a comment changes the content\n"
    assert compile_texts(files, config()).version != a


def test_shipped_json_schema_is_current_and_accepts_the_default_rules() -> None:
    shipped = json.loads((RULES_DIR / "schema.json").read_text())
    assert shipped == build_schema(), "rules/schema.json is stale: run python -m engine.rules.json_schema > rules/schema.json"
    yaml = YAML(typ="safe", pure=True)
    validator = jsonschema.Draft202012Validator(shipped)
    for p in sorted(RULES_DIR.glob("*.yaml")):
        assert not list(validator.iter_errors(yaml.load(p.read_text()))), p.name
    testfile = {"$ref": "#/$defs/testfile", "$defs": shipped["$defs"]}
    for p in sorted((RULES_DIR / "tests").glob("*.yaml")):
        assert not list(jsonschema.Draft202012Validator(testfile).iter_errors(yaml.load(p.read_text()))), p.name


def test_json_schema_catches_what_editors_can_see() -> None:
    schema = build_schema()
    yaml = YAML(typ="safe", pure=True)
    bad = [CASES[0][1], CASES[3][1], CASES[24][1], CASES[19][1]]   # unknown field, operator, action, stage
    for text in bad:
        data = yaml.load(text.replace("@@", ""))
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)), text


def test_rule_files_carry_the_editor_modeline() -> None:
    for p in sorted(Path(RULES_DIR).glob("*.yaml")):
        assert p.read_text().startswith("# yaml-language-server: $schema=./schema.json"), p.name
