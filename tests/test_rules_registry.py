"""Hot reload: refused edits change nothing; rapid saves never tear a cycle."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from pathlib import Path

import pytest

from connectors.files.rules_files import read_rules_dir
from connectors.loops.rules_watcher import RulesWatcher
from engine.rules.compiler import content_hash
from engine.rules.registry import RulesRegistry
from engine.rules.samples import typical_long
from tests.rules_support import RULES_DIR, case_files, config, rule_files
from tests.test_rules_compiler import CASES


def _registry(files: dict[str, dict[str, str]]) -> RulesRegistry:
    return RulesRegistry(lambda: (dict(files["rules"]), dict(files["tests"])), config)


SMALL = ("ruleset: t\nrules:\n  - id: a.b\n    stage: signal\n    when:\n      snapshot: {price: {gt: 1}}\n"
         "    then:\n      score: {side: long, factor: f, weight: 0.5}\n    why: x\n")


def test_refused_files_leave_the_running_version_untouched() -> None:
    state = {"rules": {"a.yaml": SMALL}, "tests": {}}
    reg = _registry(state)
    assert reg.reload("startup").ok
    good = reg.active
    assert good is not None
    for name, text, _ in CASES:
        state["rules"] = {"a.yaml": text.replace("@@", "", 1)}
        out = reg.reload("test")
        assert not out.ok and out.problems, name
        assert reg.active is good
        assert reg.decide(typical_long())[0]["ruleset_version"] == good.version
    assert len(reg.refusals) == reg.refusals.maxlen and reg.status()["last_refusal"]["problems"]
    reg.close()


def test_a_failing_rule_test_refuses_the_version() -> None:
    state = {"rules": rule_files(), "tests": case_files()}
    reg = _registry(state)
    reg.reload("startup")
    before = reg.active
    # Valid YAML, valid rules, but the strategy changed under the tests' feet.
    state["rules"] = {**rule_files(), "strategy.yaml": rule_files()["strategy.yaml"].replace(
        "long: {gte: \"${risk.min_score}\"}\n        margin", "long: {gte: 0.99}\n        margin")}
    out = reg.reload("test")
    assert not out.ok and any("rule test" in p for p in out.problems)
    assert reg.active is before
    reg.close()


def test_unchanged_content_does_not_reload_and_shadow_records_disagreements() -> None:
    state = {"rules": rule_files(), "tests": case_files()}
    reg = _registry(state)
    reg.reload("startup")
    assert reg.reload("again").changed is False
    shadow = {**rule_files()}
    shadow["risk.yaml"] = shadow["risk.yaml"].replace("veto: {reason: low_confidence}", "veto: {reason: low_confidence}")
    shadow["strategy.yaml"] = shadow["strategy.yaml"].replace("weight: 0.20}\n    why: 5m and 15m structure up",
                                                              "weight: -0.90}\n    why: 5m and 15m structure up")
    assert reg.set_shadow(shadow).ok
    decision, trace = reg.decide(typical_long())
    assert decision["action"] == "long"
    assert trace["shadow"]["shadow_decision"]["action"] == "flat" and len(reg.shadow_disagreements) == 1
    reg.close()


@pytest.mark.slow
def test_200_rapid_saves_while_cycles_run(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules_dir)
    reg = RulesRegistry(lambda: read_rules_dir(rules_dir), config)
    assert reg.reload("startup").ok
    valid_versions = {reg.active.version}            # type: ignore[union-attr]
    watcher = RulesWatcher(reg, [rules_dir], debounce_ms=100, step_ms=20).start()
    time.sleep(0.3)
    stop = threading.Event()
    seen: list[str] = []
    errors: list[str] = []

    def cycles() -> None:
        facts = typical_long()
        while not stop.is_set():
            d, trace = reg.decide(facts)
            if d["ruleset_version"] != trace["ruleset"]["version"]:
                errors.append("decision and trace from different versions")
            if trace.get("disagreements"):
                errors.append(str(trace["disagreements"]))
            seen.append(d["ruleset_version"])

    t = threading.Thread(target=cycles)
    t.start()
    rng = random.Random(7)
    base = (RULES_DIR / "risk.yaml").read_text()
    last_valid = None
    for i in range(200):
        kind = rng.choice(["valid", "valid", "invalid", "rename"])
        text = base.replace("why: analytics says risk off", f"why: analytics says risk off (edit {i})")
        if kind == "invalid":
            text = text.replace("stage: risk", "stage: riskk", 1)
        target = rules_dir / "risk.yaml"
        if kind == "rename":                     # editor style: temp file + atomic rename
            tmp = rules_dir / f".risk.yaml.{i}.swp"
            tmp.write_text(text)
            os.replace(tmp, target)
        else:                                    # in-place rewrite, in two writes (a torn read if unlucky)
            with open(target, "w") as fh:
                fh.write(text[: len(text) // 2])
                fh.flush()
                fh.write(text[len(text) // 2:])
        if kind != "invalid":
            files = {**rule_files(rules_dir)}
            last_valid = content_hash(files)
            valid_versions.add(last_valid)
        time.sleep(rng.uniform(0.0, 0.02))
    deadline = time.time() + 20
    while time.time() < deadline and (reg.active.version != last_valid):   # type: ignore[union-attr]
        time.sleep(0.05)
    stop.set()
    t.join()
    watcher.stop()
    assert not errors, errors[:3]
    assert seen and set(seen) <= valid_versions, set(seen) - valid_versions
    assert reg.active.version == last_valid                  # type: ignore[union-attr]
    assert watcher.batches < 200                              # bursts were coalesced
    reg.close()
