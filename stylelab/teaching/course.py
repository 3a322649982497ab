"""Course editions of the lesson notebooks: what students get and what instructors keep.

    from stylelab import course
    course.build("both", "handout")   # handout/student/*.ipynb and handout/instructor/*.ipynb
    # the same: stylelab course build -o handout

The lessons hold auto-checked exercises in nbgrader's format. An exercise cell carries
``metadata.nbgrader`` with ``"solution": true`` and a unique ``grade_id``, and its solution
sits between two marker lines::

    def content_loss(F, P):
        ### BEGIN SOLUTION
        ### HINT: Eq. 1 is one line: half the summed squared difference.
        return 0.5 * (F - P.detach()).pow(2).sum()
        ### END SOLUTION

A check cell after it (``"grade": true``, ``"locked": true``, ``points``) calls a checker
such as ``sl.exercises.check_content_loss(content_loss)``. Worked answers in Markdown are
cells tagged ``solution`` (collapsed in the lessons).

- The **student edition** replaces each solution region by nbgrader's stub at the region's
  indentation, ``# YOUR CODE HERE`` and ``raise NotImplementedError("<notebook> exercise
  <grade_id>: <hint>")`` (the hint from the ``### HINT:`` lines), drops the cells tagged
  ``solution``, clears all outputs and keeps the nbgrader metadata, so nbgrader can grade it.
- The **instructor edition** is the notebooks as committed. It is built only from a checkout
  of the repository (or ``--from`` a folder of instructor notebooks): an installed package
  ships the student edition only (``setup.py`` bundles :func:`student_bytes` of each lesson,
  marked ``metadata.stylelab.edition = "student"``), so no solution reaches a student's
  ``site-packages``, and ``stylelab lessons`` hands out the student edition too.

Before anything is written every selected notebook is validated (:class:`CourseError` lists
all problems), and every edition folder is checked (a file in its place, a file on its path,
a folder that cannot be written, files that would be overwritten): nothing is written unless
all editions can be. Notebooks are written with the usual permissions (``0666`` less the
umask), so handouts on a shared server are readable. The problems checked: unbalanced markers, a solution region in a cell without nbgrader solution
metadata, a solution cell without a region, duplicate or malformed ``grade_id``, a grade cell
without ``points``. An edition folder records what it wrote (``.stylelab-course.json``);
a file that is not in that record, or was edited since, is never overwritten without ``force``.

Every notebook also starts with a Colab set-up cell (:func:`colab_cell_source`), kept in sync
by :func:`sync_colab_cells`; the README's Colab badges come from :func:`colab_badge`.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
import json
import os
from pathlib import Path
import re
import tempfile
from typing import Iterable, Sequence

import nbformat

from .. import config
from ..errors import StylelabError


#: The published repository. It must match the repository the notebooks are published in
#: (``[project.urls] Repository`` in pyproject.toml): the Colab cell installs stylelab from it and
#: the README's "Open in Colab" badges point into it. Change it here only, then run
#: ``stylelab course sync-colab notebooks`` and update the README badges
#: (``colab_badges()``); tests/teaching/test_course.py checks both.
REPOSITORY_URL = "https://github.com/stylelab/stylelab"
#: The branch the badges open.
BRANCH = "main"

COLAB_CELL_ID = "colab-setup"
COLAB_TAG = "colab"


def colab_cell_source(repository_url: str = REPOSITORY_URL) -> str:
    """The first cell of every notebook: in Colab, install stylelab and fetch the sample images;
    anywhere else it does nothing."""
    return (
        "# In Google Colab: install stylelab and fetch the sample images. Anywhere else this cell does nothing.\n"
        "import sys\n"
        "\n"
        "if \"google.colab\" in sys.modules:\n"
        "    import subprocess\n"
        "\n"
        "    subprocess.check_call([sys.executable, \"-m\", \"pip\", \"install\", \"-q\",\n"
        f"                           \"stylelab[notebooks] @ git+{repository_url}\"])\n"
        "    import stylelab\n"
        "\n"
        "    stylelab.data.fetch()"
    )


def colab_url(notebook: str, repository_url: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """Colab's URL that opens ``notebooks/<notebook>`` of the published repository."""
    github = repository_url.rstrip("/").removesuffix(".git").split("github.com/", 1)[1]
    return f"https://colab.research.google.com/github/{github}/blob/{branch}/notebooks/{notebook}"


def colab_badge(notebook: str, repository_url: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """The README's Markdown badge for one notebook."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(notebook, repository_url, branch)})")


def binder_url(repository_url: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """mybinder.org's URL that opens the repository's ``notebooks/`` folder in JupyterLab."""
    github = repository_url.rstrip("/").removesuffix(".git").split("github.com/", 1)[1]
    return f"https://mybinder.org/v2/gh/{github}/{branch}?urlpath=lab/tree/notebooks"


def binder_badge(repository_url: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(repository_url, branch)})"


def _colab_cell() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(colab_cell_source(), metadata={"tags": [COLAB_TAG]})
    cell["id"] = COLAB_CELL_ID
    return cell


def _is_colab_cell(cell) -> bool:
    return cell.get("id") == COLAB_CELL_ID or COLAB_TAG in cell.get("metadata", {}).get("tags", [])


def sync_colab_cell(nb: nbformat.NotebookNode) -> bool:
    """Make the Colab set-up cell the first cell of ``nb`` (insert it, or update and move an
    existing one); True if ``nb`` changed."""
    existing = [c for c in nb.cells if c.cell_type == "code" and _is_colab_cell(c)]
    wanted = _colab_cell()
    if len(existing) == 1 and nb.cells[0] is existing[0]:
        cell = existing[0]
        if (cell.source == wanted.source and cell.get("id") == COLAB_CELL_ID
                and COLAB_TAG in cell.metadata.get("tags", []) and not cell.get("outputs")
                and cell.get("execution_count") is None):
            return False
    keep = [c for c in nb.cells if not (c.cell_type == "code" and _is_colab_cell(c))]
    if existing:  # keep the existing cell's other metadata (e.g. collapsed) but not its outputs
        cell = existing[0]
        cell.source = wanted.source
        cell["id"] = COLAB_CELL_ID
        cell.outputs, cell.execution_count = [], None
        tags = cell.metadata.setdefault("tags", [])
        if COLAB_TAG not in tags:
            tags.insert(0, COLAB_TAG)
    else:
        cell = wanted
    nb.cells = [cell, *keep]
    return True


def sync_colab_cells(folder: str | os.PathLike | None = None) -> list[Path]:
    """Give every numbered notebook ``NN_*.ipynb`` in ``folder`` (None: the lessons) the Colab
    set-up cell as its first cell (idempotent); returns the notebooks that changed."""
    from .notebooks import find_notebooks

    notebooks = [(path, _read(path)) for path in find_notebooks(folder)]  # all read before any is written
    changed = []
    for path, nb in notebooks:
        if sync_colab_cell(nb):
            nbformat.validate(nb)
            text = nbformat.writes(nb)
            _write_atomic(path, (text if text.endswith("\n") else text + "\n").encode("utf-8"))
            changed.append(path)
    return changed


# --------------------------------------------------------------------------------------
# Student and instructor editions

EDITIONS = ("student", "instructor")
BEGIN_SOLUTION = "BEGIN SOLUTION"  # nbgrader's delimiters: a line containing them (### BEGIN SOLUTION)
END_SOLUTION = "END SOLUTION"
HINT = re.compile(r"^\s*#+\s*HINT:\s?(.*)$")
SOLUTION_TAG = "solution"
CODE_STUB = "# YOUR CODE HERE"
MARKDOWN_STUB = "YOUR ANSWER HERE"
GENERIC_HINT = "write your solution here (replace this line), then run the check cell below"
MANIFEST = ".stylelab-course.json"
#: nbgrader's rule for grade ids (they name the cells in its gradebook).
GRADE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


class CourseError(StylelabError, ValueError):
    """A notebook's exercises are malformed, or an edition would overwrite edited files."""


@dataclass
class _Region:
    begin: int  # line index of the BEGIN marker
    end: int  # line index of the END marker
    indent: str
    hints: list[str]


def _nbgrader(cell) -> dict | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else None


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def _regions(lines: list[str]) -> tuple[list[_Region], list[str]]:
    """The solution regions of a cell's lines, and problems with its markers."""
    regions, problems = [], []
    open_at = None
    for i, line in enumerate(lines):
        if BEGIN_SOLUTION in line:
            if open_at is not None:
                problems.append(f"line {i + 1}: {line.strip()!r} inside the region opened on line {open_at + 1}"
                                f" (a region must end with '### {END_SOLUTION}' before the next begins)")
            open_at = i
        elif END_SOLUTION in line:
            if open_at is None:
                problems.append(f"line {i + 1}: {line.strip()!r} without a '### {BEGIN_SOLUTION}' before it")
                continue
            indent = re.match(r"\s*", lines[open_at]).group(0)
            hints = [m.group(1).strip() for m in map(HINT.match, lines[open_at + 1:i]) if m and m.group(1).strip()]
            regions.append(_Region(open_at, i, indent, hints))
            open_at = None
    if open_at is not None:
        problems.append(f"line {open_at + 1}: '### {BEGIN_SOLUTION}' is never closed by '### {END_SOLUTION}'")
    return regions, problems


def _cell_name(index: int, cell) -> str:
    return f"cell {index}" + (f" (id {cell['id']})" if cell.get("id") else "")


def validate(nb: nbformat.NotebookNode, name: str = "notebook") -> list[str]:
    """Problems with the exercises of ``nb`` (empty: fine for both editions)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for index, cell in enumerate(nb.cells):
        where = f"{name} {_cell_name(index, cell)}"
        meta = _nbgrader(cell)
        regions, marker_problems = _regions(cell.source.splitlines())
        problems += [f"{where}: {p}" for p in marker_problems]
        if "nbgrader" in cell.get("metadata", {}) and meta is None:
            problems.append(f"{where}: metadata.nbgrader must be an object")
        is_solution = bool(meta and meta.get("solution"))
        if (regions or marker_problems) and not is_solution:
            problems.append(f"{where}: a '### {BEGIN_SOLUTION}' region in a cell without nbgrader solution metadata "
                            f"(metadata.nbgrader with \"solution\": true and a grade_id); students would see it")
        if SOLUTION_TAG in _tags(cell) and meta is not None:
            problems.append(f"{where}: tagged '{SOLUTION_TAG}' (removed from the student edition) but it is an nbgrader "
                            f"cell; untag it or drop its nbgrader metadata")
        if meta is None:
            continue
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: nbgrader schema_version must be 3, not {meta.get('schema_version')!r}")
        if not (meta.get("solution") or meta.get("grade") or meta.get("task") or meta.get("locked")):
            continue  # nbgrader metadata that marks nothing
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not GRADE_ID.match(grade_id):
            problems.append(f"{where}: nbgrader grade_id must be letters, digits, '_' or '-', not {grade_id!r}")
        elif grade_id in seen:
            problems.append(f"{where}: grade_id {grade_id!r} is also used by {seen[grade_id]} (grade ids must be "
                            f"unique in a notebook)")
        else:
            seen[grade_id] = _cell_name(index, cell)
        if meta.get("grade"):
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or not points >= 0:
                problems.append(f"{where}: a grade cell (\"grade\": true) needs \"points\", a number >= 0"
                                f" (got {points!r})")
        if is_solution and cell.cell_type == "code" and not regions and not marker_problems:
            problems.append(f"{where}: an nbgrader solution cell without a '### {BEGIN_SOLUTION}' ... "
                            f"'### {END_SOLUTION}' region; the student edition would show the whole cell")
    return problems


def _stub_message(notebook: str, grade_id: str, hints: Sequence[str]) -> str:
    hint = " ".join(hints) if hints else GENERIC_HINT
    return f"{notebook} exercise {grade_id}: {hint}"


def stub(notebook: str, grade_id: str, hints: Sequence[str] = (), indent: str = "") -> str:
    """The student edition's replacement of one solution region (two lines at ``indent``)."""
    message = json.dumps(_stub_message(notebook, grade_id, hints), ensure_ascii=False)  # a valid Python literal
    return f"{indent}{CODE_STUB}\n{indent}raise NotImplementedError({message})"


def stub_messages(nb: nbformat.NotebookNode, notebook: str) -> list[str]:
    """The NotImplementedError messages of ``nb``'s stubs, in cell order (what a student sees first)."""
    messages = []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta and meta.get("solution"):
            for region in _regions(cell.source.splitlines())[0]:
                messages.append(_stub_message(notebook, meta["grade_id"], region.hints))
    return messages


def _replace_regions(source: str, replacement) -> str:
    lines = source.splitlines()
    regions, _ = _regions(lines)
    for region in reversed(regions):
        lines[region.begin:region.end + 1] = replacement(region).split("\n")
    text = "\n".join(lines)
    return text + "\n" if source.endswith("\n") else text


#: ``metadata.stylelab.edition`` of a student edition (what an installed package ships).
EDITION_KEY = "stylelab"


def edition_of(nb) -> str | None:
    """``"student"`` for a notebook :func:`student_notebook` made, else None (as committed)."""
    meta = nb.get("metadata", {}).get(EDITION_KEY) if isinstance(nb, dict) else None
    return meta.get("edition") if isinstance(meta, dict) else None


def student_bytes(path: str | os.PathLike) -> bytes:
    """The student edition of the notebook file ``path``, as written to disk (a notebook that
    already is one, e.g. the copy an installed package ships, unchanged). :class:`CourseError`
    if its exercises are malformed."""
    path = Path(path)
    nb = _read(path)
    if edition_of(nb) == "student":
        return path.read_bytes()
    problems = validate(nb, path.name)
    if problems:
        raise CourseError(f"{len(problems)} problem(s) with the exercises: " + "; ".join(problems))
    return _notebook_bytes(student_notebook(nb, path.stem))


def student_notebook(nb: nbformat.NotebookNode, notebook: str) -> nbformat.NotebookNode:
    """The student edition of ``nb`` (a new notebook; ``nb`` is not changed). ``notebook`` is its
    name in the stubs' messages (``01_content_reconstruction``). Call :func:`validate` first."""
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = []
    for cell in out.cells:
        if SOLUTION_TAG in _tags(cell):
            continue
        meta = _nbgrader(cell)
        if meta and meta.get("solution"):
            if cell.cell_type == "code":
                cell.source = _replace_regions(
                    cell.source, lambda r: stub(notebook, meta["grade_id"], r.hints, r.indent))
            else:
                cell.source = _replace_regions(cell.source, lambda r: r.indent + MARKDOWN_STUB)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    out.cells = cells
    out.metadata[EDITION_KEY] = {"edition": "student"}
    leaked = [i for i, c in enumerate(cells) if BEGIN_SOLUTION in c.source or END_SOLUTION in c.source]
    if leaked:  # validate() rules this out; never hand out a solution
        raise CourseError(f"{notebook}: solution markers left in cells {leaked} of the student edition")
    return out


def _read(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path``. A cell without an id gets one made from its place and source
    (nbformat would draw a random one: the student edition would differ on every build)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if (isinstance(raw, dict) and isinstance(raw.get("cells"), list) and raw.get("nbformat") == 4
                and isinstance(raw.get("nbformat_minor"), int) and raw["nbformat_minor"] >= 5):
            for i, cell in enumerate(raw["cells"]):
                if isinstance(cell, dict) and not cell.get("id"):
                    text = "".join(cell.get("source") or "") if isinstance(cell.get("source"), (list, str)) else ""
                    cell["id"] = "cell-" + hashlib.sha256(f"{i}\n{text}".encode()).hexdigest()[:12]
        return nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as exc:  # noqa: BLE001 - not JSON, not a notebook
        raise CourseError(f"cannot read notebook {path}: {exc}") from exc


def _sources(notebooks: Iterable[str | os.PathLike] | None, source: str | os.PathLike | None) -> list[Path]:
    from .notebooks import find_notebooks, select

    names = [notebooks] if isinstance(notebooks, (str, os.PathLike)) else notebooks
    if names is not None:
        names = list(names)
        if not names:
            names = None
    files = [Path(n) for n in names or [] if str(n).endswith(".ipynb") and Path(n).is_file()]
    others = [str(n) for n in names or [] if not (str(n).endswith(".ipynb") and Path(n).is_file())]
    chosen = list(files)
    if names is None or others:
        found = find_notebooks(source)
        chosen += select(found, others) if others else found
    unique: dict[str, Path] = {}
    for path in chosen:
        if path.name in unique and unique[path.name].resolve() != path.resolve():
            raise CourseError(f"two notebooks named {path.name}: {unique[path.name]} and {path}")
        unique.setdefault(path.name, path)
    return [unique[k] for k in sorted(unique)]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _notebook_bytes(nb: nbformat.NotebookNode) -> bytes:
    text = nbformat.writes(nb)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`stylelab.config.atomic_file`: a temporary
    sibling, then ``os.replace``, with the usual file mode)."""
    with config.atomic_file(path) as tmp:
        tmp.write_bytes(data)


def check_folder(folder: Path, what: str = "the output folder") -> None:
    """:class:`CourseError` unless ``folder`` is, or can be made, a writable folder: not a file,
    no file on its path, and a new file can be created in it (or in the first folder above it
    that exists). Nothing is left behind."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise CourseError(f"{folder} exists and is not a folder: choose a folder for {what}")
    probe_in = folder
    while not probe_in.exists() and probe_in != probe_in.parent:
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise CourseError(f"cannot make {what} {folder}: {probe_in} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".stylelab-probe.", dir=probe_in)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CourseError(f"cannot write {what} {folder}: {probe_in} is not writable "
                          f"({exc.strerror or exc})") from None


def _backup_name(path: Path) -> Path:
    """``NAME.bak``, or ``NAME.bak.2``, ``NAME.bak.3``, ... if taken."""
    candidate, n = path.with_name(path.name + ".bak"), 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.bak.{n}")
    return candidate


def _plan_edition(edition: str, folder: Path, files: dict[str, bytes], sources: Sequence[Path],
                  force: bool) -> tuple:
    """Check that the ``edition`` can be written to ``folder`` (nothing is written); returns
    what :func:`_write_edition` needs."""
    folder = folder.expanduser()
    if any(folder.resolve() == s.parent.resolve() for s in sources):
        raise CourseError(f"{folder} holds the source notebooks; write the {edition} edition somewhere else")
    check_folder(folder, f"the {edition} edition")
    manifest_path = folder / MANIFEST
    manifest: dict = {"edition": edition, "files": {}}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            manifest.setdefault("files", {})
        except ValueError:
            manifest = {"edition": None, "files": {}}
    edited = []
    for name, data in files.items():
        target = folder / name
        if target.exists():
            current = target.read_bytes() if target.is_file() else b""
            if current != data and _sha256(current) != manifest["files"].get(name):
                edited.append(name)
    if not force:
        if manifest_path.is_file() and manifest.get("edition") != edition:
            raise CourseError(f"{folder} holds the {manifest.get('edition') or 'unknown'} edition, not the {edition} "
                              f"edition; choose another folder or pass force (--force) to replace it")
        if edited:
            raise CourseError(f"{folder}: not overwriting {', '.join(edited)} (edited since it was built, or not "
                              f"built by stylelab course); pass force (--force) to replace them (the old files "
                              f"are kept as NAME.bak)")
    taken = [name for name in files if (folder / name).exists() and not (folder / name).is_file()]
    if taken:
        raise CourseError(f"{folder}: {', '.join(taken)} exist(s) and is not a file; move it away")
    return edition, folder, files, manifest, manifest_path, edited


def _write_edition(edition: str, folder: Path, files: dict[str, bytes], manifest: dict, manifest_path: Path,
                   edited: list[str]) -> list[Path]:
    """Write one edition that :func:`_plan_edition` checked."""
    folder.mkdir(parents=True, exist_ok=True)
    if manifest.get("edition") != edition:  # force: the files of another edition are no longer ours
        manifest["files"] = {}
    written = []
    for name, data in files.items():
        target = folder / name
        if name in edited:  # force: keep the edited file beside the new one
            os.replace(target, _backup_name(target))
        if not (target.is_file() and target.read_bytes() == data):
            _write_atomic(target, data)
        manifest["files"][name] = _sha256(data)
        written.append(target)
    manifest["edition"] = edition
    _write_atomic(manifest_path, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return written


def build(edition: str, out_dir: str | os.PathLike, notebooks: Iterable[str | os.PathLike] | None = None,
          force: bool = False, *, source: str | os.PathLike | None = None) -> list[Path]:
    """Write the ``edition`` (``"student"``, ``"instructor"`` or ``"both"``) of the lessons to
    ``out_dir``; ``"both"`` writes ``out_dir/student`` and ``out_dir/instructor``. Returns the
    notebooks written.

    ``notebooks``: numbers, stems or ``.ipynb`` files (None: every numbered notebook of
    ``source``, by default the lessons :func:`stylelab.teaching.notebooks.find_notebooks` finds).
    Raises :class:`CourseError` if a notebook's exercises are malformed (nothing is written
    then) or if a file in ``out_dir`` would be overwritten that stylelab did not write or that
    was edited since, unless ``force``. Building again with the same notebooks is a no-op.
    Every edition folder is checked (a file in its place or on its path, not writable, files
    that would be overwritten) before any is written. The instructor edition needs notebooks
    with their solutions (a checkout, or ``source``); from the student edition an installed
    package ships it raises :class:`CourseError`.
    """
    if edition not in (*EDITIONS, "both"):
        raise CourseError(f"edition must be student, instructor or both, not {edition!r}")
    paths = _sources(notebooks, source)
    loaded = {p: _read(p) for p in paths}
    editions = EDITIONS if edition == "both" else (edition,)
    shipped = [p.name for p, nb in loaded.items() if edition_of(nb) == "student"]
    if "instructor" in editions and shipped:
        raise CourseError(f"{', '.join(shipped)}: the student edition (what an installed stylelab ships, without the "
                          f"solutions); build the instructor edition from a checkout of the repository "
                          f"(--from path/to/stylelab/notebooks), or build --edition student")
    problems = [msg for p, nb in loaded.items() if edition_of(nb) != "student" for msg in validate(nb, p.name)]
    if problems:
        raise CourseError(f"{len(problems)} problem(s) with the exercises: " + "; ".join(problems))
    out = Path(out_dir).expanduser()
    if edition == "both":
        check_folder(out, "the course folder")  # a file at -o: one line, before anything is written
    plans = []
    for ed in editions:  # every edition is checked before any is written
        if ed == "student":
            files = {p.name: (p.read_bytes() if edition_of(nb) == "student" else
                              _notebook_bytes(student_notebook(nb, p.stem))) for p, nb in loaded.items()}
        else:
            files = {p.name: p.read_bytes() for p in paths}
        plans.append(_plan_edition(ed, out / ed if edition == "both" else out, files, paths, force))
    written: list[Path] = []
    for ed, folder, files, manifest, manifest_path, edited in plans:
        written += _write_edition(ed, folder, files, manifest, manifest_path, edited)
    return written
