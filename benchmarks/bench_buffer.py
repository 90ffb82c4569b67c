"""Streaming throughput through a camera's buffer vs a plain numpy copy loop.

A null camera's read_frame does one numpy.copyto of a prepared frame into the buffer slot it is
given; a consumer thread pops each frame, touches a pixel and releases it. Per-frame headers and
metadata are on. Baseline, measured in the same run: numpy.copyto of the same frame into a ring of
already-touched frames as large as the camera's buffer (one copy per frame: the memory-bandwidth
limit). Also: two cameras streaming at once, and the time from start_sequence to the first frame.

    python benchmarks/bench_buffer.py [--quick]
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import Figure, bare_handoff, options, report

from mmkernel_core import Kernel, StreamEnded
from mmkernel_core.testing import wait_until_resident
from mmkernel_sdk import Camera

BUFFER_MB = 512
SIZES = [((2048, 2048), 400), ((512, 512), 30_000), ((64, 64), 150_000)]
TARGET_64_FPS = 100_000  # the per-frame overhead target for small frames (frames/s)


class NullCamera(Camera):
    """read_frame = one copy of a prepared frame."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.source = np.random.default_rng(0).integers(0, 4096, shape, dtype=np.uint16)

    def frame_shape(self) -> tuple[int, ...]:
        return self.source.shape

    def frame_dtype(self) -> np.dtype:
        return self.source.dtype

    def read_frame(self, out: np.ndarray) -> None:
        np.copyto(out, self.source)


def baseline_fps(shape: tuple[int, int], frames: int) -> float:
    source = np.random.default_rng(0).integers(0, 4096, shape, dtype=np.uint16)
    ring = np.ones((max(2, BUFFER_MB * 2**20 // source.nbytes), *shape), dtype=np.uint16)  # touched
    for slot in ring:  # one lap first, as the kernel's buffer gets
        np.copyto(slot, source)
    started = time.perf_counter()
    for index in range(frames):
        np.copyto(ring[index % len(ring)], source)
        ring[index % len(ring)][0, 0]
    return frames / (time.perf_counter() - started)


def consume(kernel: Kernel, camera: str, counts: dict[str, int]) -> None:
    pop = kernel.pop_next
    total = 0
    while True:
        try:
            frame = pop(camera, timeout=30)
        except StreamEnded:
            break
        frame.array[0, 0]
        frame.release()
        total += 1
    counts[camera] = total


def stream_fps(kernels: list[tuple[Kernel, str]], frames: int) -> tuple[float, list[int]]:
    counts: dict[str, int] = {}
    consumers = [threading.Thread(target=consume, args=(k, label, counts)) for k, label in kernels]
    started = time.perf_counter()
    for kernel, label in kernels:
        kernel.start_sequence(label, count=frames)
    for thread in consumers:
        thread.start()
    for thread in consumers:
        thread.join()
    elapsed = time.perf_counter() - started
    return sum(counts.values()) / elapsed, [kernel.buffer_stats(label).dropped for kernel, label in kernels]


def prepared(kernel: Kernel, label: str, shape: tuple[int, int]) -> None:
    """A camera whose buffer has been populated and gone round once, as in a running system."""
    kernel.load_device(label, NullCamera(shape))
    kernel.initialize(label)  # allocates the buffer; its pages populate in the background
    wait_until_resident(kernel)
    laps = BUFFER_MB * 2**20 // (shape[0] * shape[1] * 2) + 1
    kernel.start_sequence(label, count=laps, overflow="overwrite")
    while kernel.is_sequence_running(label):
        time.sleep(0.01)
    kernel.start_sequence(label, count=1)  # and a normal one, which clears what was left unread
    kernel.pop_next(label).release()


def first_frame_latency(kernel: Kernel, label: str) -> float:
    started = time.perf_counter()
    kernel.start_sequence(label, count=1)
    kernel.pop_next(label).release()
    return time.perf_counter() - started


def main() -> None:
    opts = options()
    quick = opts.quick
    figures = []
    wake_us = bare_handoff(2000)[0]
    print(f"thread hand-off now: p50 {wake_us:.1f} us (the machine's wake-up time; lower is a quieter machine)")
    print(f"{'frame':>11} {'baseline f/s':>13} {'kernel f/s':>11} {'GB/s':>6} {'ratio':>6} {'dropped':>8}")
    for shape, frames in SIZES:
        frames = frames // 20 if quick else frames
        base = baseline_fps(shape, frames)
        with Kernel(buffer_mb=BUFFER_MB // 4 if quick else BUFFER_MB, timeout=60) as kernel:
            prepared(kernel, "Cam", shape)
            fps, dropped = stream_fps([(kernel, "Cam")], frames)
        gbs = fps * shape[0] * shape[1] * 2 / 1e9
        print(f"{shape[0]:>5}x{shape[1]:<5} {base:13.0f} {fps:11.0f} {gbs:6.2f} {fps / base:6.2f} {dropped[0]:8d}")
        size = f"{shape[0]}x{shape[1]}"
        target = ">= 0.8" if shape == (512, 512) else ""
        figures.append(Figure(f"stream {size} uint16", fps, base, "f/s", target, "ring memcpy"))
        if shape == (64, 64):
            figures.append(Figure(f"stream {size} uint16", fps, TARGET_64_FPS, "f/s", ">= 1.0", "issue's rate"))

    shape, frames = (512, 512), 1_000 if quick else 20_000
    with Kernel(buffer_mb=BUFFER_MB // 2, timeout=60) as kernel:
        prepared(kernel, "CamA", shape)
        prepared(kernel, "CamB", (256, 256))
        fps, dropped = stream_fps([(kernel, "CamA"), (kernel, "CamB")], frames)
        latency = min(first_frame_latency(kernel, "CamA") for _ in range(5))
    print(f"two cameras at once (512x512 + 256x256): {fps:.0f} frames/s in total, dropped {dropped}")
    with Kernel(buffer_mb=64 if quick else None, timeout=60) as kernel:  # default buffer, allocated now
        kernel.load_device("Cam", NullCamera((2048, 2048)))
        kernel.initialize("Cam")
        cold = first_frame_latency(kernel, "Cam")
    print(
        f"start_sequence -> first frame: {latency * 1000:.2f} ms (buffer allocated), "
        f"{cold * 1000:.1f} ms (first sequence after initialize)"
    )
    figures.append(Figure("first frame after start_sequence", cold * 1000, 50.0, "ms", "<= 1.0", "50 ms budget"))
    report(figures, opts)


if __name__ == "__main__":
    main()
