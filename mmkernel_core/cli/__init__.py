"""The `mmkernel` command line (typer)."""

from __future__ import annotations

import typer

from ._demo import demo
from ._inspect import adapters, devices, get, props, set_
from ._snap import snap

app = typer.Typer(
    help="MMKernel: microscope hardware control.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(demo)
app.command()(adapters)
app.command()(devices)
app.command()(props)
app.command()(get)
app.command(name="set")(set_)
app.command()(snap)


def main() -> None:
    app()


__all__ = ["app", "main"]
