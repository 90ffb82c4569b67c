"""Keep only the files the chosen transport needs; no more than two blank lines in a row, and one
newline at the end of every source file."""

import re
from pathlib import Path

TRANSPORT = "{{ cookiecutter.transport }}"
PACKAGE = Path("{{ cookiecutter.__package }}")
ONLY_FOR = {
    PACKAGE / "simulator.py": "serial",
    PACKAGE / "instrument.yaml": "visa",
    PACKAGE / "vendor_sdk.py": "none",
}

for path, transport in ONLY_FOR.items():
    if transport != TRANSPORT:
        path.unlink()
if TRANSPORT == "none":  # nothing on a wire to check byte by byte
    (Path("tests") / "test_protocol.py").unlink()

for path in Path(".").rglob("*.py"):  # the template's conditional blocks leave stray blank lines
    text = re.sub(r"\n{4,}", "\n\n\n", path.read_text(encoding="utf-8"))
    path.write_text(text.rstrip() + "\n", encoding="utf-8")
