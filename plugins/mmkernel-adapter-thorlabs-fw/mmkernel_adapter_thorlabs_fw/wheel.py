"""Thorlabs FW102C / FW212C motorized filter wheel, over its ASCII serial protocol.

Everything an adapter author would otherwise write by hand comes from the SDK: the port and
its properties (SerialPort), threading (the kernel's runner), validation, busy polling, and
one-line command properties. What is left is the protocol itself: the wheel echoes each
command, answers a query on the next line, and prints the prompt "> " when it is ready again,
which for a move is when the wheel has arrived.
"""

from __future__ import annotations

import re
import time

from mmkernel_sdk import StateDevice, prop
from mmkernel_sdk.errors import PortTimeoutError, ReplyError
from mmkernel_sdk.resources import SerialPort

PROMPT = "> "
IDENTITY = re.compile(r"THORLABS\s+FW(102|212)C")


def move_budget_s(start: int, end: int, count: int, fast: bool) -> float:
    """Generous time for a move (twice the wheel's typical time, plus a second)."""
    steps = min(abs(end - start), count - abs(end - start))
    per_step = (0.85 if fast else 2.1) * 6 / count
    return 1.0 + 2 * (0.5 + per_step * steps)


class ThorlabsFilterWheel(StateDevice):
    """Thorlabs FW102C/FW212C filter wheel"""

    num_positions = 6
    busy_poll_s = 0.05  # busy() reads the port: 20 looks a second are plenty for a 1-7 s move
    port = SerialPort(baudrate=115200, terminator="\r", answer_timeout_ms=1000)

    Speed = prop(str, query="speed?", write="speed={}", mapping={"Slow": 0, "Fast": 1}, doc="Move profile.")
    trigger = prop(str, query="trig?", write="trig={}", mapping={"Input": 0, "Output": 1}, name="Trigger Mode",
                   doc="Input: a BNC pulse advances the wheel. Output: it pulses on arrival.")  # fmt: skip
    sensors = prop(str, query="sensors?", write="sensors={}", mapping={"Off when idle": 0, "Always on": 1},
                   name="Sensors", doc="Position sensors off while idle (less stray light) or always on.")  # fmt: skip
    Identity = prop(str, query="*idn?", doc="Model and firmware version, as the wheel reports them.")

    def __init__(self) -> None:
        self._move: tuple[float, str] | None = None  # (deadline, command) of a move in progress
        self._target = 0  # where the wheel is going (it cannot be asked while it moves)
        self._arrived = ""  # bytes of a move's reply received so far

    def initialize(self) -> None:
        self._move, self._arrived = None, ""  # a move cut short by an earlier shutdown is over
        self.port.purge()  # a wheel just powered up sends noise
        identity = self.ask("*idn?")
        if not IDENTITY.search(identity):
            message = f"device {self.label!r}: {identity!r} is not a Thorlabs FW102C/FW212C"
            raise ReplyError(self.label, "initialize", message)
        count = int(self.ask("pcount?"))
        self.set_num_positions(count)
        for position in range(count):
            self.define_label(position, f"Filter-{position + 1}")

    def shutdown(self) -> None:
        self._move, self._arrived = None, ""  # the port closes next: a move's prompt is not coming here

    # -- positions (0-based in the kernel, 1-based on the wire: converted here only) -------------
    def set_state(self, position: int) -> None:
        start, count = int(self.ask("pos?")), len(self.labels)
        budget = move_budget_s(start, position + 1, count, self.Speed == "Fast")
        command = f"pos={position + 1}"
        self._send(command)
        self._move = (time.monotonic() + budget, command)  # the prompt comes on arrival
        self._target = position

    def get_state(self) -> int:
        if self._move is not None and self.busy():
            return self._target  # a moving wheel answers nothing until it arrives
        return int(self.ask("pos?")) - 1

    def busy(self) -> bool:
        """Moving until the prompt of the move has arrived."""
        if self._move is None:
            return False
        self._arrived += self.port.read_available().decode("ascii", "replace")
        if PROMPT in self._arrived:
            self._end_move()
            return False
        deadline, command = self._move
        if time.monotonic() > deadline:
            self._move = None
            message = f"device {self.label!r}: the wheel did not arrive after {command!r}"
            raise PortTimeoutError(self.label, "busy", message)
        return True

    # -- the exchange: command, echo, value line (queries), prompt ------------------------------
    def ask(self, command: str) -> str:
        self._send(command)
        value = self.port.read_until("\r").strip()
        self._check(command, value)
        self.port.read_until(PROMPT)
        return value

    def tell(self, command: str) -> None:
        self._send(command)
        self._check(command, self.port.read_until(PROMPT).strip())

    def _send(self, command: str) -> None:
        if self._move is not None:
            self._wait_for_arrival()
        self.port.write(command)
        echo = self.port.read_until("\r").lstrip("> ")
        if echo != command:
            raise ReplyError(self.label, command, f"device {self.label!r}: sent {command!r}, the wheel echoed {echo!r}")

    def _wait_for_arrival(self) -> None:
        deadline, _ = self._move  # type: ignore[misc]
        remaining_ms = max(0.0, deadline - time.monotonic()) * 1000
        try:
            self._arrived += self.port.read_until(PROMPT, timeout_ms=remaining_ms) + PROMPT
        finally:
            self._end_move()

    def _end_move(self) -> None:
        arrived, self._arrived, (_, command) = self._arrived, "", self._move  # type: ignore[misc]
        self._move = None
        self._check(command, arrived.split(PROMPT)[0].strip())

    def _check(self, command: str, reply: str) -> None:
        if reply.startswith("Command error"):
            code = reply.split()[-1]
            raise ReplyError(self.label, command, f"device {self.label!r}: the wheel refused {command!r}: {code}")
