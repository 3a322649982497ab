"""Course editions (stylelab.teaching.course): the Colab set-up cell, the README's badges, Binder, and the
student / instructor editions of the lessons.

- fast: every notebook starts with the Colab cell, which does nothing outside Colab; the README
  has a Colab badge per notebook; the student edition of small synthetic notebooks (stubs,
  indentation, hints, removed solutions, metadata, errors, idempotence, no overwriting);
  the real lessons validate and have at least 5 exercise notebooks.
- ``notebook``: a student edition executed with papermill stops at its first stub with the
  stub's NotImplementedError (a synthetic notebook, and each real lesson with exercises in the
  quick profile, which needs the real weights like tests/teaching/test_notebooks.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from stylelab import course
from stylelab.cli import command as cli, course as cli_course
from stylelab.teaching.course import CourseError

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
NUMBERED = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
NOTEBOOK_TIMEOUT = 1800


# --------------------------------------------------------------------------------------
# The Colab cell


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.stem)
def test_every_notebook_starts_with_the_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code"
    assert first.source == course.colab_cell_source(), (
        f"{path.name}: the first cell is not the current Colab cell; run `python -m stylelab.teaching.course sync-colab`")
    assert course.COLAB_TAG in first.metadata.get("tags", [])
    assert first.get("id") == course.COLAB_CELL_ID
    assert not first.outputs and first.execution_count is None
    assert sum(course.COLAB_TAG in c.metadata.get("tags", []) for c in nb.cells) == 1


def _run_colab_cell(monkeypatch, in_colab: bool):
    from stylelab import data

    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, *a, **k: calls.append(("pip", cmd)) or 0)
    monkeypatch.setattr(data, "fetch", lambda *a, **k: calls.append(("fetch",)) or {})
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(course.colab_cell_source(), "colab-setup", "exec"), {})  # noqa: S102
    return calls


def test_colab_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_colab_cell(monkeypatch, in_colab=False) == []


def test_colab_cell_installs_and_fetches_in_colab(monkeypatch):
    calls = _run_colab_cell(monkeypatch, in_colab=True)
    assert calls == [("pip", [sys.executable, "-m", "pip", "install", "-q",
                              f"stylelab[notebooks] @ git+{course.REPOSITORY_URL}"]), ("fetch",)]


def test_colab_cell_source_uses_the_repository_url():
    src = course.colab_cell_source("https://github.com/someone/fork")
    assert "git+https://github.com/someone/fork" in src and "%pip" not in src and "!pip" not in src
    compile(src, "colab-setup", "exec")


def _md(source, **meta):
    return nbformat.v4.new_markdown_cell(source, metadata=meta)


def _code(source, **meta):
    return nbformat.v4.new_code_cell(source, metadata=meta)


def _notebook(*cells):
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def test_sync_colab_cells_inserts_updates_and_is_idempotent(tmp_path):
    nbformat.write(_notebook(_md("# 01 title"), _code("x = 1", tags=["parameters"])), tmp_path / "01_a.ipynb")
    stale = _code("print('old')", tags=["colab"])
    stale["id"] = "old-colab"
    nbformat.write(_notebook(_md("# 02 title"), stale, _code("y = 2")), tmp_path / "02_b.ipynb")
    (tmp_path / "notes.ipynb").write_text("not a lesson")  # not numbered: left alone
    changed = course.sync_colab_cells(tmp_path)
    assert [p.name for p in changed] == ["01_a.ipynb", "02_b.ipynb"]
    for name, rest in (("01_a.ipynb", ["# 01 title", "x = 1"]), ("02_b.ipynb", ["# 02 title", "y = 2"])):
        nb = nbformat.read(tmp_path / name, as_version=4)
        assert nb.cells[0].source == course.colab_cell_source() and nb.cells[0].id == course.COLAB_CELL_ID
        assert [c.source for c in nb.cells[1:]] == rest
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert course.sync_colab_cells(tmp_path) == []
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# --------------------------------------------------------------------------------------
# README badges and Binder


def test_readme_has_a_colab_badge_for_every_notebook():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    github = course.REPOSITORY_URL.removeprefix("https://github.com/")
    for path in NUMBERED:
        url = f"https://colab.research.google.com/github/{github}/blob/main/notebooks/{path.name}"
        assert course.colab_url(path.name) == url
        assert f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})" in readme, (
            f"README.md lacks the Colab badge of {path.name}: {course.colab_badge(path.name)}")
    linked = re.findall(r"colab\.research\.google\.com/github/[^)\s]*/notebooks/([^)\s]+)\)", readme)
    assert sorted(set(linked)) == [p.name for p in NUMBERED], "a Colab badge points to a missing notebook"
    assert course.binder_badge() in readme


def test_binder_installs_this_checkout():
    post = REPO / "binder" / "postBuild"
    assert post.is_file() and os.access(post, os.X_OK)
    text = post.read_text()
    assert "pip install" in text and "-c constraints.txt" in text and '-e ".[notebooks]"' in text
    assert "data.fetch()" in text
    pin = re.search(r"^torch==\S+", (REPO / "constraints.txt").read_text(), re.M).group(0)
    assert pin in (REPO / "binder" / "requirements.txt").read_text().split(), "binder's torch != constraints.txt's"


# --------------------------------------------------------------------------------------
# Student and instructor editions: synthetic notebooks


def _solution_meta(grade_id, **extra):
    return {"nbgrader": {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
                         "solution": True, "task": False, **extra}}


def _grade_meta(grade_id, points=1):
    meta = {"grade": True, "grade_id": grade_id, "locked": True, "schema_version": 3, "solution": False,
            "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


EXERCISE = '''import torch

def content_loss(F, P):
    """Eq. 1."""
    ### BEGIN SOLUTION
    ### HINT: Eq. 1 is one line: half the summed squared difference.
    return 0.5 * (F - P.detach()).pow(2).sum()
    ### END SOLUTION

print("defined")'''

EXERCISE_STUDENT = '''import torch

def content_loss(F, P):
    """Eq. 1."""
    # YOUR CODE HERE
    raise NotImplementedError("01_demo exercise content_loss: Eq. 1 is one line: half the summed squared difference.")

print("defined")'''

NESTED = '''def make_closure(x, opt):
    def closure():
        ### BEGIN SOLUTION
        opt.zero_grad()
        ### HINT: zero the gradient,
        ### HINT: then backward.
        loss = x.sum()
        loss.backward()
        return loss
        ### END SOLUTION
    return closure
'''

TOP_LEVEL = '''### BEGIN SOLUTION
layers = ["relu1_1"]
### END SOLUTION
assert layers'''


def _demo(tmp_path, *extra_cells, name="01_demo.ipynb"):
    """A lesson-like notebook in tmp_path/src: title, parameters, two exercises with checks,
    a collapsed markdown solution, a cell with outputs."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    ran = _code("print(1)")
    ran.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    ran.execution_count = 3
    cells = [
        _md("# 01 demo"),
        _code('profile = "quick"\noutput_dir = "out"', tags=["parameters"]),
        _code(EXERCISE, **_solution_meta("content_loss")),
        _code("check(content_loss)", **_grade_meta("content_loss_check", points=2)),
        _md("**Solution 1.** the answer is 42", tags=["solution"], jupyter={"source_hidden": True}),
        _code(NESTED, **_solution_meta("closure")),
        _code(TOP_LEVEL, **_solution_meta("layers")),
        _code("check(make_closure)", **_grade_meta("closure_check", points=1.5)),
        ran,
        *extra_cells,
    ]
    path = src / name
    nbformat.write(_notebook(*cells), path)
    return src, path


def _cells(path):
    return nbformat.read(path, as_version=4).cells


def test_student_edition_replaces_solutions_with_stubs(tmp_path):
    src, path = _demo(tmp_path)
    written = course.build("student", tmp_path / "out", source=src)
    assert written == [tmp_path / "out" / "01_demo.ipynb"]
    cells = _cells(written[0])
    assert cells[2].source == EXERCISE_STUDENT
    closure = cells[4].source
    assert closure == ('def make_closure(x, opt):\n    def closure():\n        # YOUR CODE HERE\n'
                       '        raise NotImplementedError("01_demo exercise closure: zero the gradient, then backward.")\n'
                       '    return closure\n')
    assert cells[5].source == ('# YOUR CODE HERE\nraise NotImplementedError("01_demo exercise layers: '
                               f'{course.GENERIC_HINT}")\nassert layers')
    text = written[0].read_text()
    for leaked in ("0.5 *", "zero_grad", "relu1_1", "BEGIN SOLUTION", "END SOLUTION", "HINT", "answer is 42"):
        assert leaked not in text


def test_student_stub_raises_its_message(tmp_path):
    src, path = _demo(tmp_path)
    cells = _cells(course.build("student", tmp_path / "out", source=src)[0])
    namespace: dict = {}
    exec(cells[2].source, namespace)  # noqa: S102 - defining the function does not raise
    with pytest.raises(NotImplementedError, match=r"^01_demo exercise content_loss: Eq\. 1 is one line"):
        namespace["content_loss"](1, 2)
    assert course.stub_messages(nbformat.read(path, as_version=4), "01_demo") == [
        "01_demo exercise content_loss: Eq. 1 is one line: half the summed squared difference.",
        "01_demo exercise closure: zero the gradient, then backward.",
        f"01_demo exercise layers: {course.GENERIC_HINT}"]


def test_stub_quotes_are_a_valid_python_literal():
    src = course.stub("01_x", "q", ['say "hi" \\ done'], "  ")
    assert src.startswith("  # YOUR CODE HERE\n  raise")
    with pytest.raises(NotImplementedError) as info:
        exec(src.replace("  ", "", 1).replace("\n  ", "\n"))  # noqa: S102
    assert str(info.value) == '01_x exercise q: say "hi" \\ done'


def test_student_edition_drops_solutions_clears_outputs_keeps_metadata(tmp_path):
    src, path = _demo(tmp_path)
    original = _cells(path)
    cells = _cells(course.build("student", tmp_path / "out", source=src)[0])
    assert len(cells) == len(original) - 1
    assert not [c for c in cells if "solution" in c.metadata.get("tags", [])]
    assert [c.get("id") for c in cells] == [c.get("id") for c in original if "solution" not in c.metadata.get("tags", [])]
    for c in cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    by_id = {c.id: c for c in original}
    for c in cells:
        assert c.metadata == by_id[c.id].metadata  # nbgrader metadata (and tags) as committed
    assert cells[0].source == "# 01 demo" and cells[1].source == original[1].source
    assert sum("nbgrader" in c.metadata for c in cells) == 5


def test_instructor_edition_is_the_committed_notebook(tmp_path):
    src, path = _demo(tmp_path)
    written = course.build("instructor", tmp_path / "out", source=src)
    assert [p.read_bytes() for p in written] == [path.read_bytes()]


def test_both_editions_go_to_subfolders_and_rebuilding_is_a_no_op(tmp_path):
    src, path = _demo(tmp_path)
    out = tmp_path / "out"
    first = course.build("both", out, source=src)
    assert first == [out / "student" / "01_demo.ipynb", out / "instructor" / "01_demo.ipynb"]
    snapshot = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*.ipynb")}
    assert course.build("both", out, source=src) == first
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*.ipynb")} == snapshot
    # the source changed: the built (unedited) copies are updated without force
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "# 01 demo, revised"
    nbformat.write(nb, path)
    course.build("both", out, source=src)
    assert _cells(out / "student" / "01_demo.ipynb")[0].source == "# 01 demo, revised"


def test_edited_files_are_not_overwritten_without_force(tmp_path):
    src, path = _demo(tmp_path)
    out = tmp_path / "out"
    built = course.build("student", out, source=src)[0]
    built.write_text(built.read_text().replace("# YOUR CODE HERE", "# my answer"))
    edited = built.read_bytes()
    with pytest.raises(CourseError, match=r"not overwriting 01_demo\.ipynb.*--force"):
        course.build("student", out, source=src)
    assert built.read_bytes() == edited
    course.build("student", out, source=src, force=True)
    assert b"# my answer" not in built.read_bytes()
    assert (out / "01_demo.ipynb.bak").read_bytes() == edited


def test_foreign_files_and_other_editions_are_not_overwritten(tmp_path):
    src, path = _demo(tmp_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "01_demo.ipynb").write_text("someone's notebook")
    with pytest.raises(CourseError, match="not overwriting"):
        course.build("student", foreign, source=src)
    assert (foreign / "01_demo.ipynb").read_text() == "someone's notebook"
    handout = tmp_path / "handout"
    course.build("student", handout, source=src)
    with pytest.raises(CourseError, match="holds the student edition"):
        course.build("instructor", handout, source=src)
    assert "BEGIN SOLUTION" not in (handout / "01_demo.ipynb").read_text()
    with pytest.raises(CourseError, match="holds the source notebooks"):
        course.build("instructor", src, source=src, force=True)


def _expect_error(tmp_path, cells, pattern):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    nbformat.write(_notebook(_md("# 01 bad"), *cells), src / "01_bad.ipynb")
    with pytest.raises(CourseError, match=pattern) as info:
        course.build("both", tmp_path / "out", source=src)
    assert not (tmp_path / "out").exists(), "nothing is written when a notebook is malformed"
    assert re.search(r"01_bad\.ipynb cell \d \(id ", str(info.value))
    return str(info.value)


@pytest.mark.parametrize("source, pattern", [
    ("### BEGIN SOLUTION\nx = 1", r"line 1: '### BEGIN SOLUTION' is never closed"),
    ("x = 1\n### END SOLUTION", r"line 2: '### END SOLUTION' without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION", r"line 2: .* inside the region opened on line 1"),
])
def test_unbalanced_markers(tmp_path, source, pattern):
    _expect_error(tmp_path, [_code(source, **_solution_meta("q1"))], pattern)


def test_region_without_solution_metadata(tmp_path):
    _expect_error(tmp_path, [_code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")],
                  "region in a cell without nbgrader solution metadata")


def test_region_in_a_grade_cell(tmp_path):
    _expect_error(tmp_path, [_code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", **_grade_meta("g1"))],
                  "region in a cell without nbgrader solution metadata")


def test_solution_cell_without_region(tmp_path):
    _expect_error(tmp_path, [_code("x = 1", **_solution_meta("q1"))], "solution cell without a '### BEGIN SOLUTION'")


def test_duplicate_grade_ids(tmp_path):
    message = _expect_error(tmp_path, [_code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", **_solution_meta("q1")),
                                       _code("check(x)", **_grade_meta("q1"))],
                            r"grade_id 'q1' is also used by cell 1")
    assert "01_bad.ipynb cell 2" in message


def test_grade_cell_without_points(tmp_path):
    _expect_error(tmp_path, [_code("check(x)", **_grade_meta("g1", points=None))],
                  r"a grade cell \(\"grade\": true\) needs \"points\"")


def test_bad_grade_id_and_schema(tmp_path):
    meta = _solution_meta("has space")
    meta["nbgrader"]["schema_version"] = 1
    message = _expect_error(tmp_path, [_code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", **meta)],
                            "grade_id must be letters")
    assert "schema_version must be 3" in message


def test_solution_tag_on_an_nbgrader_cell(tmp_path):
    meta = _solution_meta("q1")
    meta["tags"] = ["solution"]
    _expect_error(tmp_path, [_code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", **meta)], "tagged 'solution'")


def test_unknown_edition(tmp_path):
    src, _ = _demo(tmp_path)
    with pytest.raises(CourseError, match="edition must be"):
        course.build("teacher", tmp_path / "out", source=src)


def test_selecting_notebooks(tmp_path):
    src, path = _demo(tmp_path)
    _demo(tmp_path, name="02_other.ipynb")
    assert [p.name for p in course.build("student", tmp_path / "a", ["02"], source=src)] == ["02_other.ipynb"]
    assert [p.name for p in course.build("student", tmp_path / "b", [path])] == ["01_demo.ipynb"]
    assert len(course.build("student", tmp_path / "c", source=src)) == 2


def test_cli(tmp_path, capsys):
    src, _ = _demo(tmp_path)
    parser = argparse.ArgumentParser(prog="stylelab")
    cli_course.add(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["course", "build", "-o", str(tmp_path / "out"), "--from", str(src)])
    assert args.edition is None and args.notebooks == [] and not args.force  # both here (--from), student from a wheel
    assert args.handler(args) == 0
    assert (tmp_path / "out" / "student" / "01_demo.ipynb").is_file()
    assert (tmp_path / "out" / "instructor" / "01_demo.ipynb").is_file()
    assert "student: 1 notebook" in capsys.readouterr().out
    args = parser.parse_args(["course", "build", "--edition", "student", "-o", str(tmp_path / "s"), "--from",
                              str(src), "01", "--force"])
    assert args.handler(args) == 0 and [p.name for p in (tmp_path / "s").glob("*.ipynb")] == ["01_demo.ipynb"]


def test_command_reports_errors_in_one_line(tmp_path, capsys):
    src, path = _demo(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["course", "build", "--edition", "student", "-o", str(out), "--from", str(src)]) == 0
    (out / "01_demo.ipynb").write_text("{}")
    assert cli.main(["course", "build", "--edition", "student", "-o", str(out), "--from", str(src)]) == 2
    assert "not overwriting" in capsys.readouterr().err


def test_sync_colab_command_puts_the_cell_first_once(tmp_path, capsys):
    src, path = _demo(tmp_path)
    assert cli.main(["course", "sync-colab", str(src)]) == 0
    assert capsys.readouterr().out.strip() == str(path)  # changed: listed
    nb = json.loads(path.read_text())
    assert nb["cells"][0]["id"] == course.COLAB_CELL_ID
    assert cli.main(["course", "sync-colab", str(src)]) == 0
    assert capsys.readouterr().out.strip() == ""  # already there: nothing changed


# --------------------------------------------------------------------------------------
# The real lessons


def _has_exercises(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return any(c.metadata.get("nbgrader", {}).get("solution") for c in nb.cells)


EXERCISE_NOTEBOOKS = [p for p in NUMBERED if _has_exercises(p)]


def test_the_lessons_have_exercises():
    """01, 02, 03, 04 and 07 carry auto-checked exercises (nbgrader solution cells)."""
    assert len(EXERCISE_NOTEBOOKS) >= 5, (
        f"only {[p.stem for p in EXERCISE_NOTEBOOKS]} have exercises (nbgrader solution cells)")


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.stem)
def test_lesson_validates_and_builds(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert course.validate(nb, path.name) == []
    student = nbformat.read(course.build("student", tmp_path / "s", [path])[0], as_version=4)
    nbformat.validate(student)
    assert not [c for c in student.cells if "solution" in c.metadata.get("tags", [])]
    assert student.cells[0].source == course.colab_cell_source()
    stubs = [c for c in student.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert all("raise NotImplementedError(" in c.source for c in stubs)


# --------------------------------------------------------------------------------------
# Executing student editions (papermill, like tests/teaching/test_notebooks.py)


def _expect_first_stub(student: Path, tmp_path: Path, message: str, timeout: float = NOTEBOOK_TIMEOUT, **params):
    from stylelab.teaching.reproduce import NotebookFailed, execute

    executed = tmp_path / "executed" / student.name
    with pytest.raises(NotebookFailed) as info:
        execute(student, executed, {"profile": "quick", "output_dir": str(tmp_path / "out"), **params},
                timeout=timeout, cwd=tmp_path)
    assert (info.value.ename, info.value.evalue) == ("NotImplementedError", message), str(info.value)


@pytest.mark.notebook
def test_synthetic_student_edition_stops_at_its_first_stub(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    check = "assert content_loss(torch.ones(2), torch.zeros(2)).item() == 1.0"
    nb = _notebook(_code('profile = "quick"\noutput_dir = "out"', tags=["parameters"]),
                   _code(EXERCISE, **_solution_meta("content_loss")),
                   _code(check, **_grade_meta("content_loss_check")),
                   _code(TOP_LEVEL, **_solution_meta("layers")))
    nbformat.write(nb, src / "01_demo.ipynb")
    written = course.build("both", tmp_path / "ed", source=src)
    from stylelab.teaching.reproduce import execute

    execute(written[1], tmp_path / "instructor-run.ipynb", {"profile": "quick"}, timeout=300, cwd=tmp_path)
    _expect_first_stub(written[0], tmp_path, course.stub_messages(nb, "01_demo")[0], timeout=300)


@pytest.fixture
def lesson_env(monkeypatch):
    """Real weights and sample images for the kernels (tests/teaching/test_notebooks.py's set-up)."""
    from test_notebooks import _kernel_env

    _kernel_env(monkeypatch)


@pytest.mark.notebook
@pytest.mark.weights
@pytest.mark.parametrize("path", EXERCISE_NOTEBOOKS, ids=lambda p: p.stem)
def test_student_edition_stops_at_the_first_stub(path, tmp_path, lesson_env):
    """The handed-out lesson runs until the student's first exercise and stops there, with the
    stub's hint as the error (what a student sees after Run All)."""
    student = course.build("student", tmp_path / "student", [path])[0]
    first = course.stub_messages(nbformat.read(path, as_version=4), path.stem)[0]
    # The quick profile with a few steps: what runs before the first exercise (07: several
    # optimisations) is not checked, so 8 steps do (07: 40 s instead of 110 s on 2 cores).
    _expect_first_stub(student, tmp_path, first, steps=8)
    executed = json.loads((tmp_path / "executed" / path.name).read_text())
    errors = [c for c in executed["cells"] if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(errors) == 1


@pytest.mark.notebook
@pytest.mark.weights
def test_a_planted_mistake_gets_its_own_message(tmp_path, lesson_env):
    """A student who answers 01's exercise with the mean squared error (the PyTorch tutorial's
    loss) is stopped at the check cell with the one line that names that mistake."""
    from stylelab.teaching.reproduce import NotebookFailed, execute

    path = next(p for p in EXERCISE_NOTEBOOKS if p.name.startswith("01_"))
    student = course.build("student", tmp_path / "student", [path])[0]
    nb = nbformat.read(student, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex01-content-loss")
    stub = cell.source[cell.source.index("    # YOUR CODE HERE"):]
    cell.source = cell.source.replace(stub, "    return ((F - P.detach()) ** 2).mean()")
    nbformat.write(nb, student)
    with pytest.raises(NotebookFailed) as info:
        execute(student, tmp_path / "executed.ipynb", {"profile": "quick", "output_dir": str(tmp_path / "out"),
                                                        "steps": 8}, timeout=NOTEBOOK_TIMEOUT, cwd=tmp_path)
    assert info.value.ename == "ExerciseError", str(info.value)
    assert "mean (MSE)" in info.value.evalue and "\n" not in info.value.evalue
    # ... and the reference solution's code is nowhere in what the student sees
    shown = json.dumps([o for c in json.loads((tmp_path / "executed.ipynb").read_text())["cells"]
                        for o in c.get("outputs", [])])
    assert "losses.content_loss" not in shown and "0.5 * (F - P" not in shown
