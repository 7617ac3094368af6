"""Edit the risk and engine sections from the site: the change is merged into
config/config.local.yaml, validated whole against the schema with the environment on top,
and only then written (atomically). Refused edits change nothing."""

from __future__ import annotations

import copy
import io
import os
from typing import Any

from ruamel.yaml import YAML

from connectors.files.json_files import atomic_write_text
from connectors.files.rules_files import VERSION_PREFIX, RulesPathRefused, confined_path
from engine import yaml_bounded
from engine.config import ConfigError, _load_yaml, _merge, _schema, build_config
from web.context import sd

EDITABLE_SECTIONS = ("risk", "engine")


class ConfigEditError(Exception):
    def __init__(self, status: int, problems: list[str]):
        self.status = status
        self.problems = problems
        super().__init__("; ".join(problems))


def _flat(d: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.extend(_flat(v, f"{prefix}{k}."))
        else:
            out.append(f"{prefix}{k}")
    return out


def patch_section(section: str, changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply `changes` (a partial mapping) to `section`; return (before, after) effective values."""
    if section not in EDITABLE_SECTIONS:
        raise ConfigEditError(404, [f"section {section!r} is not editable here (only {', '.join(EDITABLE_SECTIONS)})"])
    if not isinstance(changes, dict) or not changes:
        raise ConfigEditError(400, ["body must be a non-empty JSON object of keys to change in " + section])
    current = sd().config
    env_set = [f"{section}.{p}" for p in _flat(changes)
               if str(current.sources.get(f"{section}.{p}", "")).startswith("env ")]
    if env_set:
        raise ConfigEditError(409, [f"{p}: set by {current.sources[p]}, which overrides the files; change it there"
                                    for p in env_set])
    if section == "engine" and isinstance(changes.get("shadow_ruleset"), str):
        _check_shadow(changes["shadow_ruleset"])
    config_dir = sd().home.config_dir
    local_path = config_dir / "config.local.yaml"
    rt = YAML()  # round-trip: keeps the operator's comments in the local file
    try:
        plain_local = _load_yaml(local_path) if local_path.exists() else {}   # bounded; refuses a bad file
    except ConfigError as exc:
        raise ConfigEditError(409, exc.problems) from exc
    local_doc = yaml_bounded.load(local_path.read_text(encoding="utf-8"), "rt") if local_path.exists() else None
    if local_doc is None:
        local_doc = {}
    new_plain = copy.deepcopy(plain_local)
    _merge(new_plain, {section: changes})
    try:
        new_config = build_config(_load_yaml(config_dir / "config.yaml"), new_plain, os.environ, _schema(config_dir))
    except ConfigError as exc:
        raise ConfigEditError(422, exc.problems) from exc
    section_doc = local_doc.setdefault(section, {})
    _merge_rt(section_doc, changes)
    buf = io.StringIO()
    rt.dump(local_doc, buf)
    atomic_write_text(local_path, buf.getvalue())
    before = copy.deepcopy(current.get(section))
    ok, problems = sd().reload_config()
    if not ok:  # the file changed under us between validation and reload
        raise ConfigEditError(409, problems)
    if sd().config_store is None:
        sd().config = new_config
    return before, copy.deepcopy(sd().config.get(section))


def _check_shadow(spec: str) -> None:
    """engine.shadow_ruleset names a stored version or a rule file / directory inside the
    rules directory, nothing else: the site must not be a way to read other files."""
    from connectors.stores.rules_store import find_version

    if VERSION_PREFIX.fullmatch(spec):
        try:
            find_version(spec)
            return
        except LookupError as exc:
            if not (sd().home.rules_dir / spec).exists():
                raise ConfigEditError(422, [f"engine.shadow_ruleset: {exc}"]) from None
    try:
        confined_path(spec, sd().home.rules_dir)
    except RulesPathRefused as exc:
        raise ConfigEditError(422, [f"engine.shadow_ruleset: {exc}"]) from None


def _merge_rt(node: Any, changes: dict[str, Any]) -> None:
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(node.get(k), dict):
            _merge_rt(node[k], v)
        else:
            node[k] = v

