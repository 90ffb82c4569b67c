"""The stand-in core's hardware sequences, as MMCore 12.5 and DemoCamera answer them (checked
against the real adapters): DStage while `UseSequences` is Yes (2000 positions), DCam's exposure
while `UseExposureSequences` is Yes (100), DObjective's State and Label always (10; each '+' on
its `Trigger` steps a started sequence, and is refused otherwise), DXYStage never (the knob
`xy_sequence_max` makes it sequenceable: no real demo device is). `step(label)` is a hardware
trigger stepping a started stage or XY sequence without announcing it, as a TTL line does.
Every call that reaches a device is recorded in `sequence_calls`."""

from __future__ import annotations

from typing import Any

MAX = {"stage": 2000, "exposure": 100, "property": 10}


class Sequencing:
    """Mixed into StandInCore (which has _dev, _typed, _prop, _announce and the devices)."""

    xy_sequence_max = 0

    def _calls(self) -> list[tuple[Any, ...]]:
        return self.__dict__.setdefault("sequence_calls", [])

    def _loaded(self) -> dict[tuple[str, str], dict[str, Any]]:
        return self.__dict__.setdefault("_sequences", {})

    def _unsupported(self, label: str) -> RuntimeError:
        return RuntimeError(f'Error in device "{label}": Unsupported device command (11)')

    def _switched(self, label: str, kind: int, setting: str) -> bool:
        self._typed(label, kind)  # type: ignore[attr-defined]
        props = self._dev(label)[2]  # type: ignore[attr-defined]
        return setting in props and props[setting].value == "Yes"

    def _run(self, label: str, what: str, values: list[Any], maximum: int, noun: str) -> None:
        if len(values) > maximum:
            device = "camera" if noun == "exposure" else "stage"
            raise RuntimeError(f"The length of the requested {noun} sequence ({len(values)}) exceeds the maximum "
                               f'allowed ({maximum}) by the {device} "{label}"')  # fmt: skip
        self._calls().append(("load", label, what, list(values)))
        self._loaded()[(label, what)] = {"values": list(values), "next": 0, "running": False}

    def _arm(self, label: str, what: str, running: bool) -> None:
        self._calls().append(("start" if running else "stop", label, what))
        sequence = self._loaded().setdefault((label, what), {"values": [], "next": 0, "running": False})
        sequence["running"], sequence["next"] = running, 0

    # -- stage -------------------------------------------------------------------------------
    def isStageSequenceable(self, label: str) -> bool:
        return self._switched(label, 5, "UseSequences")

    def _need_stage(self, label: str) -> None:
        if not self.isStageSequenceable(label):
            raise self._unsupported(label)

    def getStageSequenceMaxLength(self, label: str) -> int:
        self._need_stage(label)
        return MAX["stage"]

    def loadStageSequence(self, label: str, positions: list[float]) -> None:
        self._need_stage(label)
        self._run(label, "Position", [float(p) for p in positions], MAX["stage"], "stage")

    def startStageSequence(self, label: str) -> None:
        self._need_stage(label)
        self._arm(label, "Position", True)

    def stopStageSequence(self, label: str) -> None:
        self._need_stage(label)
        self._arm(label, "Position", False)

    # -- XY stage ----------------------------------------------------------------------------
    def isXYStageSequenceable(self, label: str) -> bool:
        self._typed(label, 6)  # type: ignore[attr-defined]
        return self.xy_sequence_max > 0

    def _need_xy(self, label: str) -> None:
        if not self.isXYStageSequenceable(label):
            raise self._unsupported(label)

    def getXYStageSequenceMaxLength(self, label: str) -> int:
        self._need_xy(label)
        return self.xy_sequence_max

    def loadXYStageSequence(self, label: str, xs: list[float], ys: list[float]) -> None:
        self._need_xy(label)
        points = list(zip((float(x) for x in xs), (float(y) for y in ys), strict=True))
        self._run(label, "XYPosition", points, self.xy_sequence_max, "XY stage")

    def startXYStageSequence(self, label: str) -> None:
        self._need_xy(label)
        self._arm(label, "XYPosition", True)

    def stopXYStageSequence(self, label: str) -> None:
        self._need_xy(label)
        self._arm(label, "XYPosition", False)

    # -- camera exposure ---------------------------------------------------------------------
    def isExposureSequenceable(self, label: str) -> bool:
        return self._switched(label, 2, "UseExposureSequences")

    def _need_exposure(self, label: str) -> None:
        if not self.isExposureSequenceable(label):
            raise self._unsupported(label)

    def getExposureSequenceMaxLength(self, label: str) -> int:
        self._need_exposure(label)
        return MAX["exposure"]

    def loadExposureSequence(self, label: str, exposures: list[float]) -> None:
        self._need_exposure(label)
        self._run(label, "Exposure", [float(e) for e in exposures], MAX["exposure"], "exposure")

    def startExposureSequence(self, label: str) -> None:
        self._need_exposure(label)
        self._arm(label, "Exposure", True)

    def stopExposureSequence(self, label: str) -> None:
        self._need_exposure(label)
        self._arm(label, "Exposure", False)

    # -- properties --------------------------------------------------------------------------
    def isPropertySequenceable(self, label: str, name: str) -> bool:
        self._prop(label, name)  # type: ignore[attr-defined]
        return self._dev(label)[1] == "DObjective" and name in ("State", "Label")  # type: ignore[attr-defined]

    def _sequenceable(self, label: str, name: str) -> None:
        if not self.isPropertySequenceable(label, name):
            raise RuntimeError(f'Error in device "{label}": This property is not sequenceable (38)')

    def getPropertySequenceMaxLength(self, label: str, name: str) -> int:
        self._sequenceable(label, name)
        return MAX["property"]

    def loadPropertySequence(self, label: str, name: str, values: list[str]) -> None:
        self._sequenceable(label, name)
        if len(values) > MAX["property"]:
            raise RuntimeError(f'Error in device "{label}": Sequence is too large for this device (39)')
        self._calls().append(("load", label, name, list(values)))
        self._loaded()[(label, name)] = {"values": list(values), "next": 0, "running": False}

    def startPropertySequence(self, label: str, name: str) -> None:
        self._sequenceable(label, name)
        self._arm(label, name, True)

    def stopPropertySequence(self, label: str, name: str) -> None:
        self._sequenceable(label, name)
        self._arm(label, name, False)

    def _trigger(self, label: str) -> None:
        """DObjective's Trigger '+': the started State sequence steps (announced, as the real one)."""
        sequence = self._loaded().get((label, "State"))
        if sequence is None or not sequence["running"] or not sequence["values"]:
            raise RuntimeError('Cannot set property "Trigger" to "+"')
        state = sequence["values"][sequence["next"] % len(sequence["values"])]
        sequence["next"] += 1
        self.setState(label, int(state))  # type: ignore[attr-defined]
        self._announce("onPropertyChanged", label, "State", str(state))  # type: ignore[attr-defined]
        self._announce("onPropertyChanged", label, "Label", self.getStateLabel(label))  # type: ignore[attr-defined]

    def step(self, label: str) -> None:
        """A TTL pulse: a started stage or XY sequence moves to its next point, unannounced."""
        for what in ("Position", "XYPosition"):
            sequence = self._loaded().get((label, what))
            if sequence is not None and sequence["running"] and sequence["values"]:
                point = sequence["values"][sequence["next"] % len(sequence["values"])]
                sequence["next"] += 1
                if what == "Position":
                    self.__dict__.setdefault("_pos", {})[label] = point
                else:
                    self._xy[label] = point  # type: ignore[attr-defined]
