"""POST /api/sessions/end {user?}: sign a user out everywhere.

Without `user` (or with your own name): every session of yours ends, this one included.
An admin may name any user — after a lost laptop or a leaked cookie. Audited.
"""

from __future__ import annotations

from typing import Any

from flask import abort, request
from flask_login import current_user

from web import audit, users
from web.api import bp
from web.auth import role_required


@bp.post("/sessions/end")
@role_required("viewer")
def sessions_end() -> Any:
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    name = body.get("user") or current_user.username
    if not isinstance(name, str) or len(name) > 64:
        abort(400, description="user must be a user name")
    if name != current_user.username and not current_user.at_least("admin"):
        abort(403, description=f"needs role admin to sign out another user (you are {current_user.role})")
    try:
        ended = users.end_sessions(name)
    except users.UserError as exc:
        abort(404, description=str(exc))
    audit.record("user.sessions_end", name, {}, {"ended": ended})
    return {"user": name, "ended": ended}
