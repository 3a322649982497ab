"""``stylelab transfer``: style transfer (Gatys et al. 2015, Fig. 2), with the 2017 controls
(``--preserve-colour``, ``--mask``/``--style-mask``, ``--fine-style``)."""

from __future__ import annotations

from pathlib import Path
import warnings

from ..errors import ImageError, SettingsError
from .common import (
    NAMES, NONNEG, POS_INT, POSITIVE, PRESERVE_COLOUR, TRANSFER_DEFAULTS, UsageError, _check_big_enough, _check_output,
    _Formatter, _Inputs, _load, _same_file
)
from .execute import _execute
from .options import (
    _add_loss, _add_network, _add_optimisation, _add_output, _add_style, _arch, _auto_scales, _check_scales, _common,
    _load_init, _own, _style_kwargs
)


def _regions(args, out: Path, content, styles) -> dict:
    """--mask / --style-mask: spatial control (Gatys et al. 2017, stylelab.control.masks), as run()'s regions=."""
    if not args.mask:
        if args.style_mask:
            raise SettingsError("--style-mask needs --mask: one mask on CONTENT per region")
        return {}
    from ..control import masks

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


def run(args) -> int:
    from ..control.transfer import transfer
    from ..method.optimise import INITS
    from ..method.transfer import _weights
    from ..networks.vgg import resolve_layers

    out = _check_output(args.output)
    inputs = _Inputs()
    kw = _common(args, inputs, INITS)
    arch = _arch(args, kw)
    kw["content_layers"] = resolve_layers(_own(arch, args.content_layers, [])[0], arch)
    kw.update(_style_kwargs(args, arch, len(args.styles)))
    kw["alpha"], kw["beta"], kw["ratio"] = args.alpha, args.beta, args.ratio
    _weights(args.alpha, args.beta, args.ratio, True, True)  # the same checks run() makes, now
    content_path = inputs.image(args.content, "content")
    style_paths = [inputs.image(s, "style") for s in args.styles]
    fine_path = _fine_style(args, inputs, kw, arch)  # --fine-style: scale control (stylelab.control.scale)
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
    kw.update(_regions(args, out, content, styles))  # --mask: a style per region (stylelab.control.masks)
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
        from ..control import scale

        record["fine_style"] = str(fine_path)
        fine = _load(fine_path, style_size, "--fine-style")
        return _execute(args, scale.transfer, (content, styles[0], fine), kw, out, inputs, record)
    return _execute(args, transfer, (content, styles), kw, out, inputs, record)


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
    from ..control.scale import DEFAULT_SPLIT, split_layers

    split = args.split or DEFAULT_SPLIT
    split_layers(split, kw["style_layers"], arch)  # an unknown layer fails now
    kw.pop("blend", None)
    kw.update(split=split, method=args.mix or "paper")
    if args.mix_steps:
        kw["style_steps"] = args.mix_steps
    return inputs.image(args.fine_style, "--fine-style")


def add(sub) -> None:
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
                        "to CONTENT's colour mean and covariance (histogram = histogram-pca; stylelab.control.colour)")
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
        "spatial control (Gatys et al. 2017: guided Gram matrices, a style per region; stylelab.control.masks)")
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
        "scale control (Gatys et al. 2017: one painting's coarse scale, another's fine scale; stylelab.control.scale)")
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
    p.set_defaults(handler=run)
