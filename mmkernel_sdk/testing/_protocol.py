"""expected_protocol: wire-level tests of a serial adapter, byte for byte, without hardware.

    with expected_protocol(Wheel, [("pos?\\r", "pos?\\r1\\r> "), ("pos=3\\r", "pos=3\\r> ")]) as wheel:
        wheel.set_state(2)

gives an initialized device whose port is a script: every byte the device writes must match
the next exchange's `sent`, and then that exchange's `reply` becomes readable. Terminators,
echoes and prompts are written out, because framing is exactly where serial adapters go wrong.
`(None, reply)` is data the instrument sends unasked; `(sent, None)` a command with no reply
(a device may listen after it and hear silence: its read times out, as on a real port).
An unexpected, wrong, missing or extra exchange fails with both sides' bytes and the transcript
so far, even if the adapter caught the error.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .._device import Device
from ..errors import PortTimeoutError
from ._harness import DirectHarness
from .sim import publish, unpublish

Exchange = tuple[str | bytes | None, str | bytes | None]
_numbers = itertools.count(1)


class ProtocolMismatch(AssertionError):  # noqa: N818 - reads as what happened in a test report
    """The device's bytes did not follow the expected exchanges."""


class ScriptLink:
    """A link (as a SimLink) whose other end is a list of expected exchanges."""

    def __init__(self, exchanges: Sequence[Exchange], encoding: str = "ascii") -> None:
        self._steps = [(_raw(sent, encoding), _raw(reply, encoding)) for sent, reply in exchanges]
        for index, (sent, reply) in enumerate(self._steps):
            if sent is None and reply is None:
                raise ValueError(f"exchange {index + 1}: (None, None) says nothing")
        self._index = 0
        self._written = bytearray()
        self._readable = bytearray()
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
                    self._readable += reply
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
        pass

    # -- checks -----------------------------------------------------------------------------
    def verify(self) -> None:
        """After the test body: everything expected happened, and nothing more."""
        if self.failure is not None:
            raise self.failure
        left = self._steps[self._index :]
        if left:
            missing = ", ".join(repr(sent) for sent, _ in left[:3]) + (" ..." if len(left) > 3 else "")
            self._fail(f"{len(left)} expected exchange(s) never happened: the device did not send {missing}")
        if self._written:
            self._fail(f"the device sent {bytes(self._written)!r}, which is only the start of the next exchange")
        if self._readable:
            self._fail(f"the device never read {bytes(self._readable)!r}")

    def _release_unsolicited(self) -> None:
        while self._index < len(self._steps) and self._steps[self._index][0] is None:
            reply = self._steps[self._index][1]
            assert reply is not None
            self._readable += reply
            self.transcript.append(f"  {self._index + 1}. (unsolicited) reply {reply!r}")
            self._index += 1

    def _fail(self, message: str) -> None:
        so_far = "\n".join(self.transcript) or "  (nothing yet)"
        error = ProtocolMismatch(f"{message}\nexchanges so far:\n{so_far}")
        if self.failure is None:
            self.failure = error
        raise error


def _raw(item: str | bytes | None, encoding: str) -> bytes | None:
    if item is None or isinstance(item, bytes):
        return item
    return item.encode(encoding)


@contextmanager
def expected_protocol(
    device_class: type[Device],
    exchanges: Sequence[Exchange],
    *,
    port_property: str = "Port",
    encoding: str = "ascii",
    **pre_init: Any,
) -> Iterator[Any]:
    """An initialized `device_class()` whose serial port follows `exchanges`; pre-init
    properties are given as keywords (`BaudRate=115200`)."""
    script = ScriptLink(exchanges, encoding)
    url = publish(script, f"expected-protocol-{next(_numbers)}")  # type: ignore[arg-type]
    harness = DirectHarness(device_class())
    try:
        for name, value in {port_property: url, **pre_init}.items():
            harness.set(name, value)
        harness.initialize()
        try:
            yield harness.device
        finally:
            harness.shutdown()
        script.verify()
    except ProtocolMismatch:
        raise
    except BaseException as error:
        if script.failure is not None:
            raise script.failure from None  # the mismatch is the cause of whatever followed
        if isinstance(error, PortTimeoutError) and script.waited_in_silence:
            so_far = "\n".join(script.transcript)
            raise ProtocolMismatch(
                f"the device timed out waiting for a reply the script says never comes ({error})\n"
                f"exchanges so far:\n{so_far}"
            ) from error
        raise
    finally:
        unpublish(url)
