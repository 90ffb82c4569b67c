"""Text that goes on a wire as one command: a value must not carry a command of its own.

A value holding the line terminator, a line break, NUL or another control byte would split one
command into two (`"x\\rRESET"` sent as two commands) or confuse the instrument's parser, so it
is refused before anything is written. Adapters of binary protocols send bytes, or opt out.
"""

from __future__ import annotations

NAMES = {0: "NUL", 9: "a tab", 10: "a line feed (\\n)", 13: "a carriage return (\\r)", 27: "ESC", 127: "DEL"}


def control_byte(text: str) -> str:
    """What the first control character of `text` is (e.g. "a carriage return (\\r), byte
    0x0d, at index 1"), or "" when it has none."""
    for index, char in enumerate(text):
        code = ord(char)
        if code < 32 or code == 127:
            name = NAMES.get(code, "a control byte")
            return f"{name}, byte 0x{code:02x}, at index {index}"
    return ""
