"""The cookiecutter-adapter template: every device type x transport generates a project that is
ruff-clean, installs, passes its own tests and is discovered by the kernel; `cruft update`
carries a template change into a generated project."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "cookiecutter-adapter"
DEVICE_TYPES = ["StateDevice", "Stage", "XYStage", "Shutter", "Camera", "Generic"]
TRANSPORTS = ["serial", "visa", "none"]
COMBINATIONS = list(itertools.product(DEVICE_TYPES, TRANSPORTS))
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name) or name


def generate(output: Path, **context: str) -> Path:
    return Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output), extra_context=context))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """All 18 projects, installed (built as wheels) into one directory put on PYTHONPATH: the
    test environment itself stays clean."""
    output = tmp_path_factory.mktemp("generated")
    projects = [
        generate(output, instrument=f"{device_type} {transport}", device_type=device_type, transport=transport)
        for device_type, transport in COMBINATIONS
    ]
    site = output / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target",
         str(site), *map(str, projects)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    return projects, site


def environment(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_every_combination_is_generated_with_the_files_its_transport_needs(generated: tuple[list[Path], Path]) -> None:
    projects, _ = generated
    for (device_type, transport), project in zip(COMBINATIONS, projects, strict=True):
        package = project / project.name.replace("-", "_")
        files = {p.name for p in package.iterdir()} | {p.name for p in (project / "tests").iterdir()}
        assert {"device.py", "plugin.py", "example.cfg", "test_device.py"} <= files
        assert ("simulator.py" in files) == ("test_protocol.py" in files) == (transport == "serial")
        assert ("instrument.yaml" in files) == (transport == "visa")
        assert ("vendor_sdk.py" in files) == (transport == "none")
        assert (project / ".github" / "workflows" / "ci.yml").exists()
        readme = (project / "README.md").read_text()
        assert readme.index('python -m pip install -e ".[test]"') < readme.index("python -m pytest")
        assert "class " in (package / "device.py").read_text() and device_type in (package / "device.py").read_text()


def test_generated_projects_are_ruff_clean(generated: tuple[list[Path], Path]) -> None:
    projects, _ = generated
    for project in projects:
        for command in (["check"], ["format", "--check"]):
            done = subprocess.run([tool("ruff"), *command, "--config", str(project / "pyproject.toml"), str(project)],
                                  capture_output=True, text=True)  # fmt: skip
            assert done.returncode == 0, f"{project.name}: {done.stdout}{done.stderr}"


@pytest.mark.parametrize("index", range(len(COMBINATIONS)), ids=[f"{d}-{t}" for d, t in COMBINATIONS])
def test_each_generated_project_passes_its_own_tests(generated: tuple[list[Path], Path], index: int) -> None:
    projects, site = generated
    project = projects[index]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
        capture_output=True, text=True, cwd=project, env=environment(site), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_the_kernel_discovers_every_generated_adapter(generated: tuple[list[Path], Path]) -> None:
    _, site = generated
    script = (
        "import json; from mmkernel_core import Kernel\n"
        "k = Kernel()\n"
        "print(json.dumps({'adapters': [a.name for a in k.adapters.adapters()],"
        " 'errors': [str(e) for e in k.plugin_errors()], 'examples': sorted(k.adapters.examples)}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment(site))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["errors"] == []
    expected = {f"Acme{d.title().replace(' ', '')}{t.title()}" for d, t in COMBINATIONS}
    assert expected <= set(found["adapters"]), expected - set(found["adapters"])
    assert {f"acme-{d.lower()}-{t}" for d, t in COMBINATIONS} <= set(found["examples"])


def test_cruft_update_carries_a_template_change_into_a_project(tmp_path: Path) -> None:
    template_repo = tmp_path / "template"
    shutil.copytree(TEMPLATE, template_repo / "cookiecutter-adapter")
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=test"]

    def commit(where: Path, message: str) -> None:
        subprocess.run(["git", "init", "-q"], cwd=where, check=True)
        subprocess.run([*git, "add", "-A"], cwd=where, check=True)
        subprocess.run([*git, "commit", "-qm", message], cwd=where, check=True)

    commit(template_repo, "template version 1")
    context = {"instrument": "Lamp", "device_type": "Generic", "transport": "serial"}
    created = subprocess.run(
        [tool("cruft"), "create", str(template_repo), "--directory", "cookiecutter-adapter", "--no-input",
         "--extra-context", json.dumps(context)],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    project = tmp_path / "mmkernel-adapter-acme-lamp"
    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["directory"] == "cookiecutter-adapter"
    assert recorded["context"]["cookiecutter"]["__template_version"] == "1"
    commit(project, "generated")

    settings = template_repo / "cookiecutter-adapter" / "cookiecutter.json"
    settings.write_text(settings.read_text().replace('"__template_version": "1"', '"__template_version": "2"'))
    readme = template_repo / "cookiecutter-adapter" / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA change made in the template after the project was generated.\n")
    subprocess.run([*git, "commit", "-qam", "template version 2"], cwd=template_repo, check=True)

    assert subprocess.run([tool("cruft"), "check"], cwd=project, capture_output=True).returncode != 0  # behind
    updated = subprocess.run([tool("cruft"), "update", "-y"], cwd=project, capture_output=True, text=True)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "A change made in the template after the project was generated." in (project / "README.md").read_text()
    assert 'version = "2"' in (project / "pyproject.toml").read_text()
    assert subprocess.run([tool("cruft"), "check"], cwd=project, capture_output=True).returncode == 0
