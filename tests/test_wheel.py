"""The built package carries the lessons and the sample-image registry.

Builds an sdist from the package's sources (a copy of the checkout's files, so the
checkout gets no build/ folder), a wheel from that sdist (setup.py's hooks must work for
both), installs the wheel into a fresh virtual environment and runs the installed
``stylelab lessons -o DIR``. Nothing is downloaded: the build uses this environment's
setuptools (no build isolation), the wheel is installed with ``--no-deps --no-index``,
and the fresh environment sees this one's packages (torch, ...) through a ``.pth`` file.
About 15-25 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from stylelab import course, lessons

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
#: What a build needs from the checkout (everything else is not part of the package).
SOURCES = ["pyproject.toml", "setup.py", "README.md", "stylelab", "notebooks", "data/samples.json", "data/photos.json"]


def _run(cmd: list, cwd: Path, env: dict | None = None, timeout: float = 120) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _build(backend_call: str, source: Path, dist: Path) -> Path:
    """Run setuptools' PEP 517 backend (``build_sdist`` or ``build_wheel``) in ``source``."""
    code = f"import sys; from setuptools import build_meta; print(build_meta.{backend_call}(sys.argv[1]))"
    name = _run([sys.executable, "-c", code, dist], cwd=source).strip().splitlines()[-1]
    return dist / name


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """{"sdist", "wheel", "venv"}: the built sdist and wheel, and a venv with the wheel installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist = tmp / "src", tmp / "dist"
    for rel in SOURCES:
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "out",
                                                                               ".ipynb_checkpoints", "_bundled"))
        else:
            shutil.copy2(ROOT / rel, target)
    dist.mkdir()
    sdist = _build("build_sdist", src, dist)
    with tarfile.open(sdist) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.11.4
        tar.extractall(tmp / "unpacked", **safe)
    wheel = _build("build_wheel", tmp / "unpacked" / sdist.name.removesuffix(".tar.gz"), dist)

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).strip())
    # the dependencies (torch, numpy, ...) come from this environment; stylelab only from the wheel
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "_stylelab_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "--no-build-isolation", "--disable-pip-version-check", wheel], cwd=tmp)
    return {"sdist": sdist, "wheel": wheel, "venv": venv, "tmp": tmp}


def _env() -> dict:
    """This environment without what would point the fresh venv's Python elsewhere."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def test_the_sdist_and_wheel_carry_the_lessons_and_the_registry(built):
    notebooks = [p.name for p in lessons.notebooks(ROOT / "notebooks")]
    assert "08_explorer.ipynb" in notebooks
    with tarfile.open(built["sdist"]) as tar:
        top = built["sdist"].name.removesuffix(".tar.gz")
        names = set(tar.getnames())
    for rel in ["setup.py", "data/samples.json", "data/photos.json", "notebooks/README.md"] + [f"notebooks/{n}" for n in notebooks]:
        assert f"{top}/{rel}" in names, f"the sdist lacks {rel}"
    with zipfile.ZipFile(built["wheel"]) as whl:
        bundled = sorted(n for n in whl.namelist() if n.startswith("stylelab/_bundled/"))
        assert bundled == sorted(["stylelab/_bundled/data/samples.json", "stylelab/_bundled/data/photos.json",
                                  "stylelab/_bundled/notebooks/README.md"]
                                 + [f"stylelab/_bundled/notebooks/{n}" for n in notebooks])
        assert whl.read("stylelab/_bundled/data/samples.json") == (ROOT / "data" / "samples.json").read_bytes()
        for n in notebooks:  # the student edition only: no solution in what a student installs
            assert whl.read(f"stylelab/_bundled/notebooks/{n}") == course.student_bytes(ROOT / "notebooks" / n), n
        for member in whl.namelist():
            if member.endswith(".ipynb"):
                assert b"BEGIN SOLUTION" not in whl.read(member), f"{member} holds a solution"
        metadata = whl.read(next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Dist: torch<3,>=2.13" in metadata or "Requires-Dist: torch>=2.13,<3" in metadata
    assert "Provides-Extra: torchvision" in metadata


def test_the_installed_wheel_finds_its_lessons_and_data(built):
    venv, tmp = built["venv"], built["tmp"]
    code = ("import json, stylelab, stylelab.data as d, stylelab.teaching.lessons as l, stylelab.teaching.reproduce as r; "
            "print(json.dumps({'package': stylelab.__file__, 'registry': str(d._registry_file()), "
            "'samples': d.names(), 'lessons': str(l.folder()), 'reproduce': [p.name for p in r.find_notebooks()]}))")
    out = json.loads(_run([venv / "bin" / "python", "-c", code], cwd=tmp, env=_env()).strip().splitlines()[-1])
    package = Path(out["package"]).parent
    assert package.is_relative_to(venv), f"stylelab was imported from {package}, not the fresh venv"
    assert out["registry"] == str(package / "_bundled" / "data" / "samples.json")
    assert out["lessons"] == str(package / "_bundled" / "notebooks")
    assert out["samples"][:3] == ["tubingen", "shipwreck", "starry_night"]
    assert out["reproduce"] == [p.name for p in lessons.notebooks(ROOT / "notebooks")]


def test_installed_stylelab_lessons_copies_the_student_edition(built):
    venv, tmp = built["venv"], built["tmp"]
    dest = tmp / "student"
    out = _run([venv / "bin" / "stylelab", "lessons", "-o", dest], cwd=tmp, env=_env())
    expected = lessons.notebooks(ROOT / "notebooks")
    assert sorted(p.name for p in dest.iterdir()) == [p.name for p in expected]
    for nb in expected:
        assert (dest / nb.name).read_bytes() == course.student_bytes(nb), f"{nb.name} is not the student edition"
        assert "BEGIN SOLUTION" not in (dest / nb.name).read_text(), nb.name
    assert f"{len(expected)} copied" in out
    # the instructor edition is not in the package: one line, exit 2
    proc = subprocess.run([str(venv / "bin" / "stylelab"), "course", "build", "--edition", "instructor", "-o",
                           str(tmp / "instr")], cwd=tmp, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "checkout" in proc.stderr and not (tmp / "instr").exists(), proc.stderr
