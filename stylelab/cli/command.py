"""The ``stylelab`` command: Gatys et al.'s style transfer from a terminal.

    stylelab transfer tubingen starry_night -o tubingen-starry.png
    stylelab texture starry_night -o texture.png --out-size 512x512
    stylelab reconstruct tubingen --layer relu5_1 -o relu5_1.png
    stylelab weights list | weights download vgg19 | weights verify
    stylelab data list | data fetch
    stylelab layers --arch vgg19
    stylelab reproduce --profile quick
    stylelab lessons -o my-lessons
    stylelab train starry_night -o starry.pt | stylise starry.pt tubingen -o fast.png

Exit codes: 0 success; 2 bad input or usage (one line ``stylelab: error: ...`` on
stderr, no traceback); 1 anything unexpected (the traceback only with
``STYLELAB_DEBUG=1``); 130 interrupted (Ctrl-C during an optimisation saves the
best image so far first).

Everything cheap is checked (output suffix, output != input, numbers, layer
names, image files, image size) before the weights are loaded or anything is
run, so bad input never leaves partial files. Outputs are written atomically and
never over an input file.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from . import course, data, layers, lessons, reconstruct, reproduce, stylise, texture, train, transfer, video, weights
from ..errors import StylelabError
from .common import (
    ENV_DEBUG, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, PAPER, PROG, UsageError, _err, _Formatter,
    _one_line, _Parser
)


# --------------------------------------------------------------------------------------
# The parser


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog=PROG, formatter_class=_Formatter,
        description=f"Neural style transfer after {PAPER}.",
        epilog=(
            "examples:\n"
            "  stylelab transfer tubingen starry_night -o tubingen-starry.png\n"
            "  stylelab transfer photo.jpg style.jpg -o out.jpg --size 384 --ratio 1e-4 --save-every 25\n"
            "  stylelab texture starry_night -o texture.png --out-size 512x512\n"
            "  stylelab reconstruct tubingen --layer relu5_1 -o relu5_1.png\n"
            "  stylelab weights list;  stylelab data list;  stylelab layers\n"
            "  stylelab lessons -o my-lessons      (the lesson notebooks, to open with jupyter lab)\n"
            "  stylelab train starry_night -o starry.pt;  stylelab stylise starry.pt tubingen -o fast.png\n\n"
            "Images are files or sample names (`stylelab data list`). Exit codes: 0 ok, 2 bad input, "
            "1 unexpected error (STYLELAB_DEBUG=1 shows the traceback), 130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        command.add(sub)
    return parser


#: The subcommands, in the order ``stylelab --help`` lists them: one module each, with ``add(subparsers)``
#: adding its parser and handler. A new command is a new module here and one more entry.
COMMANDS = (transfer, texture, reconstruct, weights, data, layers, reproduce, lessons, course, video, train, stylise)


# --------------------------------------------------------------------------------------


def _command_names(parser: argparse.ArgumentParser) -> list[str]:
    """The names of ``parser``'s subcommands, in order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one line each (``stylelab: warning: ...``), without source lines."""
    print(f"{PROG}: warning: {_one_line(str(message))}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the ``stylelab`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str]) -> int:
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        if getattr(args, "handler", None) is None:
            commands = ", ".join(_command_names(parser))
            raise UsageError(f"choose a command: {commands} (see `{PROG} --help`)")
        args.argv = argv
        return args.handler(args)
    except StylelabError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `stylelab weights list | head`
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last resort: short message, traceback on request
        debug = os.environ.get(ENV_DEBUG, "").strip() not in ("", "0")
        if debug:
            traceback.print_exc()
        print(f"{PROG}: unexpected error: {type(exc).__name__}: {_one_line(str(exc))}"
              + ("" if debug else f" (set {ENV_DEBUG}=1 for the traceback)"), file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
