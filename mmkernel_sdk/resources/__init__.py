"""Resources: serial lines, VISA instruments and shared controller state declared on device
classes.

The kernel opens a device's resources just before `initialize()` and closes them after
`shutdown()` (or a failed initialize); devices on one wire share one open port and one runner.
"""

from ._port_device import SerialManagerPort
from ._resource import (
    PortTarget,
    Resource,
    close_resources,
    iter_connections,
    open_resources,
    resolve_port,
    resource_property_names,
    resources_of,
    wires_of,
)
from ._serial import LineSettings, SerialConnection, SerialPort
from ._shared import open_keys
from ._shared_state import Shared
from ._visa import VisaConnection, VisaInstrument, register_backend, unregister_backend

__all__ = [
    "LineSettings",
    "PortTarget",
    "Resource",
    "SerialConnection",
    "SerialManagerPort",
    "SerialPort",
    "Shared",
    "VisaConnection",
    "VisaInstrument",
    "close_resources",
    "iter_connections",
    "open_keys",
    "open_resources",
    "register_backend",
    "resolve_port",
    "resource_property_names",
    "resources_of",
    "unregister_backend",
    "wires_of",
]
