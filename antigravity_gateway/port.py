"""Whether the gateway can listen on an address: tried the way uvicorn binds, before anything starts."""

from __future__ import annotations

import socket


def bind_error(host: str, port: int) -> OSError | None:
    """The error binding ``host:port`` gives now (``errno`` tells in use, no permission, ...), or
    ``None`` when the gateway could listen there. Port 0 (any free port) always can."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None
