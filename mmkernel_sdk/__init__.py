"""mmkernel_sdk: what adapter authors import. Never imports the kernel."""

from ._autofocus import AutoFocus
from ._camera import Camera
from ._channels import Channel, channels
from ._device import Device, DeviceHost
from ._generic import Generic
from ._hub import Hub
from ._prop import prop
from ._shutter import Shutter
from ._signal_io import SignalIO
from ._spec import PropertySpec
from ._stage import Stage
from ._state import StateDevice
from ._xystage import XYStage
from .errors import *  # noqa: F403 - the whole error hierarchy
from .errors import __all__ as _errors

DEVICE_TYPES = (Camera, Stage, XYStage, Shutter, StateDevice, AutoFocus, SignalIO, Generic, Hub)

__all__ = [
    "DEVICE_TYPES",
    "AutoFocus",
    "Camera",
    "Channel",
    "Device",
    "DeviceHost",
    "Generic",
    "Hub",
    "PropertySpec",
    "Shutter",
    "SignalIO",
    "Stage",
    "StateDevice",
    "XYStage",
    "channels",
    "prop",
    *_errors,
]
