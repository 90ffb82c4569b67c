"""`mmkernel snap`: one image to a .tif or .npy file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ._inspect import ConfigOption
from ._session import fail, kernel_session, out


def snap(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write: .tif/.tiff or .npy")],
    config: ConfigOption = "demo",
    camera: Annotated[str | None, typer.Option(help="Camera label (default: the Camera role)")] = None,
) -> None:
    """Snap one image and save it."""
    suffix = output.suffix.lower()
    if suffix not in (".tif", ".tiff", ".npy"):
        raise fail(f"cannot write {output.name!r}: use a .tif, .tiff or .npy file name")
    with kernel_session(config) as kernel:
        image = kernel.snap(camera)
    write_image(output, image)
    out.print(
        f"wrote {output} ({'x'.join(map(str, image.shape))} {image.dtype}, "
        f"min {image.min()}, max {image.max()}, mean {image.mean():.1f})"
    )


def write_image(path: Path, image: np.ndarray) -> None:
    if path.suffix.lower() == ".npy":
        np.save(path, image)
        return
    import tifffile

    if image.ndim == 3 and image.shape[-1] == 4:  # cameras deliver BGRA; TIFF wants RGB
        tifffile.imwrite(path, np.ascontiguousarray(image[..., 2::-1]), photometric="rgb")
    else:
        tifffile.imwrite(path, image)
