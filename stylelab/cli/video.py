"""``stylelab video``: style transfer for a clip (Ruder, Dosovitskiy & Brox, *Artistic Style
Transfer for Videos*, GCPR 2016; :mod:`stylelab.video.temporal`)."""

from __future__ import annotations

from ..errors import SettingsError
from .common import (
    EXIT_INTERRUPTED, EXIT_OK, NONNEG, POS_INT, POSITIVE, PROG, SEED, UsageError, _check_big_enough, _Formatter, _Inputs
)
from .stylise import add_adain_options, check_adain_options, load_paintings, read_network

#: The options of the optimisation, refused with --network (a trained network does not optimise).
OPTIMISATION_ONLY = (("--method", "method"), ("--steps-first", "steps_first"), ("--steps", "steps"),
                     ("--ratio", "ratio"), ("--temporal-weight", "temporal_weight"), ("--seed", "seed"))


#: stylelab.video.temporal's METHODS and defaults and stylelab.video.flow.METHODS, without importing
#: torch (tests/video/test_video.py keeps them equal).
METHODS = ("independent", "prev_warped", "temporal")
DEFAULT_TEMPORAL_WEIGHT = 4e5
DEFAULT_STEPS_FIRST = 300
DEFAULT_STEPS = 100
FLOW_METHODS = ("dis", "farneback")


def add(subparsers):
    """Add ``stylelab video`` to the ``stylelab`` command."""
    p = subparsers.add_parser(
        "video", formatter_class=_Formatter, help="style transfer for a video clip (Ruder et al. 2016)",
        description=(
            "Style transfer for videos (Ruder, Dosovitskiy & Brox, GCPR 2016): every frame of CLIP painted in the\n"
            "style of STYLE, from white noise (independent), from the previous stylised frame warped along the\n"
            "optical flow (prev_warped), or that plus the temporal loss (temporal, the default). The result has\n"
            "CLIP's frame rate; OUT.json beside it gets the settings and each frame's steps, time and losses."),
        epilog="examples:\n  stylelab video walk.mp4 starry_night -o walk-starry.mp4 --size 256\n"
               "  stylelab video tubingen starry_night -o pan.webp --frames 8 --size 128 --method all\n"
               "  stylelab video tubingen -o pan-fast.gif --network starry.pt --frames 8 --size 128",
    )
    p.add_argument("clip", metavar="CLIP", help="a video (MP4, MOV, MKV, AVI, WebM), an animated GIF/WebP, a folder "
                   "of PNG/JPEG frames, or a sample image name (tubingen): a slow synthetic pan and zoom across it")
    p.add_argument("style", metavar="STYLE", nargs="?",
                   help="style image: a file or a sample name such as starry_night (with --network: only for an AdaIN "
                        "network, the painting; a Johnson network has its own)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the clip to write: .mp4 (needs stylelab[film]; else the .gif beside it), .gif or .webp")
    p.add_argument("--network", metavar="NET.pt",
                   help="a network trained by `stylelab train`: every frame through it in one forward pass instead "
                        "of the optimisation (frames/s and the temporal error are reported to compare; --method, "
                        "--steps-first, --steps, --ratio, --temporal-weight and --seed are the optimisation's and "
                        "are refused with it)")
    p.add_argument("--method", choices=METHODS + ("all",), default=None,
                   help="independent, prev_warped, temporal (default), or all: the three side by side")
    p.add_argument("--size", type=POS_INT, default=256, metavar="PX", help="longest side of the frames (default: 256)")
    p.add_argument("--frames", type=POS_INT, metavar="N", help="only the first N frames")
    p.add_argument("--max-frames", type=POS_INT, metavar="N", default=None,
                   help="refuse a clip with more frames than this unless --frames picks fewer (default: 300)")
    p.add_argument("--steps-first", type=POS_INT, default=None, metavar="N",
                   help=f"L-BFGS steps of the first frame, and of every frame with independent (default: {DEFAULT_STEPS_FIRST})")
    p.add_argument("--steps", type=POS_INT, default=None, metavar="N",
                   help=f"L-BFGS steps of each later frame with prev_warped and temporal (default: {DEFAULT_STEPS})")
    p.add_argument("--ratio", type=POSITIVE, default=None, help="alpha/beta (default: 1e-3)")
    p.add_argument("--temporal-weight", type=NONNEG, default=None, metavar="GAMMA",
                   help=f"weight of the temporal loss (default: {DEFAULT_TEMPORAL_WEIGHT:g})")
    p.add_argument("--flow", choices=FLOW_METHODS, default="dis",
                   help="OpenCV's optical flow: dis (default) or farneback (with --network: for the temporal error of "
                        "a real clip)")
    p.add_argument("--seed", type=SEED, default=None, help="seed of the white-noise starts (default: 0)")
    p.add_argument("--weights", metavar="NAME|PATH",
                   help="a registered weight set (default: $STYLELAB_WEIGHTS if set, else vgg19)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: $STYLELAB_DEVICE, else the best available)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summary")
    add_adain_options(p, positional_style=True)
    p.set_defaults(handler=run)
    return p


def _defaults(args) -> None:
    """The optimisation's defaults (None in the parser, so that --network can tell what was given)."""
    given = [o for o, a in OPTIMISATION_ONLY if getattr(args, a) is not None]
    if args.network is not None:
        if given:
            raise UsageError(f"{', '.join(given)}: the optimisation's option(s), not used with --network (a trained "
                             f"network paints each frame in one forward pass)")
        return
    for option, value in (("--network", args.network), ("--style", args.adain_styles), ("--mix", args.mix),
                          ("--alpha", args.alpha)):
        if value:
            raise UsageError(f"{option} is for a trained network: it needs --network NET.pt")
    if args.style is None:
        raise UsageError("give STYLE, the painting (a file or a sample name such as starry_night), or --network NET.pt")
    for attr, value in (("method", "temporal"), ("steps_first", DEFAULT_STEPS_FIRST), ("steps", DEFAULT_STEPS),
                        ("ratio", 1e-3), ("temporal_weight", DEFAULT_TEMPORAL_WEIGHT), ("seed", 0)):
        if getattr(args, attr) is None:
            setattr(args, attr, value)


def _read_clip(args, inputs, out):
    """The clip (a file, a folder, or a sample name: the synthetic pan with its true flow), protected."""
    from pathlib import Path

    from .. import data
    from ..video import clip as _clip

    source = Path(args.clip).expanduser()
    if not source.exists() and args.clip in data.names():
        if args.max_frames and args.frames and args.frames > args.max_frames:
            raise SettingsError(f"--frames {args.frames} is more than --max-frames {args.max_frames}")
        the_clip = _clip.synthetic(args.clip, frames=args.frames or 8, size=args.size)
        inputs.paths.append(data.path(args.clip))
        return the_clip
    inputs.paths.append(source)
    inputs.check_outputs([out, out.with_suffix(".json")])
    return _clip.read(source, size=args.size, frames=args.frames, limit=args.max_frames or _clip.MAX_FRAMES)


def run_network(args) -> int:
    """--network: every frame through a trained network; frames/s and the temporal error."""
    import json
    import sys
    import time

    import torch

    from .. import config
    from ..video import clip as _clip
    from ..video import flow as _flow
    from ..video.temporal import flows_of, temporal_error

    out = _clip.output_path(args.output)
    inputs = _Inputs()
    network = read_network(args.network, inputs)
    styles = ([args.style] if args.style else []) + list(args.adain_styles or [])
    if network.kind != "adain" and args.style:
        raise UsageError(f"STYLE {args.style}: {network.path} is a {network.kind} network with its own painting; "
                         f"only an AdaIN network takes one")
    check_adain_options(args, network.kind, network.path, styles)
    prepare = load_paintings(args, styles, inputs, network, args.size)[2] if network.kind == "adain" else None
    config.resolve_device(args.device)
    inputs.check_outputs([out, out.with_suffix(".json")])
    the_clip = _read_clip(args, inputs, out)
    inputs.check_outputs([out, out.with_suffix(".json")])
    if prepare is not None:
        prepare()
    network.to(config.resolve_device(args.device))
    network(the_clip.frames[0])  # a warm-up: the first call's set-up is not the network's speed
    frames, interrupted, started = [], False, time.perf_counter()
    try:
        for frame in the_clip.frames:
            frames.append(network(frame))
    except KeyboardInterrupt:
        interrupted = True
    seconds = time.perf_counter() - started
    if not frames:
        print(f"{PROG}: interrupted before the first frame was done: nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    written = _clip.write(out, frames, the_clip.fps)
    rate = len(frames) / max(seconds, 1e-9)
    if the_clip.flows is not None:  # a synthetic clip: against its true flow
        error, against = temporal_error(frames, the_clip.flows, the_clip.masks), "the true flow"
    elif len(frames) > 1 and _flow.has_opencv():  # a real clip: against the flow estimated on its frames
        pairs = [(None, None)] + [flows_of(the_clip, i, args.flow) for i in range(1, len(frames))]
        error = temporal_error(frames, [f for f, _ in pairs], [m for _, m in pairs])
        against = f"the estimated flow ({args.flow})"
    else:
        error, against = [], None
    mean = float(torch.tensor(error).mean()) if error else None
    meta = {"command": " ".join([PROG] + list(args.argv)), "clip": str(args.clip), "network": str(network.path),
            "kind": network.kind, "styles": styles, "alpha": args.alpha, "fps": the_clip.fps, "frames": len(frames),
            "seconds": seconds, "frames_per_second": rate, "interrupted": interrupted,
            "temporal_error": error, "mean_temporal_error": mean, "temporal_error_against": against}
    side = written.with_suffix(".json")
    with config.atomic_file(side) as tmp:
        tmp.write_text(json.dumps(meta, indent=1, default=str))
    if not args.quiet or interrupted:
        lead = "interrupted: saved the frames done" if interrupted else "done"
        flicker = (f", temporal error {mean:.4g} (RMS against {against}; compare with the optimisation's)"
                   if mean is not None else "")
        print(f"{PROG}: {lead}: {len(frames)} of {len(the_clip)} frames through the {network.kind} network at "
              f"{rate:.1f} frames/s{flicker} to {written} (+ {side.name})", file=sys.stderr)
    print(written)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def run(args) -> int:
    _defaults(args)
    if args.network is not None:
        return run_network(args)
    return run_optimisation(args)


def run_optimisation(args) -> int:
    import json
    import sys

    from .. import config
    from ..image import load_image
    from ..networks.weights import load_vgg, resolve
    from ..video import clip as _clip
    from ..video import flow as _flow
    from ..video.temporal import LABELS, METHODS, side_by_side, stylise, temporal_error

    out = _clip.output_path(args.output)  # checked before anything runs (an .mp4 may become .gif)
    if args.method != "independent" and not _flow.has_opencv():
        _flow._cv2()  # the clear error naming the extra
    ws = resolve(args.weights)
    config.resolve_device(args.device)
    inputs = _Inputs()
    inputs.file(ws.path)  # the weights file is an input: never overwritten
    style_path = inputs.image(args.style, "style")
    the_clip = _read_clip(args, inputs, out)
    inputs.check_outputs([out, out.with_suffix(".json")])
    style = load_image(style_path, size=args.size)
    _check_big_enough(the_clip.frames[0], ["relu4_2", "relu5_1"], ws.arch, "clip's frames")
    model = load_vgg(ws, device=args.device, progress=not args.quiet)
    methods = METHODS if args.method == "all" else (args.method,)
    results, first = {}, None
    for m in methods:
        r = stylise(the_clip, style, m, model=model, steps_first=args.steps_first, steps=args.steps,
                    temporal_weight=args.temporal_weight, flow=args.flow, seed=args.seed, first=first,
                    progress=not args.quiet, ratio=args.ratio)
        results[m] = r
        first = r.frames[0] if r.frames else None
        if r.interrupted:
            break
    done = [r for r in results.values() if r.frames]
    if not done:
        print(f"{PROG}: interrupted before the first frame was done: nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if len(results) > 1 or args.method == "all":
        pictures = side_by_side({LABELS[m]: r.frames for m, r in results.items() if r.frames})
    else:
        pictures = done[0].frames
    written = _clip.write(out, pictures, the_clip.fps)
    meta = {"command": " ".join([PROG] + list(args.argv)), "clip": str(args.clip), "style": str(style_path),
            "fps": the_clip.fps, "methods": {m: r.summary() for m, r in results.items()}}
    if the_clip.flows is not None:  # a synthetic clip: the temporal error against the true flow
        for m, r in results.items():
            meta["methods"][m]["temporal_error"] = temporal_error(r.frames, the_clip.flows, the_clip.masks)
    side = written.with_suffix(".json")
    with config.atomic_file(side) as tmp:
        tmp.write_text(json.dumps(meta, indent=1, default=str))
    interrupted = any(r.interrupted for r in results.values())
    if not args.quiet or interrupted:
        n = min(len(r.frames) for r in done)
        lead = "interrupted: saved the frames done" if interrupted else "done"
        errors = {m: v["temporal_error"] for m, v in meta["methods"].items() if v.get("temporal_error")}
        flicker = "".join(f", temporal error{'' if len(errors) == 1 else ' (' + m + ')'} "
                          f"{sum(e) / len(e):.4g}" for m, e in errors.items())
        print(f"{PROG}: {lead}: {n} of {len(the_clip)} frames to {written}{flicker} (+ {side.name})", file=sys.stderr)
    print(written)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK
