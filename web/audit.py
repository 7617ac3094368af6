"""Every change made through the site goes to `audit_log`: who, when, what, and a diff.

`record(action, target, before, after)`: for mappings the diff is a list of changed key
paths with old and new values (secret keys redacted); for text (rule files) a unified diff.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from engine.config import REDACTED
from web.context import sd


def dict_diff(before: Any, after: Any, prefix: str = "") -> list[dict[str, Any]]:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        out: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after), key=str):
            path = f"{prefix}{key}"
            if key not in before:
                out.append({"path": path, "old": None, "new": after[key]})
            elif key not in after:
                out.append({"path": path, "old": before[key], "new": None})
            else:
                out.extend(dict_diff(before[key], after[key], path + "."))
        return out
    return [] if before == after else [{"path": prefix.rstrip(".") or "(value)", "old": before, "new": after}]


def text_diff(before: str, after: str, name: str = "file") -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                        fromfile=f"{name} (before)", tofile=f"{name} (after)"))


def _redact(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    secret = sd().config.secret_paths
    return [dict(c, old=REDACTED, new=REDACTED) if c["path"] in secret else c for c in changes]


def record(action: str, target: str | None = None, before: Any = None, after: Any = None,
           details: dict[str, Any] | None = None, username: str | None = None) -> None:
    from connectors.db.models import AuditEntry

    info: dict[str, Any] = dict(details or {})
    if isinstance(before, str) or isinstance(after, str):
        info["diff"] = text_diff(before or "", after or "", target or "text")
    elif before is not None or after is not None:
        info["changes"] = _redact(dict_diff(before or {}, after or {}))
    if has_request_context():
        info.setdefault("address", request.remote_addr)
    if username is None:
        username = current_user.username if has_request_context() and current_user.is_authenticated else "system"
    AuditEntry.create(username=username, action=action, target=target, details=info)
