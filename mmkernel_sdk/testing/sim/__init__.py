"""Protocol simulators: stateful stand-ins for instruments, reached through a `sim://NAME` port.

An adapter under test runs its real `SerialPort` code path: pyserial opens `sim://NAME` with the
handler in this package, and the bytes go to a `LineSimulator`. `serve_tcp` puts the same
simulator on a local TCP port (`socket://127.0.0.1:PORT` for pyserial, `server.visa_resource`
for pyvisa-py), for trials by hand and for VISA devices' tests.
"""

import serial

from ._framing import Fixed, Framing, LengthPrefixed
from ._link import SimLink
from ._registry import known_simulators, open_simulator, publish, register_simulator, unpublish
from ._simulator import LineSimulator, Output, Raw, Reply, command
from ._tcp import TcpSimulatorServer, serve_tcp

if __name__ not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(__name__)  # sim:// URLs -> protocol_sim.Serial

__all__ = [
    "Fixed",
    "Framing",
    "LengthPrefixed",
    "LineSimulator",
    "Output",
    "Raw",
    "Reply",
    "SimLink",
    "TcpSimulatorServer",
    "command",
    "known_simulators",
    "open_simulator",
    "publish",
    "register_simulator",
    "serve_tcp",
    "unpublish",
]
