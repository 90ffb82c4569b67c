"""The cookiecutter-adapter template: every device type x transport generates a project that is
ruff-clean, installs, passes its own tests and is discovered by the kernel; long and awkward
names (digits first, quotes, dots, umlauts, ...) still give working, ruff-clean Python; answers
that cannot work are refused before anything is written; `cruft update` carries a template
change into a generated project."""

from __future__ import annotations

import itertools
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from packaging.requirements import Requirement

from tests.support.paths import ROOT

TEMPLATE = ROOT / "cookiecutter-adapter"
DEVICE_TYPES = ["StateDevice", "Stage", "XYStage", "Shutter", "Camera", "Generic"]
TRANSPORTS = ["serial", "visa", "none"]
# (device type, transport, controller): every type on every transport, and controllers with a second device
COMBINATIONS = [(d, t, "no") for d, t in itertools.product(DEVICE_TYPES, TRANSPORTS)] + [
    ("StateDevice", "serial", "yes"),
    ("Stage", "visa", "yes"),
]
BIN = Path(sys.executable).parent
LONG_NAMES = [
    ("Thorlabs", "Motorized Filter Wheel"),  # a usual length
    ("Hamamatsu Photonics", "ORCA-Flash4.0 V3 Digital CMOS C13440"),  # long: imports must wrap
]
TRICKY_NAMES = [
    ("89 North", "LDI"),  # a digit first
    ("Hamamatsu", "ORCA-Flash4.0"),  # a dot
    ("O'Brien Optics", "Filter Wheel (6, fast)"),  # a quote, a comma, parentheses
    ("Märzhäuser", "Tango #2 & {x}/y"),  # umlauts (ASCII on the wire), #, &, braces, a slash
    ('Acme "Best"', '1" Wheel \\ x'),  # double quotes, a backslash
]
FEW = [("StateDevice", "serial"), ("Camera", "visa"), ("Generic", "none")]  # every file of the template


def tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name) or name


def generate(output: Path, **context: str) -> Path:
    return Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output), extra_context=context))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """All 20 projects, installed (built as wheels) into one directory put on PYTHONPATH: the
    test environment itself stays clean."""
    output = tmp_path_factory.mktemp("generated")
    projects = [
        generate(output, instrument=name(d, t, c), device_type=d, transport=t, controller=c) for d, t, c in COMBINATIONS
    ]
    site = output / "site"
    install(projects, site)
    return projects, site


def name(device_type: str, transport: str, controller: str) -> str:
    return f"{device_type} {transport}" + (" controller" if controller == "yes" else "")


def install(projects: list[Path], site: Path) -> None:
    """Build the projects as wheels into `site` (put on PYTHONPATH): the test environment stays clean."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target",
         str(site), *map(str, projects)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def ruff_problems(project: Path) -> str:
    found = ""
    for command in (["check"], ["format", "--check", "--diff"]):
        done = subprocess.run([tool("ruff"), *command, "--config", str(project / "pyproject.toml"), str(project)],
                              capture_output=True, text=True)  # fmt: skip
        found += f"{project.name}: ruff {command[0]}: {done.stdout}{done.stderr}" if done.returncode else ""
    return found


def run_own_tests(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
        capture_output=True, text=True, cwd=project, env=environment(site), timeout=300,
    )  # fmt: skip


def environment(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_every_combination_is_generated_with_the_files_its_transport_needs(generated: tuple[list[Path], Path]) -> None:
    projects, _ = generated
    for (device_type, transport, controller), project in zip(COMBINATIONS, projects, strict=True):
        package = project / project.name.replace("-", "_")
        files = {p.name for p in package.iterdir()} | {p.name for p in (project / "tests").iterdir()}
        assert {"device.py", "plugin.py", "example.cfg", "test_device.py"} <= files
        assert ("simulator.py" in files) == (transport == "serial")
        assert ("test_protocol.py" in files) == (transport != "none")  # bytes on a wire, serial or VISA
        assert ("instrument.yaml" in files) == (transport == "visa")
        assert ("vendor_sdk.py" in files) == (transport == "none")
        assert (project / ".github" / "workflows" / "ci.yml").exists()
        readme = (project / "README.md").read_text()
        assert readme.index('python -m pip install -e ".[test]"') < readme.index("python -m pytest")
        device = (package / "device.py").read_text()
        assert "class " in device and device_type in device
        assert ("Focus(Stage)" in device) == ("Shared(Controller)" in device) == (controller == "yes")


def test_generated_projects_are_ruff_clean(generated: tuple[list[Path], Path]) -> None:
    projects, _ = generated
    assert "".join(ruff_problems(project) for project in projects) == ""


@pytest.mark.parametrize(("vendor", "instrument"), LONG_NAMES + TRICKY_NAMES)
def test_long_and_awkward_names_give_python_that_compiles_and_is_ruff_clean(
    tmp_path: Path, vendor: str, instrument: str
) -> None:
    problems = []
    for device_type, transport in FEW:
        project = generate(tmp_path, vendor=vendor, instrument=instrument, device_type=device_type, transport=transport)
        for source in sorted(project.rglob("*.py")):
            try:
                py_compile.compile(str(source), doraise=True)
            except py_compile.PyCompileError as error:
                problems.append(f"{source.relative_to(tmp_path)}: {error.exc_value}")
        problems.append(ruff_problems(project))
        shutil.rmtree(project)
    assert "".join(problems) == ""


def test_projects_with_awkward_names_pass_their_own_tests(tmp_path: Path) -> None:
    """Umlauts and punctuation on a serial line (the simulator and the wire tests speak ASCII), quotes
    in pyvisa-sim's YAML, a digit first: each project installs, passes its tests, and the kernel runs it."""
    answers = [
        {"vendor": "Märzhäuser", "instrument": "Tango #2 & {x}/y", "device_type": "Stage", "transport": "serial"},
        {"vendor": "89 North", "instrument": 'O\'Brien "Wheel" (6, fast)', "device_type": "StateDevice",
         "transport": "visa"},
    ]  # fmt: skip
    projects = [generate(tmp_path, **answer) for answer in answers]
    plugin = (projects[1] / "mmkernel_adapter_89_north_o_brien_wheel_6_fast" / "plugin.py").read_text(encoding="utf-8")
    assert 'ADAPTER = "89NorthOBrienWheel6Fast"' in plugin  # as the vendor writes it, digit first
    assert ".device:Device89NorthOBrienWheel6Fast" in plugin  # a class name cannot start with a digit
    install(projects, tmp_path / "site")
    for project in projects:
        done = run_own_tests(project, tmp_path / "site")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_cookiecutter_asks_only_what_it_cannot_derive() -> None:
    """Names (project folder, package, adapter, class) are derived from vendor and instrument, in
    private variables: cookiecutter does not ask for them (docs/tutorial.md lists the questions)."""
    settings = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    asked = [key for key in settings if not key.startswith("_")]
    assert asked == [
        "vendor", "instrument", "author", "email", "device_type", "transport", "controller", "mmkernel_requirement",
    ]  # fmt: skip
    assert set(asked) <= set(settings["__prompts__"])
    tutorial = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    assert "where MMKernel comes from" in tutorial


@pytest.mark.parametrize(
    ("answer", "dependency", "source"),
    [
        ("", "mmkernel", None),  # nothing given: the MMKernel installed already, and CI says what is missing
        ("mmkernel", "mmkernel", "PyPI"),
        ("mmkernel>=0.1", "mmkernel>=0.1", "PyPI"),
        ("/home/ada/my mmkernel", "mmkernel @ file:///home/ada/my%20mmkernel", "its checkout at /home/ada/my mmkernel"),
        ("C:\\Users\\ada\\mmkernel", "mmkernel @ file:///C:/Users/ada/mmkernel",
         "its checkout at C:\\Users\\ada\\mmkernel"),
        ("https://github.com/ada/mmkernel.git", "mmkernel @ git+https://github.com/ada/mmkernel.git",
         "git+https://github.com/ada/mmkernel.git"),
        ("git+https://github.com/ada/mmkernel@v0.1", "mmkernel @ git+https://github.com/ada/mmkernel@v0.1",
         "git+https://github.com/ada/mmkernel@v0.1"),
    ],
)  # fmt: skip
def test_the_mmkernel_answer_is_where_the_project_its_readme_and_its_ci_install_mmkernel_from(
    tmp_path: Path, answer: str, dependency: str, source: str | None
) -> None:
    project = generate(tmp_path, mmkernel_requirement=answer, transport="none")
    assert f'dependencies = ["{dependency}"]' in (project / "pyproject.toml").read_text(encoding="utf-8")
    assert Requirement(dependency).name == "mmkernel"
    steps, _ = ci_steps(project)
    readme = (project / "README.md").read_text(encoding="utf-8")
    installs = [step for step in steps if 'pip install -e ".[test]"' in step["run"]]
    assert len(installs) == 1, steps  # the dependency says where MMKernel comes from: one install
    if source is None:
        assert "not on PyPI yet" in readme and "generated without saying where" in readme, readme
    else:
        assert installs[0]["name"] == f"Install the adapter, and MMKernel from {source}", steps
        assert f"MMKernel (from {source})" in readme, readme
    everything = "".join(path.read_text(encoding="utf-8") for path in project.rglob("*") if path.is_file())
    assert "github.com/mmkernel" not in everything  # no address that is not the author's


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"mmkernel_requirement": "../mmkernel"}, "pip cannot find MMKernel with '../mmkernel'"),
        ({"mmkernel_requirement": "/home/ada/mm\nkernel"}, "contains a control character"),
        ({"vendor": "!!!", "instrument": "???"}, "(from the vendor and instrument)"),
        ({"instrument": "Filter\nWheel"}, "contains a control character"),
        ({"controller": "yes", "transport": "none"}, "shares one wire: choose the serial or visa transport"),
    ],
)
def test_answers_that_cannot_work_are_refused_before_anything_is_written(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], answers: dict[str, str], message: str
) -> None:
    with pytest.raises(FailedHookException):
        generate(tmp_path, **answers)
    assert message in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("index", range(len(COMBINATIONS)), ids=[name(*c).replace(" ", "-") for c in COMBINATIONS])
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
        "print(json.dumps({'adapters': {a.name: list(a.devices) for a in k.adapters.adapters()},"
        " 'errors': [str(e) for e in k.plugin_errors()], 'examples': sorted(k.adapters.examples)}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment(site))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["errors"] == []
    expected = {  # each word's first letter raised, no more
        f"Acme{d}{t.capitalize()}{'Controller' if c == 'yes' else ''}": (
            [name(d, t, c), f"{name(d, t, c)} Focus"] if c == "yes" else [name(d, t, c)]
        )
        for d, t, c in COMBINATIONS
    }
    assert {adapter: found["adapters"].get(adapter) for adapter in expected} == expected
    assert {f"acme-{name(*c).lower().replace(' ', '-')}" for c in COMBINATIONS} <= set(found["examples"])


def test_the_readme_command_for_the_example_configuration_runs_in_the_project_folder(
    generated: tuple[list[Path], Path],
) -> None:
    projects, site = generated
    for project in [*projects[:: len(TRANSPORTS) + 1], *projects[-2:]]:  # a few, of every transport, controllers
        readme = (project / "README.md").read_text(encoding="utf-8")
        command = re.search(r"`(mmkernel devices -c \S+)`", readme)
        assert command is not None, readme
        done = subprocess.run([tool("mmkernel"), *command[1].split()[1:]], cwd=project, env=environment(site),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0 and " ok " in done.stdout, f"{project.name}: {done.stdout}{done.stderr}"
        if project.name.endswith("-controller"):  # the second device of the controller is in the file, working
            assert re.search(r"Focus\W.*\bStage\b.*\bok\b", done.stdout), done.stdout


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
    version = json.loads((TEMPLATE / "cookiecutter.json").read_text())["__template_version"]
    assert recorded["context"]["cookiecutter"]["__template_version"] == version
    commit(project, "generated")

    settings = template_repo / "cookiecutter-adapter" / "cookiecutter.json"
    later = str(int(version) + 1)
    text = settings.read_text()
    settings.write_text(text.replace(f'"__template_version": "{version}"', f'"__template_version": "{later}"'))
    readme = template_repo / "cookiecutter-adapter" / "{{cookiecutter.__project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA change made in the template after the project was generated.\n")
    subprocess.run([*git, "commit", "-qam", "template version 2"], cwd=template_repo, check=True)

    assert subprocess.run([tool("cruft"), "check"], cwd=project, capture_output=True).returncode != 0  # behind
    updated = subprocess.run([tool("cruft"), "update", "-y"], cwd=project, capture_output=True, text=True)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "A change made in the template after the project was generated." in (project / "README.md").read_text()
    assert f'version = "{later}"' in (project / "pyproject.toml").read_text()
    assert subprocess.run([tool("cruft"), "check"], cwd=project, capture_output=True).returncode == 0


# -- the generated CI, run as CI runs it ---------------------------------------------------------
def ci_steps(project: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The workflow's `run` steps (in order: name, run, env) and the environment it sets for all."""
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    steps = [{"name": "", "env": {}, **step} for step in job["steps"] if "run" in step]
    return steps, {**workflow.get("env", {}), **job.get("env", {})}


def readme_commands(project: Path) -> str:
    block = re.search(r"```bash\n(.*?)```", (project / "README.md").read_text(encoding="utf-8"), re.S)
    assert block is not None
    return block[1]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with nothing installed, like a CI machine's Python."""
    where = tmp_path_factory.mktemp("ci") / "venv"
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", str(where)], check=True, timeout=120)
    return where


def run_like_ci(script: str, project: Path, venv: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As GitHub runs a step (bash -eo pipefail) after actions/setup-python: `python` is the fresh
    environment's; pip downloads from the index only. Setuptools builds a checkout outside it."""
    extra = project.parent / "build.cfg"
    extra.write_text(f"[build]\nbuild_base = {project.parent / 'build'}\n")  # the checkout stays clean
    keep = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    environment = {**keep, **env, "PATH": os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", "")]),
                   "PIP_DISABLE_PIP_VERSION_CHECK": "1", "DIST_EXTRA_CONFIG": str(extra)}  # fmt: skip
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=project,
                          env=environment, capture_output=True, text=True, timeout=600)  # fmt: skip


@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("bash") is None, reason="CI runs its steps in bash")
def test_the_generated_ci_and_readme_commands_pass_with_mmkernel_from_this_checkout(
    tmp_path: Path, fresh_venv: Path
) -> None:
    """The author answers with the path of their checkout (here: this one): every command of the
    generated CI workflow, then the README's, runs and passes in a fresh environment."""
    project = generate(tmp_path, device_type="Stage", transport="serial", mmkernel_requirement=str(ROOT))
    steps, env = ci_steps(project)
    for step in steps:
        done = run_like_ci(step["run"], project, fresh_venv, {**env, **step["env"]})
        what = step["name"] or step["run"]
        assert done.returncode == 0, f"CI step {what!r} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    done = run_like_ci(readme_commands(project), project, fresh_venv, {})
    assert done.returncode == 0, f"the README's commands failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    assert re.search(r"\d+ passed", done.stdout), done.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="CI runs its steps in bash")
def test_ci_of_a_project_generated_without_saying_where_mmkernel_comes_from_stops_with_what_to_do(
    tmp_path: Path, fresh_venv: Path
) -> None:
    project = generate(tmp_path, transport="none")  # mmkernel_requirement left empty
    steps, env = ci_steps(project)
    first = run_like_ci(steps[0]["run"], project, fresh_venv, {**env, **steps[0]["env"]})
    assert first.returncode != 0, first.stdout
    message = first.stdout + first.stderr
    assert "::error" in message and "generated without saying where MMKernel comes from" in message, message
    assert 'dependencies = ["mmkernel @ git+https://' in message, message  # what to write instead


@pytest.mark.skipif(shutil.which("bash") is None, reason="CI runs its steps in bash")
def test_ci_says_so_when_the_checkout_it_was_given_is_not_on_the_machine(tmp_path: Path, fresh_venv: Path) -> None:
    missing = tmp_path / "no such checkout"
    project = generate(tmp_path, transport="none", mmkernel_requirement=str(missing))
    steps, env = ci_steps(project)
    first = run_like_ci(steps[0]["run"], project, fresh_venv, {**env, **steps[0]["env"]})
    assert first.returncode != 0
    assert f"from its checkout at {missing}, which this machine does not have" in first.stdout + first.stderr
