"""gunicorn settings for the admin site (read by `gunicorn -c config/gunicorn.conf.py wsgi:app`).

Bind address, workers and threads come from the Showdown config (web.host, web.port,
web.workers, web.threads); SHOWDOWN_WEB_BIND overrides the bind (tests use a free port).
Only Nginx on the same host talks to it: keep it on 127.0.0.1.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.files.database_choice import chosen_config  # noqa: E402
from engine.paths import home as _home  # noqa: E402

# the database `showdown run` runs on (or SHOWDOWN_DB), as the app itself opens it: the first
# admin is created where the site will look for it
_cfg, _choice = chosen_config(_home())
bind = os.environ.get("SHOWDOWN_WEB_BIND") or f"{_cfg.get('web.host')}:{_cfg.get('web.port')}"
workers = int(os.environ.get("SHOWDOWN_WEB_WORKERS") or _cfg.get("web.workers", 2))
threads = int(os.environ.get("SHOWDOWN_WEB_THREADS") or _cfg.get("web.threads", 4))
worker_class = "gthread"
timeout = 30
graceful_timeout = 10
keepalive = 5
# Trust X-Forwarded-* only from the local Nginx (ProxyFix in the app does the rest).
forwarded_allow_ips = "127.0.0.1"
proxy_allow_ips = "127.0.0.1"
accesslog = os.environ.get("SHOWDOWN_WEB_ACCESS_LOG", "-") or None  # "" turns it off
errorlog = "-"
loglevel = "info"
# The access log must not show query strings with anything sensitive: none of ours carry
# secrets, and the login form is a POST body, so the default format is safe.
preload_app = False
# gunicorn >= 25 opens a runtime control socket in ~/.gunicorn by default: not needed, and
# two instances on one host would share it.
control_socket_disable = True


def on_starting(server):  # noqa: ANN001, ANN201
    """Master process, once: create the first admin (its password goes to the console)."""
    from connectors.db import describe
    from connectors.files.database_choice import first_line
    from engine.paths import home
    from web import users
    from web.auth import print_first_admin

    print(f"showdown web: {first_line(_cfg, _choice, describe(_cfg, home()))}", file=sys.stderr, flush=True)
    try:
        from connectors.db import open_database

        db = open_database(_cfg, home().ensure())
        password = users.create_first_admin()
        db.close()
    except Exception as exc:  # noqa: BLE001 - schema missing: tell the operator, keep starting
        print(f"showdown web: cannot check users ({exc.__class__.__name__}: {exc}); run `showdown db upgrade`",
              file=sys.stderr)
        return
    if password:
        print_first_admin(password)
