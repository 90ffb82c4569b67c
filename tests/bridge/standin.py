"""A stand-in for pymmcore's CMMCore: the calls the bridge makes, answered as MMCore 12.5 does
(its RuntimeError/ValueError texts, loose validation, callbacks on a foreign thread, one
circular buffer per core), with DemoCamera's DCam, DStage, DXYStage, DWheel, DObjective, DShutter
and DHub and their hardware sequences (standin_sequences), SerialManager's ports (any name; their
line settings are pre-init, as the C++ module's) and DemoSerial's DSerialStage, a stage with a
pre-init Port that fails to initialize unless a Serial device of that label is loaded and
initialized in the same core (as an ASI stage's first command would).
`on_its_own()` is the hardware changing without being asked (a joystick, a temperature drift).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import numpy as np

from .standin_sequences import Sequencing

STRING, FLOAT, INTEGER = 1, 2, 3


class Metadata:
    """pymmcore.Metadata's reading side."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def GetSingleTag(self, key: str) -> Any:
        value = self.tags[key]
        return type("Tag", (), {"GetValue": lambda _self: value})()


class Prop:
    def __init__(self, kind: int, value: str, allowed: tuple[str, ...] = (), limits: Any = None,
                 read_only: bool = False, pre_init: bool = False) -> None:  # fmt: skip
        self.kind, self.value, self.allowed, self.limits = kind, value, allowed, limits
        self.read_only, self.pre_init = read_only, pre_init


def _props(kind: str) -> dict[str, Prop]:
    common = {"Name": Prop(STRING, kind, read_only=True), "Description": Prop(STRING, f"Demo {kind}", read_only=True),
              "HubID": Prop(STRING, "", pre_init=False)}  # fmt: skip
    extra: dict[str, dict[str, Prop]] = {
        "DCam": {"Exposure": Prop(FLOAT, "10.0000", limits=(0.0, 10000.0)),
                 "Binning": Prop(INTEGER, "1", allowed=("1", "2", "4", "8")),
                 "PixelType": Prop(STRING, "8bit", allowed=("16bit", "32bitRGB", "8bit")),
                 "Gain": Prop(INTEGER, "0", limits=(-5.0, 8.0)),
                 "CameraName": Prop(STRING, "DemoCamera-MultiMode", read_only=True),
                 "MaximumExposureMs": Prop(FLOAT, "10000.0000", pre_init=True),
                 "CCDTemperature": Prop(FLOAT, "0.0000", read_only=True),
                 "AsyncPropertyDelayMS": Prop(INTEGER, "2000", limits=(0.0, 10000.0)),
                 "AsyncPropertyLeader": Prop(STRING, ""), "AsyncPropertyFollower": Prop(STRING, "", read_only=True),
                 "UseExposureSequences": Prop(STRING, "No", allowed=("No", "Yes"))},
        "DStage": {"Position": Prop(FLOAT, "0.0000"), "UseSequences": Prop(STRING, "No", allowed=("No", "Yes"))},
        "DXYStage": {},
        "DWheel": {"State": Prop(INTEGER, "0", limits=(0.0, 9.0)), "Label": Prop(STRING, "State-0")},
        "DObjective": {"State": Prop(INTEGER, "0"), "Label": Prop(STRING, "Objective-A"),
                       "Trigger": Prop(STRING, "-", allowed=("+", "-"))},
        "DShutter": {"State": Prop(INTEGER, "0", allowed=("0", "1"))},
        "DHub": {},
        "DSerialStage": {"Port": Prop(STRING, "Undefined", pre_init=True), "Position": Prop(FLOAT, "0.0000")},
        "Serial": {"BaudRate": Prop(STRING, "9600", allowed=BAUDS, pre_init=True),
                   "DataBits": Prop(INTEGER, "8", allowed=("5", "6", "7", "8"), pre_init=True),
                   "StopBits": Prop(STRING, "1", allowed=("1", "1.5", "2"), pre_init=True),
                   "Parity": Prop(STRING, "None", allowed=("Even", "None", "Odd"), pre_init=True),
                   "Handshaking": Prop(STRING, "Off", allowed=("Hardware", "Off", "Software"), pre_init=True),
                   "AnswerTimeout": Prop(FLOAT, "500.0000", pre_init=True),
                   "DelayBetweenCharsMs": Prop(FLOAT, "0.0000", pre_init=True),
                   "Verbose": Prop(INTEGER, "1", allowed=("0", "1"), pre_init=True)},
    }  # fmt: skip
    return {**common, **extra[kind]}


BAUDS = tuple(str(b) for b in (110, 300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200))
TYPES = {
    "DCam": 2,
    "DStage": 5,
    "DXYStage": 6,
    "DWheel": 4,
    "DObjective": 4,
    "DShutter": 3,
    "DHub": 15,
    "DSerialStage": 5,
}
MODULES = {"DemoCamera": ("DCam", "DStage", "DXYStage", "DWheel", "DObjective", "DShutter", "DHub"),
           "DemoSerial": ("DSerialStage",), "SerialManager": ("COM1", "COM2")}  # fmt: skip
"""What each module offers (SerialManager: the ports it found; it loads any port name)."""
SERIAL = 7


class StandInCore(Sequencing):
    """The CMMCore calls the bridge makes."""

    Metadata = Metadata

    def __init__(self) -> None:
        self._devices: dict[str, tuple[str, str, dict[str, Prop]]] = {}
        self._init: set[str] = set()
        self._labels: dict[str, list[str]] = {}
        self._callback: Any = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._camera = ""
        self._image: np.ndarray | None = None
        self._buffer: list[tuple[np.ndarray, dict[str, str]]] = []
        self._seq: dict[str, Any] = {}
        self._xy: dict[str, tuple[float, float]] = {}
        self.xy_reads = 0
        self.property_reads: dict[str, int] = {}
        self.announce_reads: set[str] = set()
        self.announce_xy_reads = False
        self.calls_by_thread: set[int] = set()
        self.hang = threading.Event()  # set: snapImage blocks until cleared (a hung C++ call)
        self.release = threading.Event()

    # -- discovery / lifecycle ---------------------------------------------------------------
    def setDeviceAdapterSearchPaths(self, paths: list[str]) -> None:
        pass

    def getDeviceAdapterNames(self) -> tuple[str, ...]:
        return tuple(MODULES)

    def _module(self, module: str) -> None:
        if module not in MODULES:
            raise RuntimeError(f'Failed to load device adapter "{module}" from "libmmgr_dal_{module}.so.0"')

    def getAvailableDevices(self, module: str) -> tuple[str, ...]:
        self._module(module)
        return MODULES[module]

    def getAvailableDeviceDescriptions(self, module: str) -> tuple[str, ...]:
        return tuple(f"Demo {n}" for n in self.getAvailableDevices(module))

    def getAvailableDeviceTypes(self, module: str) -> tuple[int, ...]:
        return tuple(TYPES.get(n, SERIAL) for n in self.getAvailableDevices(module))

    def loadDevice(self, label: str, module: str, name: str) -> None:
        self._touch()
        self._module(module)
        if label in self._devices:
            raise ValueError(f'The specified device label "{label}" is already in use')
        if module == "SerialManager":  # the C++ module makes a port of any name
            self._devices[label] = (module, name, _props("Serial"))
            return
        if name not in MODULES[module]:
            raise RuntimeError(f'Device adapter "{module}" failed to instantiate device "{name}"')
        self._devices[label] = (module, name, _props(name))
        self._labels[label] = (
            [f"Objective-{c}" for c in "ABCDEF"] if name == "DObjective" else [f"State-{i}" for i in range(10)]
        )

    def initializeDevice(self, label: str) -> None:
        props = self._dev(label)[2]
        port = props["Port"].value if "Port" in props else None
        if port is not None and (port not in self._init or self._devices[port][0] != "SerialManager"):
            raise RuntimeError(f'Error in device "{label}": Serial port "{port}" is not loaded in this core (101)')
        self._init.add(label)

    def unloadDevice(self, label: str) -> None:
        self._dev(label)
        del self._devices[label]
        self._init.discard(label)

    def unloadAllDevices(self) -> None:
        self._devices.clear()
        self._init.clear()

    def getLoadedDevices(self) -> tuple[str, ...]:
        return (*self._devices, "Core")

    def setParentLabel(self, label: str, hub: str) -> None:
        self._dev(label)

    def getDeviceDescription(self, label: str) -> str:
        return self._dev(label)[2]["Description"].value

    def registerCallback(self, callback: Any) -> None:
        self._callback = callback
        if callback is not None:
            threading.Thread(target=self._deliver, name="standin-callbacks", daemon=True).start()
        else:
            self._queue.put(None)

    def _deliver(self) -> None:
        while (item := self._queue.get()) is not None:
            method, args = item
            if self._callback is not None:
                getattr(self._callback, method)(*args)

    def _announce(self, method: str, *args: Any) -> None:
        self._queue.put((method, args))

    def setAutoShutter(self, on: bool) -> None:
        pass

    def setCircularBufferMemoryFootprint(self, mb: int) -> None:
        self._buffer.clear()
        self.buffer_mb = mb

    def deviceBusy(self, label: str) -> bool:
        self._dev(label)
        return False

    # -- properties --------------------------------------------------------------------------
    def _touch(self) -> None:
        self.calls_by_thread.add(threading.get_ident())

    def _dev(self, label: str) -> tuple[str, str, dict[str, Prop]]:
        self._touch()
        try:
            return self._devices[label]
        except KeyError:
            raise RuntimeError(f'No device with label "{label}"') from None

    def _prop(self, label: str, name: str) -> Prop:
        props = self._dev(label)[2]
        if name not in props or (
            label not in self._init and not props[name].pre_init and name not in ("Name", "Description")
        ):
            raise RuntimeError(f'Error in device "{label}": Invalid property name encountered: {name} (2)')
        return props[name]

    def getDevicePropertyNames(self, label: str) -> tuple[str, ...]:
        props = self._dev(label)[2]
        return tuple(sorted(n for n, p in props.items() if label in self._init or p.pre_init))

    def getPropertyType(self, label: str, name: str) -> int:
        return self._prop(label, name).kind

    def getProperty(self, label: str, name: str) -> str:
        self.property_reads[name] = self.property_reads.get(name, 0) + 1
        if name in self.announce_reads:  # some adapters announce the value they were asked for
            self._announce("onPropertyChanged", label, name, self._prop(label, name).value)
        if name == "Position":
            return f"{self._pos.get(label, 0.0):.4f}" if hasattr(self, "_pos") else "0.0000"
        return self._prop(label, name).value

    def setProperty(self, label: str, name: str, value: Any) -> None:
        prop = self._prop(label, name)
        text = "1" if value is True else "0" if value is False else str(value)
        if prop.read_only:
            return  # MMCore ignores it silently
        if name == "Trigger" and text == "+":
            return self._trigger(label)  # DObjective's: steps a started sequence
        if prop.allowed and text not in prop.allowed:
            raise RuntimeError(f'Cannot set property "{name}" to "{text}"')
        if prop.kind in (FLOAT, INTEGER):
            try:
                number = float(text)
            except ValueError:
                number = 0.0
            if prop.limits and not prop.limits[0] <= number <= prop.limits[1]:
                raise RuntimeError(f'Cannot set property "{name}" to "{text}"')
            text = f"{number:.4f}" if prop.kind == FLOAT else str(int(number))
        prop.value = text
        if name == "Binning":  # DCam announces Binning, not Exposure or Gain
            self._announce("onPropertyChanged", label, name, text)
        if name == "AsyncPropertyLeader":  # DCam copies it to the follower on its own thread, and announces that
            self._devices[label][2]["AsyncPropertyFollower"].value = text
            self._announce("onPropertyChanged", label, "AsyncPropertyFollower", text)

    def on_its_own(self, label: str, name: str, value: Any) -> None:
        """The device changes `name` without being asked and announces it as the C++ side
        does (Position, XYPosition (x, y), Exposure, State of a shutter, or any property)."""
        kind = self._devices[label][1]
        if name == "Position":
            self._pos = getattr(self, "_pos", {})
            self._pos[label] = float(value)
            self._announce("onStagePositionChanged", label, float(value))
        elif name == "XYPosition":
            self._xy[label] = (float(value[0]), float(value[1]))
            self._announce("onXYStagePositionChanged", label, *self._xy[label])
        elif name == "Exposure":
            self._devices[label][2][name].value = f"{float(value):.4f}"
            self._announce("onExposureChanged", label, float(value))
        elif name == "State" and kind == "DShutter":
            self._devices[label][2][name].value = "1" if value else "0"
            self._announce("onShutterOpenChanged", label, bool(value))
        else:
            self._devices[label][2][name].value = str(value)
            self._announce("onPropertyChanged", label, name, str(value))

    def getAllowedPropertyValues(self, label: str, name: str) -> tuple[str, ...]:
        return tuple(sorted(self._prop(label, name).allowed))

    def hasPropertyLimits(self, label: str, name: str) -> bool:
        return self._prop(label, name).limits is not None

    def getPropertyLowerLimit(self, label: str, name: str) -> float:
        return float((self._prop(label, name).limits or (0.0, 0.0))[0])

    def getPropertyUpperLimit(self, label: str, name: str) -> float:
        return float((self._prop(label, name).limits or (0.0, 0.0))[1])

    def isPropertyReadOnly(self, label: str, name: str) -> bool:
        return self._prop(label, name).read_only

    def isPropertyPreInit(self, label: str, name: str) -> bool:
        return self._prop(label, name).pre_init

    # -- stage, state, shutter ---------------------------------------------------------------
    def _typed(self, label: str, kind: int) -> None:
        if TYPES.get(self._dev(label)[1], SERIAL) != kind:
            raise RuntimeError(f'Device "{label}" is of the wrong type for the requested operation')

    def setPosition(self, label: str, z: float) -> None:
        self._typed(label, 5)
        self._pos = getattr(self, "_pos", {})
        self._pos[label] = float(z)
        self._announce("onStagePositionChanged", label, float(z))

    def getPosition(self, label: str) -> float:
        self._typed(label, 5)
        return getattr(self, "_pos", {}).get(label, 0.0)

    def setXYPosition(self, label: str, x: float, y: float) -> None:
        self._typed(label, 6)
        self._xy[label] = (float(x), float(y))
        self._announce("onXYStagePositionChanged", label, float(x), float(y))

    def getXYPosition(self, label: str) -> list[float]:
        self._typed(label, 6)
        self.xy_reads += 1
        if self.announce_xy_reads:  # some adapters announce the position they were asked for
            self._announce("onXYStagePositionChanged", label, *self._xy.get(label, (0.0, 0.0)))
        return list(self._xy.get(label, (0.0, 0.0)))

    def setState(self, label: str, state: int) -> None:
        self.setProperty(label, "State", state)
        self._prop(label, "Label").value = self._labels[label][int(state)]

    def getState(self, label: str) -> int:
        return int(self.getProperty(label, "State"))

    def getNumberOfStates(self, label: str) -> int:
        self._typed(label, 4)
        return len(self._labels[label])

    def getStateLabels(self, label: str) -> tuple[str, ...]:
        self._typed(label, 4)
        return tuple(self._labels[label])

    def getStateLabel(self, label: str) -> str:
        return self._labels[label][self.getState(label)]

    def defineStateLabel(self, label: str, state: int, text: str) -> None:
        self._typed(label, 4)
        self._labels[label][state] = text

    def setShutterOpen(self, label: str, is_open: bool) -> None:
        self._typed(label, 3)
        self._prop(label, "State").value = "1" if is_open else "0"
        self._announce("onShutterOpenChanged", label, bool(is_open))

    def getShutterOpen(self, label: str) -> bool:
        self._typed(label, 3)
        return self._prop(label, "State").value == "1"

    # -- camera ------------------------------------------------------------------------------
    def setCameraDevice(self, label: str) -> None:
        self._typed(label, 2)
        self._camera = label

    def _shape(self) -> tuple[int, int]:
        binning = int(self._prop(self._camera, "Binning").value)
        return (512 // binning, 512 // binning)

    def getImageHeight(self) -> int:
        return self._shape()[0]

    def getImageWidth(self) -> int:
        return self._shape()[1]

    def getBytesPerPixel(self) -> int:
        return {"16bit": 2, "32bitRGB": 4}.get(self._prop(self._camera, "PixelType").value, 1)

    def getNumberOfComponents(self) -> int:
        return 4 if self._prop(self._camera, "PixelType").value == "32bitRGB" else 1

    def _frame(self, number: int) -> np.ndarray:
        level = number % 50 + 1
        if self.getNumberOfComponents() == 4:  # as MMCore: one uint32 per pixel, bytes B, G, R, 0
            return np.full(self._shape(), level | (level + 50) << 8 | (level + 100) << 16, dtype=np.uint32)
        dtype = np.uint16 if self.getBytesPerPixel() == 2 else np.uint8
        return np.full(self._shape(), level, dtype=dtype)

    def setExposure(self, label: str, ms: float) -> None:
        self.setProperty(label, "Exposure", ms)
        self._announce("onExposureChanged", label, float(ms))

    def getExposure(self, label: str) -> float:
        return float(self.getProperty(label, "Exposure"))

    def snapImage(self) -> None:
        self._touch()
        if self.hang.is_set():  # a blocked C++ call: it returns when the test releases it
            self.release.wait()
        self._image = self._frame(1)

    def getImage(self) -> np.ndarray:
        if self._image is None:
            raise RuntimeError("Camera image buffer read failed.")
        return self._image.copy()

    def startSequenceAcquisition(self, label: str, count: int, interval: float, stop_on_overflow: bool) -> None:
        self.setCameraDevice(label)
        self._buffer.clear()
        self._seq = {"label": label, "left": count}
        for number in range(count):  # the sequence thread's frames, all at once
            md = {"ElapsedTime-ms": f"{number * 1.0:.2f}", "ImageNumber": str(number), "Binning": "1",
                  "ROI-X-start": "0", "ROI-Y-start": "0", "Camera": label}  # fmt: skip
            self._buffer.append((self._frame(number), md))
        self._seq["left"] = 0

    def startContinuousSequenceAcquisition(self, interval: float) -> None:
        self.startSequenceAcquisition(self._camera, 1000, interval, False)

    def stopSequenceAcquisition(self, label: str) -> None:
        self._seq = {}

    def isSequenceRunning(self, label: str) -> bool:
        return bool(self._seq) and self._seq.get("left", 0) > 0

    def getRemainingImageCount(self) -> int:
        return len(self._buffer)

    def isBufferOverflowed(self) -> bool:
        return False

    def popNextImageMD(self, md: Metadata) -> np.ndarray:
        if not self._buffer:
            raise IndexError("Circular buffer is empty.")
        image, tags = self._buffer.pop(0)
        md.tags = dict(tags)
        return image
