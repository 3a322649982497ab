"""Tests for stylelab.teaching.lessons and ``stylelab lessons -o DIR``: where the lesson notebooks
are, and the copy rules (never overwrite a student's changed notebook unless asked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stylelab import _locations, lessons, reproduce
from stylelab.cli import command as cli
from stylelab.errors import SettingsError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shipped(tmp_path) -> Path:
    """A made-up folder of shipped lessons: two notebooks, a README and a stray file."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "00_tour.ipynb").write_text('{"cells": ["tour"]}\n')
    (folder / "08_explorer.ipynb").write_text('{"cells": ["explorer"]}\n')
    (folder / "README.md").write_text("# The lessons\n")
    (folder / "scratch.ipynb").write_text("{}")
    return folder


def _actions(outcomes) -> dict[str, str]:
    return {o.path.name: o.action for o in outcomes}


# --------------------------------------------------------------------------------------
# Where the lessons are


def test_a_checkout_uses_its_notebooks_folder():
    assert _locations.checkout_root() == ROOT
    assert lessons.folder() == ROOT / "notebooks"
    assert reproduce.notebooks_folder() == ROOT / "notebooks"
    names = [p.name for p in lessons.notebooks()]
    assert names[0] == "00_tour.ipynb" and "08_explorer.ipynb" in names
    assert names == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_an_installed_package_uses_its_bundled_copy(tmp_path, monkeypatch):
    bundled = tmp_path / "_bundled"
    (bundled / "notebooks").mkdir(parents=True)
    monkeypatch.setattr(_locations, "checkout_root", lambda: None)
    monkeypatch.setattr(_locations, "BUNDLED", bundled)
    assert lessons.folder() == bundled / "notebooks"
    assert reproduce.notebooks_folder() == bundled / "notebooks"
    (bundled / "notebooks").rmdir()
    with pytest.raises(SettingsError, match="not installed with the package"):
        lessons.folder()


# --------------------------------------------------------------------------------------
# The copy rules (on made-up files, copied as they are: the instructor edition from a source folder)


def test_copies_only_the_numbered_notebooks_into_a_new_folder(shipped, tmp_path):
    dest = tmp_path / "new" / "lessons"
    outcomes = lessons.copy_lessons(dest, source=shipped, edition="instructor")
    assert _actions(outcomes) == {"00_tour.ipynb": "copied", "08_explorer.ipynb": "copied"}
    assert sorted(p.name for p in dest.iterdir()) == ["00_tour.ipynb", "08_explorer.ipynb"]
    for o in outcomes:
        assert o.path.read_bytes() == (shipped / o.path.name).read_bytes()
        assert o.backup is None


def test_identical_notebooks_are_left_alone(shipped, tmp_path):
    dest = tmp_path / "dest"
    lessons.copy_lessons(dest, source=shipped, edition="instructor")
    before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    outcomes = lessons.copy_lessons(dest, source=shipped, force=True, edition="instructor")
    assert set(_actions(outcomes).values()) == {"unchanged"}
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == before, "no file rewritten, no .bak"


def test_a_changed_notebook_is_kept_and_a_missing_one_copied(shipped, tmp_path):
    dest = tmp_path / "dest"
    lessons.copy_lessons(dest, source=shipped, edition="instructor")
    (dest / "00_tour.ipynb").write_text('{"cells": ["my answers"]}\n')
    (dest / "08_explorer.ipynb").unlink()
    outcomes = lessons.copy_lessons(dest, source=shipped, edition="instructor")
    assert _actions(outcomes) == {"00_tour.ipynb": "kept", "08_explorer.ipynb": "copied"}
    assert (dest / "00_tour.ipynb").read_text() == '{"cells": ["my answers"]}\n'
    assert not list(dest.glob("*.bak*"))


def test_force_replaces_a_changed_notebook_and_keeps_a_backup(shipped, tmp_path):
    dest = tmp_path / "dest"
    lessons.copy_lessons(dest, source=shipped, edition="instructor")
    tour = dest / "00_tour.ipynb"
    for n, expected_backup in enumerate(["00_tour.ipynb.bak", "00_tour.ipynb.bak.2", "00_tour.ipynb.bak.3"]):
        tour.write_text(f"edit {n}")
        [outcome] = [o for o in lessons.copy_lessons(dest, source=shipped, force=True, edition="instructor") if o.path == tour]
        assert outcome.action == "replaced"
        assert outcome.backup == dest / expected_backup
        assert outcome.backup.read_text() == f"edit {n}", "no earlier backup is overwritten"
        assert tour.read_bytes() == (shipped / "00_tour.ipynb").read_bytes()
    assert not list(dest.glob(".*.tmp")), "no temporary files left behind"


def test_bad_destinations(shipped, tmp_path):
    file = tmp_path / "a-file"
    file.write_text("x")
    with pytest.raises(SettingsError, match="is a file, not a folder"):
        lessons.copy_lessons(file, source=shipped, edition="instructor")
    dest = tmp_path / "dest"
    (dest / "00_tour.ipynb").mkdir(parents=True)
    with pytest.raises(SettingsError, match="is not a file"):
        lessons.copy_lessons(dest, source=shipped, force=True, edition="instructor")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SettingsError, match="no lesson notebooks"):
        lessons.copy_lessons(tmp_path / "d2", source=empty, edition="instructor")


# --------------------------------------------------------------------------------------
# The command


def test_cli_lessons_copies_reports_and_keeps_edits(tmp_path, capsys):
    dest = tmp_path / "my lessons"
    assert cli.main(["lessons", "-o", str(dest)]) == 0
    out = capsys.readouterr().out
    shipped = lessons.notebooks()
    assert sorted(p.name for p in dest.iterdir()) == [p.name for p in shipped]
    from stylelab import course

    assert all((dest / p.name).read_bytes() == course.student_bytes(p) for p in shipped), "the student edition"
    assert not any("BEGIN SOLUTION" in (dest / p.name).read_text() for p in shipped), "no solution handed out"
    assert out.count("copied ") == len(shipped) and f"jupyter lab {dest}" in out

    edited = dest / shipped[1].name
    edited.write_text("{}")
    assert cli.main(["lessons", "-o", str(dest)]) == 0
    out = capsys.readouterr().out
    assert f"kept      {edited}: it differs from the shipped lesson" in out and "--force" in out
    assert "copied " not in out and shipped[0].name not in out, "identical notebooks are not listed"
    assert f"{len(shipped) - 1} unchanged, 1 kept" in out
    assert edited.read_text() == "{}"

    assert cli.main(["lessons", "-o", str(dest), "--force"]) == 0
    out = capsys.readouterr().out
    assert f"replaced  {edited} (your version is now {edited.name}.bak)" in out
    assert edited.read_bytes() == course.student_bytes(shipped[1])
    assert (dest / f"{edited.name}.bak").read_text() == "{}"


def test_cli_lessons_errors_are_one_line(tmp_path, capsys):
    file = tmp_path / "file.txt"
    file.write_text("x")
    assert cli.main(["lessons", "-o", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stylelab: error: ") and "is a file" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["lessons", "--help"]) == 0
    assert "--force" in capsys.readouterr().out
