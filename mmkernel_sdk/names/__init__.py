"""Normalized property names: one registry of canonical names, with types, units, meanings and
the synonyms in use elsewhere, so metadata means the same thing whatever adapter wrote it.

The registry is data (`registry.toml`, one table per name; extend it by pull request). Declaring
a property whose name is a synonym of a canonical one (`exposure_ms`, `ExposureTime`), or a
canonical name with other units, raises a `PropertyNameWarning` at class definition naming the
canonical name and its units. Names the registry does not know are fine: it names what exists.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

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


# A unit written into a name ("Exposure_us", "PositionMm"): the quantity is the rest of the name.
_UNITS = "ns|us|µs|ms|sec|min|nm|um|µm|mm|cm|mw|uw|mv|ma|hz|khz|mhz|degc|pct|percent|kpa|pa"  # 2+ letters
_UNIT_SUFFIX = re.compile(  # "Exposure_us", "Position-mm", "WavelengthNm"; one-letter units only after a separator
    rf"^(?P<base>.*?[A-Za-z0-9])(?:[_\-\s]+(?P<unit>{_UNITS}|s|m|w|v|a|c|k)|(?<=[a-z0-9])(?P<camel>(?i:{_UNITS})))$",
    re.IGNORECASE,
)


def _with_unit_in_name(name: str) -> tuple[CanonicalName, str] | None:
    """`Exposure_us` -> (the Exposure entry, "us"), when the rest of the name is canonical."""
    found = _UNIT_SUFFIX.match(name)
    if found is None:
        return None
    entry = canonical(found["base"])
    unit = found["unit"] or found["camel"]
    return (entry, unit) if entry is not None and entry.units else None  # a unitless quantity: not a unit


def problem(name: str, units: str = "") -> str:
    """Why `name` (declared with `units`) is not canonical, or "" if it is fine."""
    entry = canonical(name)
    if entry is None:
        quantity = _with_unit_in_name(name)
        if quantity is None:
            return ""
        entry, unit = quantity
        in_units = f" in {unit!r}" if normalize(unit) != normalize(entry.units) else ""
        return (
            f"property {name!r} is the canonical {entry.describe()}{in_units} with its unit in the name: declare it "
            f"as {entry.name!r} in {entry.units or 'its canonical units'!r} (units belong in `units=`)"
        )
    if entry.name != name:
        return f"property {name!r} is a synonym of the canonical name {entry.describe()}: declare it as {entry.name!r}"
    if units and entry.units and units != entry.units:
        return f"property {name!r} is declared in {units!r}; its canonical units are {entry.units!r}"
    return ""


def check_declaration(owner: str, name: str, units: str, stacklevel: int = 3) -> None:
    """Warn (PropertyNameWarning) when a declaration is not canonical."""
    text = problem(name, units)
    if text:
        warnings.warn(f"{owner}: {text}", PropertyNameWarning, stacklevel=stacklevel)


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
    """For the conformance kit: every non-canonical property name of the device under test."""
    problems = []
    for name in harness.names():
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
    "normalize",
    "problem",
    "registry",
    "search",
]
