"""``stylelab video``: style transfer for a clip (Ruder, Dosovitskiy & Brox, *Artistic Style
Transfer for Videos*, GCPR 2016; :mod:`stylelab.video.temporal`)."""

from __future__ import annotations

from ..errors import SettingsError
from .common import EXIT_INTERRUPTED, EXIT_OK, NONNEG, POS_INT, POSITIVE, PROG, SEED, _check_big_enough, _Formatter, _Inputs


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
               "  stylelab video tubingen starry_night -o pan.webp --frames 8 --size 128 --method all",
    )
    p.add_argument("clip", metavar="CLIP", help="a video (MP4, MOV, MKV, AVI, WebM), an animated GIF/WebP, a folder "
                   "of PNG/JPEG frames, or a sample image name (tubingen): a slow synthetic pan and zoom across it")
    p.add_argument("style", metavar="STYLE", help="style image: a file or a sample name such as starry_night")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="the clip to write: .mp4 (needs stylelab[film]; else the .gif beside it), .gif or .webp")
    p.add_argument("--method", choices=METHODS + ("all",), default="temporal",
                   help="independent, prev_warped, temporal (default), or all: the three side by side")
    p.add_argument("--size", type=POS_INT, default=256, metavar="PX", help="longest side of the frames (default: 256)")
    p.add_argument("--frames", type=POS_INT, metavar="N", help="only the first N frames")
    p.add_argument("--max-frames", type=POS_INT, metavar="N", default=None,
                   help="refuse a clip with more frames than this unless --frames picks fewer (default: 300)")
    p.add_argument("--steps-first", type=POS_INT, default=DEFAULT_STEPS_FIRST, metavar="N",
                   help=f"L-BFGS steps of the first frame, and of every frame with independent (default: {DEFAULT_STEPS_FIRST})")
    p.add_argument("--steps", type=POS_INT, default=DEFAULT_STEPS, metavar="N",
                   help=f"L-BFGS steps of each later frame with prev_warped and temporal (default: {DEFAULT_STEPS})")
    p.add_argument("--ratio", type=POSITIVE, default=1e-3, help="alpha/beta (default: 1e-3)")
    p.add_argument("--temporal-weight", type=NONNEG, default=DEFAULT_TEMPORAL_WEIGHT, metavar="GAMMA",
                   help=f"weight of the temporal loss (default: {DEFAULT_TEMPORAL_WEIGHT:g})")
    p.add_argument("--flow", choices=FLOW_METHODS, default="dis", help="OpenCV's optical flow: dis (default) or farneback")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the white-noise starts (default: 0)")
    p.add_argument("--weights", metavar="NAME|PATH",
                   help="a registered weight set (default: $STYLELAB_WEIGHTS if set, else vgg19)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: $STYLELAB_DEVICE, else the best available)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summary")
    p.set_defaults(handler=run)
    return p


def run(args) -> int:
    import json
    from pathlib import Path
    import sys

    from .. import config, data
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
    source = Path(args.clip).expanduser()
    if not source.exists() and args.clip in data.names():
        if args.max_frames and args.frames and args.frames > args.max_frames:
            raise SettingsError(f"--frames {args.frames} is more than --max-frames {args.max_frames}")
        the_clip = _clip.synthetic(args.clip, frames=args.frames or 8, size=args.size)
        inputs.paths.append(data.path(args.clip))
    else:
        inputs.paths.append(source)
        inputs.check_outputs([out, out.with_suffix(".json")])
        the_clip = _clip.read(source, size=args.size, frames=args.frames, limit=args.max_frames or _clip.MAX_FRAMES)
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
        print(f"{PROG}: {lead}: {n} of {len(the_clip)} frames to {written} (+ {side.name})", file=sys.stderr)
    print(written)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK
