"""The FW102C adapter on the wire: every byte it sends and reads, checked with expected_protocol."""

from __future__ import annotations

import pytest
from mmkernel_adapter_thorlabs_fw.wheel import ThorlabsFilterWheel

from mmkernel_sdk.errors import ReplyError
from mmkernel_sdk.testing import expected_protocol


def ask(command: str, value: str) -> tuple[str, str]:
    """A query: the wheel echoes it, answers on the next line, then prompts."""
    return (f"{command}\r", f"{command}\r{value}\r> ")


def tell(command: str) -> tuple[str, str]:
    return (f"{command}\r", f"{command}\r> ")


IDENTITY = "THORLABS FW102C/FW212C Filter Wheel version 1.07"
# initialize(): identify, count positions; then the kernel's refresh reads every property once
# (State and Label from one pos? query), in name order: Identity, Sensors, Speed, Trigger Mode.
INITIALIZE = [
    ask("*idn?", IDENTITY),
    ask("pcount?", "6"),
    ask("pos?", "1"),
    ask("*idn?", IDENTITY),
    ask("sensors?", "0"),
    ask("speed?", "1"),
    ask("trig?", "0"),
]


def test_initialize_identifies_the_wheel_and_counts_its_positions() -> None:
    with expected_protocol(ThorlabsFilterWheel, INITIALIZE) as wheel:
        assert wheel.labels == [f"Filter-{n}" for n in range(1, 7)]


def test_a_twelve_position_wheel_gets_twelve_labels() -> None:
    exchanges = [ask("*idn?", IDENTITY), ask("pcount?", "12"), *INITIALIZE[2:]]
    with expected_protocol(ThorlabsFilterWheel, exchanges) as wheel:
        assert len(wheel.labels) == 12 and wheel.labels[-1] == "Filter-12"


def test_a_move_is_busy_until_the_prompt_arrives() -> None:
    with expected_protocol(
        ThorlabsFilterWheel,
        [*INITIALIZE, ask("pos?", "1"), ask("speed?", "1"), ("pos=4\r", "pos=4\r"), (None, "> "), ask("pos?", "4")],
    ) as wheel:
        wheel.set_state(3)  # returns after the echo: the wheel is on its way, the prompt comes on arrival
        assert wheel.busy() is False  # here the prompt is already there (the kernel tests time it)
        assert wheel.get_state() == 3  # pos? says 4: 1-based on the wire


def test_properties_are_one_command_each() -> None:
    with expected_protocol(
        ThorlabsFilterWheel,
        [*INITIALIZE, tell("speed=0"), ask("speed?", "0"), tell("trig=1"), ask("trig?", "1"), ask("sensors?", "0")],
    ) as wheel:
        wheel.Speed = "Slow"  # adapter code assigning a property: written, then read back to notify
        wheel.trigger = "Output"
        assert wheel.sensors == "Off when idle"


def test_a_refused_command_is_a_clear_error() -> None:
    with (
        expected_protocol(
            ThorlabsFilterWheel, [*INITIALIZE, ("speed=1\r", "speed=1\rCommand error CMD_ARG_INVALID\n\r> ")]
        ) as wheel,
        pytest.raises(ReplyError, match=r"the wheel refused 'speed=1': CMD_ARG_INVALID"),
    ):
        wheel.tell("speed=1")


def test_a_wrong_echo_is_a_clear_error() -> None:
    with expected_protocol(ThorlabsFilterWheel, [*INITIALIZE, ("pos?\r", "pso?\r1\r> ")]) as wheel:
        with pytest.raises(ReplyError, match=r"sent 'pos\?', the wheel echoed 'pso\?'"):
            wheel.get_state()
        wheel.port.purge()  # what follows the bad echo is dropped: the next exchange starts clean


def test_something_else_than_a_filter_wheel_is_refused() -> None:
    with pytest.raises(ReplyError, match="is not a Thorlabs FW102C/FW212C"):
        with expected_protocol(ThorlabsFilterWheel, [ask("*idn?", "ACME Lamp 2.0")]):
            pass
