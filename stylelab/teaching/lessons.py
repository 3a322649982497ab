"""The lesson notebooks copied into a student's folder (``stylelab lessons -o DIR``); where they
are is :mod:`stylelab.teaching.notebooks`.

The numbered notebooks (``00_tour.ipynb`` ... ``07_settings.ipynb`` and the explorer
``08_explorer.ipynb``) live in the repository's ``notebooks/`` folder. A package built
from it carries a copy (see :mod:`stylelab._locations`), so a student who ran
``pip install stylelab`` gets them with ``stylelab lessons -o DIR``
(:func:`copy_lessons`):

    from stylelab.teaching.lessons import copy_lessons
    for outcome in copy_lessons("my-lessons"):
        print(outcome.action, outcome.path)

What is copied is the **student edition** (:func:`stylelab.teaching.course.student_bytes`: every
exercise's solution replaced by a stub, the worked solutions and outputs dropped); an
installed package ships only that edition. The instructor notebooks, solutions included,
are copied only with ``edition="instructor"`` from a checkout of the repository or an
explicit ``source`` folder (``stylelab course build --edition instructor`` for a class).
Files are written with the usual permissions (0666 less the umask).

Copying never loses a student's work: a notebook missing in DIR is copied, one
identical to the shipped copy is left alone, and one that differs (the student
edited or ran it) is kept unless ``force=True``, which first saves it as
``NAME.ipynb.bak`` (``.bak.2``, ``.bak.3``, ... if that exists).
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import shutil

from .. import _locations
from ..errors import SettingsError
from .course import CourseError, _write_atomic, check_folder, student_bytes
from .notebooks import NOTEBOOK_PATTERN, folder, notebooks  # noqa: F401 (also lessons.folder, as before)


@dataclass(frozen=True)
class Outcome:
    """What :func:`copy_lessons` did with one notebook."""

    path: Path
    """The notebook in the destination folder."""
    action: str
    """``"copied"`` (it was missing), ``"unchanged"`` (identical to the shipped copy),
    ``"kept"`` (it differs and was left alone) or ``"replaced"`` (it differed; ``force``)."""
    backup: Path | None = None
    """With ``"replaced"``: where the previous version was saved."""


def _backup_name(target: Path) -> Path:
    """The first free of ``NAME.bak``, ``NAME.bak.2``, ``NAME.bak.3``, ... beside ``target``."""
    candidate = target.with_name(target.name + ".bak")
    n = 2
    while candidate.exists():
        candidate = target.with_name(f"{target.name}.bak.{n}")
        n += 1
    return candidate


def _write_copy(data: bytes, target: Path) -> None:
    """Write ``data`` to ``target`` atomically (temporary sibling, then ``os.replace``), with
    the mode any new file gets (0666 less the umask), not mkstemp's 0600."""
    _write_atomic(target, data)


EDITIONS = ("student", "instructor")


def _edition_bytes(nb: Path, edition: str) -> bytes:
    if edition == "instructor":
        return nb.read_bytes()
    try:
        return student_bytes(nb)
    except CourseError as exc:
        raise SettingsError(f"cannot make the student edition of {nb}: {exc}") from None


def copy_lessons(dest: str | os.PathLike, *, force: bool = False,
                 source: str | os.PathLike | None = None, edition: str = "student") -> list[Outcome]:
    """Copy the lesson notebooks (and the explorer) into ``dest`` (created if needed), as
    ``edition``: ``"student"`` (default: exercises as stubs, no worked solutions) or
    ``"instructor"`` (the notebooks as they are: only from a checkout or an explicit ``source``).

    A notebook missing in ``dest`` is copied; one byte-identical to the shipped copy
    is left alone (``"unchanged"``); one that differs is ``"kept"`` as it is, unless
    ``force``: then the existing file is first renamed to ``NAME.ipynb.bak`` (or
    ``.bak.2``, ...) and the shipped copy written (``"replaced"``). ``source`` is the
    folder to copy from (default: :func:`folder`). Returns one :class:`Outcome` per
    notebook, in order. Raises :class:`SettingsError` if ``dest`` is a file, or if a
    notebook's place in ``dest`` is taken by something that is not a file.
    """
    if edition not in EDITIONS:
        raise SettingsError(f"edition must be one of {EDITIONS}, not {edition!r}")
    if edition == "instructor" and source is None and _locations.checkout_root() is None:
        raise SettingsError("the instructor notebooks (with the solutions) are not installed with the package; "
                            "build them from a checkout: stylelab course build --edition instructor --from NOTEBOOKS")
    shipped = notebooks(source)
    if not shipped:
        raise SettingsError(f"no lesson notebooks (NN_name.ipynb) in {source or folder()}")
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise SettingsError(f"{dest} is a file, not a folder: choose a folder for the lessons")
    try:
        check_folder(dest, "the lessons")
    except CourseError as exc:
        raise SettingsError(str(exc)) from None
    wanted = {nb.name: _edition_bytes(nb, edition) for nb in shipped}  # all made before anything is written
    for nb in shipped:
        target = dest / nb.name
        if target.exists() and not target.is_file():
            raise SettingsError(f"{target} exists and is not a file; move it away to get the lesson")
    dest.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for nb in shipped:
        target, data = dest / nb.name, wanted[nb.name]
        if not target.exists():
            _write_copy(data, target)
            outcomes.append(Outcome(target, "copied"))
            continue
        if target.read_bytes() == data:
            outcomes.append(Outcome(target, "unchanged"))
        elif not force:
            outcomes.append(Outcome(target, "kept"))
        else:
            backup = _backup_name(target)
            shutil.copy2(target, backup)
            _write_copy(data, target)
            outcomes.append(Outcome(target, "replaced", backup))
    return outcomes
