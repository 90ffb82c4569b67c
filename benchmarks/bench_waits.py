"""Waits that scale, and deadlines that stay on time.

1. `wait_for` on an idle device, with 0 and then 1,000 other waits pending on a moving stage.
   Baseline (same run): the same wait with nothing else pending. A wait holds no thread, so the
   ratio should stay near 1 and the thread count flat.
2. Deadline lateness: how late a 50 ms deadline fires (p50 / max over 20), first with nothing
   else going on, then right after 100 expiries logged through a handler that takes 10 ms each.
   Logging happens off the watchdog thread, so the second figure should match the first.

    python benchmarks/bench_waits.py [--quick]
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import Figure, options, percentiles_us, report, time_calls

from mmkernel_core import DeviceTimeoutError, Kernel
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.testing import Gate, SimStage

PENDING = 1000


class Stuck(Generic):
    Value = prop(int)

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.armed = False

    @Value.getter
    def Value(self) -> int:
        if self.armed:
            self.gate.hold(60)
        return 1


def idle_wait_latency(kernel: Kernel, count: int) -> tuple[float, float]:
    return percentiles_us(time_calls(lambda: kernel.wait_for("Idle"), count, warmup=200))


def lateness_ms(kernel: Kernel, labels: list[str], deadline_s: float) -> tuple[float, float]:
    """p50 and max of how late each deadline fired (one stuck device per deadline: a device
    stuck in a timed-out call refuses later calls at once)."""
    late = []
    for label in labels:
        started = time.monotonic()
        future = kernel.submit.get_property(label, "Value", timeout=deadline_s)
        assert isinstance(future.exception(10), DeviceTimeoutError)
        late.append((time.monotonic() - started - deadline_s) * 1000)
    late.sort()
    return late[len(late) // 2], late[-1]


def main() -> None:
    opts = options()
    count = 300 if opts.quick else 2000
    pending_count = 100 if opts.quick else PENDING
    logging.getLogger("mmkernel").addHandler(logging.NullHandler())  # keep stderr for the figures
    with Kernel(timeout=60) as kernel:
        kernel.load_device("Moving", SimStage(move_s=300.0))
        kernel.load_device("Idle", SimStage())
        kernel.initialize_all()
        quiet = idle_wait_latency(kernel, count)
        kernel.set_position("Moving", 10.0)
        threads_before = threading.active_count()
        pending = [kernel.submit.wait_for("Moving", timeout=60) for _ in range(pending_count)]
        threads_after = threading.active_count()
        busy = idle_wait_latency(kernel, count)
        assert not any(p.done() for p in pending)
    print(f"wait_for(idle), nothing else pending   p50 {quiet[0]:7.1f} us  p99 {quiet[1]:7.1f} us")
    print(f"wait_for(idle), {pending_count} waits pending  p50 {busy[0]:7.1f} us  p99 {busy[1]:7.1f} us")
    print(f"ratio (pending / quiet) p50             {busy[0] / quiet[0]:.2f}   (target <= 1.5)")
    print(f"threads: before the waits {threads_before}, with {pending_count} pending {threads_after}")

    gates = [Gate() for _ in range(41)]
    with Kernel(timeout=60) as kernel:
        stuck = [Stuck(gate) for gate in gates]
        for index, device in enumerate(stuck):
            kernel.load_device(f"S{index}", device)
        kernel.initialize_all()
        for device in stuck:
            device.armed = True
        labels = [f"S{index}" for index in range(1, 41)]
        quiet_late = lateness_ms(kernel, labels[:20], 0.05)
        handler = _SlowHandler(0.010)
        watchdog_log = logging.getLogger("mmkernel.watchdog")
        watchdog_log.addHandler(handler)
        try:
            # 100 calls queued behind one stuck call: they all expire together, each one logged
            storm = [kernel.submit.get_property("S0", "Value", timeout=0.2) for _ in range(100)]
            for future in storm:
                future.exception(30)
            stormy_late = lateness_ms(kernel, labels[20:], 0.05)
            queued = handler.received_count() - handler.handled
        finally:
            watchdog_log.removeHandler(handler)
            for gate in gates:
                gate.release.set()
    print(f"deadline lateness, quiet                  p50 {quiet_late[0]:6.2f} ms  max {quiet_late[1]:6.2f} ms")
    print(
        f"deadline lateness, after 100 expiries     p50 {stormy_late[0]:6.2f} ms  max {stormy_late[1]:6.2f} ms"
        "  (each expiry logged by a 10 ms handler)"
    )
    print(f"expiry log records not yet handled then    {queued} (they wait on the callback thread, not the watchdog)")
    report(
        [
            Figure(f"wait_for(idle) with {pending_count} waits pending, p50", busy[0], quiet[0], "us", "<= 1.5",
                   "nothing pending"),
            Figure("deadline lateness after 100 logged expiries, p50", stormy_late[0], quiet_late[0], "ms", "",
                   "quiet"),
            Figure("threads with the waits pending", threads_after, threads_before, "threads", "<= 1.0", "before"),
        ],
        opts,
    )  # fmt: skip


class _SlowHandler(logging.Handler):
    def __init__(self, seconds: float) -> None:
        super().__init__(logging.ERROR)
        self.seconds = seconds
        self.handled = 0

    def emit(self, record: logging.LogRecord) -> None:
        time.sleep(self.seconds)  # a handler writing to a slow network share
        self.handled += 1

    def received_count(self) -> int:
        return 100 + 20  # the storm, and the 20 measured expiries after it


if __name__ == "__main__":
    main()
