"""Three faces, one path: blocking, concurrent.futures and asyncio, from any thread."""

from __future__ import annotations

import asyncio
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from mmkernel_core import DeviceError, Kernel, PropertyError, UnknownDeviceError
from mmkernel_core.verbs._faces import verbs_of
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.testing import ProbedDevice, SimStage, SimWheel
from tests.support.devices import RecordingStage


@pytest.fixture
def loaded(kernel: Kernel) -> Kernel:
    kernel.load_device("Z", SimStage())
    kernel.load_device("Wheel", SimWheel())
    kernel.load_device("P", ProbedDevice())
    kernel.initialize_all()
    return kernel


def test_every_verb_has_all_three_faces(kernel: Kernel) -> None:
    names = set(verbs_of(Kernel))
    assert {"set_property", "get_property", "set_xy_position", "wait_for_system", "update_cache"} <= names
    for name in names:
        assert callable(getattr(kernel, name))
        assert callable(getattr(kernel.submit, name))
        assert callable(getattr(kernel.aio, name))
    assert set(dir(kernel.submit)) == names


def test_unknown_verb_lists_the_verbs(kernel: Kernel) -> None:
    with pytest.raises(AttributeError, match=r"'set_propety' is not a kernel verb; verbs: .*set_property"):
        kernel.submit.set_propety  # noqa: B018


def test_futures_from_many_threads(loaded: Kernel) -> None:
    def work(thread_index: int) -> list[Future]:
        return [loaded.submit.set_property("P", "Increment", 1) for _ in range(50)]

    with ThreadPoolExecutor(8) as pool:
        futures = [f for batch in pool.map(work, range(8)) for f in batch]
    for future in futures:
        assert future.result(timeout=10) is None
    assert loaded.get_property("P", "counter") == 400


def test_future_carries_validation_errors_instead_of_raising(loaded: Kernel) -> None:
    future = loaded.submit.set_state("Wheel", 17)
    assert isinstance(future, Future)
    with pytest.raises(PropertyError, match="'Wheel', property 'State': value 17 is out of range"):
        future.result(timeout=1)
    assert isinstance(loaded.submit.get_property("Nope", "X").exception(timeout=1), UnknownDeviceError)


def test_asyncio_face_under_a_running_loop(loaded: Kernel) -> None:
    async def scenario() -> tuple[float, str, list[str]]:
        await loaded.aio.set_position("Z", 12.0)
        await asyncio.gather(*(loaded.aio.set_property("P", "Increment", 1) for _ in range(20)))
        position = await loaded.aio.get_position("Z")
        await loaded.aio.set_state_label("Wheel", "State-5")
        with pytest.raises(PropertyError, match="not one of the allowed values"):
            await loaded.aio.set_state_label("Wheel", "State-9")
        return position, await loaded.aio.get_state_label("Wheel"), await loaded.aio.devices()

    position, label, devices = asyncio.run(scenario())
    assert (position, label, devices) == (12.0, "State-5", ["P", "Wheel", "Z", "Core"])
    assert loaded.get_property("P", "counter") == 20


def test_asyncio_from_several_loops_in_several_threads_at_once(loaded: Kernel) -> None:
    results: dict[int, int] = {}

    def loop_thread(index: int) -> None:
        async def run() -> int:
            for _ in range(25):
                await loaded.aio.set_property("P", "Increment", 1)
            return await loaded.aio.get_property("P", "Value")

        results[index] = asyncio.run(run())

    threads = [threading.Thread(target=loop_thread, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert loaded.get_property("P", "counter") == 100


def test_asyncio_does_not_block_the_event_loop(loaded: Kernel) -> None:
    """While a device call is in flight the loop keeps running other tasks."""
    from mmkernel_sdk.testing import Gate

    gate = Gate()

    class Held(SimStage):
        def set_position(self, um: float) -> None:
            gate.hold()
            super().set_position(um)

    loaded.load_device("H", Held())
    loaded.initialize("H")

    async def scenario() -> list[str]:
        order: list[str] = []
        move = asyncio.ensure_future(loaded.aio.set_position("H", 3.0))
        await asyncio.get_running_loop().run_in_executor(None, gate.wait_entered)
        order.append("loop still running")
        gate.release.set()
        await move
        order.append("moved")
        return order

    assert asyncio.run(scenario()) == ["loop still running", "moved"]
    assert loaded.get_position("H") == 3.0


def test_aio_without_a_running_loop_raises_before_dispatch(kernel: Kernel) -> None:
    stage = RecordingStage()
    kernel.load_device("Z", stage)
    kernel.initialize("Z")
    with pytest.raises(RuntimeError, match="no running event loop"):
        kernel.aio.set_position("Z", 5.0)
    kernel.wait_for("Z")
    assert stage.moves == []


class Broken(Generic):
    Value = prop(int)

    @Value.getter
    def Value(self) -> int:
        raise OSError("the controller does not answer")


def test_a_failed_calls_error_keeps_its_size_however_often_it_is_asked_for() -> None:
    """The stored error is raised as it was settled each time: re-raising the object itself grows
    its traceback by the caller's frames at every call (and keeps them all alive)."""
    with Kernel(timeout=5) as kernel:
        kernel.load_device("B", Broken())
        kernel.initialize("B")
        future = kernel.submit.get_property("B", "Value")
        request = future.mmkernel_request  # type: ignore[attr-defined]
        lengths = []
        for _ in range(200):
            with pytest.raises(DeviceError) as caught:
                request.result()
            lengths.append(len(traceback.extract_tb(caught.value.__traceback__)))
        assert lengths[-1] == lengths[0]
