"""Calibration storage: per-device persistent values that outlive a session.

    self.calibration["pixel_size_um"] = 0.65           # adapter code
    kernel.calibration("Cam")["camera_to_stage"] = affine.tolist()   # user code

Values are JSON-able (numbers, strings, booleans, None, lists, nested dicts; numpy arrays and
scalars are stored as lists and numbers). A device's store is keyed by adapter + device name +
serial number (the property an adapter names in `serial_number_property`; the label when there
is none), under the user's data directory (platformdirs; `$MMKERNEL_DATA_DIR` or
`Kernel(data_dir=...)` override it). A read-only site layer (`$MMKERNEL_SITE_DATA_DIR`,
`Kernel(site_data_dir=...)`) lies under it: lab-wide values a user's own override. Writes are
atomic and locked, every change is kept in a bounded history, and `prop(..., memorized=True)`
properties are saved on every set and written back to the hardware at initialize.
"""

from __future__ import annotations

import copy
import enum
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._file import CalibrationError, CalibrationFile, CalibrationWarning, history_is_cut, record
from ._paths import safe_component, store_path

if TYPE_CHECKING:
    from .._owner import DeviceLike

MEMORIZED = "property "  # memorized property values are stored as "property <name>"


def default_data_dir() -> Path:
    """$MMKERNEL_DATA_DIR, else the platform's user data directory for mmkernel."""
    configured = os.environ.get("MMKERNEL_DATA_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_data_dir("mmkernel", appauthor=False))


def default_site_data_dir() -> Path | None:
    configured = os.environ.get("MMKERNEL_SITE_DATA_DIR")
    return Path(configured) if configured else None


@dataclass(frozen=True)
class Change:
    """One entry of a key's history."""

    time: float  # seconds since the epoch
    value: Any
    by: str
    deleted: bool = False


class Calibration(MutableMapping[str, Any]):
    """One device's calibration: the user layer over an optional read-only site layer."""

    def __init__(self, user: CalibrationFile, site: CalibrationFile | None = None) -> None:
        self._user = user
        self._site = site
        self._lock = threading.RLock()

    @property
    def path(self) -> Path:
        return self._user.path

    def _values(self) -> tuple[dict[str, Any], dict[str, Any]]:
        with self._lock:
            user = self._user.load()["values"]
            return user, self._site_values()

    def _site_values(self) -> dict[str, Any]:
        """The read-only lab-wide layer; a broken file there is a warning, never a reason the
        user's own store cannot be read."""
        if self._site is None:
            return {}
        try:
            return dict(self._site.load()["values"])
        except CalibrationError as error:
            warnings.warn(f"site layer unavailable: {error}", CalibrationWarning, stacklevel=4)
            return {}

    def __getitem__(self, key: str) -> Any:
        user, site = self._values()
        if key in user:
            return copy.deepcopy(user[key])  # a copy: changing it in place must not look saved
        if key in site:
            return copy.deepcopy(site[key])
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        _check_key(key)
        stored = to_json(value, key)
        with self._lock:
            self._user.change(lambda document: record(document, key, stored))

    def __delitem__(self, key: str) -> None:
        user, site = self._values()
        if key not in user:
            if key in site:
                where = self._site.path  # type: ignore[union-attr]
                raise KeyError(f"{key!r} comes from the read-only site layer ({where}); it cannot be deleted")
            raise KeyError(key)
        with self._lock:
            self._user.change(lambda document: record(document, key, None, deleted=True))

    def __iter__(self) -> Iterator[str]:
        user, site = self._values()
        return iter(sorted(set(user) | set(site)))

    def __len__(self) -> int:
        user, site = self._values()
        return len(set(user) | set(site))

    def __repr__(self) -> str:
        return f"<Calibration {self.path}: {dict(self)}>"

    def update(self, key: str, change: Callable[[Any], Any], default: Any = None) -> Any:
        """Read-modify-write `key` atomically, across processes: `change(current)` (a copy; the
        `default` if the key is not set) returns the new value, stored under the store's lock.
        `store.update("focus", lambda f: {**f, "FITC": 0.5}, {})` never loses another writer's key."""
        _check_key(key)
        result: list[Any] = []

        def edit(document: dict[str, Any]) -> None:
            values = document["values"]
            found = values[key] if key in values else self._site_values().get(key, default)
            current = copy.deepcopy(found)
            stored = to_json(change(current), key)
            record(document, key, stored)
            result.append(stored)

        with self._lock:
            self._user.change(edit)
        return copy.deepcopy(result[0])

    def history(self, key: str) -> list[Change]:
        """Every recorded change of `key` in the user layer, oldest first (bounded)."""
        entries = self._user.load()["history"].get(key, [])
        return [
            Change(e["time"], copy.deepcopy(e["value"]), e.get("by", "?"), e.get("deleted", False)) for e in entries
        ]

    def revert(self, key: str, steps: int = 1) -> Any:
        """Go back `steps` changes (recorded as a new change, atomically); returns the value now
        in force. Going back past the first change means: the key did not exist. A history
        that was cut short (bounded in count and size) cannot be gone back past its start."""
        _check_key(key)
        result: list[Any] = []

        def edit(document: dict[str, Any]) -> None:
            entries = document["history"].get(key, [])
            cut = history_is_cut(entries)
            if steps < 1 or steps > len(entries) or (steps == len(entries) and cut):
                kept = " (older changes were dropped to bound the store: it cannot go back further)" if cut else ""
                raise CalibrationError(
                    f"{key!r} in {self.path}: cannot go back {steps} change(s); its history has {len(entries)}{kept}"
                )
            target = entries[-1 - steps] if steps < len(entries) else None
            if target is None or target.get("deleted"):
                record(document, key, None, deleted=True)
                result.append(None)
            else:
                record(document, key, target["value"])
                result.append(target["value"])

        with self._lock:
            self._user.change(edit)
        return copy.deepcopy(result[0])


def to_json(value: Any, key: str = "?") -> Any:
    """`value` as JSON-able data, or a TypeError/ValueError naming the key."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, int):
        value = int(value)
        if value.bit_length() > _LONG_INT_BITS:
            _check_digits(value, key)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"calibration {key!r}: {value!r} is not a finite number")
        return float(value)
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if tolist is not None:
        return to_json(tolist(), key)
    if isinstance(value, (list, tuple)):
        return [to_json(item, key) for item in value]
    if isinstance(value, dict):
        for name in value:
            if not isinstance(name, str):
                raise TypeError(f"calibration {key!r}: dict keys must be text, not {name!r}")
        return {name: to_json(item, f"{key}.{name}") for name, item in value.items()}
    kind = type(value).__name__
    raise TypeError(f"calibration {key!r}: {kind} {value!r} cannot be stored (use numbers, text, lists, dicts)")


_LONG_INT_BITS = 3000  # below Python's digit limit (4300 by default); only longer ones are checked


def _check_digits(value: int, key: str) -> None:
    try:
        str(value)  # JSON writes integers in decimal
    except ValueError:
        limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else "?"
        raise ValueError(
            f"calibration {key!r}: an integer of {value.bit_length()} bits cannot be stored (more than "
            f"{limit} decimal digits, Python's limit for writing it as text)"
        ) from None


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key or "\x00" in key:
        raise KeyError(f"calibration keys are non-empty text without NUL, not {key!r}")


# -- what the kernel and the harness call ------------------------------------------------------
def open_calibration(device: DeviceLike) -> Calibration:
    """The store for `device`, keyed by adapter + device name + serial number (or label)."""
    host = device._host
    roots = getattr(host, "calibration_roots", None)
    user_root, site_root = roots() if roots is not None else (default_data_dir(), default_site_data_dir())
    adapter_of = getattr(host, "adapter_of", None)
    adapter = (adapter_of(device) if adapter_of is not None else "") or "(loaded directly)"
    serial = serial_of(device)
    key = f"serial {serial}" if serial else f"label {device.label}"
    identity = {"adapter": adapter, "device": device.device_name, "serial": serial, "label": device.label}
    parts = ("calibration", adapter, device.device_name, key)
    user = CalibrationFile(store_path(Path(user_root), *parts), identity)
    site = CalibrationFile(store_path(Path(site_root), *parts), identity, read_only=True) if site_root else None
    return Calibration(user, site)


def serial_of(device: DeviceLike) -> str:
    """The serial number the adapter names (`serial_number_property`), "" if none or unreadable."""
    name = type(device).serial_number_property
    if not name:
        return ""
    try:
        value = device._props.get(name)
    except Exception:  # noqa: BLE001 - no serial yet (not initialized): the label is the key
        return ""
    return str(value).strip() if value is not None else ""


def remember(device: DeviceLike, name: str, value: Any) -> None:
    """A memorized property was set: keep its value."""
    device.calibration[MEMORIZED + name] = to_json(value, name)


def restore_memorized(device: DeviceLike, skip: Iterable[str] = ()) -> list[str]:
    """Write every memorized property's kept value back to the hardware (at initialize), except
    those in `skip` (set in this session before initialize: what the user asked for wins);
    returns the problems (a value no longer allowed, a store that cannot be read: skipped, and
    said; never raised: the device starts with its defaults). A property restores before those
    it `affects`, and a value refused is tried again after the others (Range=High first lets
    Power=80 in). A device without memorized properties never opens its store."""
    props = device._props
    skipped = set(skip)
    names = [n for n in props.names() if props.spec(n).memorized and n not in skipped]
    if not names:
        return []
    try:
        calibration = device.calibration
        present = set(calibration)
        stored = {n: calibration[MEMORIZED + n] for n in names if MEMORIZED + n in present}
    except Exception as error:  # noqa: BLE001 - corrupt, unreachable, refused: the store is never a reason to fail
        return [f"memorized values not restored: {error}"]
    problems: dict[str, str] = {}
    pending = _restore_order(props, [n for n in names if n in stored])
    while pending:
        refused = []
        for name in pending:
            try:
                props.apply(name, props.spec(name).coerce(stored[name], device.label))
                problems.pop(name, None)
            except Exception as error:  # noqa: BLE001 - one bad value must not stop the others
                problems[name] = f"memorized {name!r} = {stored[name]!r} not restored: {error}"
                refused.append(name)
        if len(refused) == len(pending):  # no progress: what is left is refused whatever the order
            break
        pending = refused
    return list(problems.values())


def _restore_order(props: Any, names: list[str]) -> list[str]:
    """`names` with each property after the memorized ones that `affects` it (their setters
    change its limits or value), otherwise in the given order; a cycle keeps the given order."""
    position = {name: index for index, name in enumerate(names)}
    first: dict[str, list[str]] = {name: [] for name in names}  # restored before the key
    for name in names:
        for other in props.spec(name).affects:
            if other in first and other != name:
                first[other].append(name)
    ordered: list[str] = []
    done: set[str] = set()

    def place(name: str, visiting: set[str]) -> None:
        if name in done or name in visiting:
            return
        visiting.add(name)
        for before in sorted(first[name], key=position.__getitem__):
            place(before, visiting)
        visiting.discard(name)
        done.add(name)
        ordered.append(name)

    for name in names:
        place(name, set())
    return ordered


__all__ = [
    "MEMORIZED",
    "Calibration",
    "CalibrationError",
    "CalibrationFile",
    "CalibrationWarning",
    "Change",
    "default_data_dir",
    "default_site_data_dir",
    "open_calibration",
    "remember",
    "restore_memorized",
    "safe_component",
    "serial_of",
    "store_path",
    "to_json",
]
