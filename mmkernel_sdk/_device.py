"""Device: the base class every adapter device derives from.

Adapter code is plain blocking Python. The kernel runs every call into a device on that device's
own worker thread, one call at a time, so adapters never need a lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar, Protocol

from ._abstract import must_override
from ._prop import prop
from ._spec import PropertySpec
from ._table import PropertyTable
from .names import check_declaration


class DeviceHost(Protocol):
    """What the kernel offers a loaded device (the SDK never imports the kernel)."""

    def property_notified(self, device: Device, name: str, value: Any) -> None: ...

    # Optional (looked up with getattr, so a test harness may leave them out):
    # properties_invalidated(device, names), siblings_of(device) -> list[Device],
    # call_may_take(device, seconds), property_removed(device, name), resolve_port(device, address)


_MISSING = object()


class Device:
    """A device: declare properties with `prop`, override the few methods of your device type.

    Lifecycle: construct (no I/O) -> pre-init properties are set -> `initialize()` -> use ->
    `shutdown()`.
    """

    device_type: ClassVar[str] = "Generic"
    description: ClassVar[str] = ""
    serial_number_property: ClassVar[str | None] = None
    """The property holding the hardware's serial number: calibration is stored under it (so it
    follows the instrument, not the label). None: the label is the key."""
    busy_poll_s: ClassVar[float | None] = None
    """How often the kernel asks `busy()` while someone waits (None: the kernel's default, 5 ms).
    A device behind a slow serial line sets e.g. 0.05 so a 300 ms move is 6 queries, not 60."""
    name_check: ClassVar[bool] = True
    """False: the property-name registry checks none of this class's names (at class definition,
    `add_property`, the conformance kit); `prop(..., name_check=False)` exempts one property."""
    _class_props: ClassVar[dict[str, prop]] = {}

    Name = prop(str, read_only=True, doc="The adapter's name for this device.")
    Description = prop(str, read_only=True, doc="What this device is.")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._class_props = _collect_props(cls)
        owner = f"{cls.__module__}.{cls.__qualname__}"
        for value in vars(cls).values():  # declared here (inherited ones were checked already)
            if isinstance(value, prop):
                check_declaration(owner, value.name, value.units, enabled=cls.name_check and value.name_check)
        for base in cls.__mro__[1:]:  # mixins (plain classes with props) are checked once, where first used
            if issubclass(base, Device) or base in _checked_mixins:
                continue
            _checked_mixins.add(base)
            for value in vars(base).values():
                if isinstance(value, prop):
                    check_declaration(f"{base.__module__}.{base.__qualname__} (mixed into {owner})", value.name,
                                      value.units, enabled=cls.name_check and value.name_check)  # fmt: skip

    def __new__(cls, *args: Any, **kwargs: Any) -> Device:
        # Built here, not in __init__, so an adapter whose __init__ forgets super() still works.
        self = super().__new__(cls)
        self.label = cls.__name__
        self.device_name = cls.__name__
        self.kernel = None
        self.hub = None
        self._host = None
        self.log = logging.LoggerAdapter(logging.getLogger("mmkernel.device"), {"device": "?"})
        self._props = PropertyTable(self)
        for declared in cls._class_props.values():
            self._props.add(declared.spec(), declared.bound_getter(self), declared.bound_setter(self))
        return self

    # -- what authors override --------------------------------------------------------------
    def initialize(self) -> None:
        """Open the hardware. Heavy imports (vendor SDKs) belong here, not at module level."""

    def shutdown(self) -> None:
        """Release the hardware. Called once, on the device's own thread."""

    def busy(self) -> bool:
        """True while non-blocking hardware is still moving; blocking adapters keep the default."""
        return False

    @property
    def calibration(self) -> Any:
        """This device's persistent calibration store (a dict-like `Calibration`)."""
        store = self.__dict__.get("_calibration")
        if store is None:
            from .calibration import open_calibration, serial_of

            store = open_calibration(self)
            if not type(self).serial_number_property or serial_of(self):
                self.__dict__["_calibration"] = store  # kept once its key is final (the serial number read)
        return store

    def ask(self, command: str) -> str:
        """Send a query and return the reply: what command properties (`prop(query=...)`) read
        with. The default uses the device's one resource (`self.port.query`); override it for a
        protocol with echoes, prompts or checksums."""
        return self._one_connection("ask").query(command)  # type: ignore[no-any-return]

    def tell(self, command: str) -> None:
        """Send a command that sets something: what command properties write with. The
        default writes it on the device's one resource; override it to read an acknowledgement."""
        self._one_connection("tell").write(command)

    def _one_connection(self, method: str) -> Any:
        from .resources._resource import resources_of  # not the package: its port device is a Device

        found = [r for r in resources_of(type(self)) if r.carries_commands]
        if len(found) != 1:
            kind = type(self)
            raise NotImplementedError(
                f"adapter class {kind.__module__}.{kind.__qualname__}: command properties use {method}(), "
                f"which needs exactly one connection (declare e.g. port = SerialPort(...)) or an override of "
                f"{method}(); it has {len(found)}"
            )
        return found[0].__get__(self)

    # -- hardware sequences (override for a property declared with sequence_max > 0) -----------
    def load_property_sequence(self, name: str, values: list[Any]) -> None:
        """Send the hardware a list of values for property `name`, each already validated by
        the kernel (type, limits, allowed) and no longer than the property's sequence_max.
        A hardware trigger (usually the camera's exposure-out) then steps through them, once
        started. Loading replaces the previous list."""
        must_override(self, "load_property_sequence", self._sequenced_why(name))

    def start_property_sequence(self, name: str) -> None:
        """Arm the loaded sequence of `name`: from now on each trigger applies the next value."""
        must_override(self, "start_property_sequence", self._sequenced_why(name))

    def stop_property_sequence(self, name: str) -> None:
        """Disarm the sequence of `name`. The kernel reads the property again afterwards."""
        must_override(self, "stop_property_sequence", self._sequenced_why(name))

    def set_sequence_max(self, name: str, length: int) -> None:
        """Change how long a sequence of `name` may be (0: not sequenceable), e.g. when a
        setting switches the hardware's sequencing on or off."""
        self._props.set_sequence_max(name, length)

    def _sequenced_why(self, name: str) -> str:
        length = self._props.spec(name).sequence_max if name in self._props else 0
        return f"property {name!r} declares sequence_max={length}" if length else f"for property {name!r}"

    def refreshing(self) -> AbstractContextManager[object]:
        """The kernel reads every property inside this context (initialize, update_cache).
        Override it when several properties come from one hardware query, to ask once."""
        return nullcontext()

    # -- helpers for authors ----------------------------------------------------------------
    def notify(self, name: str, value: Any = _MISSING) -> None:
        """Tell the kernel a property changed on its own (hardware button, temperature drift,
        a setter that changed a related property). A stored property also keeps `value`.
        Safe to call from any thread (e.g. a vendor SDK's callback thread)."""
        if value is _MISSING:
            value = self._props.get(name)
        else:
            value = self._props.store(name, value)
        if self._host is not None:
            self._host.property_notified(self, name, value)

    def invalidate(self, *names: str) -> None:
        """The hardware changed these properties (all of them if none is named) without this
        device knowing the new values: another device on its controller stopped, homed or
        reset it. The kernel re-reads them after the call running now, so its cache and change
        events stay right. Safe from any thread."""
        for name in names:
            self._props.spec(name)  # an unknown name is a PropertyError naming the device now
        report = getattr(self._host, "properties_invalidated", None)
        if report is not None:
            report(self, names)

    def siblings(self) -> list[Device]:
        """The other devices on this device's wire or hub (the other axes of its controller),
        in load order. They run on this device's thread, so adapter code calls them directly:
        `for other in self.siblings(): other.invalidate("Position")`."""
        find = getattr(self._host, "siblings_of", None)
        return [] if find is None else list(find(self))

    def expect_duration(self, seconds: float) -> None:
        """This call may take up to `seconds` (a long move, a homing run): the kernel's
        slow-call warning is given only beyond that, for this call alone."""
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
            raise ValueError(f"device {self.label!r}: expect_duration({seconds!r}): a number of seconds >= 0")
        allow = getattr(self._host, "call_may_take", None)
        if allow is not None:
            allow(self, float(seconds))

    def add_property(
        self,
        name: str,
        kind: type,
        *,
        getter: Callable[[], Any] | None = None,
        setter: Callable[[Any], None] | None = None,
        name_check: bool = True,
        **spec: Any,
    ) -> None:
        """Register a property at runtime (devices that learn their properties from hardware).
        `name_check=False`: the name registry does not check this name."""
        if getter is not None and setter is None:
            spec.setdefault("read_only", True)
        checked = name_check and type(self).name_check
        check_declaration(f"device {self.label!r}", name, spec.get("units", ""), stacklevel=3, enabled=checked)
        if not checked:
            self.__dict__.setdefault("_names_unchecked", set()).add(name)  # the conformance kit skips it too
        self._props.add(PropertySpec(name=name, kind=kind, **spec), getter, setter, added=True)

    def remove_property(self, name: str) -> None:
        """Remove a property added with `add_property` (a channel the hardware no longer
        has); declared properties stay. The kernel forgets its cached value."""
        self._props.remove(name)
        report = getattr(self._host, "property_removed", None)
        if report is not None:
            report(self, name)

    def set_limits(self, name: str, lo: float, hi: float) -> None:
        """Narrow a property's limits (e.g. Exposure up to a pre-init maximum)."""
        self._props.set_limits(name, lo, hi)

    def remove_limits(self, name: str) -> None:
        """Drop a property's limits (the setter then decides what the hardware takes)."""
        self._props.remove_limits(name)

    def set_allowed(self, name: str, values: Iterable[Any] | None) -> None:
        """Replace a property's allowed values (None removes the restriction)."""
        self._props.set_allowed(name, values)

    def property_spec(self, name: str) -> PropertySpec:
        return self._props.spec(name)

    # -- standard read-only properties ------------------------------------------------------
    @Name.getter
    def Name(self) -> str:  # noqa: N802 - Micro-Manager's property name
        return self.device_name

    @Description.getter
    def Description(self) -> str:  # noqa: N802 - Micro-Manager's property name
        doc = (type(self).__doc__ or "").strip().splitlines()
        return self.description or (doc[0] if doc else "")

    # -- kernel side ------------------------------------------------------------------------
    def _attach(self, host: DeviceHost, kernel: Any, label: str, device_name: str) -> None:
        """Called by the kernel when the device is loaded under `label`."""
        self._host = host
        self.kernel = kernel
        self.label = label
        self.device_name = device_name
        self.log = logging.LoggerAdapter(logging.getLogger("mmkernel.device"), {"device": label})


_checked_mixins: set[type] = set()


def _collect_props(cls: type) -> dict[str, prop]:
    """Every `prop` declared on the class and its bases, subclasses overriding by name."""
    collected: dict[str, prop] = {}
    for klass in reversed(cls.__mro__):
        for value in vars(klass).values():
            if isinstance(value, prop):
                collected[value.name] = value
    return collected


Device._class_props = _collect_props(Device)
