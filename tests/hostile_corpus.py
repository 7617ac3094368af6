"""Hostile and careless inputs, shared by the tests that throw them at the compiler, the
CLI (`showdown rules check`), the watcher and the site, and by tests/bench/bench_hostile.py.

Each rule-file case is (name, YAML text, a fragment the refusal must contain, the line
the refusal must point at or None). Every one must be refused quickly, with
file:line:col, and leave the active version as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

TIME_BOUND_S = 2.0
HOSTILE_FILE = "zz_hostile.yaml"

_RULE = ("ruleset: btc_default\nrules:\n  - id: {id}\n    stage: signal\n    when:\n"
         "      snapshot: {{price: {{gt: {value}}}}}\n    then:\n      score: {{side: long, weight: 0.1}}\n"
         "    why: {why}\n")


def rule(id: str = "hostile.probe", value: str = "1", why: str = "probe") -> str:  # noqa: A002
    return _RULE.format(id=id, value=value, why=why)


def alias_bomb(levels: int, fan: int = 9) -> str:
    """The issue's ~600-byte bomb: each level is a list of `fan` aliases of the previous one."""
    lines = ["ruleset: btc_default", "x0: &a0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    lines.append("rules: []")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    expect: str          # a fragment of the refusal
    line: int | None     # where it must point (None: anywhere)


def _deep_block(levels: int) -> str:
    return "ruleset: btc_default\nrules: []\ndescription:\n" + "".join(" " * (i + 1) + "k:\n" for i in range(levels))


RULE_CASES: list[Case] = [
    Case("alias bomb, 7 levels", alias_bomb(7), "expands to more than", None),
    Case("alias bomb, 9 levels", alias_bomb(9), "expands to more than", None),
    Case("many aliases", "ruleset: btc_default\nx: &a 1\ny: [" + ", ".join(["*a"] * 500) + "]\nrules: []\n",
         "more than 200 aliases", 3),
    Case("alias inside itself", "ruleset: btc_default\nrules: &r [*r]\n", "contains it", 2),
    Case("3000-deep flow nesting", "ruleset: btc_default\nrules: " + "[" * 3000 + "]" * 3000 + "\n",
         "nested deeper than", 2),
    Case("3000-deep mappings", "ruleset: btc_default\nrules: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
         "nested deeper than", 2),
    Case("deep block nesting", _deep_block(300), "nested deeper than", None),
    Case("huge scalar", "ruleset: btc_default\nrules: []\ndescription: " + "x" * 200_000 + "\n",
         "larger than 128 KiB", 3),
    Case("many nodes", "ruleset: btc_default\nrules: []\ndescription: [" + ",".join(["1"] * 20_000) + "]\n",
         "more than 6000 nodes", 3),
    Case("NaN threshold", rule(value=".nan"), "not a finite number", 6),
    Case("infinite threshold", rule(value=".inf"), "not a finite number", 6),
    Case("negative infinity", rule(value="-.inf"), "not a finite number", 6),
    Case("100,000-character id", rule(id="a" * 100_000), "a value of 100000 characters", 3),
    Case("200-character id", rule(id="a" * 200), "too long", 3),
    Case("id ending in a newline", rule(id='"hostile.probe\\n"'), "is not valid", 3),
    Case("3,000-character why", rule(why="w" * 3000), "characters", 9),
    Case("NUL character", rule().replace("probe\n", "pro\0be\n", 1), "NUL", 3),
    Case("python tag", "ruleset: btc_default\nrules: !!python/object/apply:os.system [id]\n", "tag", None),
    Case("long text echoed", rule(value="'" + "s" * 5000 + "'"), "5000 characters", 6),
]

# File names the site must refuse before touching the disk.
BAD_NAMES = ["zz.yaml\n", "zz.yaml\r", "a\0.yaml", "../x.yaml", "/etc/passwd", "sub/x.yaml", ".hidden.yaml",
             "x" * 200 + ".yaml", "zz.yaml ", "zz.txt", "", "..", "zz.yaml/", "%2e%2e/x.yaml"]

# engine.shadow_ruleset values that must be refused without reading anything: relative
# to the rules directory unless absolute. "{outside}" is replaced by a file outside it.
BAD_SHADOW_PATHS = ["/etc/passwd", "../../../../etc/passwd", "tests/../../../etc/passwd", "{outside}",
                    "link_out.yaml", "no_such_file.yaml", "..", "/", "x\0y"]

# JSON bodies that smuggle non-finite numbers, with the key path the refusal must name.
NON_FINITE_BODIES = [('{"risk_percent": NaN}', "risk_percent"), ('{"risk_percent": Infinity}', "risk_percent"),
                     ('{"risk_percent": -Infinity}', "risk_percent"), ('{"risk_percent": 1e999}', "risk_percent"),
                     ('{"modes": {"neutral": {"size_mult": NaN}}}', "modes.neutral.size_mult"),
                     ('{"a": [1, 2, NaN]}', "a[2]")]
