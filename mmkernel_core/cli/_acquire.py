"""`mmkernel acquire`: run a useq sequence file to one OME-Zarr dataset (or OME-TIFF file), with
a progress bar; `--overflow` and `--datastream LABEL-PROPERTY` as in `kernel.acquire`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ._inspect import ConfigOption
from ._record import _StopSignals
from ._session import fail, kernel_session, out


def acquire(
    sequence: Annotated[Path, typer.Argument(help="The useq MDASequence, a .yaml/.yml or .json file")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="A new .ome.zarr directory, or a new .ome.tiff file")
    ] = None,
    config: ConfigOption = "demo",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the events, the runs and the estimated duration; run nothing")
    ] = False,
    software: Annotated[
        bool, typer.Option("--software", help="Time every event in software (no hardware-sequenced runs)")
    ] = False,
    overflow: Annotated[
        str, typer.Option(help="block (the run waits for the writer) or drop (frames dropped, counted)")
    ] = "block",
    datastream: Annotated[
        list[str] | None,
        typer.Option(help="LABEL-PROPERTY recorded at every frame and change (Z-Position); repeat for several"),
    ] = None,
) -> None:
    """Run a multi-dimensional acquisition; Ctrl-C or SIGTERM stops it with the dataset finalized."""
    from ..acquisition import as_sequence, plan_of

    try:
        seq = as_sequence(sequence)
    except Exception as error:
        raise fail(f"cannot read the sequence {str(sequence)!r}: {error}") from error
    if dry_run:
        events = list(seq)
        for number, event in enumerate(events):
            index = {str(axis): int(value) for axis, value in event.index.items()}
            channel = event.channel.config if event.channel else None
            out.print(f"{number}: {index} channel={channel} x={event.x_pos} y={event.y_pos} z={event.z_pos} "
                      f"t>={event.min_start_time}", markup=False)  # fmt: skip
        with kernel_session(config) as kernel:
            runs = plan_of(kernel, seq, hardware_sequencing=not software)
        for run in runs:
            out.print(f"  {run.describe()}", markup=False)
        merged = sum(len(run.events) for run in runs if run.hardware)
        estimate = seq.estimate_duration().total_duration
        out.print(f"{len(events)} events in {len(runs)} runs ({merged} events hardware-sequenced), "
                  f"estimated at least {estimate:.1f} s", markup=False)  # fmt: skip
        return
    if output is None:
        raise fail("acquire: give --output/-o (a new .ome.zarr directory), or --dry-run")
    signals = _StopSignals()
    with kernel_session(config) as kernel:
        fmt = "ome-tiff" if output.name.lower().endswith((".tif", ".tiff")) else "ome-zarr"
        streams = [_stream(kernel, text) for text in datastream or ()]
        try:
            acquisition = kernel.acquire(seq, output, format=fmt, overflow=overflow, datastreams=streams,
                                         hardware_sequencing=not software)  # fmt: skip
        except (TypeError, ValueError, LookupError) as error:
            raise fail(str(error)) from error
        signals.install()
        try:
            with Progress(TextColumn("events"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                          TimeElapsedColumn(), transient=True) as bar:  # fmt: skip
                task = bar.add_task("acquire", total=acquisition.progress.events_total)
                while not acquisition.ended(0.1):
                    if signals.received:
                        acquisition.cancel()
                    bar.update(task, completed=acquisition.progress.events_done)
            try:
                result = acquisition.wait()
            except Exception as error:
                raise fail(str(error)) from error
        finally:
            signals.restore()
    dropped = f", {result.dropped} dropped" if result.dropped else ""
    out.print(f"{result.reason}: {result.frames} frames{dropped} to {output} ({time.strftime('%H:%M:%S')})")


def _stream(kernel: Any, text: str) -> tuple[str, str]:
    """LABEL-PROPERTY as (label, property): labels and property names may hold '-' themselves,
    so the split is the one naming a loaded device and its property (or an XY stage's XYPosition)."""
    for at in (i for i, char in enumerate(text) if char == "-"):
        label, name = text[:at], text[at + 1 :]
        if label in kernel.devices() and (name == "XYPosition" or kernel.has_property(label, name)):
            return label, name
    raise fail(f"--datastream {text!r} names no device's property; allowed: LABEL-PROPERTY of a loaded device, "
               "e.g. Z-Position or XY-XYPosition")  # fmt: skip
