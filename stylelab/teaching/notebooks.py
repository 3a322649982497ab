"""Where the lesson notebooks are, and which: the numbered ``NN_name.ipynb`` files of the
repository's ``notebooks/`` folder, or the installed package's copy of them
(:mod:`stylelab._locations`); a selection of them by number or name."""

from __future__ import annotations

import os
from pathlib import Path
import re
from typing import Iterable, Sequence

from .. import _locations
from ..errors import SettingsError


#: Numbered lesson notebooks: ``00_tour.ipynb``, ``01_content_reconstruction.ipynb``, ...
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_\-]+\.ipynb$")


def folder() -> Path:
    """The folder of the lesson notebooks: ``notebooks/`` in a source checkout, else
    the installed package's copy. :class:`SettingsError` if there is neither."""
    found = _locations.shipped("notebooks")
    if found is None or not found.is_dir():
        raise SettingsError(
            "the lesson notebooks are not installed with the package; run from a checkout of the "
            "stylelab repository (pip install -e .) or pass the folder that holds them"
        )
    return found


def notebooks(where: str | os.PathLike | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` in ``where`` (default: :func:`folder`), in order."""
    where = folder() if where is None else Path(where)
    return sorted(p for p in where.iterdir() if p.is_file() and NOTEBOOK_PATTERN.match(p.name))


def notebooks_folder(notebooks_dir: str | os.PathLike | None = None) -> Path:
    """``notebooks_dir`` if given, else the lessons' folder (:func:`folder`):
    the repository's ``notebooks/`` in a source checkout, the package's copy when installed."""
    if notebooks_dir is not None:
        given = Path(notebooks_dir).expanduser()
        if not given.is_dir():
            raise SettingsError(f"notebook folder not found: {given}")
        return given
    return folder()


def find_notebooks(notebooks_dir: str | os.PathLike | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` in order."""
    where = notebooks_folder(notebooks_dir)
    found = sorted(p for p in where.iterdir() if p.is_file() and NOTEBOOK_PATTERN.match(p.name))
    if not found:
        raise SettingsError(f"no numbered notebooks (NN_name.ipynb) in {where}")
    return found


def select(notebooks: Sequence[Path], only: Iterable[str] | str | None) -> list[Path]:
    """The notebooks named by ``only``: numbers (``"01"``, ``"1"``, ``1``) or stems
    (``"01_content_reconstruction"``), or a comma-separated string of them; None: all."""
    if only is None:
        return list(notebooks)
    if isinstance(only, str):
        only = [s for s in only.split(",")]
    wanted = [str(s).strip() for s in only if str(s).strip()]
    if not wanted:
        raise SettingsError("--only named no notebooks")
    by_key = {p.name[:2]: p for p in notebooks}
    chosen: list[Path] = []
    for w in wanted:
        key = w.zfill(2) if w.isdigit() else None
        match = by_key.get(key) if key else next(
            (p for p in notebooks if p.stem == w or p.name == w or p.stem[3:] == w), None)
        if match is None:
            names = ", ".join(p.stem for p in notebooks)
            raise SettingsError(f"no notebook {w!r}; choose among {names}")
        if match not in chosen:
            chosen.append(match)
    return sorted(chosen)
