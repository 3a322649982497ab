"""The install stays one thing: pyproject.toml (a tested range of torch),
constraints.txt (the pin CI installs), environment.yml, .ci/run and the README's
commands must agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
#: The torch versions tested: CI's (pinned in constraints.txt) and the torchvision job's.
TESTED_TORCH = ("2.13.0", "2.14.1")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _env() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pip_section(env: dict) -> list[str]:
    for dep in env["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            return [str(x).strip() for x in dep["pip"]]
    raise AssertionError("environment.yml has no pip section")


def _readme_block(title: str) -> list[str]:
    """The shell lines of the README's fenced block that follows a line containing ``title``."""
    text = (ROOT / "README.md").read_text()
    m = re.search(re.escape(title) + r".*?```(?:bash|sh|console)?\n(.*?)```", text, re.S)
    assert m, f"README has no code block after {title!r}"
    return [l.strip() for l in m.group(1).splitlines() if l.strip() and not l.strip().startswith("#")]


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def _torch_requirement() -> Requirement:
    deps = [d for d in _pyproject()["project"]["dependencies"] if _name(d) == "torch"]
    assert len(deps) == 1, f"pyproject must declare torch once, got {deps}"
    return Requirement(deps[0])


def _constraints() -> list[str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return [l.split("#")[0].strip() for l in lines if l.split("#")[0].strip()]


def _ci_install() -> re.Match:
    ci = (ROOT / ".ci" / "run").read_text()
    m = re.search(r'^pip install -c (\S+) -e "\.\[(\w+)\]"$', ci, re.M)
    assert m, '.ci/run must install with the constraints file: pip install -c constraints.txt -e ".[EXTRA]"'
    return m


def test_torch_is_a_tested_range():
    spec = _torch_requirement().specifier
    assert not any(s.operator in ("==", "===") for s in spec), f"torch must be a range, not a pin: {spec}"
    for tested in TESTED_TORCH:  # CI's, and the torchvision job's
        assert spec.contains(tested), f"the torch range {spec} must admit the tested {tested}"
    assert not spec.contains("2.12.1"), f"the torch range {spec} admits an untested older torch"
    assert not spec.contains("3.0.0"), f"the torch range {spec} must stop before torch 3"


def test_constraints_pin_the_tested_torch_for_ci_and_conda():
    pins = [c for c in _constraints() if _name(c) == "torch"]
    assert pins == [f"torch=={TESTED_TORCH[0]}"], f"constraints.txt must pin torch=={TESTED_TORCH[0]}, got {pins}"
    assert _torch_requirement().specifier.contains(TESTED_TORCH[0])
    assert _ci_install().group(1) == "constraints.txt", "CI must install with constraints.txt"
    env_torch = [l for l in _pip_section(_env()) if _name(l) == "torch"]
    assert env_torch == pins, f"environment.yml must pin torch as constraints.txt does: {env_torch} vs {pins}"


def test_torchvision_is_only_an_optional_extra():
    project = _pyproject()["project"]
    assert not any(_name(d) == "torchvision" for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert [_name(d) for d in extras.get("torchvision", [])] == ["torchvision"], "stylelab[torchvision] installs it"
    for name, group in extras.items():
        if name != "torchvision":
            assert not any("torchvision" in d for d in group), f"the {name!r} extra must not pull torchvision"
    assert not any(_name(l) == "torchvision" for l in _pip_section(_env()) + _constraints())


def test_environment_installs_what_ci_installs():
    pip = _pip_section(_env())
    extra = _ci_install().group(2)
    assert f"-e .[{extra}]" in pip, f"environment.yml must install -e .[{extra}] like CI"
    extras = _pyproject()["project"]["optional-dependencies"]
    assert extra in extras
    pins = {_name(c): c for c in _constraints()}
    declared = {_name(d): Requirement(d) for d in _pyproject()["project"]["dependencies"]}
    for line in pip:
        if line.startswith("-e"):
            continue
        name = _name(line)
        assert name in declared, f"environment.yml installs {line!r}, which pyproject does not declare"
        assert pins.get(name) == line, f"environment.yml pins {line!r} but constraints.txt has {pins.get(name)!r}"
        version = line.split("==", 1)[1]
        assert declared[name].specifier.contains(version), f"{line!r} is outside pyproject's {declared[name]}"


def test_environment_python_matches_requires_python():
    env = _env()
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons, "environment.yml must name python"
    version = pythons[0].split("=")[-1]
    major, minor = (int(x) for x in version.split(".")[:2])
    req = _pyproject()["project"]["requires-python"]
    lo = re.search(r">=\s*(\d+)\.(\d+)", req)
    assert (major, minor) >= (int(lo.group(1)), int(lo.group(2)))
    assert "conda-forge" in env["channels"]


def test_extras_cover_notebooks_and_tests():
    extras = _pyproject()["project"]["optional-dependencies"]
    names = {re.split(r"[=<>!~ \[]", d, maxsplit=1)[0].lower() for group in extras.values() for d in group}
    for needed in ("jupyterlab", "papermill", "nbval", "pytest", "ipykernel", "playwright"):
        assert needed in names, f"{needed} missing from the extras"
    runtime = {re.split(r"[=<>!~ \[]", d, maxsplit=1)[0].lower() for d in _pyproject()["project"]["dependencies"]}
    assert {"torch", "numpy", "pillow", "matplotlib", "ipywidgets", "tqdm", "pooch"} <= runtime


def test_ci_runs_exactly_the_readme_commands():
    setup = _readme_block("Set up")
    test = _readme_block("Run the tests")
    ci = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert any(l.startswith("pip install") for l in setup)
    for line in setup:
        if line.startswith("pip install"):
            assert line in ci, f"README set-up {line!r} is not what .ci/run runs"
            assert "-c constraints.txt" in line, "the README's set-up command uses the constraints file"
    assert len(test) == 1, "the README gives one test command"
    assert test[0] in ci, f"README test command {test[0]!r} is not what .ci/run runs"
