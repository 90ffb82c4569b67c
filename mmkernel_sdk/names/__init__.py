"""Normalized property names: one registry of canonical names, with types, units, meanings and
the synonyms in use elsewhere, so metadata means the same thing whatever adapter wrote it.

The registry is data (`registry.toml`, one table per name; extend it by pull request). Declaring
a property whose name is a synonym of a canonical one (`exposure_ms`, `ExposureTime`), or a
canonical name with other units, or a canonical name with its unit in the name ("Position (mm)",
"Exposure_us"; see `_units` for what counts as a unit), raises a `PropertyNameWarning` at class
definition naming the canonical name and its units. Names the registry does not know are fine:
it names what exists. `prop(..., name_check=False)` (and `add_property`) exempts one property,
`name_check = False` on a device class all of its properties.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ._units import UnitInName, ends_in_channel_letter, quantity_of, same_units, unit_in_name

REGISTRY_FILE = Path(__file__).with_name("registry.toml")


class PropertyNameWarning(UserWarning):
    """A property is declared under a synonym of a canonical name, or with other units."""


@dataclass(frozen=True)
class CanonicalName:
    name: str
    type: str
    units: str
    meaning: str
    device_types: tuple[str, ...]
    synonyms: tuple[str, ...]
    micro_manager: bool
    ome: str
    sfnc: str
    epics: str

    def describe(self) -> str:
        units = f" [{self.units}]" if self.units else ""
        return f"{self.name!r}{units}"


@cache
def registry() -> dict[str, CanonicalName]:
    """Every canonical name, by name."""
    with REGISTRY_FILE.open("rb") as file:
        data = tomllib.load(file)
    return {name: _entry(name, fields) for name, fields in data.items()}


def _entry(name: str, fields: dict[str, Any]) -> CanonicalName:
    return CanonicalName(
        name=name,
        type=fields["type"],
        units=fields["units"],
        meaning=fields["meaning"],
        device_types=tuple(fields["device_types"]),
        synonyms=tuple(fields["synonyms"]),
        micro_manager=bool(fields["micro_manager"]),
        ome=fields["ome"],
        sfnc=fields["sfnc"],
        epics=fields["epics"],
    )


def normalize(name: str) -> str:
    """The comparison form: lower case, letters and digits only ("Exposure-ms" -> "exposurems")."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


@cache
def _by_normal_form() -> dict[str, CanonicalName]:
    found: dict[str, CanonicalName] = {}
    for entry in registry().values():
        for spelling in (entry.name, *entry.synonyms):
            found.setdefault(normalize(spelling), entry)
    return found


def canonical(name: str) -> CanonicalName | None:
    """The canonical entry `name` is, or is a synonym (or a differently written form) of."""
    exact = registry().get(name)
    return exact if exact is not None else _by_normal_form().get(normalize(name))


def problem(name: str, units: str = "") -> str:
    """Why `name` (declared with `units`) is not canonical, or "" if it is fine.

    A name is taken for a canonical quantity only when the units it carries (in the name, see
    `_units`, or in `units=`) measure that quantity: "Power %" and "Current (%)" are fractions,
    not milliwatts and milliamperes, and "Power_A" is channel A's power."""
    entry = canonical(name)
    if entry is not None and entry.name != name and ends_in_channel_letter(name) and name not in entry.synonyms:
        entry = None  # "Temperature C" is channel C's temperature, not the synonym "temperature_c"
    carried = unit_in_name(name)
    if entry is not None and entry.name == name:
        if units and entry.units and not same_units(units, entry.units):
            return f"property {name!r} is declared in {units!r}; its canonical units are {entry.units!r}{_OPT_OUT}"
        return ""
    if entry is not None:
        if _another_quantity(entry, carried, units):
            return ""
        synonym = f"a synonym of the canonical name {entry.describe()}"
        return f"property {name!r} is {synonym}: declare it as {entry.name!r}{_OPT_OUT}"
    if carried is None:
        return ""
    entry = canonical(carried.base)
    if entry is None or not entry.units or carried.quantity != quantity_of(entry.units):
        return ""  # a unitless quantity, or another one: not this canonical name
    in_units = "" if same_units(carried.unit, entry.units) else f" in {carried.unit!r}"
    return (
        f"property {name!r} is the canonical {entry.describe()}{in_units} with its unit in the name: declare it "
        f"as {entry.name!r} in {entry.units!r} (units belong in `units=`){_OPT_OUT}"
    )


_OPT_OUT = " (another quantity after all? declare it with name_check=False)"


def _another_quantity(entry: CanonicalName, carried: UnitInName | None, units: str) -> bool:
    """A synonym's spelling, but carrying units of another quantity than the canonical name's."""
    if not entry.units:
        return False
    theirs = quantity_of(entry.units)
    if carried is not None and carried.quantity != theirs:
        return True
    return bool(units) and quantity_of(units) not in ("", theirs)


def check_declaration(owner: str, name: str, units: str, stacklevel: int = 3, *, enabled: bool = True) -> None:
    """Warn (PropertyNameWarning) when a declaration is not canonical; `enabled=False` (the
    property's or its class's `name_check=False`) checks nothing."""
    text = problem(name, units) if enabled else ""
    if text:
        warnings.warn(f"{owner}: {text}", PropertyNameWarning, stacklevel=stacklevel)


def name_checked(device: Any, name: str) -> bool:
    """Whether `device`'s property `name` is checked against the registry: not when its class
    says `name_check = False`, or it was declared with `name_check=False` (`prop(...)` or
    `add_property(...)`)."""
    kind = type(device)
    if not getattr(kind, "name_check", True):
        return False
    declared = getattr(kind, "_class_props", {}).get(name)
    if declared is not None and not getattr(declared, "name_check", True):
        return False
    return name not in getattr(device, "_names_unchecked", ())


def search(query: str = "") -> list[CanonicalName]:
    """Names whose name, synonyms, meaning or device types contain `query` (all if empty)."""
    needle = query.lower()
    found = []
    for entry in registry().values():
        text = " ".join((entry.name, *entry.synonyms, entry.meaning, *entry.device_types)).lower()
        if needle in text or normalize(query) in {normalize(s) for s in (entry.name, *entry.synonyms)}:
            found.append(entry)
    return sorted(found, key=lambda e: e.name.lower())


def conformance_checker(harness: Any) -> list[str]:
    """For the conformance kit: every non-canonical property name of the device under test
    (except those its class or declaration exempts with `name_check=False`)."""
    problems = []
    device = getattr(harness, "device", None)
    for name in harness.names():
        if device is not None and not name_checked(device, name):
            continue
        text = problem(name, harness.spec(name).units)
        if text:
            problems.append(text)
    return problems


__all__ = [
    "REGISTRY_FILE",
    "CanonicalName",
    "PropertyNameWarning",
    "canonical",
    "check_declaration",
    "conformance_checker",
    "name_checked",
    "normalize",
    "problem",
    "quantity_of",
    "registry",
    "same_units",
    "search",
    "unit_in_name",
]
