"""What every ``stylelab`` command shares: the exit codes, the parser with one-line errors,
the argument types, the checks on input and output files (:class:`_Inputs`: no output ever
overwrites an input), and the engine's names and defaults written out without importing torch
(tests keep them equal to the engine's)."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
import re
import sys

from ..errors import ImageError, LayerError, StylelabError


PROG = "stylelab"
ENV_DEBUG = "STYLELAB_DEBUG"
PAPER = "Gatys, Ecker & Bethge, 'A Neural Algorithm of Artistic Style' (2015) / 'Image Style Transfer Using CNNs' (CVPR 2016)"
EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(StylelabError):
    """Bad command line (argparse's complaints, inconsistent options)."""


# --------------------------------------------------------------------------------------
# argparse with one-line errors


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the usage and exit
        raise UsageError(f"{message} (see `{self.prog} --help`)")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=30)


def _type(fn, what: str, detail: bool = False):
    """An argparse type from ``fn`` (which raises ValueError) with a readable message."""

    def convert(text: str):
        try:
            return fn(text)
        except (ValueError, TypeError) as exc:
            why = f" ({exc})" if detail and str(exc) else ""
            raise argparse.ArgumentTypeError(f"must be {what}{why}, got {text!r}") from None

    convert.__name__ = what  # argparse uses it in 'invalid <name> value' messages
    return convert


def _float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(v):
        raise ValueError("must be finite")
    return v


def _nonneg(text: str) -> float:
    v = _float(text)
    if v < 0:
        raise ValueError("must be >= 0")
    return v


def _positive(text: str) -> float:
    v = _float(text)
    if v <= 0:
        raise ValueError("must be > 0")
    return v


def _int(text: str, lo: int) -> int:
    try:
        v = int(text.strip())
    except ValueError:
        raise ValueError("not a whole number") from None
    if v < lo:
        raise ValueError(f"must be >= {lo}")
    return v


def _names(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",")]
    if not items or any(not t for t in items):
        raise ValueError("give comma-separated names without empty entries")
    return items


def _numbers(text: str) -> list[float]:
    return [_nonneg(t) for t in _names(text)]


def _layer_weights(text: str):
    if text.strip() in ("equal", "gatys_code"):  # transfer.LAYER_WEIGHT_PRESETS
        return text.strip()
    return _numbers(text)


def _wxh(text: str) -> tuple[int, int]:
    """``WxH`` (or ``N`` for a square) -> (H, W), as the engine wants it."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not m:
        raise ValueError("use WIDTHxHEIGHT, e.g. 512x384")
    w = int(m.group(1))
    h = int(m.group(2)) if m.group(2) else w
    if w < 1 or h < 1:
        raise ValueError("width and height must be >= 1")
    return h, w


def _ints(text: str) -> list[int]:
    return [_int(t, 1) for t in _names(text)]


def _steps(text: str):
    """``N`` or ``N,N,...`` (one per --scales stage)."""
    values = _ints(text)
    return values[0] if len(values) == 1 else values


POS_INT = _type(lambda t: _int(t, 1), "a whole number >= 1")
POS_INTS = _type(_ints, "comma-separated whole numbers >= 1")
STEPS = _type(_steps, "a whole number >= 1, or one per --scales stage: N,N,...")
SEED = _type(lambda t: _int(t, 0), "a whole number >= 0")
NONNEG = _type(_nonneg, "a finite number >= 0")
POSITIVE = _type(_positive, "a finite number > 0")
NAMES = _type(_names, "a comma-separated list of names")
NUMBERS = _type(_numbers, "comma-separated finite numbers >= 0")
LAYER_WEIGHTS = _type(_layer_weights, "equal, gatys_code or comma-separated finite numbers >= 0")
WXH = _type(_wxh, "WIDTHxHEIGHT in pixels, e.g. 512x384")


# Small helpers


def _err(message: str) -> None:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)


def _one_line(message: str) -> str:
    return " ".join(str(message).split()) or "(no message)"


def _table(rows: list[list], headers: list[str]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_output(text: str) -> Path:
    """The output image path: a PNG/JPEG suffix, not a folder, in a folder we can create and write."""
    from ..image import SAVE_FORMATS, check_writable

    out = Path(text).expanduser()
    if out.suffix.lower() not in SAVE_FORMATS:
        raise ImageError(f"cannot save {out}: unknown suffix {out.suffix!r}; use one of {', '.join(SAVE_FORMATS)}")
    if out.is_dir():
        raise ImageError(f"cannot save to {out}: it is a folder; give a file name such as {out / 'result.png'}")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ImageError(f"cannot save {out}: {parent} is a file, not a folder")
            break
    return check_writable(out, "the result")  # now: a run never ends in "cannot write"


class _Inputs:
    """The input files of a run (image files or sample names), kept to protect them."""

    def __init__(self):
        self.paths: list[Path] = []

    def image(self, text: str, role: str) -> Path:
        """An image file, or the checked local copy of a sample image when no such file exists."""
        from .. import data

        p = Path(text).expanduser()
        if p.exists() or os.sep in text or (os.altsep and os.altsep in text):
            path = p  # load_image reports folders, empty and broken files
        else:
            try:
                sample = data.info(text)
            except StylelabError:
                raise ImageError(
                    f"{role} image {text!r}: no such file, and not a sample image name "
                    f"(samples: {', '.join(data.names())})"
                ) from None
            path = data.path(sample.name)
        self.paths.append(path)
        return path

    def file(self, path) -> None:
        """Protect one more input file (a mask, the weights file, the clip)."""
        if path:
            self.paths.append(Path(path).expanduser())

    def check_outputs(self, outputs: list[Path], snapshot_of: Path | None = None) -> None:
        """Refuse outputs that would overwrite an input (images, masks, init, clip, weights
        file), before anything runs."""
        for out in outputs:
            for p in self.paths:
                if _same_file(out, p):
                    raise ImageError(f"refusing to overwrite {out}: it is one of the input files ({p}); "
                                     f"choose another output name")
        if snapshot_of is not None:
            pattern = re.compile(re.escape(snapshot_of.stem) + r"-\d+\.png")
            for p in self.paths:
                if pattern.fullmatch(p.name) and _same_file(p.parent, snapshot_of.parent):
                    raise ImageError(f"--save-every would overwrite the input {p}; choose another output name")


def _load(path: Path, size: int, role: str):
    from ..image import load_image

    try:
        return load_image(path, size=size)
    except ImageError as exc:
        raise ImageError(f"{role} image: {exc}") from None


def _check_big_enough(img, layers: list[str], arch: str, role: str, shape=None, option: str = "--size") -> None:
    """The image (or ``shape`` (H, W)) must be large enough for the deepest layer (cheap, no network)."""
    from ..networks.vgg import min_input_size

    if not layers:
        return
    h, w = shape if shape is not None else tuple(img.shape[-2:])
    need = min_input_size(layers, arch)
    if min(h, w) < need:
        deepest = max(layers, key=lambda n: min_input_size([n], arch))
        raise LayerError(
            f"the {role} is {w}x{h} px but {deepest} needs at least {need} px on each side "
            f"(it sits after {need.bit_length() - 1} poolings); use a larger {option} or shallower layers"
        )


#: stylelab.control.colour.PRESERVE_COLOUR, without importing torch (a test keeps them equal).
PRESERVE_COLOUR = ("luminance", "histogram", "histogram-cholesky", "histogram-pca", "histogram-mk")
#: stylelab.method.statistics.STATISTICS, without importing torch (tests/method/test_statistics.py keeps them equal).
STYLE_STATISTICS = ("gram", "mean_std", "mmd_linear", "mmd_gauss")
#: stylelab.networks.precision.PRECISIONS and stylelab.method.transfer.CONVENTIONS (the default first), without
#: importing torch (tests/cli/test_cli.py keeps them equal).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LOSS_CONVENTIONS = ("calibrated", "gatys_code", "paper")
#: What `stylelab transfer` runs when nothing else is asked for: the student profile's schedule
#: (stylelab.teaching.paper.PROFILES["student"]: coarse to fine in three stages, each until the stopping
#: rule fires or 400 steps, its small total-variation weight and its chroma prior). tests/cli/test_cli.py
#: keeps them equal.
TRANSFER_DEFAULTS = {"stages": 3, "steps": 400, "tol": 1e-2, "tv": 1e-3, "chroma_tv": 0.3}
