"""Ports for a `showdown run` under test: exchange-sim serves REST on its port and, unless
configured, its user-data stream on port + 1 — both must be free (a bare free port's
neighbour was taken by another run once: exchange-sim died on start, Errno 98)."""

from __future__ import annotations

import socket


def free_port_pair() -> int:
    """A free port whose next one is free too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")
