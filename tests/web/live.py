"""A live admin site for end-to-end tests and benchmarks: REAL gunicorn behind a REAL
Nginx on free loopback ports, the site under /admin/, against a tmp SHOWDOWN_HOME with
its own config dir and SQLite DB. Runnable alone: `python tests/web/live.py` starts one
and prints its URL and credentials until Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.paths import Home  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PREFIX = "/admin"

NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {root}/config/nginx/showdown-admin.http.conf;  # the shipped zones, as they are
    upstream showdown_admin {{ server 127.0.0.1:{app_port}; keepalive 64; keepalive_timeout 4s; }}
    server {{
        listen 127.0.0.1:{port};
        include {root}/config/nginx/showdown-admin.locations.conf;  # the shipped locations, as they are
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tools_missing() -> str | None:
    if not Path(NGINX).exists():
        return "nginx not installed (tools/ensure-web-tools.sh installs it)"
    if not (Path(sys.executable).parent / "gunicorn").exists():
        return "gunicorn not installed in this Python environment"
    return None


class LiveSite:
    def __init__(self, root: Path, workers: int = 2, threads: int = 4, env: dict[str, str] | None = None):
        self.root = root
        self.tmp = root / "run"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.app_port = free_port()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}{PREFIX}"
        self.workers, self.threads = workers, threads
        self.extra_env = env or {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.password = "admin-live-pass-123"
        config_dir = root / "config"
        if not config_dir.exists():
            shutil.copytree(ROOT / "config", config_dir, ignore=shutil.ignore_patterns("config.local.yaml"))
        rules_dir = root / "rules"  # a copy: the Rules page writes here
        if not rules_dir.exists():
            shutil.copytree(ROOT / "rules", rules_dir)
        self.home = Home(root=root, config_dir=config_dir, rules_dir=Path(self.extra_env.get(
            "SHOWDOWN_RULES_DIR", rules_dir))).ensure()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOWDOWN", "DB_", "BINANCE_", "TELEGRAM_"))}
        env.update({
            "SHOWDOWN_HOME": str(self.root), "SHOWDOWN_CONFIG_DIR": str(self.home.config_dir),
            "SHOWDOWN_RULES_DIR": str(self.home.rules_dir),
            "SHOWDOWN_WEB_BIND": f"127.0.0.1:{self.app_port}", "SHOWDOWN_WEB_WORKERS": str(self.workers),
            "SHOWDOWN_WEB_THREADS": str(self.threads), "SHOWDOWN__WEB__COOKIE_SECURE": "false",
            "SHOWDOWN_WEB_ACCESS_LOG": "", "PYTHONPATH": str(ROOT),
        })
        env.update(self.extra_env)
        return env

    def prepare(self) -> None:
        """Migrate the DB and create the admin user, in a child process with the site's env."""
        script = (
            "from engine.config import load_config; from engine.paths import home; "
            "from connectors.db import open_database; from connectors.db.migrations import upgrade; "
            "from web import users; import sys; "
            "upgrade(open_database(load_config(), home().ensure())); "
            "users.by_name('admin') or users.add('admin', sys.argv[1], 'admin')"
        )
        subprocess.run([sys.executable, "-c", script, self.password], env=self.env(), cwd=ROOT, check=True)

    def start(self) -> LiveSite:
        self.prepare()
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.gunicorn_log = open(self.tmp / "gunicorn.log", "wb")  # noqa: SIM115
        self.procs.append(subprocess.Popen([gunicorn, "-c", str(ROOT / "config" / "gunicorn.conf.py"), "wsgi:app"],
                                           env=self.env(), cwd=ROOT, stdout=self.gunicorn_log,
                                           stderr=subprocess.STDOUT))
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, app_port=self.app_port, port=self.port, root=ROOT, user=user))
        self.procs.append(subprocess.Popen([NGINX, "-p", str(self.tmp), "-c", str(conf)],
                                           stdout=subprocess.DEVNULL, stderr=open(self.tmp / "nginx.out", "wb")))  # noqa: SIM115
        deadline = time.time() + 30
        while time.time() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{p.args[0]} exited with {p.returncode}:\n{self.logs()}")
            try:
                if requests.get(self.base + "/login", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the site did not answer within 30 s:\n" + self.logs())

    def logs(self) -> str:
        out = []
        for name in ("gunicorn.log", "nginx-error.log", "nginx.out"):
            p = self.tmp / name
            if p.exists():
                out.append(f"--- {name}\n" + p.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def session(self) -> requests.Session:
        """A requests session logged in as admin, with the CSRF header set."""
        s = requests.Session()
        page = s.get(self.base + "/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        r = s.post(self.base + "/login", data={"username": "admin", "password": self.password, "csrf_token": token},
                   timeout=10, allow_redirects=False)
        assert r.status_code == 302, r.text[:300]
        s.headers["X-CSRFToken"] = s.get(self.base + "/api/csrf", timeout=10).json()["csrf_token"]
        return s

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if "gunicorn" in str(p.args[0]) else signal.SIGQUIT)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()

    def __enter__(self) -> LiveSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d, LiveSite(Path(d)) as site:
        print(f"{site.base}/  user admin  password {site.password}  (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
