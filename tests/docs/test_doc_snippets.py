"""Every Python snippet in the docs runs: the blocks of one page run in order, in one namespace
(like a notebook), so a page can build on its earlier blocks. A snippet that cannot run is a bug."""

from __future__ import annotations

import ast
import asyncio
import os
import re
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
BLOCK = re.compile(r"(^<!-- tutorial: .+? -->\n)?^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(page: Path) -> list[str]:
    """The page's Python blocks, but not the tutorial's edits to a file (fragments of a class or
    a test module: tests/docs/test_tutorial.py applies and runs them)."""
    return [code for directive, code in BLOCK.findall(page.read_text(encoding="utf-8")) if not directive]


def test_every_page_is_checked() -> None:
    assert {p.name for p in PAGES} >= {"README.md", "adapters.md", "concepts.md", "buffers.md", "config.md", "sdk.md"}


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_the_snippets_of_a_page_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files a snippet writes land here
    monkeypatch.setenv("MMKERNEL_BUFFER_MB", os.environ.get("MMKERNEL_BUFFER_MB", "32"))
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    try:
        for number, source in enumerate(blocks(page), start=1):
            code = compile(source, f"{page.name} block {number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)
            if asyncio.iscoroutine(result):
                asyncio.run(result)
    finally:
        for value in list(namespace.values()):
            close = getattr(value, "close", None)
            if type(value).__name__ == "Kernel" and close is not None:
                close()
