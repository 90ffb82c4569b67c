"""LineSimulator: a stateful stand-in for an instrument that speaks a line (or framed binary) protocol.

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

A handler returns the reply: a str (one line; `write_terminator` is added), bytes (the same, as
bytes), a list of lines, `Raw(...)` for bytes sent exactly as given, `Reply(..., delay_s=...)` for
a reply that takes time (a move), or None for no reply. Each command's reply has its own due
time: a slow reply does not hold back the reply to a later command (set `sequential = True` for
an instrument that handles one command at a time). `emit(...)` sends a message unasked, at a
time or when something happens in the simulator. `framing = Fixed(n)` or `LengthPrefixed(...)`
makes a binary protocol: handlers receive frames (bytes patterns match their bytes). Faults can
be injected at any time (`fail_next`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._framing import Framing, Lines

Handler = Callable[..., Any]
Chunk = tuple[float, bytes]  # (seconds after the command, bytes)
_FAULTS = ("silent", "garbage", "truncated", "stuck")
_GARBAGE = b"\xff\xfe\x00garbage\x9c"


def command(pattern: str | bytes) -> Callable[[Handler], Handler]:
    """Mark a handler for received commands that fully match `pattern` (a regular expression);
    its groups are passed as arguments. A str pattern matches the decoded text, a bytes pattern
    the raw bytes (groups as bytes; `.` matches any byte)."""

    def mark(fn: Handler) -> Handler:
        flags = re.DOTALL if isinstance(pattern, bytes) else 0
        fn._sim_pattern = re.compile(pattern, flags)  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True)
class Raw:
    """Bytes (or text) sent exactly as given: no terminator or framing is added."""

    data: bytes | str


@dataclass(frozen=True)
class Reply:
    """A reply sent `delay_s` after the command (a move that answers when it ends); replies to
    commands that came later are not held back by it, unless the simulator is `sequential`."""

    body: Any
    delay_s: float = 0.0


@dataclass
class Output:
    """What the instrument sends for one received command: the reply's (delay, bytes) chunks in
    order, and the messages the command caused (`emit` in its handler), each at its own delay."""

    chunks: list[Chunk] = field(default_factory=list)
    caused: list[Chunk] = field(default_factory=list)


class Line(Protocol):
    """What a simulator sends unasked messages through (a SimLink)."""

    def deliver(self, items: list[tuple[float, bytes]]) -> None:
        """Schedule (monotonic due time, bytes) items."""


class LineSimulator:
    read_terminator: str = "\r"  # ends each command the instrument receives
    write_terminator: str = "\r"  # added to each reply line it sends
    encoding: str = "ascii"
    echo: bool = False  # repeat each received command (framed as a reply) first
    prompt: str = ""  # sent after the reply of every command (e.g. "> ")
    unknown: Any = None  # reply to a command no handler matches (None: no reply)
    greeting: bytes = b""  # sent when the line opens (power-up noise, a banner)
    framing: Framing | None = None  # None: lines; Fixed(n) / LengthPrefixed(...): binary frames
    sequential: bool = False  # True: a reply that takes time holds back every later one

    def __init__(self) -> None:
        self.received: list[Any] = []  # every command received, in order (str; bytes if framed)
        self._faults: list[str] = []
        self._stuck = False
        self._lock = threading.Lock()
        self._handling = threading.RLock()  # one command at a time, as an instrument does
        self._responder: int | None = None  # the thread running a handler (its emits join its output)
        self._caused: list[Chunk] = []
        self._lines: list[Line] = []
        self._pending: list[tuple[float, bytes]] = []  # emitted while no line was open
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

    # -- unsolicited messages ---------------------------------------------------------------
    def emit(self, body: Any, after_s: float = 0.0) -> None:
        """Send `body` unasked, `after_s` from now, framed as a reply would be (a str is a line):
        an instrument's own event (a move that ends, an alarm, a periodic reading). Called in a
        handler, it goes out on that command's line, after the command's reply when both are due
        at once; from elsewhere, on every open line (one opened later gets what is still to come).
        A stuck instrument emits nothing."""
        delay, parts = self._frame(body)
        with self._lock:
            if self._stuck:
                return
            if self._responder == threading.get_ident():
                self._caused.extend((after_s + delay, part) for part in parts)
                return
            due = time.monotonic() + after_s + delay
            items = [(due, part) for part in parts]
            lines = list(self._lines)
            if not lines:
                self._pending.extend(items)
        for line in lines:
            line.deliver(items)

    def _attach(self, line: Line) -> list[tuple[float, bytes]]:
        """A line opened: it hears later emits; returns those emitted while none was open."""
        with self._lock:
            self._lines.append(line)
            pending, self._pending = self._pending, []
        return pending

    def _detach(self, line: Line) -> None:
        with self._lock:
            if line in self._lines:
                self._lines.remove(line)

    # -- the wire ---------------------------------------------------------------------------
    @property
    def wire_framing(self) -> Framing:
        """How received bytes become commands and replies become bytes."""
        if self.framing is not None:
            return self.framing
        return Lines(self._encode(self.read_terminator), self._encode(self.write_terminator))

    def receive(self, frame: bytes) -> Output:
        """The output for one received frame (a line without its terminator)."""
        return self._respond(frame.decode(self.encoding, errors="replace"), frame)

    def respond(self, line: str | bytes) -> Output:
        """The output for one received line (without its terminator), given as text or bytes."""
        if isinstance(line, bytes):
            return self.receive(line)
        return self._respond(line, line.encode(self.encoding, errors="replace"))

    def _respond(self, text: str, raw: bytes) -> Output:
        with self._handling:
            self.received.append(raw if self.framing is not None else text)
            with self._lock:
                fault = self._faults.pop(0) if self._faults else None
                if fault == "stuck":
                    self._stuck = True
                stuck = self._stuck
            output = Output()
            if stuck or fault == "silent":
                return output
            wrap = self.wire_framing.wrap
            if self.echo:
                output.chunks.append((0.0, wrap(raw)))
            with self._lock:
                self._responder, self._caused = threading.get_ident(), []
            try:
                delay, body = self._dispatch(text, raw)
            finally:
                with self._lock:
                    self._responder, output.caused = None, self._caused
            if fault == "garbage":  # a complete line (or frame) that is not text
                output.chunks.append((delay, wrap(_GARBAGE)))
            else:
                output.chunks.extend((delay, part) for part in body)
                if fault == "truncated":
                    if output.chunks:
                        last_delay, last = output.chunks[-1]
                        output.chunks[-1] = (last_delay, last[: max(1, len(last) // 2)])
                    return output
            if self.prompt:
                output.chunks.append((delay, self._encode(self.prompt)))
            return output

    def _dispatch(self, text: str, raw: bytes) -> tuple[float, list[bytes]]:
        for pattern, handler in self._handlers:
            match = pattern.fullmatch(raw if isinstance(pattern.pattern, bytes) else text)
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
        payload = bytes(reply) if isinstance(reply, (bytes, bytearray)) else self._encode(str(reply))
        return delay, [self.wire_framing.wrap(payload)]

    def _encode(self, text: str) -> bytes:
        return text.encode(self.encoding)


def _handlers_of(kind: type, instance: object) -> Iterator[Handler]:
    seen: set[str] = set()
    for klass in kind.__mro__:
        for name, value in vars(klass).items():
            if name not in seen and hasattr(value, "_sim_pattern"):
                seen.add(name)
                yield getattr(instance, name)
