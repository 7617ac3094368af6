"""Last line of defence for secrets and browsers.

Every text answer is scanned for the configured secret values (API keys, DB password,
bot token, web secret key); a hit is replaced by *** and logged (without the value).
Pages should never contain one in the first place; this catches mistakes.
Also sets security headers (no framing, no sniffing, a strict content security policy).
"""

from __future__ import annotations

from flask import Flask, Response, current_app

from engine.config import REDACTED
from web.context import sd

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def _secrets() -> list[str]:
    vals = set(sd().config.secrets())
    vals.add(str(current_app.config.get("SECRET_KEY") or ""))
    return sorted((v for v in vals if len(v) >= 4), key=len, reverse=True)


def init_app(app: Flask) -> None:
    @app.after_request
    def _scrub(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        if resp.direct_passthrough or resp.is_streamed:
            return resp
        ctype = resp.mimetype or ""
        if not (ctype.startswith("text/") or ctype.endswith("json") or ctype.endswith("javascript")):
            return resp
        body = resp.get_data(as_text=True)
        hits = [s for s in _secrets() if s in body]
        if hits:
            for s in hits:
                body = body.replace(s, REDACTED)
            resp.set_data(body)
            app.logger.error("a secret value was about to be sent in %s; replaced by %s", ctype, REDACTED)
        return resp
