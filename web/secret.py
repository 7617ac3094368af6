"""The key that signs session cookies and CSRF tokens: config web.secret_key, else one
generated once into <home>/var/secret_key (mode 0600) and reused by every worker."""

from __future__ import annotations

import os
import secrets
import time

from engine.config import Config
from engine.paths import Home


def secret_key(config: Config, home: Home) -> str:
    configured = config.get("web.secret_key")
    if configured:
        return str(configured)
    path = home.var / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # another worker may be writing it right now
            key = path.read_text(encoding="ascii").strip()
            if len(key) >= 32:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty or too short; delete it to generate a new key") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip()
