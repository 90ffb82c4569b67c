"""SerialManagerPort: a serial port loaded as a device, as in Micro-Manager.

Real configurations say `Device,COM1,SerialManager,COM1` and `Property,COM1,BaudRate,9600`,
then `Property,Wheel,Port,COM1`: the port device holds the line settings, and every device that
names it as its Port uses those settings, the same open port and the same runner.

Another serial stack may take the line over (the Micro-Manager bridge runs a C++ SerialManager
port for the C++ devices naming the port): `hand_over()`; MMKernel's own devices are then
refused the line, with the reason given, until `take_back()`.
"""

from __future__ import annotations

from .._device import Device
from .._prop import prop
from . import _shared
from ._serial import LineSettings, SerialPort


class SerialManagerPort(Device):
    """Serial port"""

    device_type = "Serial"
    port = SerialPort(address_from_name=True)  # the device name (COM1, /dev/ttyUSB0) is the port
    Verbose = prop(int, default=1, allowed=(0, 1), before_init=True,
                   doc="Micro-Manager's logging switch (kept for configurations).")  # fmt: skip

    def line_settings(self) -> LineSettings:
        return SerialManagerPort.port.settings(self)

    def line_key(self) -> str:
        """The wire of this port's line (what the devices using it share)."""
        return SerialManagerPort.port.wire(self) or f"serial:{self.device_name}"

    def line_users(self) -> list[str]:
        """The devices that have this port's line open in MMKernel now (serial or VISA)."""
        key = self.line_key()
        return _shared.users_of(key) + _shared.users_of(f"handle:{key}")

    def hand_over(self, holder: str, reason: str) -> None:
        """Another serial stack drives this port's line from now on (`holder` names it): a device
        of MMKernel's opening it is refused with `reason` (it follows "device 'X' cannot use port
        'COM1': "), and the line settings cannot change, until take_back(holder). Calling it
        again updates the reason."""
        key = self.__dict__.setdefault("_handed_over", self.line_key())
        _shared.reserve(key, holder, reason)

    def take_back(self, holder: str) -> None:
        key = self.__dict__.get("_handed_over")
        if key is not None:
            _shared.unreserve(key, holder)
            if _shared.reserved_by(key) is None:
                del self.__dict__["_handed_over"]

    def line_holder(self) -> str | None:
        """Who the line was handed over to (None: MMKernel's own devices use it)."""
        key = self.__dict__.get("_handed_over")
        return _shared.reserved_by(key) if key is not None else None
