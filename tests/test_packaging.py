"""The install stays one thing: pyproject.toml, environment.yml, .ci/run and the
README's commands must agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent


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


def test_torch_is_pinned_everywhere():
    deps = _pyproject()["project"]["dependencies"]
    assert "torch==2.13.0" in deps, "torch must be pinned (a range pulls CUDA wheels)"
    assert "torch==2.13.0" in _pip_section(_env())
    assert not any(d.startswith("torchvision") for d in deps), "torchvision's Linux wheels fail against CPU torch"


def test_environment_installs_what_ci_installs():
    pip = _pip_section(_env())
    ci = (ROOT / ".ci" / "run").read_text()
    m = re.search(r'pip install -e "\.\[(\w+)\]"', ci)
    assert m, ".ci/run must install the package with an extra"
    extra = m.group(1)
    assert f"-e .[{extra}]" in pip, f"environment.yml must install -e .[{extra}] like CI"
    extras = _pyproject()["project"]["optional-dependencies"]
    assert extra in extras
    for line in pip:
        if line.startswith("-e"):
            continue
        name = re.split(r"[=<>!~ \[]", line, maxsplit=1)[0]
        declared = [d for d in _pyproject()["project"]["dependencies"] if re.split(r"[=<>!~ \[]", d, maxsplit=1)[0] == name]
        assert declared == [line], f"environment.yml pins {line!r} but pyproject declares {declared}"


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
    assert len(test) == 1, "the README gives one test command"
    assert test[0] in ci, f"README test command {test[0]!r} is not what .ci/run runs"
