"""Ruleset versions as the site sees them (table `rulesets`), roll back, shadow candidates.

Each row's `yaml` holds every rule file (and rule test file) of that version, in
connectors.stores.rules_store's format (`pack` / `unpack`).

Roll back = write that version's files back into the rules dir (atomically, one file at
a time, removing rule files the version did not have), after checking the version still
compiles and passes today's rule tests (the watcher would refuse it otherwise). The
running loop's watcher then activates it, as after any save.

Shadow = store the draft set as a candidate row (activated_at_ms NULL, note says so) and
set config `engine.shadow_ruleset` to its hash through the same config-edit path as
PATCH /api/config/engine (validated, written to config.local.yaml, audited). The analysis
loop resolves that hash in `rulesets` and evaluates it beside the active version.
"""

from __future__ import annotations

from typing import Any

from connectors.files.rules_files import write_rules_dir
from connectors.stores.rules_store import pack, unpack
from engine import format as fmt
from engine.rules.compiler import content_hash
from web import audit, queries, rules_edit

CANDIDATE_NOTE = "shadow candidate"


def decode(text: str | None) -> dict[str, str]:
    """The rule files of a stored version (connectors.stores.rules_store's format)."""
    return unpack(text)[0] if text else {}


def _row_dict(r: Any, active_hash: str | None) -> dict[str, Any]:
    return {"hash": r.hash, "activated_at": queries.iso(r.activated_at_ms), "activated_by": r.activated_by,
            "created": queries.iso(r.created_ms), "note": fmt.times_in_text(r.note), "active": r.hash == active_hash,
            "candidate": r.activated_at_ms is None, "files": sorted(decode(r.yaml))}


def active_row() -> Any:
    R = queries.m().Ruleset
    return (R.select().where(R.activated_at_ms.is_null(False))
            .order_by(R.activated_at_ms.desc(), R.id.desc()).first())


def versions(limit: int = 50) -> list[dict[str, Any]]:
    """Every stored version, newest activation first; candidates (never activated) last."""
    R = queries.m().Ruleset
    act = active_row()
    rows = list(R.select().order_by(R.activated_at_ms.is_null(), R.activated_at_ms.desc(), R.created_ms.desc())
                .limit(limit))
    return [_row_dict(r, act.hash if act else None) for r in rows]


def files_of(version: str) -> dict[str, str] | None:
    R = queries.m().Ruleset
    row = R.get_or_none(R.hash == version)
    return decode(row.yaml) if row else None


def active_files() -> tuple[dict[str, str], str]:
    """(files of the active version, a label saying where they come from)."""
    row = active_row()
    if row is not None:
        return decode(row.yaml), f"active {row.hash[:12]}"
    files, _ = rules_edit.current()
    return files, "on disk (no version recorded yet)"


def rollback(version: str) -> dict[str, Any]:
    """Write `version`'s files back into the rules dir. {"ok": bool, ...}."""
    files = files_of(version)
    if files is None:
        raise rules_edit.DraftError(404, f"no stored ruleset version {version!r}")
    bad = [n for n in files if not rules_edit.FILE_NAME.fullmatch(n)]
    if bad:
        raise rules_edit.DraftError(422, f"version {version} holds file names that cannot be written: {bad}")
    with rules_edit.WRITE_LOCK:
        on_disk, tests = rules_edit.current()
        refused = rules_edit.check_whole(dict(files), tests)
        if refused is not None:
            return refused
        changed = sorted(n for n, text in files.items() if on_disk.get(n) != text)
        removed = sorted(set(on_disk) - set(files))
        write_rules_dir(rules_edit.rules_dir(), dict(files), {})
        before = "".join(f"# --- {n}\n{on_disk[n]}" for n in sorted(on_disk))
        after = "".join(f"# --- {n}\n{files[n]}" for n in sorted(files))
        audit.record("rules.rollback", f"ruleset {version}", before, after,
                     details={"version": version, "written": changed, "removed": removed})
    return {"ok": True, "version": version, "written": changed, "removed": removed,
            "in_effect": content_hash(files) == version}


def store_candidate(files: dict[str, str], by: str) -> str:
    R = queries.m().Ruleset
    version = content_hash(files)
    if R.get_or_none(R.hash == version) is None:
        R.create(hash=version, yaml=pack(files, None), note=f"{CANDIDATE_NOTE}, stored by {by}")
    return version


def enable_shadow(name: str, text: str, by: str) -> dict[str, Any]:
    """Store the draft set as a candidate and make it the shadow ruleset. The candidate
    must compile (its tests may fail: seeing where it disagrees is the point of shadow)."""
    from web.config_edit import patch_section

    checked = rules_edit.validate(name, text)
    if not checked["ok"]:
        return checked
    files, _ = rules_edit.draft_set(name, text)
    version = store_candidate(files, by)
    before, after = patch_section("engine", {"shadow_ruleset": version})
    audit.record("config.engine", "config.engine", before, after, details={"shadow_candidate": version})
    return {"ok": True, "version": version, "shadow_ruleset": version}


def disable_shadow() -> dict[str, Any]:
    from web.config_edit import patch_section

    before, after = patch_section("engine", {"shadow_ruleset": None})
    audit.record("config.engine", "config.engine", before, after)
    return {"ok": True, "shadow_ruleset": None}


def diff(name: str, text: str) -> dict[str, Any]:
    """The draft against the same file in the active version (the file on disk when no
    version has been recorded yet)."""
    active, label = active_files()
    before = active.get(name, "")
    return {"against": label, "file": name, "new_file": name not in active, "diff": rules_edit.unified(before, text, name, label),
            "changed": before != text}
