"""pyserial URL handler for `sim://NAME`: a serial port whose other end is a LineSimulator.

Registered on import of `mmkernel_sdk.testing.sim` (pyserial looks for `protocol_<scheme>`
modules in `serial.protocol_handler_packages`), so `serial.serial_for_url("sim://fw102c")` and
an adapter's `Port` property set to `sim://fw102c` both reach the simulator through pyserial,
exactly like a real port.
"""

from __future__ import annotations

import time
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from ._link import SimLink
from ._registry import open_simulator

_open_ports: set[Serial] = set()  # what is open now (the conformance kit looks for leaks)


def open_simulated_ports() -> list[str]:
    return sorted(port.portstr for port in list(_open_ports))


class Serial(SerialBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.link: Any = None  # a SimLink, or a ScriptLink (same methods)
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            simulator = open_simulator(self._port)
        except (LookupError, ValueError) as error:
            raise SerialException(str(error)) from None
        make_link = getattr(simulator, "make_link", None)  # a script (expected_protocol) is its own link
        self.link = make_link() if make_link is not None else SimLink(simulator)
        self.is_open = True
        _open_ports.add(self)

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
        self.is_open = False
        _open_ports.discard(self)
        super().close()

    def _reconfigure_port(self) -> None:
        """Line settings mean nothing to a simulator."""

    def from_url(self, url: str) -> str:
        return url

    @property
    def in_waiting(self) -> int:
        return self._live().in_waiting()

    def read(self, size: int = 1) -> bytes:
        """As pyserial's: up to `size` bytes, waiting until all have come or the timeout passed."""
        link = self._live()
        timeout = self._timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        out = bytearray()
        while len(out) < size:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            chunk = link.read(size - len(out), remaining)
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def write(self, data: bytes) -> int:
        return self._live().write(bytes(data))

    def reset_input_buffer(self) -> None:
        self._live().reset_input()

    def reset_output_buffer(self) -> None:
        """Nothing is buffered on the way out."""

    def flush(self) -> None:
        """Writes reach the simulator at once."""

    @property
    def out_waiting(self) -> int:
        return 0

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True

    def _live(self) -> SimLink:
        if not self.is_open or self.link is None:
            raise PortNotOpenError()
        return self.link
