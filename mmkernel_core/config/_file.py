"""Micro-Manager `.cfg` files: parsing into commands, with every syntax problem and its line.

A line is comma-separated fields; `#` in the first column is a comment; empty fields collapse;
spaces are significant (never stripped). Commands run in file order. Files are UTF-8 (a leading
byte-order mark is ignored); lines end at `\n` or `\r\n` only, so a form feed or U+2028 inside a
value stays part of it.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mmkernel_sdk.errors import ConfigError

# command -> allowed field counts (including the command itself)
FIELD_COUNTS: dict[str, tuple[int, ...]] = {
    "Device": (4,),
    "Property": (3, 4),
    "Parent": (3,),
    "Label": (4,),
    "Delay": (3,),
    "FocusDirection": (3,),
    "ConfigGroup": (2, 5, 6),
    "ConfigPixelSize": (5,),
    "PixelSize_um": (3,),
    "PixelSizeAffine": (8,),
    "PixelSizeAngle_dxdz": (3,),
    "PixelSizeAngle_dydz": (3,),
    "PixelSizeOptimalZ_Um": (3,),
}
USAGE = {
    "Device": "Device,label,adapter,device",
    "Property": "Property,label,property[,value]",
    "Parent": "Parent,label,hub",
    "Label": "Label,stateDevice,position,label",
    "Delay": "Delay,label,ms",
    "FocusDirection": "FocusDirection,stage,sign",
    "ConfigGroup": "ConfigGroup,group[,preset,device,property[,value]]",
    "ConfigPixelSize": "ConfigPixelSize,resolution,device,property,value",
    "PixelSize_um": "PixelSize_um,resolution,um",
    "PixelSizeAffine": "PixelSizeAffine,resolution,a0,a1,a2,a3,a4,a5",
    "PixelSizeAngle_dxdz": "PixelSizeAngle_dxdz,resolution,value",
    "PixelSizeAngle_dydz": "PixelSizeAngle_dydz,resolution,value",
    "PixelSizeOptimalZ_Um": "PixelSizeOptimalZ_Um,resolution,value",
}


UNCARRIED = ((",", "holds a comma"), ("\n", "holds a line break"), ("\r", "holds a line break"))
NAME_RULE = "a non-empty name without commas or line breaks"


def uncarried(name: str) -> str:
    """Why a field could not be written to a file and read back as itself ("" if it can): a
    comma splits it, a line break ends the line, and an empty field collapses."""
    if not name:
        return "is empty"
    return next((what for bad, what in UNCARRIED if bad in name), "")


@dataclass(frozen=True)
class Command:
    line: int
    text: str
    fields: tuple[str, ...]
    # Split once: a load asks every line for its name and arguments a dozen times.
    name: str = field(init=False, repr=False, compare=False)
    args: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.fields[0])
        object.__setattr__(self, "args", self.fields[1:])

    def where(self) -> str:
        return f"line {self.line}: {self.text!r}"


@dataclass(frozen=True)
class Problem:
    line: int
    text: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "after the last line"
        return f"{where}: {self.message} (in {self.text!r})"


def parse(text: str) -> tuple[list[Command], list[Problem]]:
    """All commands, and every syntax problem (unknown command, wrong field count, bad number)."""
    return _parse_lines(enumerate(_lines(text), start=1))


def read(path: str | Path) -> tuple[list[Command], list[Problem]]:
    """Parse a file; a line that is not UTF-8 is a problem naming that line (never replaced)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"configuration file {str(path)!r} cannot be read: {error.strerror or error}") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    lines: list[tuple[int, str]] = []
    undecodable: list[Problem] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            lines.append((number, raw.decode("utf-8")))
        except UnicodeDecodeError as error:
            shown = raw.decode("utf-8", errors="backslashreplace")
            bad = raw[error.start : error.end]
            message = f"byte(s) {bad!r} at column {error.start + 1} are not UTF-8; save the file as UTF-8"
            undecodable.append(Problem(number, shown, message))
    commands, problems = _parse_lines(lines)
    return commands, sorted([*problems, *undecodable], key=lambda p: p.line)


def _lines(text: str) -> list[str]:
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _parse_lines(lines: Iterable[tuple[int, str]]) -> tuple[list[Command], list[Problem]]:
    commands: list[Command] = []
    problems: list[Problem] = []
    for number, line in lines:
        if not line or line.startswith("#") or not line.strip():
            continue
        fields = tuple(filter(None, line.split(",")))
        if not fields:
            continue
        command = Command(number, line, fields)
        problem = _check(command)
        if problem is None:
            commands.append(command)
        else:
            problems.append(Problem(number, line, problem))
    return commands, problems


def _check(command: Command) -> str | None:
    counts = FIELD_COUNTS.get(command.name)
    if counts is None:
        known = ", ".join(FIELD_COUNTS)
        return f"unknown command {command.name!r}; known commands: {known}"
    if len(command.fields) not in counts:
        return f"{command.name} takes the form {USAGE[command.name]} ({len(command.fields)} fields given)"
    numeric = _numeric_fields(command)
    for index in numeric:
        try:
            float(command.fields[index])
        except ValueError:
            return f"{command.name}: field {index + 1} must be a number, not {command.fields[index]!r}"
    return None


def _numeric_fields(command: Command) -> range | tuple[int, ...]:
    name = command.name
    if name in ("Delay", "FocusDirection", "PixelSize_um", "Label") or name.startswith("PixelSizeAngle"):
        return (2,)
    if name == "PixelSizeOptimalZ_Um":
        return (2,)
    if name == "PixelSizeAffine":
        return range(2, 8)
    return ()
