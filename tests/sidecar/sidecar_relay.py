"""A real unix-socket relay between the sidecar and dockerd that a test can cut.

The sidecar's DOCKER_HOST points at the relay's socket; ``cut()`` closes every
relayed connection (the events stream breaks mid-read, as when dockerd dies)
and refuses new ones until ``restore()``. This is a real failure mode (a socket
proxy in front of the Engine restarting) and lets the stream-cut test run
without restarting the shared dockerd.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path


class UnixRelay:
    def __init__(self, listen_path: Path, target_path: str = "/var/run/docker.sock") -> None:
        self.listen_path = listen_path
        self.target_path = target_path
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.accepted = 0

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.listen_path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.listen_path))
        os.chmod(self.listen_path, 0o666)
        server.listen(64)
        self._server = server
        self._thread = threading.Thread(target=self._accept, args=(server,), daemon=True)
        self._thread.start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(self.target_path)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)

    def cut(self) -> None:
        """Break every relayed connection and refuse new ones."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        with contextlib.suppress(FileNotFoundError):
            self.listen_path.unlink()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self.cut()
