"""docs/tutorial.md, followed literally: its shell blocks run, in order, in one bash session that
starts in this checkout with a fresh home directory; the edits it asks for (marked with a
`<!-- tutorial: ... -->` comment before the block) are applied exactly as shown; what its
console blocks show must appear in the output. A fresh virtual environment, MMKernel installed
from this checkout, the template, the adapter's own tests, discovery, a configuration next to
the demo devices: if any step of the page stops working, this test fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PAGE = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"(?:^<!-- tutorial: (?P<directive>.+?) -->\n)?^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.M | re.S)
END = "MMKERNEL_TUTORIAL_EOF"

EDIT_TOOL = '''
"""replace NAME PATH: put stdin where the top-level assignment NAME = ... is in PATH."""
import ast, sys
_, action, name, path = sys.argv
source = open(path).read()
lines = source.splitlines(keepends=True)
for node in ast.parse(source).body:
    if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
        lines[node.lineno - 1 : node.end_lineno] = [sys.stdin.read()]
        open(path, "w").write("".join(lines))
        break
else:
    sys.exit(f"tutorial edit: no assignment to {name} in {path}")
'''


def script_of(page: str) -> tuple[str, list[str]]:
    """The page as one bash script, and the console blocks' expected lines."""
    steps = ["set -euo pipefail"]
    expected: list[str] = []
    for match in FENCE.finditer(page):
        directive, lang, body = match["directive"], match["lang"], match["body"]
        if directive is not None:
            append = re.fullmatch(r"append to (\S+)", directive)
            replace = re.fullmatch(r"replace (\w+) in (\S+)", directive)
            if append:
                steps.append(f"cat >> {append[1]} <<'{END}'\n{body}{END}")
            elif replace:
                steps.append(f"python \"$TUTORIAL_EDIT\" replace {replace[1]} {replace[2]} <<'{END}'\n{body}{END}")
            else:
                raise AssertionError(f"tutorial.md: unknown directive {directive!r}")
        elif lang == "bash":
            steps.append(body)
        elif lang == "console":
            expected += [line for line in body.splitlines() if line.strip()]
    return "\n".join(steps) + "\n", expected


def test_the_page_has_steps_and_every_edit_is_understood() -> None:
    script, expected = script_of(PAGE.read_text(encoding="utf-8"))
    assert "cookiecutter --no-input" in script and "python -m pytest" in script and "mmkernel adapters" in script
    assert script.count(f"<<'{END}'") == 4  # three appends, one replace
    assert expected


@pytest.mark.skipif(shutil.which("bash") is None, reason="the tutorial's commands are bash")
def test_the_tutorial_followed_literally_makes_a_working_adapter(tmp_path: Path) -> None:
    script, expected = script_of(PAGE.read_text(encoding="utf-8"))
    home = tmp_path / "home"
    home.mkdir()
    tool = tmp_path / "edit.py"
    tool.write_text(EDIT_TOOL)
    cache = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")  # reuse downloads
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    base_python = Path(getattr(sys, "_base_executable", sys.executable)).parent
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")},
        "HOME": str(home),
        "PATH": os.pathsep.join([str(base_python), path]),  # a Python 3.11+ as `python3`, outside our venv
        "PIP_CACHE_DIR": cache,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "TUTORIAL_EDIT": str(tool),
    }
    (tmp_path / "tutorial.sh").write_text(script)
    run = subprocess.run(
        ["bash", str(tmp_path / "tutorial.sh")],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"the tutorial's commands failed:\n{output[-6000:]}"
    assert re.search(r"\d+ passed", run.stdout), run.stdout
    assert "AcmeFilterWheel" in run.stdout and "Filter Wheel" in run.stdout
    assert re.search(r"Wheel\W+AcmeFilterWheel\W+Filter Wheel\W+State\W+ok", run.stdout), run.stdout  # devices
    for line in expected:
        assert line in run.stdout.splitlines(), f"the page shows {line!r}; the run printed:\n{run.stdout[-3000:]}"
