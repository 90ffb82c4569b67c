"""LoadedDevice: the kernel's record of one device under its label."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mmkernel_sdk import Device
from mmkernel_sdk.errors import DeviceTypeError
from mmkernel_sdk.host import PropertyTable, properties_of

from ..runtime import Runner

if TYPE_CHECKING:
    from ._busy import BusyWatch

_ALWAYS_READABLE = frozenset({"Name", "Description"})


@dataclass(eq=False)
class CameraState:
    """A camera's streaming state. It belongs to this loaded device, not to its label: a camera
    loaded later under the same label starts afresh even if the old one is still shutting down."""

    buffer: Any = None  # FrameBuffer, allocated at initialize
    buffer_mb: float | None = None  # set_buffer_size (None: the kernel's default)
    sequence: Any = None  # the current or last Sequence


@dataclass(eq=False)
class LoadedDevice:
    label: str
    device: Device
    adapter: str
    device_name: str
    runner: Runner
    parent: str | None = None
    initialized: bool = False
    init_error: BaseException | None = None
    delay_s: float = 0.0
    busy_until: float = 0.0
    unloaded: bool = False  # set when shutdown starts: later requests for it must not run
    busy_poll_s: float = 0.005  # how often waiting asks the adapter's busy()
    watch: BusyWatch | Any = None  # every pending wait_for on this device
    camera: CameraState = field(default_factory=lambda: CameraState())  # cameras only: buffer, sequence
    memorized_before_init: dict[str, Any] = field(default_factory=dict)  # kept over the stored values
    load_token: object = None  # the load that added it (a load given up at its deadline takes it out again)
    moved: bool = False  # a non-blocking stage moved since its busy() last said idle: read where it is then
    requested: str = ""  # the adapter name as asked for, before resolve ("DemoCamera" chosen as mm:DemoCamera)

    @property
    def device_type(self) -> str:
        return self.device.device_type

    @property
    def props(self) -> PropertyTable:
        return properties_of(self.device)

    @property
    def has_busy(self) -> bool:
        """True when the adapter overrides busy() (non-blocking hardware): worth a hop to ask."""
        return type(self.device).busy is not Device.busy

    def require_type(self, expected: str, verb: str) -> None:
        if self.device_type != expected:
            raise DeviceTypeError(
                f"device {self.label!r} is {with_article(self.device_type)} device; "
                f"{verb}() needs {with_article(expected)} device"
            )

    def usable_before_init(self, name: str) -> bool:
        spec = self.props.spec(name)
        return name in _ALWAYS_READABLE or spec.pre_init or spec.before_init


@dataclass(frozen=True)
class DeviceInfo:
    """What is loaded under a label. `adapter` is the adapter chosen; `requested` the name it
    was asked for by (a configuration's module name: `DemoCamera` resolved to `mm:DemoCamera`
    by MMKERNEL_MM_PREFER), which is what a saved configuration writes."""

    label: str
    adapter: str
    device_name: str
    device_type: str
    parent: str | None
    initialized: bool
    requested: str = ""


@dataclass(frozen=True)
class DeviceHealth:
    """`ok`, `faulted` (a call overran its deadline and has not returned) or `failed`
    (initialize raised); `detail` says why."""

    state: Literal["ok", "faulted", "failed"]
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def with_article(word: str) -> str:
    """'a Stage', 'an AutoFocus'."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
