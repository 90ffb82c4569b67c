"""A simulated Thorlabs FW102C / FW212C, byte for byte as the wheel speaks (manual rev. L and a
transcript from firmware 1.07): every line is echoed with CR, a query's value follows as
`value\\r`, errors as `Command error CMD_...\\n\\r`, and every exchange ends with the prompt `> `.
A move's prompt comes only when the wheel has arrived (shortest way round; slow or fast speed).

`sim://fw102c` opens a fresh one; `?time_scale=0.01` makes moves 100 times faster for tests.
"""

from __future__ import annotations

from mmkernel_sdk.testing.sim import LineSimulator, Raw, Reply, command

NOT_DEFINED = Raw("Command error CMD_NOT_DEFINED\n\r")
ARG_INVALID = Raw("Command error CMD_ARG_INVALID\n\r")


def move_seconds(start: int, end: int, count: int, fast: bool) -> float:
    """How long the wheel takes from position `start` to `end` (1-based), the shortest way round.
    Fitted to measured moves: 3 steps of a 6-position wheel take ~2.9 s fast, ~6.8 s slow."""
    steps = min(abs(end - start), count - abs(end - start))
    if steps == 0:
        return 0.0
    per_step = (0.85 if fast else 2.1) * 6 / count
    return (0.35 if fast else 0.5) + per_step * steps


class FW102CSimulator(LineSimulator):
    read_terminator = "\r"
    write_terminator = "\r"
    echo = True
    prompt = "> "
    unknown = NOT_DEFINED
    identity = "THORLABS FW102C/FW212C Filter Wheel version 1.07"
    positions = 6

    def __init__(self, time_scale: float = 1.0, noisy: bool = False) -> None:
        super().__init__()
        self.time_scale = float(time_scale)
        self.count = self.positions
        self.position = 1
        self.speed = 1
        self.trigger = 0
        self.sensors = 0
        self.baud = 1
        self.saved: dict[str, int] = {}
        if noisy:  # as a wheel just powered up: NUL bytes, an error banner, a prompt
            self.greeting = b"\x00\x00Command error CMD_NOT_DEFINED\n\r> "

    @command(r"\*idn\?")
    def identify(self) -> str:
        return self.identity

    @command(r"pos\?")
    def get_position(self) -> str:
        return str(self.position)

    @command(r"pos=(-?\d+)")
    def set_position(self, value: str) -> object:
        target = int(value)
        if not 1 <= target <= self.count:
            return ARG_INVALID
        seconds = move_seconds(self.position, target, self.count, self.speed == 1) * self.time_scale
        self.position = target
        return Reply(None, delay_s=seconds)  # the prompt arrives when the wheel does

    @command(r"pcount\?")
    def get_count(self) -> str:
        return str(self.count)

    @command(r"pcount=(\d+)")
    def set_count(self, value: str) -> object:
        if int(value) not in (6, 12):
            return ARG_INVALID
        self.count = int(value)
        self.position = min(self.position, self.count)
        return None

    @command(r"(speed|trig|sensors|baud)\?")
    def get_flag(self, name: str) -> str:
        return str(getattr(self, _ATTRIBUTES[name]))

    @command(r"(speed|trig|sensors|baud)=(\d+)")
    def set_flag(self, name: str, value: str) -> object:
        if value not in ("0", "1"):
            return ARG_INVALID
        setattr(self, _ATTRIBUTES[name], int(value))
        return None

    @command(r"save")
    def save(self) -> None:
        self.saved = {"count": self.count, "speed": self.speed, "trigger": self.trigger, "sensors": self.sensors}


class FW212CSimulator(FW102CSimulator):
    positions = 12


_ATTRIBUTES = {"speed": "speed", "trig": "trigger", "sensors": "sensors", "baud": "baud"}
