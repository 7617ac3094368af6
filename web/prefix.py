"""Serve the app under a fixed URL prefix (config web.url_prefix) when no proxy sends
X-Forwarded-Prefix: /admin/status → SCRIPT_NAME=/admin, PATH_INFO=/status."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


class PrefixMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]], prefix: str):
        self.app = app
        self.prefix = "/" + prefix.strip("/")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            environ["PATH_INFO"] = path[len(self.prefix):] or "/"
            return self.app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"Not found: the admin site lives under {self.prefix}/\n".encode()]
