"""``stylelab reproduce``: run the lesson notebooks and build the figure gallery."""

from __future__ import annotations

from pathlib import Path
import sys

from .common import EXIT_OK, EXIT_UNEXPECTED, NAMES, POSITIVE, PROG, _Formatter


def run(args) -> int:
    import importlib

    try:
        module = importlib.import_module("stylelab.teaching.reproduce")
    except ModuleNotFoundError as exc:
        if exc.name == "stylelab.teaching.reproduce":
            print(f"{PROG}: reproduce is not available in this installation (stylelab/teaching/reproduce.py is missing)",
                  file=sys.stderr)
        else:
            print(f"{PROG}: reproduce needs the notebook extras (missing module {exc.name}): "
                  f"pip install 'stylelab[notebooks]'", file=sys.stderr)
        return EXIT_UNEXPECTED
    path = module.reproduce(profile=args.profile, only=args.only, output_dir=Path(args.output).expanduser(),
                            timeout=args.timeout, progress=not args.quiet,
                            jpeg_dir=Path(args.jpeg).expanduser() if args.jpeg else None)
    print(path)
    return EXIT_OK


def add(sub) -> None:
    """``stylelab reproduce``: run the lessons, build the gallery."""
    p = sub.add_parser("reproduce", formatter_class=_Formatter,
                       help="run the lesson notebooks and build the figure gallery",
                       description="Execute the numbered notebooks (papermill) and build an HTML gallery of the "
                                   "paper's figures; prints the gallery's path.")
    p.add_argument("--profile", choices=("quick", "student", "paper"), default="quick",
                   help="quick (small images, few steps: minutes on a CPU, for tests), student (the figures on "
                        "a laptop CPU: 256 px, 03 at 384 px, coarse-to-fine, each run until converged, a small "
                        "TV term) or paper (the paper's sizes and steps; use a GPU). Default: quick")
    p.add_argument("--only", type=NAMES, metavar="NN,NN", help="only these notebooks, by number, e.g. 01,03")
    p.add_argument("-o", "--output", metavar="DIR", default="reproduce-out",
                   help="output folder: executed notebooks, figures, metrics, gallery (default: reproduce-out)")
    p.add_argument("--timeout", type=POSITIVE, metavar="SECONDS", help="time limit per notebook (default: none)")
    p.add_argument("--jpeg", metavar="DIR",
                   help="also write each figure as a compressed JPEG to DIR (the README's gallery: docs/gallery)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)
