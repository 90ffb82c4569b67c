"""Serve a simulator on a local TCP port: `socket://127.0.0.1:PORT` reaches it through
pyserial's socket handler, and `TCPIP0::127.0.0.1::PORT::SOCKET` through pyvisa-py (Backend
"@py"), so an adapter can be tried by hand, from another program, or from a VISA device's tests.

Everything a connection holds (its socket, its threads) is released when the connection ends,
and `close()` stops listening at once, so the port can be served again straight away.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import selectors
import socket
import threading
from collections.abc import Callable

from ._link import SimLink
from ._simulator import LineSimulator

_log = logging.getLogger(__name__)


class _Connection:
    """One client: a reader thread feeds the simulator, a writer thread sends its due bytes."""

    def __init__(self, server: TcpSimulatorServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.socket = sock
        self.link = SimLink(server._factory())
        name = f"mmkernel-sim-tcp-{server.port}-{number}"
        self.reader = threading.Thread(target=self._read, name=f"{name}-read", daemon=True)
        self.writer = threading.Thread(target=self._write, name=f"{name}-write", daemon=True)

    def start(self) -> None:
        self.writer.start()
        self.reader.start()

    def hang_up(self) -> None:
        """Wake both threads: the reader's recv ends, the writer's wait ends."""
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.link.close()

    def _read(self) -> None:
        try:
            while True:
                try:
                    data = self.socket.recv(4096)
                except OSError:
                    break
                if not data:
                    break
                self.link.write(data)
        finally:
            self.link.close()
            self.writer.join()
            self.socket.close()
            self.server._forget(self)

    def _write(self) -> None:
        while True:
            data = self.link.read(65536, None)  # waits for the next due byte, or the close
            if not data:
                return
            try:
                self.socket.sendall(data)
            except OSError:
                self.link.close()
                return


class TcpSimulatorServer:
    """Each connection talks to its own simulator from `factory` (one at a time per connection)."""

    def __init__(self, factory: Callable[[], LineSimulator], host: str = "127.0.0.1", port: int = 0) -> None:
        self._factory = factory
        self._listener = socket.create_server((host, port))  # SO_REUSEADDR where it means that
        self._listener.setblocking(False)  # a client gone between select and accept must not block it
        self.host, self.port = self._listener.getsockname()[:2]
        self._wake_read, self._wake_write = socket.socketpair()  # close() interrupts the accept wait
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._lock = threading.Condition()
        self._connections: list[_Connection] = []
        self._numbers = itertools.count(1)
        self._closing = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"mmkernel-sim-tcp-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """What to put in a serial device's Port property."""
        return f"socket://{self.host}:{self.port}"

    @property
    def visa_resource(self) -> str:
        """What to put in a VISA device's Resource property (with Backend "@py", pyvisa-py)."""
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"

    @property
    def simulators(self) -> list[LineSimulator]:
        """The simulators of the connections open now (for a test that emits into one)."""
        with self._lock:
            return [connection.link.simulator for connection in self._connections]

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no connection is open (each one's socket and threads released)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._connections, timeout)

    def close(self) -> None:
        """Stop listening, end every connection and wait for the threads; the port is free after."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._selector.close()
        for sock in (self._listener, self._wake_read, self._wake_write):
            sock.close()
        with self._lock:  # no connection is added once the accept thread has ended
            connections = list(self._connections)
        for connection in connections:
            connection.hang_up()
        for connection in connections:
            if connection.reader is not threading.current_thread():
                connection.reader.join()
        self._closed.set()

    def __enter__(self) -> TcpSimulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def serve_forever(self) -> None:
        self._closed.wait()

    def _accept(self) -> None:
        while True:
            events = self._selector.select()
            with self._lock:
                if self._closing:
                    return
            if not any(key.fileobj is self._listener for key, _ in events):
                continue
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue  # the client gave up before it was accepted
            sock.setblocking(True)
            try:
                connection = _Connection(self, sock, next(self._numbers))
            except Exception:  # noqa: BLE001 - a factory that fails: this client gets no instrument
                _log.exception("simulator server on port %s: making a simulator failed", self.port)
                sock.close()
                continue
            with self._lock:
                if self._closing:
                    connection.link.close()
                    sock.close()
                    return
                self._connections.append(connection)
            connection.start()

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
            self._lock.notify_all()


def serve_tcp(factory: Callable[[], LineSimulator], host: str = "127.0.0.1", port: int = 0) -> TcpSimulatorServer:
    """Start serving; `server.url` is what to put in an adapter's Port property, and
    `server.visa_resource` in a VISA device's Resource (Backend "@py")."""
    return TcpSimulatorServer(factory, host, port)
