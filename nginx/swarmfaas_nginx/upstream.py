"""Resolve the sidecar's name to the addresses nginx's upstream block lists."""

from __future__ import annotations

import socket


def format_address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address the name has now, sorted; () when it does not resolve (yet).

    In a swarm the sidecar's service name (dnsrr) or `tasks.<name>` gives one
    address per running task; Docker's DNS answers at 127.0.0.11."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return ()
    return tuple(sorted({format_address(str(info[4][0]), port) for info in infos}))
