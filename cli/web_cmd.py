"""`showdown web`: run the admin site with gunicorn (config/gunicorn.conf.py)."""

from __future__ import annotations

import os
import sys

import click

from engine.paths import PROJECT_DIR


def register(group: click.Group) -> None:
    @group.command("web")
    @click.option("--bind", help="host:port (default: web.host:web.port from the config)")
    def web(bind: str | None) -> None:
        """Serve the admin site with gunicorn (put Nginx in front, see README)."""
        if bind:
            os.environ["SHOWDOWN_WEB_BIND"] = bind
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        os.chdir(PROJECT_DIR)
        os.execv(gunicorn, [gunicorn, "-c", str(PROJECT_DIR / "config" / "gunicorn.conf.py"), "wsgi:app"])  # noqa: S606 - fixed argv, no shell
