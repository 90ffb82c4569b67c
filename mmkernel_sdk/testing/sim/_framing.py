"""How a simulator cuts the bytes it receives into commands, and frames what it sends.

Line protocols end each command with a terminator (the default, from the simulator's
`read_terminator` / `write_terminator`). Binary protocols have no terminator: `Fixed(n)` takes
every `n` bytes as one frame, `LengthPrefixed(size_bytes, byteorder)` reads a length and then
that many bytes. A handler then receives the frame's bytes (a length prefix removed), and a reply
it returns is framed the same way (given its prefix); `Raw(...)` is always sent as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


class Framing(Protocol):
    """What a simulator's `framing` attribute must do."""

    def take(self, buffer: bytearray) -> bytes | None:
        """Remove one whole frame from the front of `buffer` and return its content; None while
        the frame is incomplete."""

    def wrap(self, payload: bytes) -> bytes:
        """The bytes that carry `payload` on the wire (a reply, an echo)."""


@dataclass(frozen=True)
class Lines:
    """A line protocol: commands end in `read_terminator`, replies get `write_terminator`."""

    read_terminator: bytes
    write_terminator: bytes

    def take(self, buffer: bytearray) -> bytes | None:
        end = buffer.find(self.read_terminator)
        if end < 0:
            return None
        frame = bytes(buffer[:end])
        del buffer[: end + len(self.read_terminator)]
        return frame

    def wrap(self, payload: bytes) -> bytes:
        return payload + self.write_terminator


@dataclass(frozen=True)
class Fixed:
    """Every `size` bytes are one frame (a controller with 8-byte commands); replies are sent
    as the handler gives them."""

    size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"Fixed({self.size}): a frame has at least one byte")

    def take(self, buffer: bytearray) -> bytes | None:
        if len(buffer) < self.size:
            return None
        frame = bytes(buffer[: self.size])
        del buffer[: self.size]
        return frame

    def wrap(self, payload: bytes) -> bytes:
        return payload


@dataclass(frozen=True)
class LengthPrefixed:
    """A length of `size_bytes` bytes (unsigned, `byteorder`), then that many bytes of payload;
    handlers see the payload, and replies get their length put in front."""

    size_bytes: int = 1
    byteorder: Literal["big", "little"] = "big"

    def __post_init__(self) -> None:
        if self.size_bytes not in (1, 2, 4):
            raise ValueError(f"LengthPrefixed(size_bytes={self.size_bytes}): 1, 2 or 4")
        if self.byteorder not in ("big", "little"):
            raise ValueError(f"LengthPrefixed(byteorder={self.byteorder!r}): 'big' or 'little'")

    def take(self, buffer: bytearray) -> bytes | None:
        header = self.size_bytes
        if len(buffer) < header:
            return None
        length = int.from_bytes(buffer[:header], self.byteorder)
        if len(buffer) < header + length:
            return None
        frame = bytes(buffer[header : header + length])
        del buffer[: header + length]
        return frame

    def wrap(self, payload: bytes) -> bytes:
        limit = 256**self.size_bytes - 1
        if len(payload) > limit:
            raise ValueError(f"a {len(payload)}-byte reply does not fit a {self.size_bytes}-byte length prefix")
        return len(payload).to_bytes(self.size_bytes, self.byteorder) + payload
