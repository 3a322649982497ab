"""``stylelab lessons -o DIR``: the lesson notebooks (student edition), copied into a folder."""

from __future__ import annotations

from pathlib import Path

from .common import EXIT_OK, _Formatter


def run(args) -> int:
    from ..teaching import lessons

    dest = Path(args.output).expanduser()
    outcomes = lessons.copy_lessons(dest, force=args.force)
    for o in outcomes:
        if o.action == "copied":
            print(f"copied    {o.path}")
        elif o.action == "replaced":
            print(f"replaced  {o.path} (your version is now {o.backup.name})")
        elif o.action == "kept":
            print(f"kept      {o.path}: it differs from the shipped lesson (your edits?); --force replaces it, "
                  f"keeping yours as a .bak copy")
    counts = {a: sum(o.action == a for o in outcomes) for a in ("copied", "replaced", "unchanged", "kept")}
    summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
    print(f"{len(outcomes)} notebooks in {dest} ({summary}); open them with: jupyter lab {dest}")
    return EXIT_OK


def add(sub) -> None:
    """``stylelab lessons -o DIR``: copy the lesson notebooks into a folder."""
    p = sub.add_parser("lessons", formatter_class=_Formatter,
                       help="copy the lesson notebooks (student edition) and the explorer into a folder",
                       description="Copy the numbered lesson notebooks, student edition (each exercise a stub to "
                                   "fill in, no worked solutions), into DIR, to open "
                                   "with `jupyter lab DIR`. A notebook already in DIR is never overwritten unless "
                                   "you ask: an identical one is left alone, one that differs (you edited or ran "
                                   "it) is kept and listed; --force replaces it and keeps your version as "
                                   "NAME.ipynb.bak.",
                       epilog="example:\n  stylelab lessons -o my-lessons && jupyter lab my-lessons\n\n"
                              "These are the student notebooks (an installed stylelab ships no solutions). An\n"
                              "instructor builds the worked solutions from a checkout of the repository:\n"
                              "  stylelab course build --edition instructor --from stylelab/notebooks -o DIR")
    p.add_argument("-o", "--output", metavar="DIR", default="stylelab-lessons",
                   help="folder for the notebooks, created if needed (default: stylelab-lessons)")
    p.add_argument("--force", action="store_true",
                   help="replace notebooks that differ from the shipped ones, keeping each as NAME.ipynb.bak")
    p.set_defaults(handler=run)
