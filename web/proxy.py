"""Forwarded headers count only when they come from the trusted proxy (Nginx).

werkzeug's ProxyFix believes X-Forwarded-For from anyone: a client reaching gunicorn
directly could name a new address on every try and never meet the login throttle, or
claim another scheme, host or prefix. Here they are applied only when the connection
comes from an address in `web.trusted_proxies` (Nginx on the same host: 127.0.0.1), and
removed otherwise, so the client address is the connection's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxyFix:
    def __init__(self, app: Any, trusted: Iterable[str]):
        self.app = app
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
        self.trusted = frozenset(trusted)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REMOTE_ADDR") in self.trusted:
            return self.fixed(environ, start_response)
        for key in [k for k in environ if k.startswith(("HTTP_X_FORWARDED_", "HTTP_FORWARDED"))]:
            del environ[key]
        return self.app(environ, start_response)
