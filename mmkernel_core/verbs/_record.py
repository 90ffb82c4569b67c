"""Recording verbs: `kernel.record(...)` and what the kernel keeps about recordings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmkernel_sdk.errors import MMKernelError

from ..recording import Recording, plan_recording
from ..runtime import Request, new_thread
from ._config import ConfigVerbs
from ._faces import verb
from ._sequence import SequenceVerbs

CONFIG_TEXT_LIMIT = 1 << 20  # a configuration file larger than this is named, not copied
CLOSE_WAIT_S = 60.0  # closing the kernel waits this long for a recording to write what it has


class RecordVerbs(SequenceVerbs, ConfigVerbs):
    _recordings: set[Recording]

    @verb
    def record(
        self,
        camera: str | Sequence[str] | None,
        path: Any,
        count: int | None = None,
        format: str | Any = "ome-zarr",  # noqa: A002 - the word users think in
        steps: Sequence[Any] = (),
        overflow: str = "block",
        metadata: dict[str, Any] | None = None,
        datastreams: Sequence[tuple[str, str]] = (),
        *,
        interval_ms: float = 0.0,
        writer_options: dict[str, Any] | None = None,
    ) -> Request:
        """Record cameras to `path` on the kernel's own threads and return the `Recording` once
        it runs (`progress`, `stop()`, `wait()`). `camera`: a label or several (each its own
        array of one store); `path`: a new directory or file, a zarr store URL or a zarr store
        object; `format`: "ome-zarr" or "ome-tiff" (or a plugin's); `steps`: processing steps
        (objects, or names such as "bin:2"); `overflow`: "block" (the camera waits for the
        writer) or "drop" (frames are dropped and counted); `datastreams`: (label, property)
        pairs recorded with timestamps at every frame and every change."""
        plan = plan_recording(self, camera, path, count, format, steps, overflow, metadata, datastreams,
                              interval_ms, writer_options)  # fmt: skip
        recording = Recording(self, plan)
        request = Request("Core", "record")
        request.cancellable = False  # it starts at once, on its own thread

        def start() -> None:
            try:
                recording.start()
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                request.finish(exception=error)
            else:
                request.finish(recording)

        new_thread(start, "mmkernel-record-start").start()
        return request

    @verb
    def recordings(self) -> Request:
        """Recordings still running."""
        return Request.completed("Core", "recordings", sorted(self._recordings, key=id))

    def _stop_recordings(self, timeout: float | None) -> None:
        """Kernel closing: stop every recording and let it write what it has (bounded)."""
        for recording in list(self._recordings):
            recording.stop()
        for recording in list(self._recordings):
            try:
                recording.finished.result(CLOSE_WAIT_S if timeout is None else timeout)
            except BaseException as error:  # noqa: BLE001 - close always finishes; the recording logged it
                self._report_close_problem(recording, error)

    def _report_close_problem(self, recording: Recording, error: BaseException) -> None:
        import logging

        logging.getLogger("mmkernel").warning("close: recording %r: %s", recording, error)

    def _configuration_record(self) -> dict[str, Any]:
        """The configuration, for a recording's metadata: file, text, presets, roles, pixel size."""
        path = self._configuration.file
        text = None
        if path is not None and path.is_file() and path.stat().st_size <= CONFIG_TEXT_LIMIT:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
        groups = {
            group: {
                preset: [list(s) for s in self.config_settings(group, preset)] for preset in self.config_presets(group)
            }
            for group in self.config_groups()
        }
        try:
            pixel = self.pixel_size_um()
        except MMKernelError:
            pixel = 0.0
        return {
            "file": str(path) if path is not None else None,
            "text": text,
            "groups": groups,
            "roles": {name: value for name, value in vars(self.roles).items()},
            "pixel_size_um": pixel,
        }
