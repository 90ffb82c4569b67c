"""`mmkernel names [QUERY]`: the registry of canonical property names."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mmkernel_sdk.names import REGISTRY_FILE, search

from ._session import fail, out


def names(
    query: Annotated[str, typer.Argument(help="Part of a name, synonym, meaning or device type.")] = "",
    wide: Annotated[bool, typer.Option(help="Also the OME, GenICam SFNC and EPICS counterparts.")] = False,
) -> None:
    """List canonical property names: type, units, where they apply, synonyms."""
    found = search(query)
    if not found:
        raise fail(f"no canonical name matches {query!r} (the registry is {REGISTRY_FILE})")
    title = f"{len(found)} canonical property names" + (f" matching {query!r}" if query else "")
    table = Table("Name", "Type", "Units", "Applies to", "Meaning", "Synonyms", "MM", title=title, title_justify="left")
    if wide:
        for column in ("OME", "GenICam SFNC", "EPICS areaDetector"):
            table.add_column(column)
    for entry in found:
        row = [entry.name, entry.type, entry.units, ", ".join(entry.device_types), entry.meaning,
               ", ".join(entry.synonyms), "yes" if entry.micro_manager else ""]  # fmt: skip
        if wide:
            row += [entry.ome, entry.sfnc, entry.epics]
        table.add_row(*row)
    out.print(table)
