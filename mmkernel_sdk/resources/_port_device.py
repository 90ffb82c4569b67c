"""SerialManagerPort: a serial port loaded as a device, as in Micro-Manager.

Real configurations say `Device,COM1,SerialManager,COM1` and `Property,COM1,BaudRate,9600`,
then `Property,Wheel,Port,COM1`: the port device holds the line settings, and every device that
names it as its Port uses those settings, the same open port and the same runner.
"""

from __future__ import annotations

from .._device import Device
from .._prop import prop
from ._serial import LineSettings, SerialPort


class SerialManagerPort(Device):
    """Serial port"""

    device_type = "Serial"
    port = SerialPort(address_from_name=True)  # the device name (COM1, /dev/ttyUSB0) is the port
    Verbose = prop(int, default=1, allowed=(0, 1), before_init=True,
                   doc="Micro-Manager's logging switch (kept for configurations).")  # fmt: skip

    def line_settings(self) -> LineSettings:
        return SerialManagerPort.port.settings(self)
