"""The FW102C adapter end to end: through the kernel, a Micro-Manager configuration, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mmkernel_adapter_thorlabs_fw.simulator import FW102CSimulator

from mmkernel_core import Kernel, PortTimeoutError, ReplyError
from mmkernel_sdk.testing.sim import publish, serve_tcp, unpublish

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent / "mmkernel_adapter_thorlabs_fw"


def wheel_on(kernel: Kernel, port: str, label: str = "Wheel") -> None:
    kernel.load_device(label, "ThorlabsFilterWheel", "Thorlabs Filter Wheel")
    kernel.set_property(label, "Port", port)
    kernel.initialize(label)


@contextmanager
def wheel_with(simulator: FW102CSimulator) -> Iterator[Kernel]:
    """A kernel with a wheel on `simulator` (published for the test, so it can look inside)."""
    url = publish(simulator)
    try:
        with Kernel(timeout=5) as kernel:
            wheel_on(kernel, url)
            yield kernel
    finally:
        unpublish(url)


def test_moves_are_busy_until_the_wheel_arrives() -> None:
    simulator = FW102CSimulator(time_scale=0.05)
    with wheel_with(simulator) as kernel:
        kernel.set_state_label("Wheel", "Filter-4")
        assert kernel.busy("Wheel") is True
        kernel.wait_for("Wheel")
        assert kernel.busy("Wheel") is False
        assert kernel.get_state("Wheel") == 3 and simulator.position == 4
        kernel.set_property("Wheel", "Speed", "Slow")
        assert simulator.speed == 0 and kernel.get_property("Wheel", "Speed") == "Slow"


def test_a_silent_wheel_and_garbage_are_clear_errors_and_the_wheel_stays_usable() -> None:
    simulator = FW102CSimulator(time_scale=0.01)
    with wheel_with(simulator) as kernel:
        simulator.fail_next("silent")
        with pytest.raises(PortTimeoutError, match=r"'Wheel', port .*after sending 'pos\?'"):
            kernel.get_state("Wheel")
        simulator.fail_next("garbage")
        with pytest.raises(ReplyError, match="is not ascii text"):
            kernel.get_property("Wheel", "Speed")
        assert kernel.get_state("Wheel") == 0  # usable again
        assert kernel.device_health("Wheel").ok


def test_a_micro_manager_configuration_with_a_serial_manager_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMKERNEL_PORT_MAP", "COM1=sim://fw102c?time_scale=0.01")
    with Kernel(timeout=5) as kernel:
        kernel.load_config(PACKAGE / "FW102C.cfg")
        assert kernel.devices() == ["COM1", "Wheel", "Core"]
        assert kernel.get_property("COM1", "BaudRate") == 115200
        assert kernel._loaded("Wheel").runner is kernel._loaded("COM1").runner  # one wire, one thread
        kernel.set_state_label("Wheel", "GFP")
        kernel.wait_for("Wheel")
        assert kernel.get_state("Wheel") == 1


def test_the_simulator_on_a_tcp_port() -> None:
    with serve_tcp(lambda: FW102CSimulator(time_scale=0.01)) as server, Kernel(timeout=5) as kernel:
        wheel_on(kernel, server.url)
        kernel.set_state("Wheel", 5)
        kernel.wait_for("Wheel")
        assert kernel.get_state_label("Wheel") == "Filter-6"


def mmkernel() -> str:
    beside = Path(sys.executable).with_name("mmkernel")
    found = str(beside) if beside.exists() else shutil.which("mmkernel")
    assert found, "the mmkernel command is not installed"
    return found


def test_the_command_line_on_the_example_configuration() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    props = subprocess.run([mmkernel(), "props", "Wheel", "-c", "fw102c"], capture_output=True, text=True, env=env)
    assert props.returncode == 0, props.stderr
    for expected in ("Speed", "Trigger Mode", "THORLABS FW102C", "Port", "sim://fw102c"):
        assert expected in props.stdout
    moved = subprocess.run(
        [mmkernel(), "set", "Wheel", "Label", "mCherry", "-c", "fw102c"], capture_output=True, text=True, env=env
    )
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == "mCherry"


def test_the_simulator_served_by_the_command_line() -> None:
    server = subprocess.Popen(
        [mmkernel(), "simulate", "fw102c?time_scale=0.01"], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "serving simulator 'fw102c?time_scale=0.01' on socket://127.0.0.1:" in line, line
        url = line.split(" on ")[1].split()[0]
        with Kernel(timeout=5) as kernel:
            wheel_on(kernel, url)
            kernel.set_state("Wheel", 2)
            kernel.wait_for("Wheel")
            assert kernel.get_state_label("Wheel") == "Filter-3"
    finally:
        server.terminate()
        server.wait(10)


def test_an_unknown_simulator_is_one_line_with_the_list() -> None:
    done = subprocess.run([mmkernel(), "simulate", "nope"], capture_output=True, text=True)
    assert done.returncode == 1 and "no simulator named 'nope'; installed:" in done.stderr and "fw102c" in done.stderr


def test_a_shutdown_during_a_move_leaves_nothing_for_the_next_initialize() -> None:
    """The application quits mid-move; the same wheel object is initialized again on a fresh
    line (a configuration reload) and must not wait for the old move's prompt."""
    from mmkernel_adapter_thorlabs_fw.wheel import ThorlabsFilterWheel

    from mmkernel_sdk.testing import DirectHarness

    h = DirectHarness(ThorlabsFilterWheel())
    h.set("Port", "sim://fw102c")  # real speed: a three-position move takes seconds
    h.initialize()
    h.set("State", 3)
    assert h.busy()
    h.shutdown()
    h.set("Port", "sim://fw102c")
    h.initialize()
    try:
        assert not h.busy() and h.get("State") == 0
    finally:
        h.shutdown()


def test_a_command_long_after_a_move_arrived_reads_the_waiting_prompt() -> None:
    """Nobody asked busy() until after the move's budget: the prompt has been on the line all
    along, and the next command finds it there."""
    from mmkernel_adapter_thorlabs_fw.wheel import ThorlabsFilterWheel

    from mmkernel_sdk.testing import DirectHarness

    h = DirectHarness(ThorlabsFilterWheel())
    h.set("Port", "sim://fw102c?time_scale=0.001")
    h.initialize()
    try:
        h.set("State", 1)
        line = h.device.port._line.serial
        give_up = time.monotonic() + 5
        while not line.in_waiting and time.monotonic() < give_up:  # the prompt arrives by itself
            time.sleep(0.001)
        assert line.in_waiting, "the simulated wheel never arrived"
        deadline, command = h.device._move
        h.device._move = (deadline - 3600.0, command)  # as if the budget ran out an hour ago
        assert h.get("Speed") == "Fast"
        assert h.get("State") == 1
    finally:
        h.shutdown()
