"""The demonstration behind `mmkernel demo`: what the kernel does, with timings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import wait

from mmkernel_sdk.testing import SimShutter, SimStage, SimWheel, SimXYStage, SlowDevice

from ._kernel import Kernel


def run_demo(say: Callable[[str], None] = print) -> None:
    """Load simulated devices, then show the faces, events, busy and the parallel refresh."""
    with Kernel() as kernel:
        changes: list[tuple[str, str, object]] = []
        kernel.events.property_changed.connect(lambda *change: changes.append(change))

        started = time.perf_counter()
        kernel.load_device("Z", SimStage(move_s=0.05))
        kernel.load_device("XY", SimXYStage(move_s=0.1))
        kernel.load_device("Shutter", SimShutter())
        kernel.load_device("Wheel", SimWheel())
        for index in range(8):
            kernel.load_device(f"Slow{index}", SlowDevice(read_s=0.01))
        kernel.initialize_all()
        say(f"loaded and initialized {len(kernel.devices())} devices in {_ms(started)}")

        started = time.perf_counter()
        kernel.set_position("Z", 12.5)
        say(f"blocking   set_position('Z', 12.5)        -> busy={kernel.busy('Z')} ({_ms(started)})")
        kernel.wait_for("Z")
        say(f"           wait_for('Z')                  -> busy={kernel.busy('Z')} ({_ms(started)})")

        started = time.perf_counter()
        futures = [kernel.submit.set_state("Wheel", 3), kernel.submit.set_shutter_open("Shutter", True)]
        wait(futures)
        say(f"futures    wheel to 3 and shutter open      ({_ms(started)})")

        async def move() -> tuple[float, float]:
            await kernel.aio.set_xy_position("XY", 100.0, 200.0)
            await kernel.aio.wait_for("XY")
            return await kernel.aio.get_xy_position("XY")

        started = time.perf_counter()
        xy = asyncio.run(move())
        say(f"asyncio    XY to {xy} and wait           ({_ms(started)})")

        started = time.perf_counter()
        kernel.update_cache()
        refresh = time.perf_counter() - started
        say(
            f"update_cache(): {len(kernel.devices())} devices, 8 of them with 5 x 10 ms reads, in "
            f"{refresh * 1000:.0f} ms (sequential would take >= 400 ms)"
        )
        kernel.events.flush()
        say(f"events: {len(changes)} property changes delivered on the notification thread, e.g.")
        for change in changes[:4]:
            say(f"    property_changed{change}")
        say(f"cached state of 'Wheel': {kernel.system_state()['Wheel']}")


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.1f} ms"
