"""`mmkernel acquire`: run a useq sequence file to one OME-Zarr dataset, with a progress bar."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ._inspect import ConfigOption
from ._record import _StopSignals
from ._session import fail, kernel_session, out


def acquire(
    sequence: Annotated[Path, typer.Argument(help="The useq MDASequence, a .yaml/.yml or .json file")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="A new .ome.zarr directory")] = None,
    config: ConfigOption = "demo",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the events and estimated duration; run nothing")
    ] = False,
) -> None:
    """Run a multi-dimensional acquisition; Ctrl-C or SIGTERM stops it with the dataset finalized."""
    from ..acquisition import as_sequence

    try:
        seq = as_sequence(sequence)
    except Exception as error:
        raise fail(f"cannot read the sequence {str(sequence)!r}: {error}") from error
    if dry_run:
        events = list(seq)
        for number, event in enumerate(events):
            out.print(f"{number}: {dict(event.index)} channel={event.channel.config if event.channel else None} "
                      f"x={event.x_pos} y={event.y_pos} z={event.z_pos} t>={event.min_start_time}")  # fmt: skip
        estimate = seq.estimate_duration().total_duration
        out.print(f"{len(events)} events, software timing, estimated at least {estimate:.1f} s")
        return
    if output is None:
        raise fail("acquire: give --output/-o (a new .ome.zarr directory), or --dry-run")
    signals = _StopSignals()
    with kernel_session(config) as kernel:
        acquisition = kernel.acquire(seq, output)
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
    out.print(f"{result.reason}: {result.frames} frames to {output} ({time.strftime('%H:%M:%S')})")
