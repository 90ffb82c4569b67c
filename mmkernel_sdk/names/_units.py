"""Units: which quantity a unit measures, which spellings are the same unit, and where a
property name carries one.

A name carries a unit in brackets or parentheses ("Position (mm)", "Exposure [us]",
"ExposureTime(ms)"), after a separator ("Exposure_us", "Position-mm", "Power %") or camel-cased
("WavelengthNm", "FrameRateHz"). Two spellings are never read as units, because real names use
them for something else:

- a single capital letter after a separator or in camel case is a channel or axis letter
  ("Intensity A", "Power_A", "Power M", "Velocity X", "TemperatureC"), not amperes or metres:
  a one-letter unit counts only in brackets ("Power (W)") or as the lower-case SI symbol after a
  separator ("Exposure_s", "Position_m");
- "min", "h" and "hr" count only in brackets: "TemperatureMin", "Voltage min" and
  "ExposureMin" are minimums, "Interval (min)" is minutes.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_QUANTITIES: dict[str, tuple[str, ...]] = {  # lower-case spellings
    "time": ("ns", "us", "µs", "μs", "ms", "msec", "msecs", "sec", "secs", "s", "min", "h", "hr"),
    "length": ("nm", "um", "µm", "μm", "micron", "microns", "mm", "cm", "m"),
    "velocity": ("nm/s", "um/s", "µm/s", "micron/s", "microns/s", "um/sec", "micron/sec", "mm/s", "mm/sec", "m/s"),
    "acceleration": ("um/s^2", "µm/s^2", "micron/s^2", "mm/s^2", "m/s^2", "um/s2", "mm/s2", "m/s2"),
    "frequency": ("hz", "khz", "mhz", "ghz", "fps"),
    "power": ("nw", "uw", "µw", "mw", "w", "kw"),
    "voltage": ("uv", "µv", "mv", "v", "kv"),
    "current": ("ua", "µa", "ma", "a"),
    "temperature": ("degc", "°c", "c", "celsius", "k", "kelvin"),
    "fraction": ("%", "pct", "percent"),
    "pressure": ("pa", "kpa", "hpa", "mbar", "bar", "psi"),
    "volume": ("nl", "ul", "µl", "ml"),
    "flow": ("nl/s", "ul/s", "ul/sec", "ul/min", "µl/s", "µl/min", "ml/s", "ml/min"),
}
_QUANTITY_OF = {spelling: quantity for quantity, spellings in _QUANTITIES.items() for spelling in spellings}
_ONLY_IN_BRACKETS = {"min", "h", "hr"}  # elsewhere they are "minimum", a channel "H"
_LOWER_CASE_SYMBOLS = {"s", "m"}  # one-letter units that count after a separator
_SAME = [  # spellings of one unit, rewritten to one form before units are compared
    (re.compile(r"[µμ]"), "u"),
    (re.compile(r"^microns?"), "um"),
    (re.compile(r"msecs?$"), "ms"),
    (re.compile(r"(?<=/)secs?$|^secs?$"), "s"),
    (re.compile(r"^(°c|c|celsius)$"), "degc"),
    (re.compile(r"^(pct|percent)$"), "%"),
    (re.compile(r"^fps$"), "hz"),
    (re.compile(r"s2$"), "s^2"),
]

_BRACKETED = re.compile(r"^(?P<base>.*?[^\s_\-])[\s_\-]*[(\[]\s*(?P<unit>[^()\[\]]+?)\s*[)\]]$")
_SEPARATED = re.compile(r"^(?P<base>.*?[A-Za-z0-9])[\s_\-]+(?P<unit>[^\s_\-]+)$")
_CAMEL = re.compile(r"^(?P<base>.*[a-z0-9])(?P<unit>[A-Zµμ][A-Za-z]+)$")
_CHANNEL_LETTER = re.compile(r"[a-z0-9][\s_\-]+[A-Z]$")


class UnitInName(NamedTuple):
    base: str  # the name without its unit ("Position" of "Position (mm)")
    unit: str  # as written ("mm")
    quantity: str  # what it measures ("length")


def quantity_of(units: str) -> str:
    """What `units` measure ("length" for "um", "time" for "msec"), "" if unknown."""
    return _QUANTITY_OF.get(units.strip().lower(), "")


def same_units(first: str, second: str) -> bool:
    """Whether two spellings are one unit ("um" and "µm", "ms" and "msec", "degC" and "°C")."""
    return _spelled_one_way(first) == _spelled_one_way(second)


def _spelled_one_way(units: str) -> str:
    text = units.strip().lower()
    for pattern, replacement in _SAME:
        text = pattern.sub(replacement, text)
    return text


def unit_in_name(name: str) -> UnitInName | None:
    """The unit `name` carries at its end, if any (see the module's docstring for the rules)."""
    found = _BRACKETED.match(name)
    if found is not None:
        unit = found["unit"]
        quantity = quantity_of(unit) if len(unit) > 1 else _one_letter(unit)
        return UnitInName(found["base"], unit, quantity) if quantity else None
    for pattern in (_SEPARATED, _CAMEL):
        found = pattern.match(name)
        if found is None:
            continue
        unit = found["unit"]
        if unit.lower() in _ONLY_IN_BRACKETS:
            return None
        if len(unit) == 1 and unit not in _LOWER_CASE_SYMBOLS and unit != "%":
            return None  # a channel or axis letter
        quantity = quantity_of(unit)
        if quantity:
            return UnitInName(found["base"], unit, quantity)
    return None


def ends_in_channel_letter(name: str) -> bool:
    """`name` ends in a lone capital letter after a separator ("Temperature C", "Voltage_V"):
    a channel or axis, so not the spelling of a canonical name with its unit ("temperature_c")."""
    return _CHANNEL_LETTER.search(name) is not None


def _one_letter(unit: str) -> str:
    """A one-letter unit in brackets, as SI writes it ("(W)", "(s)"; not "(w)" or "(S)")."""
    return quantity_of(unit) if unit in {"s", "m", "W", "V", "A", "C", "K", "%"} else ""
