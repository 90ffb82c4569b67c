"""The `mmkernel` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="MMKernel: microscope hardware control.", no_args_is_help=True, add_completion=False)


@app.command()
def demo() -> None:
    """Run the kernel on simulated devices and show what it does, with timings."""
    from ._demo import run_demo

    run_demo(typer.echo)


@app.command()
def version() -> None:
    """Print the installed MMKernel version."""
    from importlib.metadata import version as installed

    typer.echo(installed("mmkernel"))


def main() -> None:
    app()
