"""Round-trip cost of one kernel call.

Blocking get_property on an instant device, from_cache reads and the asyncio face, against two
baselines measured in the same run: a direct Python call (no thread hop at all) and a bare thread
hand-off (SimpleQueue + Lock ping-pong: the operating system's floor for any design that runs
adapter code on the device's own thread).

    python benchmarks/bench_dispatch.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import Figure, bare_handoff, options, percentiles_us, report, time_calls

from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop

COUNT = 20_000
QUICK_COUNT = 2_000


class Instant(Generic):
    Value = prop(int, default=1)


def aio_samples(kernel: Kernel, count: int) -> list[int]:
    async def run() -> list[int]:
        clock = time.perf_counter_ns
        samples = []
        for index in range(count + 500):
            start = clock()
            await kernel.aio.get_property("I", "Value")
            if index >= 500:
                samples.append(clock() - start)
        return samples

    return asyncio.run(run())


def main() -> None:
    opts = options()
    count = QUICK_COUNT if opts.quick else COUNT
    with Kernel() as kernel:
        device = Instant()
        kernel.load_device("I", device)
        kernel.initialize("I")
        direct = percentiles_us(time_calls(lambda: device.Value, count))
        handoff = bare_handoff(count)
        blocking = percentiles_us(time_calls(lambda: kernel.get_property("I", "Value"), count))
        cached = percentiles_us(time_calls(lambda: kernel.get_property("I", "Value", from_cache=True), count))
        future = percentiles_us(time_calls(lambda: kernel.submit.get_property("I", "Value").result(), count))
        aio = percentiles_us(aio_samples(kernel, count))
    rows = [
        ("direct Python call (baseline)", direct),
        ("bare thread hand-off (floor)", handoff),
        ("get_property, blocking", blocking),
        ("get_property, from_cache", cached),
        ("submit.get_property().result()", future),
        ("await aio.get_property", aio),
    ]
    print(f"{'':34}{'p50 us':>10}{'p99 us':>10}{'p50 / hand-off':>16}")
    for name, (p50, p99) in rows:
        print(f"{name:34}{p50:10.2f}{p99:10.2f}{p50 / handoff[0]:16.2f}")
    print("targets: blocking p50 <= 15 us, from_cache <= 1 us, aio p50 <= 40 us")
    floor = "bare hand-off"
    report(
        [
            Figure("get_property, blocking, p50", blocking[0], handoff[0], "us", "", floor),
            Figure("submit(...).result(), p50", future[0], handoff[0], "us", "", floor),
            Figure("await aio.get_property, p50", aio[0], handoff[0], "us", "", floor),
            Figure("get_property(from_cache), p50", cached[0], direct[0], "us", "", "direct call"),
        ],
        opts,
    )


if __name__ == "__main__":
    main()
