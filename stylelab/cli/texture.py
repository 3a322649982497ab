"""``stylelab texture``: texture synthesis (Gatys et al. 2015, Fig. 1, style reconstructions)."""

from __future__ import annotations

from .common import POS_INT, WXH, _check_big_enough, _check_output, _Formatter, _Inputs, _load
from .execute import _execute
from .options import (
    _add_loss, _add_network, _add_optimisation, _add_output, _add_style, _arch, _check_scales, _common, _load_init,
    _style_kwargs
)


def run(args) -> int:
    from ..method.transfer import texture

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
    return _execute(args, texture, (styles,), kw, out, inputs, record)


def add(sub) -> None:
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
    p.set_defaults(handler=run)
