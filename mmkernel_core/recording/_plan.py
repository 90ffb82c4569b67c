"""Checking what `kernel.record(...)` was asked, before anything starts.

Every problem is one clear error naming the argument, the value and what is allowed; nothing is
created, no camera starts, unless all of it is right.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmkernel_sdk.errors import DeviceStateError, PropertyError
from mmkernel_sdk.recording import Step, Writer

from ..runtime import is_finite_number, is_whole
from ._json import check_json, plain
from .builtin import STEPS, WRITERS

OVERFLOW = {"block": "block", "drop": "overwrite"}  # the recording's policy -> the buffer's


@dataclass
class RecordingPlan:
    cameras: list[str]
    destination: Any  # a path, a URL, or a zarr store object
    count: int | None
    format_name: str
    writer: Writer
    steps: dict[str, list[Step]]  # per camera: its own instances
    overflow: str
    interval_ms: float
    metadata: dict[str, Any]
    datastreams: list[tuple[str, str]]
    step_descriptions: list[dict[str, Any]] = field(default_factory=list)

    def parameters(self) -> dict[str, Any]:
        return {
            "cameras": self.cameras,
            "count": self.count,
            "format": self.format_name,
            "format_options": getattr(self.writer, "options", dict)(),
            "steps": self.step_descriptions,
            "overflow": self.overflow,
            "interval_ms": self.interval_ms,
            "datastreams": [f"{label}-{name}" for label, name in self.datastreams],
        }


def plan_recording(
    kernel: Any,
    camera: Any,
    path: Any,
    count: Any,
    format: Any,  # noqa: A002 - the word users think in
    steps: Any,
    overflow: Any,
    metadata: Any,
    datastreams: Any,
    interval_ms: Any,
    writer_options: Any,
) -> RecordingPlan:
    """Everything `record()` was asked, checked against the kernel as it is now."""
    internals = kernel.internals
    cameras = check_cameras(camera, kernel.roles.camera)
    for label in cameras:
        if internals.streaming(internals.camera(label, "record")):
            raise DeviceStateError(f"camera {label!r} is already streaming; stop_sequence() before record()")
    format_name, writer = make_writer(format, writer_options, {**WRITERS, **kernel.adapters.writers})
    streams = check_datastreams(kernel, datastreams)
    per_camera, described = make_steps(steps, cameras, {**STEPS, **kernel.adapters.steps})
    return RecordingPlan(
        cameras=cameras,
        destination=check_destination(path, format_name, writer, cameras),
        count=check_count(count),
        format_name=format_name,
        writer=writer,
        steps=per_camera,
        overflow=check_overflow(overflow),
        interval_ms=check_interval(interval_ms),
        metadata=check_metadata(metadata),
        datastreams=streams,
        step_descriptions=described,
    )


def check_datastreams(kernel: Any, datastreams: Any) -> list[tuple[str, str]]:
    pairs = []
    for item in datastreams or ():
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise bad("datastreams", item, "(device label, property name) pairs, e.g. ('Z', 'Position')")
        label, name = item
        if label == "Core":  # a role, AutoShutter...: recorded like a device's property
            kernel.property_info(label, name)
        elif name == "XYPosition":
            kernel.internals.device(label).require_type("XYStage", "record")
        else:
            kernel.internals.device(label)
            kernel.property_info(label, name)  # names device and property if unknown
        pairs.append((label, name))
    return pairs


def bad(name: str, value: Any, allowed: str, what: str = "record") -> PropertyError:
    return PropertyError(
        f"{what}(): {name}={value!r} is not allowed; allowed: {allowed}", property=name, value=value, allowed=allowed
    )


def check_cameras(camera: str | Sequence[str] | None, default: str) -> list[str]:
    if camera is None:
        if not default:
            raise bad("camera", None, "a camera label (no Camera role is set)")
        return [default]
    cameras = [camera] if isinstance(camera, str) else list(camera)
    if not cameras or not all(isinstance(c, str) and c for c in cameras):
        raise bad("camera", camera, "a camera label or a list of camera labels")
    if len(set(cameras)) != len(cameras):
        raise bad("camera", camera, "each camera once")
    if len(cameras) > 1:
        check_stream_names(cameras)
    return cameras


UNSAFE = set('/\\:*?"<>|')  # what a file name on Windows, macOS or Linux, or a zarr group's, cannot hold


def check_stream_names(cameras: list[str]) -> None:
    """Several cameras' labels become names: one zarr group each (beside the store's own
    "mmkernel" group) or one file each (`run.<label>.ome.tif`). The same rule for every format:
    a label must be a valid file and group name on every system, and unique ignoring case."""
    allowed = ("labels that can name a file and a zarr group (no / \\ : * ? \" < > | or control characters, "
               "not '.' or '..', not starting with '__', not 'mmkernel', no two differing only in case)")  # fmt: skip
    seen: set[str] = set()
    for label in cameras:
        unsafe = any(c in UNSAFE or ord(c) < 32 for c in label)
        if unsafe or label in (".", "..") or label.startswith("__") or label.lower() == "mmkernel":
            raise bad("camera", label, f"{allowed}: with several cameras each label names its own group or file")
        if label.lower() in seen:
            raise bad("camera", cameras, f"{allowed}: {label!r} and another label differ only in case")
        seen.add(label.lower())


def check_count(count: Any) -> int | None:
    if count is None:
        return None
    if not is_whole(count) or count < 1:
        raise bad("count", count, "a whole number >= 1, or None (until stopped)")
    return int(count)


def check_overflow(overflow: Any) -> str:
    if overflow not in OVERFLOW:
        raise bad(
            "overflow", overflow, "'block' (the camera waits for the writer) or 'drop' (frames are dropped, counted)"
        )
    return str(overflow)


def check_interval(interval_ms: Any) -> float:
    if not is_finite_number(interval_ms) or interval_ms < 0:
        raise bad("interval_ms", interval_ms, "a finite number >= 0")
    return float(interval_ms)


def check_metadata(metadata: Any) -> dict[str, Any]:
    """A dict of strict JSON values (what every reader of the store accepts): a NaN, an
    infinity, a key that is not text or a value JSON has no form for is refused by where it is."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise bad("metadata", metadata, "a dict of JSON values")
    converted = plain(metadata)  # numpy scalars as numbers (a copy: later changes to the dict do not reach it)
    try:
        check_json(converted)
    except ValueError as error:
        raise bad("metadata", metadata, f"a dict of strict JSON values: {error}") from None
    return copy.deepcopy(converted)


def make_writer(format: Any, options: dict[str, Any] | None, writers: dict[str, Any]) -> tuple[str, Writer]:  # noqa: A002
    if isinstance(format, Writer):
        if options:
            raise bad("writer_options", options, "none when format is a Writer object (configure the object)")
        return type(format).__name__, format
    if format not in writers:
        raise bad("format", format, ", ".join(repr(name) for name in sorted(writers)) or "(no writers installed)")
    try:
        writer = writers[format](**(options or {}))
    except (TypeError, ValueError) as error:
        raise bad("writer_options", options, f"the options of format {format!r} ({error})") from None
    if not isinstance(writer, Writer):
        raise bad("format", format, f"a writer plugin whose factory returns a Writer, not {writer!r}")
    return str(format), writer


def make_steps(specs: Iterable[Any], cameras: list[str], known: dict[str, Any]) -> tuple[dict[str, list[Step]], list]:
    """Per camera its own step instances (steps keep state: a running mean, a projection)."""
    specs = list(specs or ())
    per_camera: dict[str, list[Step]] = {camera: [] for camera in cameras}
    descriptions = []
    for spec in specs:
        for index, camera in enumerate(cameras):
            step = _one_step(spec, known) if isinstance(spec, str) else spec
            if not isinstance(step, Step):
                raise bad("steps", spec, "Step objects, or names such as 'bin:2', 'crop:0,0,256,256', "
                          f"'max-projection'; known: {', '.join(sorted(known))}")  # fmt: skip
            per_camera[camera].append(step if index == 0 or isinstance(spec, str) else copy.deepcopy(step))
        descriptions.append(per_camera[cameras[0]][-1].describe())
    return per_camera, descriptions


def _one_step(text: str, known: dict[str, Any]) -> Step:
    name, _, rest = text.partition(":")
    factory = known.get(name.strip())
    if factory is None:
        raise bad("steps", text, f"one of {', '.join(sorted(known))} (with arguments after ':', e.g. 'bin:2')")
    arguments = [_argument(part.strip()) for part in rest.split(",")] if rest.strip() else []
    try:
        step = factory(*arguments)
    except (TypeError, ValueError) as error:
        raise bad("steps", text, f"{name} with valid arguments ({error})") from None
    return step  # type: ignore[no-any-return]


def _argument(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


_FORMAT_SUFFIXES = {".zarr": "ome-zarr", ".tif": "ome-tiff", ".tiff": "ome-tiff"}


def check_destination(destination: Any, format_name: str, writer: Writer, cameras: Sequence[str] = ()) -> Any:
    """A path must not exist yet (a recording never overwrites; nor may one camera's file when
    each camera gets its own) and must not carry another format's suffix; stores and URLs are
    passed on."""
    if isinstance(destination, (str, os.PathLike)):
        text = os.fspath(destination)
        if not text:
            raise bad("path", destination, "a file or directory path, a zarr store URL, or a zarr store")
        if "://" in text:
            if not writer.accepts_stores:
                raise bad("path", destination, f"a local path for format {format_name!r}")
            return text
        path = Path(text)
        other = _FORMAT_SUFFIXES.get(path.suffix.lower())
        ours = bool(writer.suffixes) and text.lower().endswith(tuple(writer.suffixes))
        if other is not None and other != format_name and not ours:
            raise bad("path", text, f"a path for format {format_name!r} (ending in {' or '.join(writer.suffixes)}); "
                                    f"{path.suffix!r} is the {other!r} format's: pass format={other!r}")  # fmt: skip
        for target in [path, *writer.stream_paths(text, cameras)]:
            if Path(target).exists():
                raise bad("path", str(target), "a path that does not exist yet: record() never overwrites data")
        if not path.parent.is_dir():
            why = "is not a directory" if path.parent.exists() or _under_a_file(path) else "does not exist"
            raise bad("path", text, f"a path in an existing directory ({str(path.parent)!r} {why})")
        return str(path)
    if not writer.accepts_stores:
        raise bad("path", destination, f"a path for format {format_name!r}")
    return destination


def _under_a_file(path: Path) -> bool:
    """Whether some folder of `path` is a regular file (then nothing can be made below it)."""
    return any(parent.is_file() for parent in path.parents)
