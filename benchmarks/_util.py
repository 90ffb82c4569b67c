"""Helpers shared by the benchmark scripts: timing, and the figures each one reports.

Every `bench_*.py` takes `--quick` (a few seconds: the same code paths, fewer rounds) and
`--figures FILE` (its figures as JSON), prints its details and then one table of figures, each
a value against a baseline measured in the same run. `run_all.py` runs them all.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import SimpleQueue


def percentiles_us(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return p50, p99


def time_interleaved(fns: dict[str, Callable[[], object]], count: int, block: int = 100) -> dict[str, list[int]]:
    """Per-call wall times in ns of several ways to do one thing, measured in alternating blocks
    of `block` calls, so a machine that slows down for a while slows every way alike."""
    samples: dict[str, list[int]] = {name: [] for name in fns}
    for fn in fns.values():
        time_calls(fn, 0, warmup=200)
    while any(len(taken) < count for taken in samples.values()):
        for name, fn in fns.items():
            samples[name] += time_calls(fn, min(block, count - len(samples[name])), warmup=0)
    return samples


def time_calls(fn: Callable[[], object], count: int, warmup: int = 500) -> list[int]:
    """Per-call wall time in ns."""
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(count):
        start = clock()
        fn()
        samples.append(clock() - start)
    return samples


def bare_handoff(count: int) -> tuple[float, float]:
    """p50 and p99 (us) of a bare thread hand-off (queue + lock ping-pong): this machine's wake-up
    time now, the floor under any cross-thread call; it swings from minute to minute."""
    requests: SimpleQueue = SimpleQueue()

    def worker() -> None:
        while (item := requests.get()) is not None:
            item.release()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()

    def call() -> None:
        done = threading.Lock()
        done.acquire()
        requests.put(done)
        done.acquire()

    try:
        return percentiles_us(time_calls(call, count))
    finally:
        requests.put(None)


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Lowest wall time in seconds over `repeats` runs (the least disturbed one)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median(values: list[float]) -> float:
    return statistics.median(values)


# -- figures: what every benchmark reports, and what run_all.py collects ------------------------
@dataclass(frozen=True)
class Figure:
    """One measured figure against its baseline from the same run. `ratio` is value/baseline;
    `target` reads like ">= 0.8" or "<= 1.2" (empty: reported only)."""

    name: str
    value: float
    baseline: float
    unit: str
    target: str = ""
    baseline_name: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else math.inf

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        sign, limit = self.target.split()
        return self.ratio >= float(limit) if sign == ">=" else self.ratio <= float(limit)


@dataclass
class Options:
    quick: bool
    figures: Path | None  # write the figures here as JSON (run_all.py and the test suite read them)
    rest: list[str] = field(default_factory=list)


def options(argv: list[str] | None = None) -> Options:
    """--quick (a few seconds: the same code paths, fewer rounds) and --figures FILE."""
    args = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in args
    if quick:
        args.remove("--quick")
    figures = None
    if "--figures" in args:
        index = args.index("--figures")
        figures = Path(args[index + 1])
        del args[index : index + 2]
    return Options(quick, figures, args)


def table(figures: list[Figure]) -> str:
    """One line per figure: figure, value, baseline, ratio, target, met."""
    rows = [("figure", "value", "baseline", "ratio", "target", "met")]
    for f in figures:
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        base = f"{_number(f.baseline)} {f.unit}" + (f" ({f.baseline_name})" if f.baseline_name else "")
        rows.append((f.name, f"{_number(f.value)} {f.unit}", base, f"{f.ratio:.2f}", f.target or "-", met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def report(figures: list[Figure], opts: Options) -> None:
    """Print the figures; with --figures, also write them as JSON."""
    print()
    print(table(figures))
    if opts.figures is not None:
        opts.figures.write_text(json.dumps([{**asdict(f), "ratio": f.ratio, "met": f.met} for f in figures]))
