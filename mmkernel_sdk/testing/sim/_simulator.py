"""LineSimulator: a stateful stand-in for an instrument that speaks a line-based protocol.

Subclass it, keep the instrument's state in attributes, and map command patterns to handlers:

    class LampSim(LineSimulator):
        read_terminator = "\\r"
        intensity = 0

        @command(r"I(\\d+)")
        def set_intensity(self, value):
            self.intensity = int(value)
            return "OK"

        @command(r"I\\?")
        def get_intensity(self):
            return str(self.intensity)

A handler returns the reply: a str (one line; `write_terminator` is added), a list of lines,
`Raw(...)` for bytes sent exactly as given, `Reply(..., delay_s=...)` for a reply that takes
time (a move), or None for no reply. Faults can be injected at any time (`fail_next`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[..., Any]
_FAULTS = ("silent", "garbage", "truncated", "stuck")


def command(pattern: str) -> Callable[[Handler], Handler]:
    """Mark a handler for received lines that fully match `pattern` (a regular expression);
    its groups are passed as arguments."""

    def mark(fn: Handler) -> Handler:
        fn._sim_pattern = re.compile(pattern)  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True)
class Raw:
    """Bytes (or text) sent exactly as given: no terminator is added."""

    data: bytes | str


@dataclass(frozen=True)
class Reply:
    """A reply that is sent `delay_s` after the command (everything after it waits too)."""

    body: Any
    delay_s: float = 0.0


@dataclass
class Output:
    """What the instrument sends back for one received line: (delay, bytes) chunks in order."""

    chunks: list[tuple[float, bytes]] = field(default_factory=list)


class LineSimulator:
    read_terminator: str = "\r"  # ends each command the instrument receives
    write_terminator: str = "\r"  # added to each reply line it sends
    encoding: str = "ascii"
    echo: bool = False  # repeat each received line (and write_terminator) first
    prompt: str = ""  # sent after the reply of every command (e.g. "> ")
    unknown: Any = None  # reply to a line no handler matches (None: no reply)
    greeting: bytes = b""  # sent when the line opens (power-up noise, a banner)

    def __init__(self) -> None:
        self.received: list[str] = []  # every line received, in order
        self._faults: list[str] = []
        self._stuck = False
        self._lock = threading.Lock()
        self._handlers = [
            (fn._sim_pattern, fn)  # type: ignore[attr-defined]
            for fn in _handlers_of(type(self), self)
        ]

    # -- faults -----------------------------------------------------------------------------
    def fail_next(self, kind: str, count: int = 1) -> None:
        """The next `count` replies fail: "silent" (nothing is sent), "garbage" (a line of bytes
        that are not text), "truncated" (the reply cut short, no terminator or prompt), or "stuck"
        (nothing, and nothing for any later command until `unstick()`)."""
        if kind not in _FAULTS:
            raise ValueError(f"unknown fault {kind!r}; faults: {', '.join(_FAULTS)}")
        with self._lock:
            self._faults.extend([kind] * count)

    def unstick(self) -> None:
        with self._lock:
            self._stuck = False

    # -- the wire ---------------------------------------------------------------------------
    def respond(self, line: str) -> Output:
        """The output for one received line (without its terminator)."""
        self.received.append(line)
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            if fault == "stuck":
                self._stuck = True
            stuck = self._stuck
        output = Output()
        if stuck or fault == "silent":
            return output
        if self.echo:
            output.chunks.append((0.0, self._encode(line + self.write_terminator)))
        delay, body = self._dispatch(line)
        if fault == "garbage":  # a complete line that is not text
            output.chunks.append((delay, b"\xff\xfe\x00garbage\x9c" + self._encode(self.write_terminator)))
            if self.prompt:
                output.chunks.append((delay, self._encode(self.prompt)))
            return output
        for text in body:
            output.chunks.append((delay, text))
        if fault == "truncated":
            if output.chunks:
                last_delay, last = output.chunks[-1]
                output.chunks[-1] = (last_delay, last[: max(1, len(last) // 2)])
            return output
        if self.prompt:
            output.chunks.append((delay, self._encode(self.prompt)))
        return output

    def _dispatch(self, line: str) -> tuple[float, list[bytes]]:
        for pattern, handler in self._handlers:
            match = pattern.fullmatch(line)
            if match:
                return self._frame(handler(*match.groups()))
        return self._frame(self.unknown)

    def _frame(self, reply: Any, delay: float = 0.0) -> tuple[float, list[bytes]]:
        if reply is None:
            return delay, []
        if isinstance(reply, Reply):
            return self._frame(reply.body, delay + reply.delay_s)
        if isinstance(reply, Raw):
            data = reply.data
            return delay, [data if isinstance(data, bytes) else self._encode(data)]
        if isinstance(reply, (list, tuple)):
            parts: list[bytes] = []
            for item in reply:
                parts.extend(self._frame(item)[1])
            return delay, parts
        return delay, [self._encode(str(reply) + self.write_terminator)]

    def _encode(self, text: str) -> bytes:
        return text.encode(self.encoding)


def _handlers_of(kind: type, instance: object) -> Iterator[Handler]:
    seen: set[str] = set()
    for klass in kind.__mro__:
        for name, value in vars(klass).items():
            if name not in seen and hasattr(value, "_sim_pattern"):
                seen.add(name)
                yield getattr(instance, name)
