"""``stylelab train``: a real-time style network (lessons 16-17, :mod:`stylelab.realtime`):
Johnson, Alahi & Fei-Fei's transformation network for one painting (ECCV 2016) or Huang &
Belongie's AdaIN decoder for any painting (ICCV 2017), trained on the kit's photographs with
the lessons' VGG as the loss network, and saved to NET.pt for ``stylelab stylise`` and
``stylelab video --network``."""

from __future__ import annotations

from pathlib import Path

from ..errors import WeightsError
from .common import EXIT_INTERRUPTED, EXIT_OK, POS_INT, POSITIVE, PROG, SEED, UsageError, _Formatter, _Inputs

#: stylelab.realtime.training.NETWORKS and the profiles of stylelab.realtime.training.PROFILES, without
#: importing torch (tests/cli/test_realtime_cli.py keeps them equal).
NETWORKS = ("johnson", "adain")
PROFILES = ("quick", "student", "paper")
#: stylelab.realtime.transformer.NORMS, without importing torch (the same test keeps them equal).
NORMS = ("instance", "batch")
#: The suffixes of a trained network's file.
NET_SUFFIXES = (".pt", ".pth")
#: The sample painting the AdaIN decoder is not trained on by default: kept back to judge it on.
HELD_OUT_PAINTING = "great_wave"


def add(sub) -> None:
    """``stylelab train``: train a real-time style network."""
    p = sub.add_parser(
        "train", formatter_class=_Formatter, help="train a real-time style network (Johnson et al. 2016 or AdaIN)",
        description=(
            "Train a network that stylises in one forward pass (lessons 16-17), on random crops of the kit's\n"
            "photographs, with the lessons' VGG as the loss network. --network johnson (Johnson, Alahi & Fei-Fei,\n"
            "ECCV 2016): one painting, Gatys et al.'s content and style losses. --network adain (Huang & Belongie,\n"
            "ICCV 2017): a decoder for AdaIN that stylises with any painting. The same recipe is found in the cache\n"
            "instead of training again (--no-cache: train anyway). Ctrl-C saves the network trained so far."),
        epilog="examples:\n  stylelab train starry_night -o starry.pt --profile quick\n"
               "  stylelab train --network adain -o adain.pt\n"
               "  stylelab stylise starry.pt tubingen -o tubingen-starry.png",
    )
    p.add_argument("styles", metavar="STYLE", nargs="*",
                   help="painting image(s): files or sample names such as starry_night. johnson: exactly one; adain: "
                        "the paintings and textures to train on (default: the sample paintings except "
                        f"{HELD_OUT_PAINTING}, and the photograph registry's textures)")
    p.add_argument("-o", "--output", required=True, metavar="NET.pt",
                   help="the trained network to write (.pt); never an input file")
    p.add_argument("--network", choices=NETWORKS, default="johnson",
                   help="johnson (default): a transformation network for one painting; adain: an AdaIN decoder")
    p.add_argument("--profile", choices=PROFILES, default="student",
                   help="quick (a tiny network, seconds), student (default: the slim network, minutes on a CPU) "
                        "or paper (the papers' networks and schedules: a GPU's work)")
    p.add_argument("--steps", type=POS_INT, metavar="N", help="Adam steps (default: the profile's)")
    p.add_argument("--norm", choices=NORMS, help="johnson: instance (default, Ulyanov et al.) or batch normalisation")
    p.add_argument("--ratio", type=POSITIVE, help="johnson: alpha/beta of the perceptual loss (default: 1e-3)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the initial weights and the crops (default: 0)")
    p.add_argument("--weights", metavar="NAME|PATH",
                   help="the loss network's weights: a registered weight set (default: $STYLELAB_WEIGHTS if set, "
                        "else vgg19)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: $STYLELAB_DEVICE, else the best available)")
    p.add_argument("--no-cache", action="store_true", help="train even if the cache holds this recipe's network")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    p.set_defaults(handler=run)
    return p


def check_net_output(text: str) -> Path:
    """The network file to write: a .pt suffix, not a folder, in a folder we can create and write."""
    from ..image import check_writable

    out = Path(text).expanduser()
    if out.suffix.lower() not in NET_SUFFIXES:
        raise WeightsError(f"cannot save the network to {out}: use the suffix .pt (e.g. {out.with_suffix('.pt').name})")
    if out.is_dir():
        raise WeightsError(f"cannot save the network to {out}: it is a folder; give a file name such as "
                           f"{out / 'net.pt'}")
    return check_writable(out, "the network")


def _styles(args, inputs: _Inputs, photos) -> dict:
    """{name: path or None} of the paintings asked for (None: a texture of the photograph registry)."""
    from .. import data

    if args.network == "johnson":
        if len(args.styles) != 1:
            raise UsageError(f"--network johnson learns one painting: give exactly one STYLE (got {len(args.styles)})")
    else:
        for option, value in (("--norm", args.norm), ("--ratio", args.ratio)):
            if value is not None:
                raise UsageError(f"{option} is a setting of --network johnson, not of adain")
    if args.styles:
        out = {}
        for s in args.styles:
            path = inputs.image(s, "style")
            name = s if s in data.names() and not Path(s).expanduser().exists() else path.stem
            while name in out:
                name += "_"
            out[name] = path
        return out
    sample_photos = {p.path for p in photos.PHOTOS.values() if p.package == "stylelab"}
    out = {n: inputs.image(n, "style") for n in data.names() if n != HELD_OUT_PAINTING and n not in sample_photos}
    out.update({n: None for n in photos.names("texture")})
    return out


def run(args) -> int:
    import sys

    from .. import config
    from ..networks.weights import load_vgg, resolve
    from ..realtime import photos, saved, training
    from .common import _load

    inputs = _Inputs()
    style_paths = _styles(args, inputs, photos)
    out = check_net_output(args.output)
    ws = resolve(args.weights)
    config.resolve_device(args.device)
    inputs.file(ws.path)  # the weights file is an input: never overwritten
    inputs.check_outputs([out])
    overrides = {k: v for k, v in (("steps", args.steps), ("norm", args.norm), ("ratio", args.ratio)) if v is not None}
    size = training.profile(args.network, args.profile, **overrides)["size"]
    from .. import data

    first = args.styles[0] if args.styles else None
    if args.network == "adain" and not args.styles:
        # the standard set, loaded as the lessons and the explorer load it: one cached decoder for all
        pictures, styles = training.training_images("adain", args.profile, size=size)
    elif args.network == "johnson" and first in data.names() and not Path(first).expanduser().exists():
        pictures, styles = training.training_images("johnson", args.profile, style=first, size=size)
    else:
        styles = {n: (_load(p, size, "style") if p is not None else photos.load(n, size)) for n, p in style_paths.items()}
        pictures = photos.load_all("train", size=size)  # a missing scikit-image: one line (DataError)
    model = load_vgg(ws, device=args.device, progress=not args.quiet)
    common = dict(profile=args.profile, seed=args.seed, cache=not args.no_cache, progress=not args.quiet, **overrides)
    if args.network == "johnson":
        net, report = training.johnson(model, styles, pictures, **common)
    else:
        net, report = training.adain_decoder(model, pictures, styles, **common)
    report = {**report, "command": " ".join([PROG] + list(args.argv))}
    interrupted = report.get("status") == "interrupted"
    written = saved.save(net, report, out)
    if not args.quiet or interrupted:
        last = report["history"][-1] if report.get("history") else {}
        losses = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k not in ("step", "seconds"))
        steps = report.get("steps_done", "?")
        total = report.get("recipe", {}).get("steps", "?")
        if interrupted:
            lead = f"interrupted after {steps} of {total} steps: saved the network trained so far"
        elif report.get("cached"):
            lead = f"found in the cache ({steps} steps, trained in {report.get('wall_time', 0):.1f} s)"
        else:
            lead = f"trained {steps} of {total} steps in {report.get('wall_time', 0):.1f} s"
        print(f"{PROG}: {lead} ({args.network}, {args.profile}; final losses: {losses or 'none'}) to {written}",
              file=sys.stderr)
    print(written)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK
