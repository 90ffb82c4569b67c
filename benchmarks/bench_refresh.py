"""Parallel refresh vs sequential reads.

20 simulated devices x 5 properties, each read blocking 10 ms (a slow serial controller).
Baseline, measured in the same run: reading every property sequentially on one thread, which is
what MMCore and pymmcore-plus do. The physical limit is the slowest device's own 5 x 10 ms.

    python benchmarks/bench_refresh.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import Figure, best_of, options, report

from mmkernel_core import Kernel
from mmkernel_sdk.host import properties_of
from mmkernel_sdk.testing import SlowDevice

DEVICES, PROPERTIES, READ_S = 20, 5, 0.010


def main() -> None:
    opts = options()
    rounds = 2 if opts.quick else 10
    with Kernel(timeout=30) as kernel:
        devices = [SlowDevice(read_s=READ_S) for _ in range(DEVICES)]
        for index, device in enumerate(devices):
            kernel.load_device(f"Slow{index}", device)
        kernel.initialize_all()

        def sequential() -> None:
            for device in devices:
                props = properties_of(device)
                for name in props.names():
                    props.get(name)

        sequential_s = best_of(sequential, 1 if opts.quick else 3)
        parallel_s = best_of(kernel.update_cache, rounds)
    limit_s = PROPERTIES * READ_S
    print(f"devices x properties          : {DEVICES} x {PROPERTIES}, {READ_S * 1000:.0f} ms per read")
    print(f"sequential, one thread        : {sequential_s * 1000:8.1f} ms  (baseline)")
    print(f"kernel.update_cache()         : {parallel_s * 1000:8.1f} ms")
    print(f"physical limit (slowest dev.) : {limit_s * 1000:8.1f} ms")
    print(f"speed-up vs sequential        : {sequential_s / parallel_s:8.1f} x  (target >= 17 x)")
    print(f"update_cache / physical limit : {parallel_s / limit_s:8.3f}    (target <= 1.15)")
    report(
        [
            Figure("update_cache, 20 slow devices", parallel_s * 1e3, sequential_s * 1e3, "ms", f"<= {1 / 17:.3f}",
                   "sequential reads"),
            Figure("update_cache, 20 slow devices", parallel_s * 1e3, limit_s * 1e3, "ms", "<= 1.15", "slowest device"),
        ],
        opts,
    )  # fmt: skip


if __name__ == "__main__":
    main()
