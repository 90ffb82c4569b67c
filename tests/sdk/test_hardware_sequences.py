"""The SDK's side of hardware sequences: which properties say they can run one (sequence_max,
position_sequence_max, exposure_sequence_max, xy_sequence_max, set_sequence_max), where the
generic load/start/stop_property_sequence lead for a stage's Position and a camera's Exposure,
and the clear NotImplementedError of an adapter that says it can sequence but has no methods."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mmkernel_sdk import Camera, Generic, Stage, XYStage, prop


class Plain(Generic):
    Voltage = prop(float, default=0.0, sequence_max=16)
    Gain = prop(int, default=1)


class Focus(Stage):
    position_sequence_max = 50

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def set_position(self, um: float) -> None:
        pass

    def get_position(self) -> float:
        return 0.0

    def load_position_sequence(self, positions: list[float]) -> None:
        self.calls.append(("load", positions))

    def start_position_sequence(self) -> None:
        self.calls.append(("start", None))

    def stop_position_sequence(self) -> None:
        self.calls.append(("stop", None))


class Cam(Camera):
    exposure_sequence_max = 8

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def frame_shape(self) -> tuple[int, ...]:
        return (4, 4)

    def frame_dtype(self) -> np.dtype:
        return np.dtype("uint8")

    def read_frame(self, out: np.ndarray) -> None:
        out[:] = 0

    def load_exposure_sequence(self, exposures_ms: list[float]) -> None:
        self.calls.append(("load", exposures_ms))

    def start_exposure_sequence(self) -> None:
        self.calls.append(("start", None))

    def stop_exposure_sequence(self) -> None:
        self.calls.append(("stop", None))


class XY(XYStage):
    xy_sequence_max = 3

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        pass

    def get_xy_position(self) -> tuple[float, float]:
        return (0.0, 0.0)


def test_sequence_max_comes_from_the_declarations() -> None:
    assert Plain().property_spec("Voltage").sequence_max == 16
    assert Plain().property_spec("Gain").sequence_max == 0
    assert Focus().property_spec("Position").sequence_max == 50
    assert Cam().property_spec("Exposure").sequence_max == 8
    assert XY().xy_sequence_max == 3
    assert Stage.position_sequence_max == 0 and Camera.exposure_sequence_max == 0 and XYStage.xy_sequence_max == 0


def test_add_property_and_set_sequence_max_change_it_per_instance() -> None:
    device = Plain()
    device.add_property("Intensity", float, default=0.0, sequence_max=4)
    assert device.property_spec("Intensity").sequence_max == 4
    device.set_sequence_max("Gain", 10)
    device.set_sequence_max("Voltage", 0)
    assert device.property_spec("Gain").sequence_max == 10
    assert device.property_spec("Voltage").sequence_max == 0
    assert Plain().property_spec("Voltage").sequence_max == 16  # another instance keeps the declaration
    for bad in (-1, 2.5, True, "3"):
        with pytest.raises(ValueError, match=r"property 'Gain': sequence_max .* must be an integer >= 0"):
            device.set_sequence_max("Gain", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("base", [Stage, Camera, XYStage])
def test_a_bad_class_declaration_is_refused_when_the_class_is_made(base: type) -> None:
    attribute = {Stage: "position_sequence_max", Camera: "exposure_sequence_max", XYStage: "xy_sequence_max"}[base]
    with pytest.raises(ValueError, match=rf"\.Bad\.{attribute} = -2: it must be an integer >= 0"):
        type("Bad", (base,), {attribute: -2})


def test_the_generic_methods_lead_to_the_device_types_own() -> None:
    focus, cam = Focus(), Cam()
    focus.load_property_sequence("Position", [1.0, 2.0])
    focus.start_property_sequence("Position")
    focus.stop_property_sequence("Position")
    cam.load_property_sequence("Exposure", [5.0])
    cam.start_property_sequence("Exposure")
    cam.stop_property_sequence("Exposure")
    assert focus.calls == [("load", [1.0, 2.0]), ("start", None), ("stop", None)]
    assert cam.calls == [("load", [5.0]), ("start", None), ("stop", None)]


def test_the_defaults_name_the_class_and_the_method() -> None:
    with pytest.raises(NotImplementedError, match=r"Plain \(Generic\) must implement load_property_sequence\(\) "
                       r"\(property 'Voltage' declares sequence_max=16\)"):  # fmt: skip
        Plain().load_property_sequence("Voltage", [1.0])
    with pytest.raises(NotImplementedError, match=r"Plain \(Generic\) must implement start_property_sequence\(\)"):
        Plain().start_property_sequence("Voltage")
    with pytest.raises(NotImplementedError, match=r"Plain \(Generic\) must implement stop_property_sequence\(\)"):
        Plain().stop_property_sequence("Gain")
    with pytest.raises(NotImplementedError, match=r"XY \(XYStage\) must implement load_xy_sequence\(\)"):
        XY().load_xy_sequence([(0.0, 0.0)])
    with pytest.raises(NotImplementedError, match=r"XY \(XYStage\) must implement start_xy_sequence\(\)"):
        XY().start_xy_sequence()
    with pytest.raises(NotImplementedError, match=r"XY \(XYStage\) must implement stop_xy_sequence\(\)"):
        XY().stop_xy_sequence()

    class Bare(Stage):
        position_sequence_max = 5

    with pytest.raises(NotImplementedError, match=r"Bare \(Stage\) must implement start_position_sequence\(\)"):
        Bare().start_property_sequence("Position")
    with pytest.raises(NotImplementedError, match=r"Cam\w* \(Camera\) must implement stop_exposure_sequence\(\)"):
        Camera().stop_property_sequence("Exposure")
