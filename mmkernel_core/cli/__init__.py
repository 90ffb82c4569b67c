"""The `mmkernel` command line (typer): one module per group of commands, registered below.

`_session` opens a kernel for a command (configuration, port map, errors printed verbatim);
`_demo`, `_inspect` (adapters, devices, props, get, set), `_snap`, `_record`, `_acquire`, `_simulate`,
`_names` are the commands. May import anything of mmkernel_core; it uses the public Kernel API
and `kernel.internals`.
"""

from __future__ import annotations

import typer

from ._acquire import acquire
from ._demo import demo
from ._inspect import adapters, devices, get, props, set_
from ._names import names
from ._record import record
from ._session import command
from ._simulate import simulate
from ._snap import snap

app = typer.Typer(
    help="MMKernel: microscope hardware control.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(command(demo))
app.command()(command(adapters))
app.command()(command(devices))
app.command()(command(props))
app.command()(command(get))
app.command(name="set")(command(set_))
app.command()(command(snap))
app.command()(command(record))
app.command()(command(simulate))
app.command()(command(acquire))
app.command()(command(names))


def main() -> None:
    app()


__all__ = ["app", "main"]
