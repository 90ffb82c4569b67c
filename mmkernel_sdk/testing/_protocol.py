"""expected_protocol: wire-level tests of a serial or VISA adapter, byte for byte, without hardware.

    with expected_protocol(Wheel, [("pos?\\r", "pos?\\r1\\r> "), ("pos=3\\r", "pos=3\\r> ")]) as wheel:
        wheel.set_state(2)

gives an initialized device whose port (a `SerialPort`'s Port, or a `VisaInstrument`'s
Resource) is a script: every byte the device writes must match the next exchange's `sent`, and
then that exchange's `reply` becomes readable. Terminators, echoes and prompts are written out,
because framing is exactly where adapters go wrong. `(None, reply)` is data the instrument sends
unasked; `(sent, None)` a command with no reply (a device may listen after it and hear silence:
its read times out, as on a real port). Every reply must be read before the device sends its
next command (or purged), and by the end: a reply left unread would answer the next query.
An unexpected, wrong, missing or extra exchange fails with both sides' bytes and the transcript
so far, even if the adapter caught the error.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .._device import Device
from ..errors import PortTimeoutError
from ..resources import (
    SerialConnection,
    SerialPort,
    VisaInstrument,
    iter_connections,
    register_backend,
    resources_of,
    unregister_backend,
)
from ._harness import DirectHarness
from .sim import publish, unpublish

Exchange = tuple[str | bytes | None, str | bytes | None]
_numbers = itertools.count(1)


class ProtocolMismatch(AssertionError):  # noqa: N818 - reads as what happened in a test report
    """The device's bytes did not follow the expected exchanges."""


class ScriptLink:
    """A link (as a SimLink) whose other end is a list of expected exchanges."""

    def __init__(self, exchanges: Sequence[Exchange], encoding: str = "ascii", device: str = "") -> None:
        self._steps = [(_raw(sent, encoding), _raw(reply, encoding)) for sent, reply in exchanges]
        for index, (sent, reply) in enumerate(self._steps):
            if sent is None and reply is None:
                raise ValueError(f"exchange {index + 1}: (None, None) says nothing")
        self.device = device
        self._index = 0
        self._written = bytearray()
        self._readable = bytearray()
        self._released: list[tuple[int, bytes]] = []  # (exchange number, reply), in wire order
        self.read_ahead: Callable[[], bytes] = bytes  # bytes the device's port took in, not yet used
        self._unread_at_close = b""
        self.transcript: list[str] = []
        self.failure: ProtocolMismatch | None = None
        self._silent_after = -1  # the exchange after which the device listened to silence
        self._lock = threading.Lock()
        self._release_unsolicited()

    def make_link(self) -> ScriptLink:
        return self

    # -- the link interface (what protocol_sim.Serial calls) ----------------------------------
    def write(self, data: bytes) -> int:
        with self._lock:
            unread = self._unread()
            if unread:
                what = f"exchange {self._index + 1} of {len(self._steps)}" if self._index < len(self._steps) else (
                    "after the last expected exchange")  # fmt: skip
                self._fail(
                    f"{what}: the device sent {bytes(self._written) + data!r} while {unread!r} of "
                    f"{self._sources(len(unread))} was still unread (a reply left unread answers the next "
                    "query: read it all, or purge() it)"
                )
            self._written += data
            while self._written:
                if self._index >= len(self._steps):
                    self._fail(f"the device sent {bytes(self._written)!r} after the last expected exchange")
                sent, reply = self._steps[self._index]
                assert sent is not None
                written = bytes(self._written)
                if sent.startswith(written):
                    if written != sent:
                        return len(data)  # a message may be written in parts
                elif not written.startswith(sent):
                    self._fail(
                        f"exchange {self._index + 1} of {len(self._steps)}: expected the device to send {sent!r}, "
                        f"it sent {written!r}"
                    )
                del self._written[: len(sent)]
                self.transcript.append(f"  {self._index + 1}. sent {sent!r} -> reply {reply!r}")
                self._index += 1
                if reply is not None:
                    self._release(reply)
                self._release_unsolicited()
        return len(data)

    def read(self, size: int, timeout: float | None) -> bytes:
        with self._lock:
            if self._readable:
                out = bytes(self._readable[:size])
                del self._readable[:size]
                return out
            if not timeout or self.failure is not None:
                return b""
            if not self._silence_allowed():
                self._fail(
                    "the device waits for a reply, but the script has none"
                    + (f" (next it expects the device to send {self._steps[self._index][0]!r})"
                       if self._index < len(self._steps) else " (all exchanges are done)")
                )  # fmt: skip
            if self._silent_after != self._index:
                self._silent_after = self._index
                self.transcript.append("     (the device waited for a reply: the instrument stays silent)")
        time.sleep(timeout)  # silence, as a real port gives it: the device's read times out
        return b""

    def _silence_allowed(self) -> bool:
        """After `(sent, None)` the instrument says nothing: a device may listen (for an error
        line that comes only on failure) and hear silence."""
        return self._index > 0 and self._steps[self._index - 1][1] is None

    @property
    def waited_in_silence(self) -> bool:
        return self._silent_after == self._index and self._index > 0

    def in_waiting(self) -> int:
        return len(self._readable)

    def next_due(self) -> float | None:
        return None

    def reset_input(self) -> None:
        with self._lock:
            if self._readable:
                self.transcript.append(f"  (the device purged {bytes(self._readable)!r} unread)")
            self._readable.clear()

    def close(self) -> None:
        """The port closes: what its read-ahead holds now was never read."""
        with self._lock:
            self._unread_at_close += self.read_ahead()

    # -- checks -----------------------------------------------------------------------------
    def verify(self) -> None:
        """After the test body: everything expected happened, every reply was read, and nothing more."""
        if self.failure is not None:
            raise self.failure
        left = self._steps[self._index :]
        if left:
            missing = ", ".join(repr(sent) for sent, _ in left[:3]) + (" ..." if len(left) > 3 else "")
            self._fail(f"{len(left)} expected exchange(s) never happened: the device did not send {missing}")
        if self._written:
            self._fail(f"the device sent {bytes(self._written)!r}, which is only the start of the next exchange")
        unread = self._unread_at_close + bytes(self._readable)
        if unread:
            self._fail(f"the test ended with {unread!r} of {self._sources(len(unread))} never read")

    def _unread(self) -> bytes:
        """Reply bytes the device has not used: in its port's read-ahead, then still on the wire."""
        return self.read_ahead() + bytes(self._readable)

    def _sources(self, count: int) -> str:
        """Which exchanges' replies the last `count` released bytes came from."""
        numbers: list[int] = []
        for number, reply in reversed(self._released):
            if count <= 0:
                break
            numbers.insert(0, number)
            count -= len(reply)
        if len(numbers) == 1:
            number = numbers[0]
            return f"exchange {number}'s reply {dict(self._released)[number]!r}"
        return "the replies of exchanges " + ", ".join(map(str, numbers))

    def _release(self, reply: bytes) -> None:
        self._readable += reply
        self._released.append((self._index, reply))

    def _release_unsolicited(self) -> None:
        while self._index < len(self._steps) and self._steps[self._index][0] is None:
            reply = self._steps[self._index][1]
            assert reply is not None
            self.transcript.append(f"  {self._index + 1}. (unsolicited) reply {reply!r}")
            self._index += 1
            self._release(reply)

    def _fail(self, message: str) -> None:
        so_far = "\n".join(self.transcript) or "  (nothing yet)"
        who = f"device {self.device!r}: " if self.device else ""
        error = ProtocolMismatch(f"{who}{message}\nexchanges so far:\n{so_far}")
        if self.failure is None:
            self.failure = error
        raise error


def _raw(item: str | bytes | None, encoding: str) -> bytes | None:
    if item is None or isinstance(item, bytes):
        return item
    return item.encode(encoding)


# -- VISA: a pyvisa-like instrument whose other end is the script -------------------------------
TIMEOUT_CODE = -1073807339  # VI_ERROR_TMO, as pyvisa reports a timeout


class ScriptTimeoutError(TimeoutError):
    """No reply within the instrument's timeout (a VISA timeout, VI_ERROR_TMO)."""

    error_code = TIMEOUT_CODE
    abbreviation = "VI_ERROR_TMO"
    description = "Timeout expired before operation completed."


class ScriptInstrument:
    """The part of a pyvisa resource a VisaConnection drives: terminations, timeout (ms), write,
    read, query, clear. It reads byte by byte, so no reply byte is taken before it is used."""

    def __init__(self, link: ScriptLink, resource_name: str) -> None:
        self.link = link
        self.resource_name = resource_name
        self.read_termination: str | None = "\n"
        self.write_termination: str = "\n"
        self.encoding = "ascii"
        self.timeout: float | None = 2000.0

    def write_raw(self, message: bytes) -> int:
        return self.link.write(bytes(message))

    def write(self, message: str) -> int:
        return self.write_raw((message + (self.write_termination or "")).encode(self.encoding))

    def read_bytes(self, count: int) -> bytes:
        deadline = self._deadline()
        out = bytearray()
        while len(out) < count:
            out += self._one(deadline, len(out))
        return bytes(out)

    def read_raw(self) -> bytes:
        """Up to and including the read termination (with none: what has come, at least a byte)."""
        end = (self.read_termination or "").encode(self.encoding)
        deadline = self._deadline()
        out = bytearray(self._one(deadline, 0))
        while end and not out.endswith(end):
            out += self._one(deadline, len(out))
        while not end and self.link.in_waiting():
            out += self.link.read(1, 0.0)
        return bytes(out)

    def read(self) -> str:
        raw = self.read_raw()
        end = (self.read_termination or "").encode(self.encoding)
        return (raw[: -len(end)] if end and raw.endswith(end) else raw).decode(self.encoding)

    def query(self, message: str) -> str:
        self.write(message)
        return self.read()

    def clear(self) -> None:
        self.link.reset_input()

    def close(self) -> None:
        self.link.close()

    def _deadline(self) -> float | None:
        return None if self.timeout is None else time.monotonic() + float(self.timeout) / 1000.0

    def _one(self, deadline: float | None, got: int) -> bytes:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        byte = self.link.read(1, remaining)
        if not byte:
            raise ScriptTimeoutError(f"{self.resource_name}: no reply within {self.timeout} ms ({got} bytes came)")
        return byte


class ScriptResourceManager:
    """What VisaConnection asks for its Backend: every resource it opens is the script."""

    def __init__(self, link: ScriptLink) -> None:
        self.link = link

    def open_resource(self, resource_name: str, **_: Any) -> ScriptInstrument:
        return ScriptInstrument(self.link, resource_name)


@contextmanager
def _visa_backend(name: str, link: ScriptLink) -> Iterator[None]:
    """Backend `name` (for as long as the test runs) opens the script."""
    register_backend(name, ScriptResourceManager(link))
    try:
        yield
    finally:
        unregister_backend(name)


def _read_ahead_of(device: Device) -> Callable[[], bytes]:
    """What the device's serial lines have read from the port and the device has not used yet
    (a line reads whatever has arrived, so a reply's extra bytes wait there)."""

    def unread() -> bytes:
        return b"".join(c.unread() for c in iter_connections(device) if isinstance(c, SerialConnection))

    return unread


@contextmanager
def expected_protocol(
    device_class: type[Device],
    exchanges: Sequence[Exchange],
    *,
    port_property: str = "Port",
    encoding: str = "ascii",
    **pre_init: Any,
) -> Iterator[Any]:
    """An initialized `device_class()` whose serial port or VISA instrument follows `exchanges`;
    pre-init properties are given as keywords (`BaudRate=115200`)."""
    number = next(_numbers)
    device = device_class()
    harness = DirectHarness(device)
    script = ScriptLink(exchanges, encoding, harness.label)
    script.read_ahead = _read_ahead_of(device)
    url = publish(script, f"expected-protocol-{number}")  # type: ignore[arg-type]
    kinds = resources_of(device_class)
    settings: dict[str, Any] = {}
    if any(isinstance(kind, SerialPort) for kind in kinds) or not kinds:
        settings[port_property] = url
    backend = f"@expected-protocol-{number}"
    if any(isinstance(kind, VisaInstrument) for kind in kinds):
        settings.update(Resource=f"TCPIP0::expected-protocol-{number}::SOCKET", Backend=backend)
    try:
        with _visa_backend(backend, script):
            for name, value in {**settings, **pre_init}.items():
                harness.set(name, value)
            harness.initialize()
            try:
                yield device
            finally:
                harness.close()  # shut down, and its throwaway calibration folder goes
            script.verify()
    except ProtocolMismatch:
        raise
    except BaseException as error:
        if script.failure is not None:
            raise script.failure from None  # the mismatch is the cause of whatever followed
        if isinstance(error, PortTimeoutError) and script.waited_in_silence:
            so_far = "\n".join(script.transcript)
            raise ProtocolMismatch(
                f"device {harness.label!r}: the device timed out waiting for a reply the script says never "
                f"comes ({error})\nexchanges so far:\n{so_far}"
            ) from error
        raise
    finally:
        unpublish(url)
