"""Refuse answers that would give a project that does not work, before any file is written."""

import keyword
import re
import sys

VENDOR = {{ cookiecutter.vendor | jsonify }}
INSTRUMENT = {{ cookiecutter.instrument | jsonify }}
AUTHOR = {{ cookiecutter.author | jsonify }}
EMAIL = {{ cookiecutter.email | jsonify }}
REQUIREMENT = {{ cookiecutter.mmkernel_requirement | jsonify }}
SLUG = {{ cookiecutter.__slug | jsonify }}
PACKAGE = {{ cookiecutter.__package | jsonify }}
ADAPTER = {{ cookiecutter.__adapter_name | jsonify }}
CLASS = {{ cookiecutter.__class_name | jsonify }}
DEVICE = {{ cookiecutter.__device | jsonify }}
DEPENDENCY = {{ cookiecutter.__mmkernel_dependency | jsonify }}
CONTROLLER = {{ cookiecutter.controller | jsonify }}
TRANSPORT = {{ cookiecutter.transport | jsonify }}


def is_mmkernel_requirement(text):
    if '"' in text or "\\" in text:
        return False
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # not everywhere cookiecutter is
        return re.fullmatch(r"mmkernel( @ \S+|\s*[<>=!~][^@\s]*)?", text) is not None
    try:
        return Requirement(text).name.lower() == "mmkernel"
    except InvalidRequirement:
        return False


def problems():
    answers = [("vendor", VENDOR), ("instrument", INSTRUMENT), ("author", AUTHOR), ("email", EMAIL)]
    for question, answer in [*answers, ("MMKernel requirement", REQUIREMENT)]:
        if any(ord(c) < 32 or ord(c) == 127 for c in answer):
            yield f"the {question} {answer!r} contains a control character (a line break?)"
    if not VENDOR.strip() or not INSTRUMENT.strip():
        yield "the vendor and the instrument must not be empty"
    if not SLUG or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", SLUG):
        yield f"the project name {SLUG!r} (from the vendor and instrument) must be letters and digits joined by '-'"
    if not (re.fullmatch(r"[a-z_][a-z0-9_]*", PACKAGE) and not keyword.iskeyword(PACKAGE)):
        yield f"the package name {PACKAGE!r} is not a valid Python package name"
    if not (CLASS.isascii() and CLASS.isidentifier() and not keyword.iskeyword(CLASS)):
        yield f"the class name {CLASS!r} is not a valid Python identifier"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", ADAPTER):
        yield f"the adapter name {ADAPTER!r} must be letters, digits, '_', '.' or '-'"
    if not DEVICE:
        yield f"the instrument {INSTRUMENT!r} gives an empty device name"
    if CONTROLLER not in ("no", "yes"):
        yield f"the controller answer {CONTROLLER!r} must be yes or no"
    elif CONTROLLER == "yes" and TRANSPORT == "none":
        yield "a controller with several devices shares one wire: choose the serial or visa transport"
    if not is_mmkernel_requirement(DEPENDENCY):
        yield (
            f"pip cannot find MMKernel with {REQUIREMENT!r}: answer the absolute path of a checkout"
            " (/home/ada/mmkernel, C:\\mmkernel), a URL (git+https://..., https://.../mmkernel.git), mmkernel once it"
            " is on PyPI, or nothing (the one installed already)"
        )


found = list(problems())
if found:
    sys.exit("cookiecutter-adapter: " + "; ".join(found) + ".")
