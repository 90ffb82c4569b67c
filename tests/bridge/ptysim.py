"""A protocol simulator on a pseudo-terminal: a real tty path (`/dev/pts/N`) that Micro-Manager's
C++ SerialManager (boost::asio's serial_port) opens like a serial port, with an SDK
`LineSimulator` answering on the master side through a `SimLink` (the instrument's timing and
faults, as for `sim://` and `serve_tcp`)."""

from __future__ import annotations

import contextlib
import os
import pty
import selectors
import threading
import tty

from mmkernel_sdk.testing.sim import LineSimulator, SimLink


class PtySimulator:
    """`path` is the tty to put in a port map; `simulator` answers what arrives on it."""

    def __init__(self, simulator: LineSimulator) -> None:
        self.simulator = simulator
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: the bytes are the device's
        self.path = os.ttyname(self._slave)  # the slave stays open here, so a port closing gives no EIO
        self.link = SimLink(simulator)
        self._wake_read, self._wake_write = os.pipe()
        self._reader = threading.Thread(target=self._read, name=f"ptysim-read-{self.path}", daemon=True)
        self._writer = threading.Thread(target=self._write, name=f"ptysim-write-{self.path}", daemon=True)
        self._reader.start()
        self._writer.start()

    def _read(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._master, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:
                ready = {key.fd for key, _ in selector.select()}
                if self._wake_read in ready:
                    return
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    return
                if data:
                    self.link.write(data)

    def _write(self) -> None:
        while data := self.link.read(65536, None):  # the next due bytes, or b"" once closed
            try:
                os.write(self._master, data)
            except OSError:
                return

    def close(self) -> None:
        """End both threads and close the pseudo-terminal."""
        os.write(self._wake_write, b"x")
        self.link.close()
        self._reader.join()
        self._writer.join()
        for fd in (self._master, self._slave, self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtySimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
