"""Keep only the files the chosen transport needs; end every source file with one newline."""

from pathlib import Path

TRANSPORT = "{{ cookiecutter.transport }}"
PACKAGE = Path("{{ cookiecutter.__package }}")
ONLY_FOR = {
    PACKAGE / "simulator.py": "serial",
    Path("tests") / "test_protocol.py": "serial",
    PACKAGE / "instrument.yaml": "visa",
    PACKAGE / "vendor_sdk.py": "none",
}

for path, transport in ONLY_FOR.items():
    if transport != TRANSPORT:
        path.unlink()

for path in Path(".").rglob("*.py"):  # the template's conditional blocks leave stray blank lines
    path.write_text(path.read_text(encoding="utf-8").rstrip() + "\n", encoding="utf-8")
