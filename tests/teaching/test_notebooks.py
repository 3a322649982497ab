"""The lesson notebooks: stored clean, shaped like lessons, and they reproduce their figure.

- ``test_stored_without_outputs`` (fast): every ``notebooks/*.ipynb`` is committed without
  outputs or execution counts, except the cells tagged ``nbval-check-output`` of the
  notebooks in :data:`NBVAL_NOTEBOOKS`: their stored outputs are nbval's reference (and
  nbval ignores a cell's stored outputs unless it has an execution count).
- ``test_lesson_structure`` (fast): a lesson has a ``parameters`` cell first among its code
  cells with the standard names, an exercise solution hidden in a collapsed cell, and
  ends with its checks cell.
- ``test_notebook_runs`` (``notebook``): every numbered notebook, executed once with
  papermill in the quick profile; fails on any error, showing the failed checks. The
  notebooks run two at a time in the background (``STYLELAB_TEST_PARALLEL``), one
  thread each.
- ``test_nbval`` (``notebook``): nbval in lax mode on :data:`NBVAL_NOTEBOOKS`: every cell
  must run and the tagged cells must reproduce their stored outputs exactly.

The executing tests need real weights (``STYLELAB_WEIGHTS``) and the sample images
(``STYLELAB_DATA_DIR`` or a download): without them they are skipped with the reason,
and in CI (``CI`` set) they fail instead. The notebooks' kernels run this interpreter
with ``OMP_NUM_THREADS`` = ``STYLELAB_TEST_THREADS`` (default 1) unless it is set: on a
shared 2-core machine one thread is several times faster than two that wait for each other.

After changing a checked cell, refresh its stored output (and only that) with::

    python tests/teaching/test_notebooks.py --refresh-checked

After measuring a lesson's run time in the student profile (``stylelab.teaching.paper.STUDENT_MINUTES``),
write the sentence into every lesson's introduction with::

    python tests/teaching/test_notebooks.py --refresh-times
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ALL_NOTEBOOKS = sorted(NOTEBOOKS.glob("*.ipynb"))
NUMBERED = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
#: Notebooks validated by nbval: their checked cells' outputs are deterministic and fast.
NBVAL_NOTEBOOKS = ["00_tour.ipynb"]
CHECKED_TAG = "nbval-check-output"
PARAMETER_NAMES = ("profile", "size", "steps", "seed", "weights", "device", "output_dir")
NOTEBOOK_TIMEOUT = 1800  # seconds one notebook may run (quick profile: 1-2 minutes)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _lessons() -> list[Path]:
    from stylelab import paper

    return [p for p in NUMBERED if p.name[:2] in paper.FIGURES]


# --------------------------------------------------------------------------------------
# Fast: how the notebooks are stored


def test_there_are_lessons():
    assert [p.name for p in NUMBERED[:4]] == ["00_tour.ipynb", "01_content_reconstruction.ipynb",
                                               "02_style_reconstruction.ipynb", "03_neckarfront.ipynb"]
    for name in NBVAL_NOTEBOOKS:
        assert (NOTEBOOKS / name).is_file()


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    checked_allowed = path.name in NBVAL_NOTEBOOKS
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        reference = checked_allowed and CHECKED_TAG in _tags(cell)
        if cell.get("execution_count") is not None and not reference:
            problems.append(f"cell {i} has an execution count")
        if cell.get("outputs"):
            if reference:
                for out in cell.outputs:
                    if out.get("output_type") not in ("display_data", "stream"):
                        problems.append(f"cell {i}: a stored reference output must be display_data or a "
                                        f"stream, not {out.get('output_type')}")
            else:
                problems.append(f"cell {i} has outputs")
    assert not problems, (f"{path.name} must be stored without outputs (clear them: Edit > Clear Outputs "
                          f"of All Cells, or nbstripout). " + "; ".join(problems))


@pytest.mark.parametrize("name", NBVAL_NOTEBOOKS)
def test_nbval_has_references(name):
    """nbval must have something to compare: each checked cell stores its expected output."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    checked = [c for c in nb.cells if c.cell_type == "code" and CHECKED_TAG in _tags(c)]
    assert checked, f"{name} has no cell tagged {CHECKED_TAG}"
    for cell in checked:
        assert cell.outputs and cell.execution_count is not None, (
            f"{name}: a checked cell has no stored output (or no execution count, without which nbval "
            f"skips it); run `python tests/teaching/test_notebooks.py --refresh-checked`:\n{cell.source}")
        assert any("text/plain" in o.get("data", {}) for o in cell.outputs)


@pytest.mark.parametrize("path", _lessons(), ids=lambda p: p.stem)
def test_lesson_structure(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "colab" in _tags(nb.cells[0]), "the first cell is the Colab set-up (tests/teaching/test_course.py checks it)"
    cells = nb.cells[1:]
    code = [c for c in cells if c.cell_type == "code"]
    assert code and "parameters" in _tags(code[0]), "the first code cell after the Colab set-up is 'parameters'"
    names = {line.split("=")[0].strip() for line in code[0].source.splitlines()
             if "=" in line and not line.lstrip().startswith("#")}
    missing = [n for n in PARAMETER_NAMES if n not in names]
    assert not missing, f"the parameters cell lacks {missing}"
    solutions = [c for c in nb.cells if "solution" in _tags(c)]
    assert solutions, "an exercise solution must be in a cell tagged 'solution'"
    for c in solutions:
        assert c.metadata.get("jupyter", {}).get("source_hidden") is True, "solutions are collapsed"
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), "then the title"
    from stylelab import paper

    assert paper.student_time(path.name[:2]) in cells[0].source, (
        "the introduction states the student profile's run time (stylelab.teaching.paper.STUDENT_MINUTES); "
        "run `python tests/teaching/test_notebooks.py --refresh-times`")
    last = code[-1]
    assert "checks" in _tags(last) and "lesson.finish(" in last.source, "the last code cell holds the checks"
    assert "lesson.check(" in last.source


def test_readme_states_the_student_times():
    """The README's run-time table is stylelab.teaching.paper.STUDENT_MINUTES (each lesson's own sentence is
    checked by test_lesson_structure)."""
    from stylelab import paper

    lines = (REPO / "README.md").read_text().splitlines()
    head = next(line for line in lines if line.startswith("| lesson | 00 |"))
    row = next(line for line in lines if line.startswith("| minutes |"))
    keys = [c.strip() for c in head.strip("|").split("|")][1:]
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    stated = {k: None if v == "–" else float(v) for k, v in zip(keys, cells)}
    assert stated == paper.STUDENT_MINUTES, "README's student run-time table differs from paper.STUDENT_MINUTES"


# --------------------------------------------------------------------------------------
# Executing (real weights)


@pytest.fixture
def lesson_env(monkeypatch):
    """Real weights and sample images for the kernels; one OpenMP thread by default."""
    _kernel_env(monkeypatch)


def _kernel_env(monkeypatch) -> None:
    """Skip (fail in CI) without real weights and images; set the kernels' thread count."""
    from conftest import skip_or_fail

    from stylelab import config, data
    from stylelab.errors import DataError

    if not os.environ.get(config.ENV_WEIGHTS, "").strip():
        skip_or_fail(f"the notebooks need real weights: set {config.ENV_WEIGHTS}=ARCH:CONVENTION:PATH "
                     f"(and {config.ENV_DATA_DIR} for offline images)")
    try:
        data.fetch()
    except DataError as exc:
        skip_or_fail(f"the notebooks need the sample images: {exc}")
    if not os.environ.get("OMP_NUM_THREADS"):
        monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("STYLELAB_TEST_THREADS", "1"))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no GUI backend in kernels; %matplotlib inline still renders


def _failure(exc: Exception, metrics: Path, executed: Path) -> str:
    lines = [f"{executed.stem} failed: {exc}"]
    if metrics.is_file():
        report = json.loads(metrics.read_text())
        failed = [c for c in report.get("checks", []) if not c.get("passed")]
        if failed:
            lines.append("failed checks:")
            lines += [f"  FAIL {c['check']} ({c.get('detail', '')})" for c in failed]
    lines.append(f"executed notebook: {executed}")
    return "\n".join(lines)


def _run_quick(path: Path, folder: Path) -> float:
    """Execute ``path`` in the quick profile in ``folder``; returns its wall time (s)."""
    import time

    from stylelab.teaching.reproduce import execute

    t0 = time.perf_counter()
    execute(path, folder / path.name, {"profile": "quick", "output_dir": str(folder / "out")},
            timeout=NOTEBOOK_TIMEOUT, cwd=folder)
    return time.perf_counter() - t0


@pytest.fixture(scope="session")
def notebook_runs(request, tmp_path_factory):
    """The selected ``test_notebook_runs`` notebooks, executed ``STYLELAB_TEST_PARALLEL`` (default 2)
    at a time in the background, in test order: each test waits for its own. Each kernel runs
    one OpenMP thread (``STYLELAB_TEST_THREADS``), so two kernels keep two cores busy, and the
    notebooks take about half the wall time they take one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [item.callspec.params["path"] for item in request.session.items
             if item.originalname == "test_notebook_runs" and hasattr(item, "callspec")]
    workers = max(1, int(os.environ.get("STYLELAB_TEST_PARALLEL", "2")))
    with pytest.MonkeyPatch.context() as mp:
        _kernel_env(mp)  # inherited by every kernel the pool starts
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notebook")
        jobs = {}
        for path in paths:
            folder = tmp_path_factory.mktemp(path.stem)
            jobs[path] = (folder, pool.submit(_run_quick, path, folder))
        yield jobs
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.notebook
@pytest.mark.weights
@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.stem)
def test_notebook_runs(path, notebook_runs, record_property):
    """Execute the notebook in the quick profile; every cell runs and every check holds."""
    from stylelab import paper

    folder, job = notebook_runs[path]
    out, executed = folder / "out", folder / path.name
    metrics = out / path.stem / "metrics.json"
    try:
        wall = job.result()
    except Exception as exc:  # NotebookFailed: an error, a failed check, a dead kernel, the time limit
        pytest.fail(_failure(exc, metrics, executed), pytrace=False)
    record_property("wall_time_s", round(wall, 1))
    if path.name[:2] in paper.FIGURES:
        assert metrics.is_file(), "a lesson must write metrics.json (lesson.finish())"
        report = json.loads(metrics.read_text())
        assert report["checks"], "a lesson must check its finding"
        assert report["passed"]
        assert report["settings"]["profile"] == "quick"
        assert (out / path.stem / "figure.png").is_file(), "a lesson must write figure.png"


@pytest.mark.notebook
@pytest.mark.weights
@pytest.mark.parametrize("name", NBVAL_NOTEBOOKS)
def test_nbval(name, tmp_path, lesson_env):
    """nbval (lax): all cells run, the cells tagged nbval-check-output reproduce their stored outputs."""
    pytest.importorskip("nbval")
    copy = tmp_path / name
    shutil.copy(NOTEBOOKS / name, copy)  # runs (and writes out/) in tmp_path, not in the repository
    proc = _nbval(copy, tmp_path)
    assert proc.returncode == 0, f"nbval failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout


def _nbval(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
           "-q", "--rootdir", str(cwd), str(path)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_nbval_references_can_fail(tmp_path):
    """nbval validates something: the tour's checked cells (no weights needed to run them) pass
    against their stored references, and fail once a reference says the PyTorch tutorial
    calls the paper's conv4_2 ``conv_4`` (the classic naming mistake)."""
    pytest.importorskip("nbval")
    tour = nbformat.read(NOTEBOOKS / "00_tour.ipynb", as_version=4)
    checked = [c for c in tour.cells if c.cell_type == "code" and CHECKED_TAG in _tags(c)]
    setup = nbformat.v4.new_code_cell("from IPython.display import display\nimport stylelab as sl\ntable_size = 512")
    good = nbformat.v4.new_notebook(cells=[setup, *checked], metadata=tour.metadata)
    nbformat.write(good, tmp_path / "good.ipynb")
    bad = nbformat.from_dict(json.loads(json.dumps(good)))
    table = bad.cells[1].outputs[0]["data"]
    assert "conv_10" in table["text/plain"]
    table["text/plain"] = table["text/plain"].replace("conv_10 ", "conv_4  ")
    nbformat.write(bad, tmp_path / "bad.ipynb")
    ok = _nbval(tmp_path / "good.ipynb", tmp_path)
    assert ok.returncode == 0, ok.stdout[-4000:]
    failed = _nbval(tmp_path / "bad.ipynb", tmp_path)
    assert failed.returncode != 0 and "conv_4" in failed.stdout, failed.stdout[-4000:]


# --------------------------------------------------------------------------------------
# Refreshing nbval's references


def refresh_checked(path: Path) -> int:
    """Execute ``path`` and store the outputs and execution counts of its ``nbval-check-output``
    cells (only those; every other output and execution count is cleared). Returns their number."""
    import tempfile

    from stylelab.teaching.reproduce import execute

    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / path.name
        execute(path, executed, {"output_dir": str(Path(tmp) / "out")}, cwd=tmp)
        ran = nbformat.read(executed, as_version=4)
    by_id = {c.get("id"): c for c in ran.cells}
    nb = nbformat.read(path, as_version=4)
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        cell.outputs = []
        if CHECKED_TAG in _tags(cell):
            cell.execution_count = by_id[cell.id].execution_count  # nbval compares only cells that ran
            outputs = by_id[cell.id].outputs
            for out in outputs:
                out.pop("execution_count", None)
                if out.get("output_type") == "execute_result":
                    out["output_type"] = "display_data"
            cell.outputs = outputs
            n += 1
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return n


TIME_PREFIX = "**Run time** with `profile = \"student\"`"


def refresh_times(path: Path) -> bool:
    """Put :func:`stylelab.teaching.paper.student_time`'s sentence into ``path``'s introduction (the
    markdown cell after the Colab set-up), replacing an older one; True if the file changed."""
    from stylelab import paper

    nb = nbformat.read(path, as_version=4)
    cell = nb.cells[1]
    paragraphs = [p for p in cell.source.split("\n\n") if not p.startswith(TIME_PREFIX)]
    source = "\n\n".join([*paragraphs, paper.student_time(path.name[:2])])
    if source == cell.source:
        return False
    cell.source = source
    nbformat.write(nb, path)
    return True


if __name__ == "__main__":
    if sys.argv[1:2] == ["--refresh-times"]:
        for t in _lessons():
            print(f"{t.name}: {'updated' if refresh_times(t) else 'unchanged'}")
        sys.exit(0)
    if sys.argv[1:2] != ["--refresh-checked"]:
        sys.exit("usage: python tests/teaching/test_notebooks.py --refresh-checked [NOTEBOOK ...] | --refresh-times")
    targets = [Path(a) for a in sys.argv[2:]] or [NOTEBOOKS / n for n in NBVAL_NOTEBOOKS]
    for t in targets:
        print(f"{t}: stored the outputs of {refresh_checked(t)} checked cells")
