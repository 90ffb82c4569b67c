"""A C++ call that never returns (the stand-in's `hang`: no real adapter hangs on demand) costs
its caller a DeviceTimeoutError at the deadline, marks every device of that core faulted, leaves
devices in other cores answering, and the core recovers when the call returns."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk.errors import DeviceFaultedError, DeviceTimeoutError

DEADLINE = 0.3


@pytest.fixture
def k(mm: str) -> Iterator[Kernel]:
    if mm != "standin":
        pytest.skip("no real C++ call can be made to hang on demand")
    with Kernel(timeout=10) as kernel:
        yield kernel


def _load(k: Kernel, label: str, name: str, core: str = "") -> None:
    k.load_device(label, "mm:DemoCamera", name)
    if core:
        k.set_property(label, "MMCore", core)
    k.initialize(label)


def _core(k: Kernel, name: str) -> Any:
    from mmkernel_adapter_micromanager import core_groups

    return core_groups().group(name, [], k).core


@pytest.fixture
def hung(k: Kernel) -> Iterator[Any]:
    """Cam, Z and S in core 'main' whose snapImage hangs; Z2 and Cam2 in core 'other'."""
    _load(k, "Cam", "DCam")
    _load(k, "Z", "DStage")
    _load(k, "S", "DShutter")
    _load(k, "Z2", "DStage", core="other")
    _load(k, "Cam2", "DCam", core="other")
    core = _core(k, "main")
    core.hang.set()
    yield core
    core.release.set()  # never leave the runner's thread blocked


def test_a_hung_cpp_call_times_out_at_its_deadline_naming_the_device_and_call(k: Kernel, hung: Any) -> None:
    started = time.monotonic()
    with pytest.raises(DeviceTimeoutError, match=r"'Cam'.*'snap' timed out") as caught:
        k.snap("Cam", timeout=DEADLINE)
    assert time.monotonic() - started < DEADLINE + 1.0
    assert (caught.value.device, caught.value.operation) == ("Cam", "snap")


def test_every_device_of_the_hung_core_is_reported_faulted(k: Kernel, hung: Any) -> None:
    with pytest.raises(DeviceTimeoutError):
        k.snap("Cam", timeout=DEADLINE)
    for label in ("Cam", "Z", "S"):
        health = k.device_health(label)
        assert health.state == "faulted"
        assert "'snap' on 'Cam'" in health.detail
    with pytest.raises(DeviceFaultedError, match=r"'Z' is faulted: 'snap' on 'Cam' overran"):
        k.set_position("Z", 1.0)
    assert k.device_health("Z2").ok and k.device_health("Cam2").ok


def test_devices_in_other_cores_keep_answering_while_one_core_hangs(k: Kernel, hung: Any) -> None:
    with pytest.raises(DeviceTimeoutError):
        k.snap("Cam", timeout=DEADLINE)
    for position in range(20):  # many round trips, each well inside one deadline
        k.set_position("Z2", float(position), timeout=DEADLINE)
    assert k.get_position("Z2") == 19.0
    assert k.snap("Cam2", timeout=DEADLINE).shape == (512, 512)


def test_a_hung_core_recovers_when_the_call_returns(k: Kernel, hung: Any) -> None:
    recovered = threading.Event()

    def on_log(entry: Any) -> None:
        if "recovered" in entry.message and entry.device == "Cam":
            recovered.set()

    k.add_log_callback(on_log, level=logging.WARNING)
    with pytest.raises(DeviceTimeoutError):
        k.snap("Cam", timeout=DEADLINE)
    hung.hang.clear()
    hung.release.set()
    assert recovered.wait(10)
    for label in ("Cam", "Z", "S"):
        assert k.device_health(label).ok
    k.set_position("Z", 2.5)
    assert k.get_position("Z") == 2.5
    assert k.snap("Cam").shape == (512, 512)


def test_callers_on_several_threads_are_answered_or_refused_at_once_while_a_core_hangs(k: Kernel, hung: Any) -> None:
    """Callers of the hung core get DeviceFaultedError (never a wait for the hung call); callers
    of the other core get their answers, all at the same time."""
    import sys

    with pytest.raises(DeviceTimeoutError):
        k.snap("Cam", timeout=DEADLINE)
    refused: list[BaseException] = []
    answered: list[float] = []
    lock = threading.Lock()

    def hung_core() -> None:
        for _ in range(20):
            try:
                k.set_position("Z", 1.0, timeout=DEADLINE)
            except (DeviceFaultedError, DeviceTimeoutError) as error:
                with lock:
                    refused.append(error)

    def other_core(label: str) -> None:
        for position in range(20):
            k.set_position(label, float(position), timeout=DEADLINE)
            with lock:
                answered.append(k.get_position(label, timeout=DEADLINE))

    _load(k, "Z3", "DStage", core="third")
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=hung_core) for _ in range(2)]
        threads += [threading.Thread(target=other_core, args=(label,)) for label in ("Z2", "Z3")]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
    finally:
        sys.setswitchinterval(old)
    assert len(refused) == 40 and all(isinstance(e, DeviceFaultedError) for e in refused)
    assert len(answered) == 40
    assert k.get_position("Z2") == 19.0 and k.get_position("Z3") == 19.0
    assert took < DEADLINE * 20  # nobody waited a deadline per call
