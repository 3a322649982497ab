"""``stylelab reconstruct``: content reconstruction (Gatys et al. 2015, Fig. 1, content row)."""

from __future__ import annotations

from .common import NAMES, NONNEG, POS_INT, _check_big_enough, _check_output, _Formatter, _Inputs, _load
from .execute import _execute
from .options import _add_network, _add_optimisation, _add_output, _arch, _check_scales, _common, _load_init, _own


def run(args) -> int:
    from ..method.transfer import reconstruct
    from ..networks.vgg import resolve_layers

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
    return _execute(args, reconstruct, (content,), kw, out, inputs, record)


def add(sub) -> None:
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
    p.set_defaults(handler=run)
