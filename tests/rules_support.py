"""Shared helpers for the rules tests: the project rules, compiled once per process."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from engine.config import load_config
from engine.rules.compiler import CompiledRules, compile_texts
from engine.rules.durable_backend import DurableRules

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"


def rule_files(d: Path = RULES_DIR) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(d.glob("*.yaml"))}


def case_files(d: Path = RULES_DIR) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((d / "tests").glob("*.yaml"))}


@functools.lru_cache(maxsize=1)
def config() -> Any:
    return load_config()


@functools.lru_cache(maxsize=1)
def default_rules() -> tuple[CompiledRules, DurableRules]:
    compiled = compile_texts(rule_files(), config())
    return compiled, DurableRules(compiled)
