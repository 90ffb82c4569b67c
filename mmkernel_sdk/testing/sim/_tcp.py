"""Serve a simulator on a local TCP port: `socket://127.0.0.1:PORT` reaches it through
pyserial's socket handler, so the command line (or another program) can try an adapter by hand.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable

from ._link import SimLink
from ._simulator import LineSimulator


class TcpSimulatorServer:
    """Each connection talks to its own simulator from `factory` (one at a time per connection)."""

    def __init__(self, factory: Callable[[], LineSimulator], host: str = "127.0.0.1", port: int = 0) -> None:
        self._factory = factory
        self._listener = socket.create_server((host, port))
        self.host, self.port = self._listener.getsockname()[:2]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"mmkernel-sim-tcp-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def __enter__(self) -> TcpSimulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def serve_forever(self) -> None:
        self._closed.wait()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        link = SimLink(self._factory())
        selector = selectors.DefaultSelector()
        selector.register(connection, selectors.EVENT_READ)
        with connection:
            while not self._closed.is_set():
                due = link.next_due()
                wait = 0.2 if due is None else max(0.0, min(0.2, due - time.monotonic()))
                if selector.select(wait):
                    data = connection.recv(4096)
                    if not data:
                        break
                    link.write(data)
                pending = link.read(65536, 0.0)
                if pending:
                    connection.sendall(pending)
        link.close()


def serve_tcp(factory: Callable[[], LineSimulator], host: str = "127.0.0.1", port: int = 0) -> TcpSimulatorServer:
    """Start serving; `server.url` is what to put in an adapter's Port property."""
    return TcpSimulatorServer(factory, host, port)
