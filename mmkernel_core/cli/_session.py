"""What every command shares: a kernel opened from a configuration, and error reporting."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from mmkernel_sdk.errors import MMKernelError

from .._kernel import Kernel

# Piped or captured output is not wrapped at 80 columns: messages and tables stay greppable.
# User data (paths, labels, values, errors quoting files) is printed verbatim: no markup ("[run]"
# stays), no emoji codes (":x:" stays), no highlighting. Styled words are built as Text.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "200"))
out = Console(highlight=False, markup=False, emoji=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, markup=False, emoji=False, width=_WIDTH, soft_wrap=True)


F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print a clear error (no traceback) and return the exit to raise."""
    err.print(Text.assemble(("error:", "bold red"), " ", one_line(message)))
    return typer.Exit(code=1)


def warn(message: str) -> None:
    """A warning line on stderr (the message verbatim)."""
    err.print(Text.assemble(("warning:", "bold yellow"), " ", one_line(message)))


def one_line(message: str) -> str:
    """Multi-line kernel errors (every problem of a config file) joined into one line."""
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())


def command(fn: F) -> F:
    """Every command: whatever goes wrong is one line on stderr and exit status 1, never a
    traceback (kernel errors, files that cannot be written, bad arguments)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except MMKernelError as error:
            raise fail(str(error)) from None
        except OSError as error:
            where = f" {error.filename!r}" if error.filename else ""
            raise fail(f"{error.strerror or error}{where}") from None
        except Exception as error:  # noqa: BLE001 - the promise is one line, whatever it was
            raise fail(f"{type(error).__name__}: {error}") from None

    return run  # type: ignore[return-value]


def resolve_config(kernel: Kernel, config: str) -> Path:
    """A path, or the name of an example configuration a plugin ships (e.g. "demo")."""
    path = kernel.internals.config_path(config)
    if not path.is_file():
        known = ", ".join(sorted(kernel.adapters.examples)) or "(none installed)"
        raise fail(f"configuration {config!r} is neither a file nor an example name; examples: {known}")
    return path


@contextmanager
def kernel_session(config: str | None = None) -> Iterator[Kernel]:
    """A kernel, loaded from `config` if given; kernel errors become clean CLI errors."""
    try:
        with Kernel() as kernel:
            if config is not None:
                kernel.load_config(resolve_config(kernel, config))
            yield kernel
    except MMKernelError as error:
        raise fail(str(error)) from None
    except OSError as error:
        raise fail(f"{type(error).__name__}: {error}") from None
