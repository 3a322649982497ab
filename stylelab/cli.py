"""The ``stylelab`` command: Gatys et al.'s style transfer from a terminal.

    stylelab transfer tubingen starry_night -o tubingen-starry.png
    stylelab texture starry_night -o texture.png --out-size 512x512
    stylelab reconstruct tubingen --layer relu5_1 -o relu5_1.png
    stylelab weights list | weights download vgg19 | weights verify
    stylelab data list | data fetch
    stylelab layers --arch vgg19
    stylelab reproduce --profile quick
    stylelab lessons -o my-lessons

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
import math
import os
import re
import sys
import traceback
import warnings
from pathlib import Path

from . import config
from .errors import ImageError, LayerError, NonFiniteLossError, SettingsError, StylelabError, WeightsError

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


# --------------------------------------------------------------------------------------
# Small helpers


def _engine():
    """The module stylelab.transfer (``stylelab.transfer`` the attribute is the function)."""
    import importlib

    return importlib.import_module("stylelab.transfer")


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
    from .image import SAVE_FORMATS, check_writable

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
        from . import data

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
    from .image import load_image

    try:
        return load_image(path, size=size)
    except ImageError as exc:
        raise ImageError(f"{role} image: {exc}") from None


def _check_big_enough(img, layers: list[str], arch: str, role: str, shape=None, option: str = "--size") -> None:
    """The image (or ``shape`` (H, W)) must be large enough for the deepest layer (cheap, no network)."""
    from .vgg import min_input_size

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


# --------------------------------------------------------------------------------------
# Options shared by transfer / texture / reconstruct


def _add_output(p):
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the image to write (.png, .jpg or .jpeg); OUT with the suffix .json gets the "
                        "settings, final losses and the loss history. Never an input file")


#: stylelab.features.names(), without importing torch (a test keeps them equal).
_FEATURES = ("vgg16", "vgg19", "random-vgg", "random-filters", "patch-cnn", "autoencoder")


def _add_network(p):
    g = p.add_argument_group("network")
    g.add_argument("--weights", metavar="NAME|PATH",
                   help="a registered weight set (see `stylelab weights list`: vgg19, vgg16, vgg19-caffe, "
                        "vgg16-caffe) or a state-dict file (then also --arch and --input-convention). "
                        "Default: $STYLELAB_WEIGHTS if set, else vgg19. The paper used Caffe's VGG-19")
    g.add_argument("--arch", choices=("vgg16", "vgg19"), help="architecture of a --weights PATH file")
    g.add_argument("--input-convention", choices=("torch", "caffe"),
                   help="input convention of a --weights PATH file: torch (RGB, ImageNet mean/std) or "
                        "caffe (BGR 0..255 minus the mean)")
    g.add_argument("--pooling", choices=("avg", "max"), default="avg",
                   help="pooling layers: avg (the paper: 'replacing the max-pooling operation by average "
                        "pooling improves the gradient flow') or max (the network as trained). Default: avg")
    g.add_argument("--raw-network", action="store_true",
                   help="use the weights as trained instead of the paper's normalised network (filters "
                        "rescaled so each has mean activation 1 over images and positions, CVPR 2016 sec. 2). "
                        "Default: the --convention's network (calibrated, paper: normalised; gatys_code: as trained)")
    g.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: $STYLELAB_DEVICE, else the best available)")
    g.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="the network's arithmetic (stylelab.precision): auto (bf16 on CPUs with AMX or AVX512_BF16 "
                        "where a short measured probe finds it faster, never on AVX2-only CPUs; bf16/fp16 autocast "
                        "on CUDA; else fp32), fp32, bf16 or fp16 (CUDA). Grams, losses and the optimiser stay fp32. "
                        "Default: $STYLELAB_PRECISION, else auto")
    g.add_argument("--features", choices=_FEATURES, metavar="|".join(_FEATURES),
                   help="the network whose responses are matched (stylelab.features): vgg16 / vgg19 (ImageNet), "
                        "random-vgg (random weights), random-filters (one layer of random multi-scale filters, "
                        "Ustyuzhaninov et al. 2017), patch-cnn or autoencoder (small networks stylelab trains on the "
                        "sample images' patches, once, then cached). Default: the --weights network")


def _add_optimisation(p, inits: tuple[str, ...], default_init: str = "noise", schedule: dict | None = None):
    """The optimisation options; ``schedule`` (:data:`TRANSFER_DEFAULTS`): the student profile's
    coarse-to-fine stages, step cap and stopping rule as defaults (else one size, 500 steps, no rule)."""
    g = p.add_argument_group("optimisation")
    steps = schedule["steps"] if schedule else 500
    g.add_argument("--steps", type=STEPS, default=steps, metavar="N|N,N,...",
                   help=f"loss evaluations / optimiser steps (default: {steps}"
                        + (", the most per stage: the stopping rule usually ends each stage earlier" if schedule
                           else "") + "); with --scales per stage, one number for all or one per stage")
    g.add_argument("--scales", type=POS_INTS, metavar="PX,PX,...",
                   help="coarse-to-fine (Gatys et al. 2017): optimise at these longest sides in turn, each "
                        "stage starting from the previous result upsampled; the last must be the output's "
                        "size, e.g. --scales 128,256,512 with --size 512"
                        + (f" (default: --stages {schedule['stages']} halvings of --size)" if schedule else ""))
    if schedule:
        g.add_argument("--stages", type=POS_INT, default=schedule["stages"], metavar="K",
                       help=f"without --scales: K coarse-to-fine stages, each twice the size of the one before, "
                            f"ending at --size (default: {schedule['stages']}, the student profile's; 1: one size, "
                            f"the paper)")
    tol = schedule["tol"] if schedule else None
    g.add_argument("--tol", type=NONNEG, metavar="T", default=tol,
                   help="the stopping rule: stop (each stage) once the lowest loss fell by no more than the "
                        "fraction T over the last --patience steps; --steps is then a cap "
                        + (f"(default: {tol:g}, the student profile's; 0: run all steps)" if schedule else
                           f"(default: off, run all steps; {_engine_defaults()[0]:g} is a good value)"))
    g.add_argument("--patience", type=POS_INT, metavar="K", default=_engine_defaults()[1],
                   help=f"the steps the stopping rule looks back (default: {_engine_defaults()[1]})")
    g.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs",
                   help="lbfgs (the paper) or adam (default: lbfgs)")
    g.add_argument("--lr", type=POSITIVE, help="step size (default: 1.0 for lbfgs, 0.02 for adam, on [0, 1] pixels)")
    g.add_argument("--init", default=default_init, metavar="|".join(inits) + "|PATH",
                   help=f"the starting image: {', '.join(inits)} or an image file (default: {default_init}; "
                        f"the paper starts from white noise)")
    g.add_argument("--seed", type=SEED, default=0, help="seed of the white-noise start (default: 0)")
    g.add_argument("--save-every", type=POS_INT, metavar="N",
                   help="also write OUT_stem-0010.png ... every N steps and, at the end, the animation OUT_stem.gif")
    g.add_argument("--film", metavar="FILM.mp4|.gif|.webp",
                   help="also write a film of the optimisation (stylelab.film): the image as it forms with the step "
                        "and the losses under it and the loss curves beside it, from every step (with --save-every: "
                        "every N). MP4 needs pip install \"stylelab[film]\"; without it the .gif beside it is written")
    g.add_argument("--film-frames", type=_type(lambda t: _int(t, 2), "a whole number >= 2"), metavar="N",
                   help="the most frames the film keeps, whatever the steps (default: 120)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary (the output path is still printed)")


def _add_loss(p, tv: float = 0.0, chroma: float = 0.0):
    g = p.add_argument_group("loss")
    g.add_argument("--convention", choices=LOSS_CONVENTIONS, default=LOSS_CONVENTIONS[0],
                   help="what alpha/beta refer to (stylelab.transfer.CONVENTIONS): calibrated (the normalised "
                        "network, w_l = 1/5, Gram / HW and mean squares, alpha scaled by a measured factor so that "
                        "the figures' printed ratios 1e-3 ... 1e-4 give their look), gatys_code (the authors' code: "
                        "w_l ~ 1/N_l^2, for the network as trained) or paper (Eqs. 1, 4, 5 as printed, w_l = 1/5). "
                        "Default: calibrated")
    g.add_argument("--norm", choices=("paper", "hw", "chw"),
                   help="override the loss normalisation of --convention: paper (Eqs. 1 and 4), hw (Gram / HW, "
                        "MSE, Keras/TF tutorials) or chw (Gram / CHW, the PyTorch tutorial)")
    g.add_argument("--tv", type=NONNEG, default=tv,
                   help="total-variation weight, a smoothness prior added by later work (Johnson et al. 2016) "
                        + (f"that keeps the result free of fine colour specks (default: {tv:g}, the student "
                           f"profile's; 0: the paper's objective)" if tv else "(default: 0, as in the paper)"))
    g.add_argument("--chroma-tv", type=NONNEG, default=chroma, metavar="W",
                   help="weight of a total-variation prior on the colour (chroma) planes only (stylelab.chroma_tv, "
                        "not in the paper): removes fine rainbow specks and leaves the strokes' lightness free; 0.3 "
                        "took a 256 px result's speckle from 0.44 to 0.11 "
                        + (f"(default: {chroma:g}, the student profile's; 0: off)" if chroma else "(default: 0)"))
    g.add_argument("--gamma", type=NONNEG, default=0.0,
                   help="weight of an L2 pixel prior pulling towards the mean colour (default: 0, as in the paper)")


def _add_style(p):
    g = p.add_argument_group("style")
    g.add_argument("--style-layers", type=NAMES, default=None, metavar="L1,L2,...",
                   help="style (Gram matrix) layers, comma separated (default: relu1_1,relu2_1,relu3_1,relu4_1,"
                        "relu5_1, the paper's conv1_1 ... conv5_1). Names as in `stylelab layers`")
    g.add_argument("--layer-weights", type=LAYER_WEIGHTS, metavar="equal|gatys_code|W1,W2,...",
                   help="style layer weights w_l (Eq. 5): equal (1/number of layers, the paper's text), "
                        "gatys_code (1/N_l^2, the authors' code) or one number per style layer "
                        "(default: the --convention's)")
    g.add_argument("--blend", type=NUMBERS, metavar="B1,B2,...",
                   help="with several STYLE images: one weight per image; their Gram matrices are mixed "
                        "A = sum_k b_k A_k (weights normalised to sum 1; default: equal)")
    g.add_argument("--style-scale", choices=("content", "area", "own"), default="content",
                   help="size at which the style image is seen: content (resized to the output's size, the "
                        "paper), area (same number of pixels, own aspect ratio), own (as loaded, see --style-size)")
    g.add_argument("--style-statistic", choices=STYLE_STATISTICS, default="gram",
                   help="what the style loss matches (stylelab.statistics): gram (the paper's Gram matrices), "
                        "mean_std (each channel's mean and standard deviation), mmd_linear (the means: MMD with a "
                        "linear kernel) or mmd_gauss (MMD with a Gaussian kernel; Li et al. 2017); default: gram")


# --------------------------------------------------------------------------------------
# Running the engine


def _weight_set(args):
    """The weight set the run will load, resolved without reading the file."""
    from . import weights

    name = args.weights
    arch, conv = args.arch, args.input_convention
    special = (name is None or name in weights.REGISTRY or name in ("default", "env")
               or weights._tv.is_torchvision_name(name))
    if special:
        if arch or conv:
            raise UsageError("--arch and --input-convention describe a --weights PATH file; registered "
                             "weight sets and $STYLELAB_WEIGHTS already say theirs")
        return _check_file(weights.resolve(name))
    if not (arch and conv):
        looks_like_path = os.sep in name or name.endswith((".pth", ".pt", ".bin")) or Path(name).exists()
        if looks_like_path:
            raise UsageError(f"--weights {name}: for a weights file also give --arch (vgg16|vgg19) and "
                             f"--input-convention (torch|caffe)")
        raise WeightsError(f"unknown weight set {name!r}; registered: {', '.join(weights.REGISTRY)}, or a path "
                           f"to a .pth file with --arch and --input-convention")
    return _check_file(weights.local(name, arch, conv))


def _check_file(ws):
    """A local weights file must exist and be a file (its contents are checked when it is loaded)."""
    if ws.path:
        path = Path(ws.path)
        if not path.exists():
            raise WeightsError(f"weights file not found: {path}")
        if path.is_dir():
            raise WeightsError(f"weights path is a directory, not a file: {path}")
    return ws


def _common(args, inputs: _Inputs, inits: tuple[str, ...]) -> dict:
    """Validated keyword arguments for transfer.run that every command shares."""
    ws = _weight_set(args)
    inputs.file(ws.path)  # a weights file is an input too: never overwritten
    config.resolve_device(args.device)  # an unavailable device fails now, not after loading
    init = args.init
    if init not in inits:
        try:
            init = inputs.image(init, "--init")
        except ImageError as exc:
            raise ImageError(f"{exc} (--init takes {', '.join(inits)} or an image)") from None
    return {
        "weights": ws, "pooling": args.pooling, "normalized": False if args.raw_network else None,
        "device": args.device, "precision": args.precision,
        "convention": args.convention, "norm": args.norm, "tv_weight": args.tv, "gamma": args.gamma,
        "seed": args.seed, "optimizer": args.optimizer, "steps": args.steps, "lr": args.lr,
        "progress": not args.quiet, "init": init, "scales": args.scales, "tol": args.tol,
        "patience": args.patience,
        **_features(args, ws),
        **_chroma_tv(args),
    }


def _chroma_tv(args) -> dict:
    """--chroma-tv W: run()'s ``extra_terms`` with the chroma prior (stylelab.chroma_tv); nothing for 0."""
    weight = getattr(args, "chroma_tv", 0.0) or 0.0
    if not weight:
        return {}
    from . import chroma_tv

    return chroma_tv.extra_terms(weight)


def _features(args, ws) -> dict:
    """--features: run()'s ``features=`` (stylelab.features); an ImageNet VGG named there follows
    --weights if given, else $STYLELAB_WEIGHTS if it is that network, else the registry's."""
    if not getattr(args, "features", None):
        return {}
    if args.weights is None and args.features in ("vgg16", "vgg19"):
        return {"features": args.features, "weights": None}
    return {"features": args.features}


def _arch(args, kw: dict) -> str:
    """The layout whose layer names the options use: the --features network's, else the weights'."""
    if not kw.get("features"):
        return kw["weights"].arch
    from .features import arch_of

    return arch_of(kw["features"], kw["weights"])


def _own(arch: str, content, style) -> tuple[list, list]:
    """The paper's default layers, or a network's own where it has no such layers (the filter bank)."""
    if arch in ("vgg16", "vgg19"):
        return list(content), list(style)
    from .features import own_layers

    return own_layers(arch, content, style)


def _auto_scales(shape: tuple[int, int], stages: int, layers: list[str], arch: str) -> list[int] | None:
    """``--stages``' sizes, halving up to the output's longest side (stylelab.paper.stage_scales);
    stages whose image would be too small for the deepest layer are left out (None: one size)."""
    from .vgg import min_input_size

    need = min_input_size(layers, arch) if layers else 1
    size = max(shape)
    for k in range(stages, 1, -1):
        scales = [max(1, round(size / 2 ** i)) for i in range(k - 1, -1, -1)]
        if min(max(1, round(v * scales[0] / size)) for v in shape) >= need:
            return scales
    return None


def _engine_defaults() -> tuple[float, int]:
    """The stopping rule's defaults, without importing torch (the CLI's --help stays fast)."""
    return 1e-2, 20  # transfer.DEFAULT_TOL, transfer.DEFAULT_PATIENCE (a test keeps them equal)


def _check_scales(args, shape: tuple[int, int], layers: list[str], arch: str, option: str = "--size") -> None:
    """--scales must increase, end at the output's longest side and suit the deepest layer at
    its smallest; --steps lists need one count per stage."""
    if args.scales is None:
        if isinstance(args.steps, list):
            raise SettingsError("--steps N,N,... gives one count per --scales stage; without --scales give one number")
        return
    size = max(shape)
    if any(b <= a for a, b in zip(args.scales, args.scales[1:])):
        raise SettingsError(f"--scales must increase from coarse to fine, got {','.join(map(str, args.scales))}")
    if args.scales[-1] != size:
        raise SettingsError(f"--scales must end at the output's size: the last is {args.scales[-1]} px but "
                            f"{option} gives {size} px")
    if isinstance(args.steps, list) and len(args.steps) != len(args.scales):
        raise SettingsError(f"--steps has {len(args.steps)} counts for {len(args.scales)} --scales stages")
    first = tuple(max(1, round(v * args.scales[0] / size)) for v in shape)
    _check_big_enough(None, layers, arch, f"first --scales stage ({args.scales[0]} px)", shape=first,
                      option="first scale")


def _style_kwargs(args, arch: str, n_styles: int) -> dict:
    from .transfer import layer_weights
    from .vgg import PAPER_STYLE_LAYERS, resolve_layers

    style_layers = resolve_layers(args.style_layers or _own(arch, [], PAPER_STYLE_LAYERS)[1], arch)
    if isinstance(args.layer_weights, list):
        layer_weights(style_layers, args.layer_weights)  # count and all-zero checks
    if args.blend is not None:
        if len(args.blend) != n_styles:
            raise SettingsError(f"--blend has {len(args.blend)} weights for {n_styles} style image(s); give one per STYLE")
        if sum(args.blend) <= 0:
            raise SettingsError("--blend weights sum to zero")
    out = {"style_layers": style_layers, "style_weights": args.layer_weights, "blend": args.blend,
           "style_scale": args.style_scale}
    if args.style_statistic != "gram":  # stylelab.statistics (run() checks what it combines with)
        out["style_statistic"] = args.style_statistic
    return out


def _load_init(kw: dict, shape: tuple[int, int]) -> None:
    if isinstance(kw["init"], Path):
        kw["init"] = _load(kw["init"], max(shape), "--init")


class _Snapshots:
    """--save-every: writes OUT_stem-NNNN.png and keeps the frames for the GIF."""

    def __init__(self, out: Path, steps: int, protect: list[Path]):
        self.out, self.protect = out, protect
        self.digits = max(4, len(str(steps)))
        self.frames = []
        self.written: list[Path] = []

    def path(self, step: int) -> Path:
        return self.out.with_name(f"{self.out.stem}-{step:0{self.digits}d}.png")

    def __call__(self, step, image, record) -> bool:
        from .image import save_image, to_pil

        self.written.append(save_image(image, self.path(step), protect=self.protect))
        self.frames.append(to_pil(image))
        return False

    def gif(self, result) -> Path:
        from .image import to_pil
        from .plot import save_gif

        frames = ([to_pil(result.init_image)] if result.init_image is not None else []) + self.frames
        frames.append(to_pil(result.image))
        size = frames[-1].size  # coarse-to-fine: earlier stages' frames are smaller
        frames = [f if f.size == size else f.resize(size) for f in frames]
        return save_gif(frames, self.out.with_suffix(".gif"), duration=0.1)


def _film(args, out: Path, inputs: _Inputs):
    """--film, --film-frames: the recorder (stylelab.film) and its path, checked before anything runs."""
    if not args.film:
        if args.film_frames:
            raise UsageError("--film-frames needs --film")
        return None, None
    from . import film

    path = film.output_path(args.film)  # .mp4 without imageio-ffmpeg: the .gif beside it (a warning says so)
    if any(_same_file(path, p) for p in [out, out.with_suffix(".json")] + [out.with_suffix(".gif")] * bool(args.save_every)):
        raise ImageError(f"--film {path} would overwrite another output of this run; choose another name")
    inputs.check_outputs([path])
    return film.Film(args.film_frames or film.DEFAULT_FRAMES), path


def _execute(args, fn, positional: tuple, kw: dict, out: Path, inputs: _Inputs, record: dict) -> int:
    """Run the engine, save the result (+ JSON, snapshots, GIF) and report."""
    snaps = None
    if args.save_every:
        snaps = _Snapshots(out, sum(args.steps) if isinstance(args.steps, list) else
                           args.steps * len(args.scales or [0]), inputs.paths)
        kw.update(callback=snaps, every=args.save_every)
    film, film_path = _film(args, out, inputs)
    if film is not None:  # the film calls the snapshots' callback too
        film.callback = snaps
        kw.update(callback=film, every=args.save_every or 1)
    try:
        result = fn(*positional, **kw)
    except NonFiniteLossError as exc:
        message = str(exc).split("; the best image so far")[0]
        raise NonFiniteLossError(f"{message}; nothing was saved") from None
    result.settings["inputs"] = record
    result.settings["command"] = " ".join([PROG] + list(args.argv))
    saved = result.save(out, protect=inputs.paths)
    try:
        gif = snaps.gif(result) if snaps is not None else None
        film_path = film.save(film_path, result) if film is not None else None
    except StylelabError as exc:  # checked before the run, so rare (the disk filled up): say what is safe
        raise type(exc)(f"{exc}; the result itself was saved to {saved} (+ {saved.with_suffix('.json').name})") from None
    if not args.quiet or result.interrupted:
        done = result.steps_done
        total = result.losses.get("total", float("nan"))
        extra = f", {len(snaps.written)} snapshots and {gif}" if snaps is not None else ""
        extra += f", the film {film_path}" if film is not None else ""
        lead = (f"interrupted after {done} steps: saved the best image so far"
                if result.interrupted else f"{result.status} in {result.wall_time:.1f} s")
        print(f"{PROG}: {lead} (loss {total:.4g} at step {result.best_step}) to {saved} "
              f"(+ {saved.with_suffix('.json').name}{extra})", file=sys.stderr)
    print(saved)
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


def _regions(args, out: Path, content, styles) -> dict:
    """--mask / --style-mask: spatial control (Gatys et al. 2017, stylelab.masks), as run()'s regions=."""
    if not args.mask:
        if args.style_mask:
            raise SettingsError("--style-mask needs --mask: one mask on CONTENT per region")
        return {}
    from . import masks

    for m in args.mask + (args.style_mask or []):
        if _same_file(out, Path(m).expanduser()):
            raise ImageError(f"refusing to overwrite {out}: it is one of the masks; choose another output name")
    shape = tuple(content.shape[-2:])
    with warnings.catch_warnings():  # masks follow CONTENT to --size, as CONTENT itself does
        warnings.simplefilter("ignore", masks.MaskResizedWarning)
        if len(args.mask) == 1 and len(styles) > 1:  # one file for several styles: a label map
            target = masks.label_map(args.mask[0], shape, name=f"--mask {args.mask[0]}")
            if len(target) == 2:  # black and white: "white = inside" or two regions? say which
                warnings.warn(f"--mask {args.mask[0]} with {len(styles)} STYLEs is read as a label map of 2 regions: "
                              f"its darker value (black) is painted in STYLE 1 ({args.styles[0]}), its lighter "
                              f"(white) in STYLE 2 ({args.styles[1] if len(args.styles) > 1 else '?'}); for other "
                              f"regions give one --mask per STYLE", masks.MaskReadWarning)
        else:
            target = masks.as_masks([Path(m).expanduser() for m in args.mask], shape, name="--mask")
        style_masks = None
        if args.style_mask:
            if len(styles) != 1:
                raise SettingsError(f"--style-mask marks the regions of one STYLE image; {len(styles)} were given")
            style_masks = [masks.load_mask(Path(m).expanduser(), tuple(styles[0].shape[-2:]), name=f"--style-mask {m}")
                           for m in args.style_mask]
    names = [Path(m).name for m in args.mask] if len(args.mask) == len(target) else None
    regions = masks.Regions(target, style_masks=style_masks, method=args.mask_method, names=names)
    regions.style_index(len(styles))
    return {"regions": regions}


def _cmd_transfer(args) -> int:
    T = _engine()
    from .vgg import resolve_layers

    out = _check_output(args.output)
    inputs = _Inputs()
    kw = _common(args, inputs, T.INITS)
    arch = _arch(args, kw)
    kw["content_layers"] = resolve_layers(_own(arch, args.content_layers, [])[0], arch)
    kw.update(_style_kwargs(args, arch, len(args.styles)))
    kw["alpha"], kw["beta"], kw["ratio"] = args.alpha, args.beta, args.ratio
    T._weights(args.alpha, args.beta, args.ratio, True, True)  # the same checks run() makes, now
    content_path = inputs.image(args.content, "content")
    style_paths = [inputs.image(s, "style") for s in args.styles]
    fine_path = _fine_style(args, inputs, kw, arch)  # --fine-style: scale control (stylelab.scale)
    for m in (getattr(args, "mask", None) or []) + (getattr(args, "style_mask", None) or []):
        inputs.file(m)  # masks are inputs: no output (--film, --save-every, -o) may replace them
    inputs.check_outputs([out, out.with_suffix(".json")] + [out.with_suffix(".gif")] * bool(args.save_every),
                         out if args.save_every else None)
    content = _load(content_path, args.size, "content")
    if args.scales is None and args.stages > 1:  # the default: the student profile's coarse-to-fine stages
        args.scales = kw["scales"] = _auto_scales(tuple(content.shape[-2:]), args.stages,
                                                  kw["content_layers"] + kw["style_layers"], arch)
    _check_scales(args, tuple(content.shape[-2:]), kw["content_layers"] + kw["style_layers"], arch)
    style_size = args.style_size or args.size
    styles = [_load(p, style_size, "style") for p in style_paths]
    kw.update(_regions(args, out, content, styles))  # --mask: a style per region (stylelab.masks)
    _check_big_enough(content, kw["content_layers"] + kw["style_layers"], arch, "content image")
    if args.style_scale == "own":
        for s in styles:
            _check_big_enough(s, kw["style_layers"], arch, "style image", option="--style-size")
    _load_init(kw, tuple(content.shape[-2:]))
    if args.preserve_colour:
        kw["preserve_colour"] = args.preserve_colour
    record = {"content": str(content_path), "styles": [str(p) for p in style_paths],
              "size": args.size, "style_size": style_size}
    if fine_path is not None:
        from . import scale

        record["fine_style"] = str(fine_path)
        fine = _load(fine_path, style_size, "--fine-style")
        return _execute(args, scale.transfer, (content, styles[0], fine), kw, out, inputs, record)
    return _execute(args, T.transfer, (content, styles), kw, out, inputs, record)


def _fine_style(args, inputs: _Inputs, kw: dict, arch: str):
    """--fine-style, --split, --mix, --mix-steps: checked now; scale.transfer's keywords go into ``kw``."""
    if args.fine_style is None:
        given = [o for o, v in (("--split", args.split), ("--mix", args.mix), ("--mix-steps", args.mix_steps)) if v]
        if given:
            raise UsageError(f"{', '.join(given)} need(s) --fine-style: the painting that gives the fine scale")
        return None
    if len(args.styles) != 1:
        raise UsageError(f"--fine-style mixes two paintings: give one STYLE (the coarse scale), not {len(args.styles)}")
    for option, value in (("--blend", args.blend), ("--mask", getattr(args, "mask", None))):
        if value:
            raise UsageError(f"{option} does not combine with --fine-style")
    if args.mix_steps and args.mix == "layers":
        raise UsageError("--mix-steps is the new style image's steps: it needs --mix paper")
    from .scale import DEFAULT_SPLIT, split_layers

    split = args.split or DEFAULT_SPLIT
    split_layers(split, kw["style_layers"], arch)  # an unknown layer fails now
    kw.pop("blend", None)
    kw.update(split=split, method=args.mix or "paper")
    if args.mix_steps:
        kw["style_steps"] = args.mix_steps
    return inputs.image(args.fine_style, "--fine-style")


def _cmd_texture(args) -> int:
    T = _engine()

    out = _check_output(args.output)
    inputs = _Inputs()
    kw = _common(args, inputs, ("noise", "style"))
    arch = _arch(args, kw)
    kw.update(_style_kwargs(args, arch, len(args.styles)))
    style_paths = [inputs.image(s, "style") for s in args.styles]
    inputs.check_outputs([out, out.with_suffix(".json")] + [out.with_suffix(".gif")] * bool(args.save_every),
                         out if args.save_every else None)
    styles = [_load(p, args.size, "style") for p in style_paths]
    shape = args.out_size or tuple(styles[0].shape[-2:])
    _check_scales(args, shape, kw["style_layers"], arch, "--out-size" if args.out_size else "--size")
    _check_big_enough(None, kw["style_layers"], arch, "texture", shape=shape,
                      option="--out-size" if args.out_size else "--size")
    if args.style_scale == "own":
        for s in styles:
            _check_big_enough(s, kw["style_layers"], arch, "style image", option="--style-size")
    kw["size"] = shape
    _load_init(kw, shape)
    record = {"styles": [str(p) for p in style_paths], "size": args.size, "out_size": list(shape)}
    return _execute(args, T.texture, (styles,), kw, out, inputs, record)


def _cmd_reconstruct(args) -> int:
    T = _engine()
    from .vgg import resolve_layers

    out = _check_output(args.output)
    inputs = _Inputs()
    kw = _common(args, inputs, ("noise", "content"))
    arch = _arch(args, kw)
    layers = resolve_layers(_own(arch, args.layer, [])[0], arch)
    content_path = inputs.image(args.content, "content")
    inputs.check_outputs([out, out.with_suffix(".json")] + [out.with_suffix(".gif")] * bool(args.save_every),
                         out if args.save_every else None)
    content = _load(content_path, args.size, "content")
    _check_big_enough(content, layers, arch, "content image")
    _check_scales(args, tuple(content.shape[-2:]), layers, arch)
    _load_init(kw, tuple(content.shape[-2:]))
    kw["layer"] = layers
    record = {"content": str(content_path), "size": args.size}
    return _execute(args, T.reconstruct, (content,), kw, out, inputs, record)


# --------------------------------------------------------------------------------------
# weights, data, layers, reproduce


def _cmd_weights_list(args) -> int:
    from . import weights

    rows = []
    for name in weights.names():
        d = weights.describe(name)
        mark = " *" if name == weights.DEFAULT else ""
        rows.append([name + mark, d["arch"], d["convention"], "yes" if d["present"] else "no", d["url"],
                     d["description"]])
    print(_table(rows, ["name", "arch", "convention", "present", "url", "description"]))
    import torch

    print(f"\n* the default when $STYLELAB_WEIGHTS is not set; downloads go to {Path(torch.hub.get_dir()) / 'checkpoints'}")
    raw = os.environ.get(config.ENV_WEIGHTS, "").strip()
    if raw:
        ws = weights.from_env()  # a malformed value -> WeightsError (exit 2) after the table
        present = "present" if weights.cache_path(ws).is_file() else "MISSING"
        print(f"{config.ENV_WEIGHTS} override (used when no --weights is given): {ws.arch}, {ws.convention}, "
              f"{ws.path} ({present})")
    else:
        print(f"{config.ENV_WEIGHTS} is not set (set it to ARCH:CONVENTION:PATH to use a local file)")
    return EXIT_OK


def _cmd_weights_download(args) -> int:
    from . import weights

    names = weights.names() if args.names == ["all"] else args.names
    sets = [weights.resolve(n) for n in names]  # unknown names fail before any download
    for ws in sets:
        path = weights.download(ws, progress=not args.quiet)
        if ws.sha256 and not weights.verify(ws):
            raise WeightsError(f"{ws.name}: {path} fails its hash check; delete it and download again")
        print(f"{ws.name}\t{path}")
    return EXIT_OK


def _check_local(ws) -> str | None:
    """A local file: does it load safely and fit its architecture? None when it does."""
    from . import weights

    try:
        weights.to_paper_names(weights.read_state_dict(ws.path), ws.arch, source=str(ws.path))
    except WeightsError as exc:
        return str(exc)
    return None


def _cmd_weights_verify(args) -> int:
    from . import weights

    if args.names:
        sets = []
        for n in args.names:
            if n in weights.REGISTRY or n in ("env", "default") or not (args.arch and args.input_convention):
                sets.append(weights.resolve(n))
            else:
                sets.append(weights.local(n, args.arch, args.input_convention))
    else:  # what a run would use, plus every registered set already downloaded
        sets = [weights.resolve(None)]
        sets += [ws for ws in weights.REGISTRY.values()
                 if ws not in sets and weights.cache_path(ws).is_file()]
    rows, problems = [], []
    for ws in sets:
        path = weights.cache_path(ws)
        if not path.is_file():
            status = "missing"
            hint = f"run `stylelab weights download {ws.name}`" if not ws.path else "file not found"
            problems.append(f"{ws.name}: {status} ({hint})")
        elif ws.path:
            failure = _check_local(ws)
            status = "ok (loads, all layers present)" if failure is None else "BROKEN"
            if failure:
                problems.append(failure)
        elif weights.verify(ws):
            status = "ok (sha256 matches)"
        else:
            status = "BAD HASH"
            problems.append(f"{ws.name}: {path} fails its sha256 check; delete it and run "
                            f"`stylelab weights download {ws.name}`")
        rows.append([ws.name, status, path])
    print(_table(rows, ["name", "status", "file"]))
    if problems:
        raise WeightsError("; ".join(problems))
    return EXIT_OK


def _cmd_data_list(args) -> int:
    from . import data

    cached = data.verify()
    rows = [[s.name, s.title, s.artist, s.year or "-", s.licence, "yes" if cached[s.name] else "no"]
            for s in data.SAMPLES.values()]
    print(_table(rows, ["name", "title", "artist", "year", "licence", "cached"]))
    folder = os.environ.get(config.ENV_DATA_DIR, "").strip()
    where = f"{config.ENV_DATA_DIR}={folder}" if folder else str(config.cache_dir("images"))
    print(f"\nfiles: {where}; use a name wherever an image file is expected, e.g. "
          f"`stylelab transfer tubingen starry_night -o out.png`")
    return EXIT_OK


def _cmd_data_fetch(args) -> int:
    from . import data

    for name, path in data.fetch(args.names or None).items():
        print(f"{name}\t{path}")
    return EXIT_OK


def _cmd_layers(args) -> int:
    from .vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, layer_table

    size = args.size
    rows = []
    for r in layer_table(args.arch, size):
        use = "content" if r["paper"] == PAPER_CONTENT_LAYER else ("style" if r["paper"] in PAPER_STYLE_LAYERS else "")
        keras = r["keras"] if r["kind"] != "conv" else ""
        rows.append([r["paper"], r["kind"], f"features.{r['torchvision_index']}", r["pytorch_tutorial"], keras,
                     r["channels"], r["receptive_field"], r["downsampling"], f"{r['height']}x{r['width']}", use])
    print(_table(rows, ["paper", "kind", "torchvision", "tutorial", "keras", "channels", "RF", "stride",
                        f"HxW@{size[0]}x{size[1]}", "paper use"]))
    print("\nconvN_M is the convolution before its ReLU, reluN_M the rectified response: the layer the paper "
          "calls convN_M (Caffe's in-place ReLU). Keras' blockN_convM is the fused conv+ReLU, i.e. reluN_M. "
          "The PyTorch tutorial numbers convolutions globally: its conv_4 is conv2_2, not conv4_2.")
    return EXIT_OK


def _cmd_lessons(args) -> int:
    from . import lessons

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


def _cmd_reproduce(args) -> int:
    import importlib

    try:
        module = importlib.import_module("stylelab.reproduce")
    except ModuleNotFoundError as exc:
        if exc.name == "stylelab.reproduce":
            print(f"{PROG}: reproduce is not available in this installation (stylelab/reproduce.py is missing)",
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


# --------------------------------------------------------------------------------------
# The parser


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

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
            "  stylelab lessons -o my-lessons      (the lesson notebooks, to open with jupyter lab)\n\n"
            "Images are files or sample names (`stylelab data list`). Exit codes: 0 ok, 2 bad input, "
            "1 unexpected error (STYLELAB_DEBUG=1 shows the traceback), 130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for add in COMMANDS:
        add(sub)
    return parser


#: stylelab.colour.PRESERVE_COLOUR, without importing torch (a test keeps them equal).
PRESERVE_COLOUR = ("luminance", "histogram", "histogram-cholesky", "histogram-pca", "histogram-mk")
#: stylelab.statistics.STATISTICS, without importing torch (tests/test_statistics.py keeps them equal).
STYLE_STATISTICS = ("gram", "mean_std", "mmd_linear", "mmd_gauss")
#: stylelab.precision.PRECISIONS and stylelab.transfer.CONVENTIONS (the default first), without
#: importing torch (tests/test_cli.py keeps them equal).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LOSS_CONVENTIONS = ("calibrated", "gatys_code", "paper")
#: What `stylelab transfer` runs when nothing else is asked for: the student profile's schedule
#: (stylelab.paper.PROFILES["student"]: coarse to fine in three stages, each until the stopping
#: rule fires or 400 steps, its small total-variation weight and its chroma prior). tests/test_cli.py
#: keeps them equal.
TRANSFER_DEFAULTS = {"stages": 3, "steps": 400, "tol": 1e-2, "tv": 1e-3, "chroma_tv": 0.3}


def _add_transfer(sub) -> None:
    """``stylelab transfer``: style transfer (Gatys et al. 2015 Fig. 2)."""
    p = sub.add_parser(
        "transfer", formatter_class=_Formatter, help="style transfer: CONTENT painted in the style of STYLE",
        description=(
            "Style transfer (Gatys et al. 2015 Fig. 2 / CVPR 2016 Fig. 3): starting from white noise, optimise the\n"
            "pixels so that their responses at the content layer match CONTENT (Eq. 1) and their Gram matrices at\n"
            "the style layers match STYLE (Eqs. 3-5), minimising alpha L_content + beta L_style (Eq. 7) with L-BFGS."
        ),
        epilog="example:\n  stylelab transfer tubingen starry_night -o tubingen-starry.png --size 512 --ratio 1e-3\n"
               "  stylelab transfer tubingen starry_night the_scream --mask sky.png --mask town.png -o two.png",
    )
    p.add_argument("content", metavar="CONTENT", help="content image: a file, or a sample name such as tubingen")
    p.add_argument("styles", metavar="STYLE", nargs="+",
                   help="style image(s): files or sample names such as starry_night; several are blended (--blend)")
    _add_output(p)
    g = p.add_argument_group("images")
    g.add_argument("--size", type=POS_INT, default=512, metavar="PX",
                   help="longest side of the content image and the result, in pixels (default: 512)")
    g.add_argument("--style-size", type=POS_INT, metavar="PX",
                   help="longest side the style images are loaded at (default: --size); matters with --style-scale own")
    g.add_argument("--preserve-colour", choices=PRESERVE_COLOUR, metavar="{" + ",".join(PRESERVE_COLOUR) + "}",
                   help="keep CONTENT's colours (Gatys et al. 2017): luminance-only transfer, or the style recoloured "
                        "to CONTENT's colour mean and covariance (histogram = histogram-pca; stylelab.colour)")
    g = p.add_argument_group("content and loss weights (Eq. 7: L_total = alpha L_content + beta L_style)")
    g.add_argument("--alpha", type=NONNEG, help="content weight alpha (default: 1)")
    g.add_argument("--beta", type=NONNEG, help="style weight beta (default: 1e3, i.e. alpha/beta = 1e-3)")
    g.add_argument("--ratio", type=POSITIVE,
                   help="alpha/beta, as printed under the paper's figures (1e-3 ... 1e-4; smaller: more style). "
                        "With --beta: alpha = ratio * beta; else alpha = --alpha or 1 and beta = alpha / ratio")
    g.add_argument("--content-layers", type=NAMES, default=["relu4_2"], metavar="L1,...",
                   help="content layers, comma separated (default: relu4_2, the paper's conv4_2)")
    _add_style(p)
    g = p.add_argument_group(
        "spatial control (Gatys et al. 2017: guided Gram matrices, a style per region; stylelab.masks)")
    g.add_argument("--mask", action="append", metavar="PNG",
                   help="a region of CONTENT (white = inside), once per STYLE in the same order: region i is "
                        "painted in STYLE i; or one label map (a PNG with one grey level or colour per region, "
                        "in increasing order) for several STYLEs. Masks need CONTENT's aspect ratio and are "
                        "resized with it to --size")
    g.add_argument("--style-mask", action="append", metavar="PNG",
                   help="with one STYLE: the part of it each region takes, once per --mask in the same order")
    g.add_argument("--mask-method", choices=("downsample", "erode"), default="downsample",
                   help="how masks reach each layer: shrunk to its size, or only units whose receptive field "
                        "lies inside the region (default: downsample)")
    g = p.add_argument_group(
        "scale control (Gatys et al. 2017: one painting's coarse scale, another's fine scale; stylelab.scale)")
    g.add_argument("--fine-style", metavar="FINE",
                   help="a second painting (file or sample name) whose fine scale, the style layers before --split "
                        "(brush marks, colour), replaces that of the one STYLE, which keeps its coarse scale "
                        "(the larger shapes)")
    g.add_argument("--split", metavar="LAYER",
                   help="with --fine-style: the first coarse layer; the style layers before it take FINE's "
                        "statistics (default: relu3_1: conv1_1, conv2_1 from FINE, conv3_1 ... conv5_1 from STYLE)")
    g.add_argument("--mix", choices=("paper", "layers"),
                   help="with --fine-style: paper (default; the authors' code) first paints a new style image, "
                        "STYLE re-textured to FINE's Gram matrices at the fine layers, and transfers that; layers "
                        "matches FINE's Grams at the fine layers and STYLE's at the coarse ones in one run")
    g.add_argument("--mix-steps", type=POS_INT, metavar="N",
                   help="with --mix paper: L-BFGS steps of the new style image (default: 200)")
    _add_loss(p, tv=TRANSFER_DEFAULTS["tv"], chroma=TRANSFER_DEFAULTS["chroma_tv"])
    _add_optimisation(p, ("noise", "content", "style"), schedule=TRANSFER_DEFAULTS)
    _add_network(p)
    p.set_defaults(handler=_cmd_transfer)


def _add_texture(sub) -> None:
    """``stylelab texture``: texture synthesis (style only)."""
    p = sub.add_parser(
        "texture", formatter_class=_Formatter, help="texture synthesis: match only the style (Gram matrices)",
        description=(
            "Texture synthesis / style reconstruction (Gatys et al. Fig. 1, style rows): from white noise, match only\n"
            "the Gram matrices of STYLE at the style layers (beta only)."
        ),
        epilog="example:\n  stylelab texture starry_night -o texture.png --size 256 --out-size 384x256",
    )
    p.add_argument("styles", metavar="STYLE", nargs="+", help="style image(s): files or sample names")
    _add_output(p)
    g = p.add_argument_group("images")
    g.add_argument("--size", type=POS_INT, default=512, metavar="PX",
                   help="longest side the style image is loaded at, in pixels (default: 512)")
    g.add_argument("--out-size", type=WXH, metavar="WxH",
                   help="size of the synthesised texture, e.g. 512x384 (default: the style image's size)")
    _add_style(p)
    _add_loss(p)
    _add_optimisation(p, ("noise", "style"))
    _add_network(p)
    p.set_defaults(handler=_cmd_texture)


def _add_reconstruct(sub) -> None:
    """``stylelab reconstruct``: content reconstruction from one layer."""
    p = sub.add_parser(
        "reconstruct", formatter_class=_Formatter, help="content reconstruction from one layer's responses",
        description=(
            "Content reconstruction (Gatys et al. Fig. 1, content rows): from white noise, match only the responses\n"
            "of CONTENT at --layer (alpha only). Lower layers reproduce the pixels almost exactly; higher ones keep\n"
            "the arrangement of objects but not the exact pixel values."
        ),
        epilog="example:\n  stylelab reconstruct tubingen --layer relu5_1 -o relu5_1.png --size 256",
    )
    p.add_argument("content", metavar="CONTENT", help="the image: a file or a sample name")
    _add_output(p)
    p.add_argument("--layer", type=NAMES, default=["relu4_2"], metavar="LAYER[,LAYER]",
                   help="layer(s) to match (default: relu4_2; the 2015 paper shows conv1_1 ... conv5_1, "
                        "the CVPR paper conv1_2 ... conv5_2, here relu1_2 ... relu5_2)")
    p.add_argument("--size", type=POS_INT, default=512, metavar="PX", help="longest side in pixels (default: 512)")
    g = p.add_argument_group("loss")
    g.add_argument("--convention", choices=("gatys_code", "paper"), default="gatys_code",
                   help="loss normalisation: gatys_code (mean squared error, the authors' code) or paper (Eq. 1)")
    g.add_argument("--norm", choices=("paper", "hw", "chw"), help="override the --convention's normalisation")
    g.add_argument("--tv", type=NONNEG, default=0.0, help="total-variation weight (default: 0)")
    g.add_argument("--gamma", type=NONNEG, default=0.0, help="L2 pixel-prior weight (default: 0)")
    _add_optimisation(p, ("noise", "content"))
    _add_network(p)
    p.set_defaults(handler=_cmd_reconstruct)


def _add_weights(sub) -> None:
    """``stylelab weights list | download | verify``."""
    p = sub.add_parser("weights", formatter_class=_Formatter, help="list, download and verify VGG weight sets",
                       description="The VGG weight sets stylelab knows. The paper used Caffe's ImageNet VGG-19 "
                                   "(vgg19-caffe).")
    wsub = p.add_subparsers(dest="action", metavar="ACTION", title="actions", required=True)
    q = wsub.add_parser("list", help="the registered weight sets and whether they are downloaded")
    q.set_defaults(handler=_cmd_weights_list)
    q = wsub.add_parser("download", help="download weight sets (hash-checked) into torch hub's cache")
    q.add_argument("names", metavar="NAME", nargs="+", help="registered names, or all")
    q.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    q.set_defaults(handler=_cmd_weights_download)
    q = wsub.add_parser("verify", help="check weight files (exit 2 if one is missing or damaged)",
                        description="Check registered sets against their sha256, and that a local file loads safely "
                                    "with every layer present. Without NAME: the weights a run would use "
                                    "($STYLELAB_WEIGHTS or vgg19) and every downloaded registered set.")
    q.add_argument("names", metavar="NAME", nargs="*", help="registered names, env, or a file (with --arch and --input-convention)")
    q.add_argument("--arch", choices=("vgg16", "vgg19"), help="architecture of a weights file")
    q.add_argument("--input-convention", choices=("torch", "caffe"), help="input convention of a weights file")
    q.set_defaults(handler=_cmd_weights_verify)


def _add_data(sub) -> None:
    """``stylelab data list | fetch``: the sample images."""
    p = sub.add_parser("data", formatter_class=_Formatter, help="the sample images of the paper's figures",
                       description=f"The photograph and paintings of the paper's figures (offline: "
                                   f"${config.ENV_DATA_DIR}).")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", title="actions", required=True)
    q = dsub.add_parser("list", help="name, title, artist, year, licence, cached?")
    q.set_defaults(handler=_cmd_data_list)
    q = dsub.add_parser("fetch", help="download (once) and check sample images")
    q.add_argument("names", metavar="NAME", nargs="*", help="sample names (default: all)")
    q.set_defaults(handler=_cmd_data_fetch)


def _add_layers(sub) -> None:
    """``stylelab layers``: the VGG layer table."""
    p = sub.add_parser("layers", formatter_class=_Formatter, help="the VGG layer table with names in every convention",
                       description="Every layer of VGG-16/19 with its name in the paper (conv4_2 / relu4_2), "
                                   "torchvision (features.N), the PyTorch tutorial (conv_N) and Keras, its channels, "
                                   "receptive field and feature-map size.")
    p.add_argument("--arch", choices=("vgg16", "vgg19"), default="vgg19", help="architecture (default: vgg19, the paper's)")
    p.add_argument("--size", type=WXH, default=(512, 512), metavar="N|WxH",
                   help="input size for the feature-map sizes (default: 512)")
    p.set_defaults(handler=_cmd_layers)


def _add_reproduce(sub) -> None:
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
    p.set_defaults(handler=_cmd_reproduce)


def _add_lessons(sub) -> None:
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
    p.set_defaults(handler=_cmd_lessons)


#: The subcommands, in the order ``stylelab --help`` lists them: each adds its parser
#: (``sub.add_parser``) and sets its handler. A new command is one more function here.
def _add_course(sub) -> None:
    """``stylelab course build``: the student and instructor editions (:mod:`stylelab.course`)."""
    from . import course

    course.add_cli(sub)


def _add_video(sub) -> None:
    """``stylelab video``: style transfer for a clip (Ruder et al. 2016, :mod:`stylelab.video`)."""
    from . import video

    video.add_cli(sub)


COMMANDS = (_add_transfer, _add_texture, _add_reconstruct, _add_weights, _add_data, _add_layers,
            _add_reproduce, _add_lessons, _add_course, _add_video)


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
