"""Configuration: base file < local file < `.env` file < environment, validated against a
JSON Schema. The `.env` file (KEY=value lines, read with python-dotenv, in the home root —
the repository or SHOWDOWN_HOME) holds what the original design keeps there: API keys and
other secrets, under the same names as the environment (`.env.example` names them all).
It is read, never exported into os.environ, and its values are secrets like any other.

The effective config is plain nested dicts plus, for every leaf, where its value came
from. A new config only replaces the active one when it validates whole
(`ConfigStore.reload`), so a bad edit never takes effect.
"""

from __future__ import annotations

import copy
import math
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from dotenv import dotenv_values
from ruamel.yaml.error import YAMLError

from engine import yaml_bounded
from engine.paths import Home, home

REDACTED = "***"

# Environment names kept from the original design, mapped to config paths.
ENV_KEYS: dict[str, str] = {
    "DB_HOST": "database.host",
    "DB_PORT": "database.port",
    "DB_USER": "database.user",
    "DB_PASSWORD": "database.password",
    "DB_NAME": "database.name",
    "BINANCE_API_KEY": "binance.api_key",
    "BINANCE_API_SECRET": "binance.api_secret",
    "BINANCE_TESTNET": "binance.testnet",
    "BINANCE_BASE_URL": "binance.base_url",
    "BINANCE_STREAM_URL": "binance.stream_url",
    "TELEGRAM_BOT_TOKEN": "telegram.bot_token",
    "TELEGRAM_CHAT_IDS": "telegram.chat_ids",
    "SHOWDOWN_SECRET_KEY": "web.secret_key",
    "SHOWDOWN_MODE": "mode",
}
# Any other key: SHOWDOWN__SECTION__KEY=value (double underscores separate the path).
ENV_PREFIX = "SHOWDOWN__"


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists each with its key path and source."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Config:
    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    secret_paths: frozenset[str] = frozenset()

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.values
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def __getitem__(self, section: str) -> Any:
        return self.values[section]

    def secrets(self) -> list[str]:
        """Configured secret values (non-empty), for scrubbing logs and pages."""
        vals = [self.get(p) for p in self.secret_paths]
        return [str(v) for v in vals if v not in (None, "")]

    def redacted(self) -> dict[str, Any]:
        out = copy.deepcopy(self.values)
        for p in self.secret_paths:
            parts = p.split(".")
            node = out
            for part in parts[:-1]:
                node = node.get(part, {})
            if node.get(parts[-1]) not in (None, ""):
                node[parts[-1]] = REDACTED
        return out

    def uses_mariadb(self) -> bool:
        return bool(self.get("database.host"))


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml_bounded.load(path.read_text(encoding="utf-8"), "safe")
    except yaml_bounded.YamlTooComplex as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError([f"{where}: {yaml_bounded.describe(exc)}"]) from exc
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: top level must be a mapping, got {type(data).__name__}"])
    return data


def _schema(config_dir: Path) -> dict[str, Any]:
    return _load_yaml(config_dir / "schema.yaml")


def _leaves(d: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from _leaves(v, path + ".")
        else:
            yield path, v


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> None:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)


def _schema_at(schema: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for part in path:
        if node is None:
            return None
        node = node.get("properties", {}).get(part)
        if node is not None and "$ref" in node:
            node = _resolve_ref(schema, node["$ref"])
    return node


def _resolve_ref(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = schema
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _secret_paths(root: dict[str, Any], node: dict[str, Any] | None = None, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, sub in (root if node is None else node).get("properties", {}).items():
        if "$ref" in sub:
            sub = _resolve_ref(root, sub["$ref"])
        if sub.get("secret"):
            out.add(prefix + name)
        if sub.get("properties"):
            out |= _secret_paths(root, sub, prefix + name + ".")
    return out


def _coerce_env(raw: str, spec: dict[str, Any] | None, name: str) -> Any:
    types = spec.get("type") if spec else "string"
    types = types if isinstance(types, list) else [types]
    if "null" in types and raw.strip().lower() in ("", "null", "none"):
        return None
    if "boolean" in types:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError([f"env {name}: expected a boolean (true/false), got {raw!r}"])
    if "integer" in types:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError([f"env {name}: expected an integer, got {raw!r}"]) from None
    if "number" in types:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError([f"env {name}: expected a number, got {raw!r}"]) from None
    if "array" in types:
        return [p.strip() for p in raw.split(",") if p.strip()]
    return raw


def non_finite(value: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """(key path, value) of every NaN or infinity in nested dicts and lists. JSON Schema
    lets them through (every comparison with NaN is false), and a NaN risk setting would
    reach sizing and the API's JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        yield prefix or "(top level)", value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from non_finite(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from non_finite(v, f"{prefix}[{i}]")


def _set(d: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        d = d.setdefault(part, {})
    d[parts[-1]] = value


def _describe(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    v = error.validator
    if v == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        return f"unknown key {', '.join(map(repr, extra))} (allowed: {', '.join(allowed)})"
    if v == "type":
        return f"expected {error.validator_value}, got {error.instance!r} ({type(error.instance).__name__})"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        lo_b = "(" if "exclusiveMinimum" in schema else "["
        hi_b = ")" if "exclusiveMaximum" in schema else "]"
        rng = f"{lo_b}{'-inf' if lo is None else lo}, {'+inf' if hi is None else hi}{hi_b}"
        return f"expected {schema.get('type', 'number')} in {rng}, got {error.instance!r}"
    if v == "enum":
        return f"expected one of {error.validator_value}, got {error.instance!r}"
    if v == "required":
        return error.message
    return error.message


def build_config(
    base: dict[str, Any],
    local: dict[str, Any] | None,
    env: Mapping[str, str],
    schema: dict[str, Any],
    names: tuple[str, str] = ("config.yaml", "config.local.yaml"),
    dotenv: Mapping[str, str] | None = None,
) -> Config:
    """Merge, validate and return the effective config (pure: no file or env access).
    `dotenv` holds the `.env` file's variables: above the YAML files, below `env`."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer, name in ((base, names[0]), (local or {}, names[1])):
        _merge(values, layer)
        for path, _ in _leaves(layer):
            sources[path] = name
    problems: list[str] = []
    overrides: list[tuple[str, str, str, str]] = []  # (name as reported, path, raw, source)
    for origin, variables in ((".env", dotenv or {}), ("env", env)):
        label = "" if origin == "env" else ".env:"
        overrides += [(label + n, p, variables[n], f"{origin} {n}") for n, p in ENV_KEYS.items() if n in variables]
        for name, raw in variables.items():
            if name.startswith(ENV_PREFIX):
                overrides.append((label + name, name[len(ENV_PREFIX):].lower().replace("__", "."), raw,
                                  f"{origin} {name}"))
    for name, path, raw, source in overrides:
        spec = _schema_at(schema, path.split("."))
        if spec is None:
            problems.append(f"env {name}: {path} is not a configuration key")
            continue
        try:
            _set(values, path, _coerce_env(raw, spec, name))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        sources[path] = source
    for path, bad in non_finite(values):
        src = sources.get(path)
        problems.append(f"{path}: expected a finite number, got {bad!r}" + (f" (from {src})" if src else ""))
    validator = jsonschema.Draft202012Validator(schema)
    for err in sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.absolute_path))):
        path = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        src = sources.get(path)
        where = f" (from {src})" if src else ""
        problems.append(f"{path}: {_describe(err)}{where}")
    if problems:
        raise ConfigError(problems)
    return Config(values=values, sources=sources, secret_paths=frozenset(_secret_paths(schema)))


def load_config(where: Home | None = None, env: Mapping[str, str] | None = None) -> Config:
    where = where or home(env)
    env = os.environ if env is None else env
    base_path = where.config_dir / "config.yaml"
    local_path = where.config_dir / "config.local.yaml"
    base = _load_yaml(base_path)
    local = _load_yaml(local_path) if local_path.exists() else None
    return build_config(base, local, env, _schema(where.config_dir), dotenv=read_dotenv(where.root / ".env"))


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of a `.env` file ({} when there is none); a line without a value is ignored."""
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def require(config: Config, paths: list[str]) -> None:
    """Fail at start with a message naming every required setting that is missing."""
    missing = [p for p in paths if config.get(p) in (None, "", [])]
    if missing:
        raise ConfigError([f"{p}: required for mode {config.get('mode')!r} but not set" for p in missing])


class ConfigStore:
    """The active config; `reload()` swaps it only when the new one is valid."""

    def __init__(self, where: Home | None = None, env: Mapping[str, str] | None = None):
        self._where = where
        self._env = env
        self._lock = threading.Lock()
        self._active = load_config(where, env)
        self.last_error: ConfigError | None = None

    @property
    def active(self) -> Config:
        return self._active

    def reload(self) -> tuple[bool, list[str]]:
        try:
            new = load_config(self._where, self._env)
        except ConfigError as exc:
            self.last_error = exc
            return False, exc.problems
        with self._lock:
            self._active = new
        self.last_error = None
        return True, []
