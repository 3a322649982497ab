"""Build hooks: ship the lessons and the image registries inside the package.

All metadata is in pyproject.toml; this file only adds two setuptools commands.

The source of truth for the lessons is ``notebooks/`` (``NN_*.ipynb`` and its
README.md) and for the image registries ``data/samples.json`` (the sample images) and
``data/photos.json`` (the real-time lessons' photographs), all at the repository's top
level, where students and authors edit them. A wheel installs only the package, so
``build_py`` copies them into it as ``stylelab/_bundled/notebooks/`` and
``stylelab/_bundled/data/samples.json``, ``.../photos.json`` (found at run time by
``stylelab._locations``), and ``sdist`` adds them to the source archive so that a
wheel built from the sdist gets them too. An editable install (``pip install -e .``)
copies nothing: it reads them in the checkout.

The lessons go into a built package as their **student edition** only
(``stylelab.teaching.course.student_bytes``: each exercise's solution replaced by a stub, the worked
solutions dropped): whoever installs the wheel gets no solutions. Instructors build the
instructor edition from a checkout (``stylelab course build --edition instructor``).
"""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py as _build_py
from setuptools.command.sdist import sdist as _sdist

ROOT = Path(__file__).resolve().parent
#: Where the copies go inside the package (``stylelab._locations.BUNDLED``).
BUNDLED = Path("stylelab") / "_bundled"
#: The lesson notebooks (``stylelab.teaching.notebooks.NOTEBOOK_PATTERN``).
NOTEBOOK = re.compile(r"^\d\d_[A-Za-z0-9_\-]+\.ipynb$")


def shipped_files() -> list[str]:
    """The files to ship, relative to the repository root (``notebooks/00_tour.ipynb``, ...).

    Fails if the lessons or the registries are missing: a package without them is broken.
    """
    notebooks = ROOT / "notebooks"
    lessons = sorted(p.name for p in notebooks.glob("*.ipynb") if NOTEBOOK.match(p.name)) if notebooks.is_dir() else []
    if not lessons:
        raise RuntimeError(f"no lesson notebooks (notebooks/NN_name.ipynb) in {ROOT}: cannot build stylelab")
    files = [f"notebooks/{name}" for name in lessons] + ["notebooks/README.md", "data/samples.json", "data/photos.json"]
    missing = [f for f in files if not (ROOT / f).is_file()]
    if missing:
        raise RuntimeError(f"cannot build stylelab: {', '.join(missing)} missing in {ROOT}")
    return files


def _course():
    """``stylelab/teaching/course.py`` loaded on its own (it needs nbformat, not torch), to make
    the student editions without installing the package first."""
    import importlib.util
    import sys
    import types

    name = "_stylelab_build"
    if f"{name}.teaching.course" in sys.modules:
        return sys.modules[f"{name}.teaching.course"]
    # empty stand-ins for stylelab and stylelab.teaching, so that course.py's relative imports
    # (`from ..errors import ...`) find the modules in the source tree
    for package, folder in ((name, ROOT / "stylelab"), (f"{name}.teaching", ROOT / "stylelab" / "teaching")):
        module = types.ModuleType(package)
        module.__path__ = [str(folder)]
        sys.modules[package] = module
    spec = importlib.util.spec_from_file_location(f"{name}.teaching.course", ROOT / "stylelab" / "teaching" / "course.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class build_py(_build_py):
    """setuptools' build_py, plus the copies of the lessons and the registry in ``stylelab/_bundled/``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # pip install -e: stylelab reads notebooks/ and data/ in the checkout
            return
        for rel, target in self._bundled():
            self.mkpath(str(Path(target).parent))
            if NOTEBOOK.match(Path(rel).name):  # the student edition: no solutions in the package
                Path(target).write_bytes(_course().student_bytes(ROOT / rel))
            else:
                self.copy_file(str(ROOT / rel), target, preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else outputs + [target for _, target in self._bundled()]

    def _bundled(self) -> list[tuple[str, str]]:
        """(source relative to the root, target in the build folder) for each shipped file."""
        return [(rel, str(Path(self.build_lib) / BUNDLED / rel)) for rel in shipped_files()]


class sdist(_sdist):
    """setuptools' sdist, plus the lessons and the registry, so that a wheel built from it has them."""

    def make_distribution(self) -> None:
        for rel in shipped_files():
            if rel not in self.filelist.files:
                self.filelist.append(rel)
        super().make_distribution()


setup(cmdclass={"build_py": build_py, "sdist": sdist})
