"""The layout is the architecture: arrows run one way (connectors/__init__.py).

Every import in the tree, at module level or inside a function, is read with `ast`, so a
lazy import cannot hide an upward arrow.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# connectors' groups, lowest first; a module may import its own group or any lower one.
RANK = {"binance": 0, "db": 0, "exchange_sim": 0,
        "files": 1, "notify": 2, "market": 3,
        "stores": 4, "loops": 5}
# engine is the pure core: it imports none of the outer layers.
OUTER = ("connectors", "web", "cli")


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from connectors import stores` names a group too
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def py_files(top: str) -> list[Path]:
    return sorted((ROOT / top).rglob("*.py"))


def group_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "connectors" and parts[1] in RANK:
        return parts[1]
    return None


def layer_violations() -> list[str]:
    bad = []
    for path in py_files("connectors"):
        rel = path.relative_to(ROOT)
        here = rel.parts[1] if len(rel.parts) > 2 else None
        if here is None:
            continue
        for line, mod in imports_of(path):
            there = group_of(mod)
            if there is not None and RANK[there] > RANK[here]:
                bad.append(f"{rel}:{line}: {here} imports the higher group {there} ({mod})")
    for path in py_files("engine"):
        for line, mod in imports_of(path):
            if mod.split(".")[0] in OUTER:
                bad.append(f"{path.relative_to(ROOT)}:{line}: the core imports {mod}")
    for path in py_files("web"):
        for line, mod in imports_of(path):
            if mod.split(".")[0] == "cli":
                bad.append(f"{path.relative_to(ROOT)}:{line}: the site imports the command line ({mod})")
    # one finding per import line (`from a import b` is read as both a and a.b)
    return list({b.split(": ")[0]: b for b in bad}.values())


def test_no_module_left_flat_in_connectors():
    flat = sorted(p.name for p in (ROOT / "connectors").glob("*.py") if p.name != "__init__.py")
    assert flat == []


def test_every_connectors_package_is_a_known_group_with_a_docstring():
    for pkg in sorted(p for p in (ROOT / "connectors").iterdir() if (p / "__init__.py").exists()):
        assert pkg.name in RANK, f"connectors/{pkg.name} belongs to no group of connectors/__init__.py"
        doc = ast.get_docstring(ast.parse((pkg / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"connectors/{pkg.name}/__init__.py says nothing of what lives there"


def test_arrows_run_one_way():
    assert layer_violations() == []


def test_no_two_site_modules_import_each_other():
    edges: dict[str, set[str]] = {}
    for path in py_files("web"):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for _, imported in imports_of(path):
            if imported.startswith("web.") and imported != mod:
                edges.setdefault(mod, set()).add(imported)
    # a package registering its own submodules (a blueprint and its routes) is one module
    def family(a: str, b: str) -> bool:
        return a.startswith(b + ".") or b.startswith(a + ".")

    mutual = sorted({tuple(sorted((a, b))) for a, bs in edges.items() for b in bs
                     if a in edges.get(b, set()) and not family(a, b)})
    assert mutual == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    # the check itself must be able to fail: plant a store that imports a loop
    fake = tmp_path / "connectors" / "stores"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("def f():\n    from connectors.loops import collector\n")
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "x.py").write_text("import web.auth\n")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "y.py").write_text("from cli.main import main\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = layer_violations()
    assert len(found) == 3, found


def test_readme_layout_table_matches_the_tree():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(connectors/[a-z_]+)/?`", section))
    packages = {f"connectors/{p.name}" for p in (ROOT / "connectors").iterdir() if (p / "__init__.py").exists()}
    assert named == packages
