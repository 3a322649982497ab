"""The options that ``stylelab transfer``, ``texture`` and ``reconstruct`` share (network,
optimisation, loss, style) and their translation into the engine's keywords, checked before
anything is loaded or run."""

from __future__ import annotations

import os
from pathlib import Path

from .. import config
from ..errors import ImageError, SettingsError, WeightsError
from .common import (
    LAYER_WEIGHTS, LOSS_CONVENTIONS, NAMES, NONNEG, NUMBERS, POS_INT, POS_INTS, POSITIVE, PRECISIONS, SEED, STEPS,
    STYLE_STATISTICS, UsageError, _check_big_enough, _Inputs, _int, _load, _type
)


# --------------------------------------------------------------------------------------
# Options shared by transfer / texture / reconstruct


def _add_output(p):
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the image to write (.png, .jpg or .jpeg); OUT with the suffix .json gets the "
                        "settings, final losses and the loss history. Never an input file")


#: stylelab.networks.features.names(), without importing torch (a test keeps them equal).
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
                   help="the network's arithmetic (stylelab.networks.precision): auto (bf16 on CPUs with AMX or AVX512_BF16 "
                        "where a short measured probe finds it faster, never on AVX2-only CPUs; bf16/fp16 autocast "
                        "on CUDA; else fp32), fp32, bf16 or fp16 (CUDA). Grams, losses and the optimiser stay fp32. "
                        "Default: $STYLELAB_PRECISION, else auto")
    g.add_argument("--features", choices=_FEATURES, metavar="|".join(_FEATURES),
                   help="the network whose responses are matched (stylelab.networks.features): vgg16 / vgg19 (ImageNet), "
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
                   help="also write a film of the optimisation (stylelab.video.film): the image as it forms with the step "
                        "and the losses under it and the loss curves beside it, from every step (with --save-every: "
                        "every N). MP4 needs pip install \"stylelab[film]\"; without it the .gif beside it is written")
    g.add_argument("--film-frames", type=_type(lambda t: _int(t, 2), "a whole number >= 2"), metavar="N",
                   help="the most frames the film keeps, whatever the steps (default: 120)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary (the output path is still printed)")


def _add_loss(p, tv: float = 0.0, chroma: float = 0.0):
    g = p.add_argument_group("loss")
    g.add_argument("--convention", choices=LOSS_CONVENTIONS, default=LOSS_CONVENTIONS[0],
                   help="what alpha/beta refer to (stylelab.method.transfer.CONVENTIONS): calibrated (the normalised "
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
                   help="weight of a total-variation prior on the colour (chroma) planes only (stylelab.control.chroma_tv, "
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
                   help="what the style loss matches (stylelab.method.statistics): gram (the paper's Gram matrices), "
                        "mean_std (each channel's mean and standard deviation), mmd_linear (the means: MMD with a "
                        "linear kernel) or mmd_gauss (MMD with a Gaussian kernel; Li et al. 2017); default: gram")


def _weight_set(args):
    """The weight set the run will load, resolved without reading the file."""
    from ..networks import weights

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
    """--chroma-tv W: run()'s ``extra_terms`` with the chroma prior (stylelab.control.chroma_tv); nothing for 0."""
    weight = getattr(args, "chroma_tv", 0.0) or 0.0
    if not weight:
        return {}
    from ..control import chroma_tv

    return chroma_tv.extra_terms(weight)


def _features(args, ws) -> dict:
    """--features: run()'s ``features=`` (stylelab.networks.features); an ImageNet VGG named there follows
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
    from ..networks.features import arch_of

    return arch_of(kw["features"], kw["weights"])


def _own(arch: str, content, style) -> tuple[list, list]:
    """The paper's default layers, or a network's own where it has no such layers (the filter bank)."""
    if arch in ("vgg16", "vgg19"):
        return list(content), list(style)
    from ..networks.features import own_layers

    return own_layers(arch, content, style)


def _auto_scales(shape: tuple[int, int], stages: int, layers: list[str], arch: str) -> list[int] | None:
    """``--stages``' sizes, halving up to the output's longest side (stylelab.teaching.paper.stage_scales);
    stages whose image would be too small for the deepest layer are left out (None: one size)."""
    from ..networks.vgg import min_input_size

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
    from ..method.conventions import layer_weights
    from ..networks.vgg import PAPER_STYLE_LAYERS, resolve_layers

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
    if args.style_statistic != "gram":  # stylelab.method.statistics (run() checks what it combines with)
        out["style_statistic"] = args.style_statistic
    return out


def _load_init(kw: dict, shape: tuple[int, int]) -> None:
    if isinstance(kw["init"], Path):
        kw["init"] = _load(kw["init"], max(shape), "--init")
