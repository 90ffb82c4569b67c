"""Protocol simulators: stateful stand-ins for instruments, reached through a `sim://NAME` port.

An adapter under test runs its real `SerialPort` code path: pyserial opens `sim://NAME` with the
handler in this package, and the bytes go to a `LineSimulator`. `serve_tcp` puts the same
simulator on a local TCP port for trials by hand (`socket://127.0.0.1:PORT`).
"""

import serial

from ._link import SimLink
from ._registry import known_simulators, open_simulator, publish, register_simulator, unpublish
from ._simulator import LineSimulator, Raw, Reply, command
from ._tcp import TcpSimulatorServer, serve_tcp

if __name__ not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(__name__)  # sim:// URLs -> protocol_sim.Serial

__all__ = [
    "LineSimulator",
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
