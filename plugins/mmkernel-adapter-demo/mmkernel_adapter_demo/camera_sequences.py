"""DCam's exposure sequences (DemoCamera's UseExposureSequences): while it is Yes, Exposure runs
hardware sequences of up to 100 exposures, one per sequence frame, from the first again after the
last. Everything here runs on the camera's own runner (load, start, stop and the frames), so it
needs no lock. While an exposure sequence runs, a frame's tags carry the exposure it used."""

from __future__ import annotations

from typing import Any

from mmkernel_sdk import prop

SEQUENCE_MAX = 100  # CDemoCamera's sequenceMaxLength_


class ExposureSequences:
    """Mixin for DemoCamera."""

    UseExposureSequences = prop(str, default="No", allowed=("No", "Yes"), doc="Yes: Exposure runs sequences.")

    _exposures: tuple[float, ...] = ()
    _exposure_index = 0
    _exposures_running = False

    @UseExposureSequences.setter
    def UseExposureSequences(self, value: str) -> None:  # noqa: N802 - Micro-Manager's property name
        if value == "No":
            self.stop_exposure_sequence()
        self.set_sequence_max("Exposure", SEQUENCE_MAX if value == "Yes" else 0)  # type: ignore[attr-defined]

    def load_exposure_sequence(self, exposures_ms: list[float]) -> None:
        self._exposures, self._exposure_index = tuple(exposures_ms), 0

    def start_exposure_sequence(self) -> None:
        self._exposures_running, self._exposure_index = bool(self._exposures), 0

    def stop_exposure_sequence(self) -> None:
        self._exposures_running, self._exposure_index = False, 0

    def next_exposure(self) -> float | None:
        """The exposure of the next sequence frame (None: the Exposure property's)."""
        if not self._exposures_running:
            return None
        exposure = self._exposures[self._exposure_index]
        self._exposure_index = (self._exposure_index + 1) % len(self._exposures)
        return exposure

    def exposure_tags(self, exposure: float | None) -> dict[str, Any]:
        return {} if exposure is None else {"Exposure-ms": exposure}
