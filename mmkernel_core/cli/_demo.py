"""`mmkernel demo`: the demo system put through its paces, with timings."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .._kernel import Kernel
from ._session import fail, kernel_session, out

ROLES_NEEDED = (("Camera", "camera"), ("Shutter", "shutter"), ("Focus", "focus"), ("XYStage", "xy_stage"))


def demo(
    frames: Annotated[int, typer.Option(help="Frames in the streamed burst.")] = 1000,
    config: Annotated[str, typer.Option("--config", "-c", help="Configuration to run on.")] = "demo",
) -> None:
    """Load the demo microscope, move stages, switch filters, snap, stream a burst; show timings."""
    started = time.perf_counter()
    with kernel_session(config) as kernel:
        say(f"loaded {len(kernel.devices()) - 1} devices from the {config!r} configuration", started)  # not Core
        missing = [role for role, attribute in ROLES_NEEDED if not getattr(kernel.roles, attribute)]
        if missing:
            lines = ", ".join(f"Property,Core,{role},<label>" for role in missing)
            raise fail(f"the demo needs the role(s) {', '.join(missing)}, which {config!r} does not set ({lines})")
        tour(kernel, frames)


def tour(kernel: Kernel, frames: int) -> None:
    changes: list[tuple[str, str, object]] = []
    kernel.events.property_changed.connect(lambda *change: changes.append(change))
    camera, focus, xy = kernel.roles.camera, kernel.roles.focus, kernel.roles.xy_stage

    with step("focus: set_position(Z, 25 um)"):
        kernel.set_position(focus, 25.0)
    with step("XY: move to (1000, 500) um at 10 mm/s and wait"):
        kernel.set_xy_position(xy, 1000.0, 500.0)
        kernel.wait_for(xy)
    with step(f"XY arrived at {kernel.get_xy_position(xy)}"):
        pass
    for preset in kernel.config_presets("Channel"):
        with step(f"channel {preset}: dichroic, emission and excitation wheels"):
            kernel.set_config("Channel", preset)
    with step(f"Channel is now {kernel.current_config('Channel')!r}, pixel size {kernel.pixel_size_um()} um"):
        pass

    for exposure in (10.0, 40.0):
        kernel.set_property(camera, "Exposure", exposure)
        t0 = time.perf_counter()
        image = kernel.snap()
        say(f"snap at {exposure:.0f} ms exposure: {image.shape} {image.dtype}, mean {image.mean():.1f}", t0)

    acquisition(kernel)

    kernel.set_property(camera, "Exposure", 0.5)
    kernel.set_property(camera, "Binning", 4)
    kernel.set_shutter_open(kernel.roles.shutter, True)  # open once for the burst, not per frame
    t0 = time.perf_counter()
    with Progress(
        TextColumn("burst"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    ) as progress:
        task = progress.add_task("burst", total=frames)
        with kernel.stream(camera, count=frames) as stream:
            for frame in stream:
                frame.array.mean()  # a consumer that looks at every pixel
                progress.advance(task)
    seconds = time.perf_counter() - t0
    kernel.set_shutter_open(kernel.roles.shutter, False)
    stats = stream.stats
    say(
        f"streamed {stats.delivered} frames {frame.meta.shape} through the camera's buffer: "
        f"{stats.delivered / seconds:.0f} frames/s, {stats.dropped} dropped",
        t0,
    )

    t0 = time.perf_counter()
    kernel.update_cache()
    say(f"update_cache(): {len(kernel.devices()) - 1} devices refreshed in parallel", t0)
    kernel.events.flush()
    out.print(f"events: {len(changes)} property changes delivered on the notification thread, e.g.")
    for change in changes[:3]:
        out.print(f"    property_changed{change}")


def acquisition(kernel: Kernel) -> None:
    """A z stack per channel run inside the kernel (useq-schema), each stack one triggered run of
    the demo focus: what `mmkernel acquire` and `kernel.acquire` do."""
    try:
        import useq
    except ImportError:
        out.print("          acquire: skipped (needs useq-schema: pip install 'mmkernel[acquisition]')")
        return
    channels = kernel.config_presets("Channel")[:2]
    kernel.set_property(kernel.roles.camera, "Exposure", 5.0)
    if "UseSequences" in kernel.property_names(kernel.roles.focus):
        kernel.set_property(kernel.roles.focus, "UseSequences", "Yes")  # the demo focus runs position tables
    sequence = useq.MDASequence(channels=channels, z_plan={"range": 4, "step": 1}, axis_order="cz")
    t0 = time.perf_counter()
    run = kernel.acquire(sequence)
    result = run.wait(120)
    triggered = sum(1 for planned in run.plan if planned.hardware)
    say(f"acquire: {' and '.join(channels)} x 5 z planes, {result.frames} frames in memory "
        f"({triggered} hardware-sequenced runs), {result.reason}", t0)  # fmt: skip


def say(message: str, started: float) -> None:
    out.print(f"{(time.perf_counter() - started) * 1000:8.1f} ms  {message}")


@contextmanager
def step(message: str, report: Callable[[str, float], None] = say) -> Iterator[None]:
    started = time.perf_counter()
    yield
    report(message, started)
