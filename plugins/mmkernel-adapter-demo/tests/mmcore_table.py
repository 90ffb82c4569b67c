"""MMCore's DemoCamera properties, from the research notes (/work/research/democamera.md §2,
read from DemoCamera.cpp and friends at micro-manager/mmCoreAndDevices 8431eb13).

Per device: name -> (type, default after Initialize, read-only, pre-init, allowed, limits).
Allowed values are compared as sets (MMCore returns them ASCII-sorted); None = no allowed list /
no limits. A default of ANY is not compared (it depends on labels or the kernel).
"""

from __future__ import annotations

from typing import Any

ANY = object()
INT, F, S = int, float, str
BIN = (0, 1)
Row = tuple[type, Any, bool, bool, "tuple[Any, ...] | None", "tuple[float, float] | None"]


def _test(i: int) -> Row:
    if i == 5:
        return (F, 0.0, False, False, None, None)
    upper = i * 10.0 ** (-i if i % 2 else i)
    return (F, 0.0, False, False, None, (0.0 if i % 3 == 0 else -upper, upper))


HUB_ID: Row = (S, "", True, False, None, None)

DCAM: dict[str, Row] = {
    "AllowMultiROI": (INT, 0, False, False, BIN, None),
    "AsyncPropertyDelayMS": (INT, 2000, False, False, None, None),
    "AsyncPropertyFollower": (S, "", True, False, None, None),
    "AsyncPropertyLeader": (S, "", False, False, None, None),
    "BeadBlurRate": (F, 0.5, False, False, None, (0.1, 1.0)),
    "BeadBrightness": (F, 1.0, False, False, None, (0.125, 8.0)),
    "BeadDensity": (INT, 100, False, False, None, (10, 500)),
    "BeadSize": (F, 2.0, False, False, None, (1.0, 10.0)),
    "Binning": (INT, 1, False, False, (1, 2, 4, 8), None),
    "BitDepth": (INT, 8, False, False, (8, 10, 11, 12, 14, 16, 32), None),
    "CCDTemperature": (F, 0.0, False, False, None, (-100.0, 10.0)),
    "CCDTemperature RO": (F, 0.0, True, False, None, None),
    "CameraID": (S, "V1.0", True, False, None, None),
    "CameraName": (S, "DemoCamera-MultiMode", True, False, None, None),
    "Description": (S, "Demo Camera Device Adapter", True, False, None, None),
    "DisplayImageNumber": (INT, 0, False, False, BIN, None),
    "DropPixels": (INT, 0, False, False, BIN, None),
    "Exposure": (F, 10.0, False, False, None, (0.0, 10000.0)),
    "FastImage": (INT, 0, False, False, BIN, None),
    "FractionOfPixelsToDropOrSaturate": (F, 0.002, False, False, None, (0.0, 0.1)),
    "Gain": (INT, 0, False, False, None, (-5, 8)),
    "HubID": HUB_ID,
    "MaximumExposureMs": (F, 10000.0, False, True, None, None),
    "Mode": (
        S,
        "Artificial Waves",
        False,
        False,
        ("Artificial Waves", "Color Test Pattern", "Fluorescent Beads", "Noise"),
        None,
    ),
    "MultiROIFillValue": (INT, 0, False, False, None, (0, 65536)),
    "Name": (S, "DCam", True, False, None, None),
    "Offset": (INT, 0, False, False, None, None),
    "OnCameraCCDXSize": (INT, 512, False, False, None, None),
    "OnCameraCCDYSize": (INT, 512, False, False, None, None),
    "Photon Conversion Factor": (F, 1.0, False, False, None, (0.01, 10.0)),
    "Photon Flux": (F, 50.0, False, False, None, (2.0, 5000.0)),
    "PixelType": (S, "8bit", False, False, ("16bit", "32bit", "32bitRGB", "64bitRGB", "8bit"), None),
    "ReadNoise (electrons)": (F, 2.5, False, False, None, (0.25, 50.0)),
    "ReadoutTime": (F, 0.0, False, False, None, None),
    "RotateImages": (INT, 0, False, False, BIN, None),
    "SaturatePixels": (INT, 0, False, False, BIN, None),
    "ScanMode": (INT, 1, False, False, (1, 2, 3), None),
    "SimulateCrash": (S, "", False, False, ("", "Dereference Null Pointer", "Divide by Zero"), None),
    "StripeWidth": (F, 1.0, False, False, None, (0.0, 10.0)),
    **{f"TestProperty{i}": _test(i) for i in range(1, 7)},
    "TransposeCorrection": (INT, 0, False, False, BIN, None),
    "TransposeMirrorX": (INT, 0, False, False, BIN, None),
    "TransposeMirrorY": (INT, 0, False, False, BIN, None),
    "TransposeXY": (INT, 0, False, False, BIN, None),
    "TriggerDevice": (S, "", False, False, None, None),
    "UseExposureSequences": (S, "No", False, False, ("No", "Yes"), None),
}


def _state(name: str, description: str, labels: tuple[str, ...], closed: bool, **extra: Row) -> dict[str, Row]:
    rows: dict[str, Row] = {
        "Description": (S, description, True, False, None, None),
        "HubID": HUB_ID,
        "Label": (S, labels[0], False, False, labels, None),
        "Name": (S, name, True, False, None, None),
        "State": (INT, 0, False, False, None, None),
        **extra,
    }
    if closed:
        rows["ClosedPosition"] = (INT, 0, False, False, tuple(range(len(labels))), None)
    return rows


def _states(n: int) -> tuple[str, ...]:
    return tuple(f"State-{i}" for i in range(n))


TABLE: dict[str, dict[str, Row]] = {
    "DCam": DCAM,
    "DWheel": _state("DWheel", "Demo filter wheel driver", _states(10), True),
    "DStateDevice": _state(
        "DStateDevice",
        "Demo state device driver",
        _states(10),
        True,
        **{
            "Number of positions": (INT, 10, False, True, None, None),
            "Sequence": (S, "Off", False, False, ("Off", "On"), None),
        },
    ),
    "DLightPath": _state("DLightPath", "Demo light-path driver", _states(3), False),
    "DObjective": _state(
        "DObjective",
        "Demo objective turret driver",
        tuple(f"Objective-{c}" for c in "ABCDEF"),
        False,
        Trigger=(S, "-", False, False, ("+", "-"), None),
    ),
    "DStage": {
        "Description": (S, "Demo stage driver", True, False, None, None),
        "HubID": HUB_ID,
        "Name": (S, "DStage", True, False, None, None),
        "Position": (F, 0.0, False, False, None, None),
        "UseSequences": (S, "No", False, False, ("No", "Yes"), None),
    },
    "DXYStage": {
        "Description": (S, "Demo XY stage driver", True, False, None, None),
        "HubID": HUB_ID,
        "Name": (S, "DXYStage", True, False, None, None),
        "TransposeMirrorX": (INT, 0, False, False, BIN, None),
        "TransposeMirrorY": (INT, 0, False, False, BIN, None),
        "UsesCallbacks": (S, "Yes", False, True, ("No", "Yes"), None),
        "Velocity": (F, 10.0, False, False, None, None),
    },
    "DShutter": {
        "Description": (S, "Demo shutter driver", True, False, None, None),
        "HubID": HUB_ID,
        "Name": (S, "DShutter", True, False, None, None),
        "State": (INT, 0, False, False, BIN, None),
    },
    "DAutoFocus": {
        "Description": (S, "Demo auto-focus adapter", True, False, None, None),
        "HubID": HUB_ID,
        "Name": (S, "DAutoFocus", True, False, None, None),
    },
    "D-DA": {
        "HubID": HUB_ID,
        "Real Voltage": (F, 0.0, True, False, None, None),
        "Trigger": (S, "-", False, False, ("+", "-"), None),
        "Voltage": (F, 0.0, False, False, None, (0.0, 10.0)),
    },
    "DHub": {},  # MMCore's DHub has no properties at all
    "State Device Shutter": {
        "Description": (S, "State device that is used as a shutter", True, False, None, None),
        "Name": (S, "State Device Shutter", True, False, None, None),
        "State Device": (S, "None", False, False, ANY, None),
    },
    "Multi Shutter": {
        "Description": (S, "Combines multiple physical shutters into a single ", True, False, None, None),
        "Name": (S, "Multi Shutter", True, False, None, None),
        **{f"Physical Shutter {i}": (S, "Undefined", False, False, ANY, None) for i in range(1, 6)},
        "State": (INT, 0, False, False, BIN, None),
    },
}
UTILITIES = ("State Device Shutter", "Multi Shutter")
