"""``stylelab course build``: the student and instructor editions of the lessons
(:mod:`stylelab.teaching.course`); ``stylelab course sync-colab``: the Colab set-up cell
first in every lesson (for maintainers, after changing the repository's address)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(subparsers) -> argparse.ArgumentParser:
    """Add ``stylelab course build`` and ``stylelab course sync-colab``."""
    p = subparsers.add_parser(
        "course", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="build the student and instructor editions of the lessons",
        description="Course editions of the lesson notebooks. The student edition has every exercise's solution\n"
                    "replaced by nbgrader's stub (# YOUR CODE HERE / raise NotImplementedError), no worked\n"
                    "solutions and no outputs; the instructor edition is the notebooks as committed.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", title="actions", required=True)
    q = actions.add_parser(
        "build", formatter_class=argparse.RawDescriptionHelpFormatter, help="write the student and/or instructor edition",
        description="Write the course editions of the numbered lessons (default: all) to DIR.",
        epilog="examples:\n  stylelab course build -o handout                 # handout/student, handout/instructor\n"
               "  stylelab course build --edition student -o hw 01 02")
    q.add_argument("notebooks", metavar="NOTEBOOK", nargs="*",
                   help="notebooks by number (01), name (01_content_reconstruction) or file (default: all lessons)")
    q.add_argument("--edition", choices=("student", "instructor", "both"), default=None,
                   help="which edition; both writes DIR/student and DIR/instructor (default: both from a checkout "
                        "or --from, student from an installed package, which ships no solutions)")
    q.add_argument("-o", "--output", metavar="DIR", required=True, help="output folder")
    q.add_argument("--from", dest="source", metavar="FOLDER",
                   help="the folder of the source notebooks (default: the lessons shipped with stylelab)")
    q.add_argument("--force", action="store_true",
                   help="overwrite files in DIR that were edited since they were built (or not built here)")
    q.set_defaults(handler=_build)
    s = actions.add_parser(
        "sync-colab", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="give every numbered notebook the Colab set-up cell first (for maintainers)",
        description="Put the Colab set-up cell (stylelab.teaching.course.colab_cell_source) first in every numbered "
                    "notebook of FOLDER\n(default: the lessons), replacing an older one; prints the notebooks changed.")
    s.add_argument("folder", metavar="FOLDER", nargs="?", default=None, help="default: the lessons")
    s.set_defaults(handler=_sync_colab)
    return p


def _build(args) -> int:
    from .. import _locations
    from ..teaching.course import build

    edition = args.edition
    if edition is None:
        edition = "both" if args.source or _locations.checkout_root() is not None else "student"
    written = build(edition, Path(args.output).expanduser(), args.notebooks or None, force=args.force,
                    source=args.source)
    folders = sorted({p.parent for p in written})
    for folder in folders:
        n = sum(1 for p in written if p.parent == folder)
        print(f"{folder}: {n} notebook{'s' if n != 1 else ''}")
    return 0


def _sync_colab(args) -> int:
    from ..teaching.course import sync_colab_cells

    for path in sync_colab_cells(args.folder):
        print(path)
    return 0
