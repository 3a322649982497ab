"""``stylelab stylise``: photographs through a trained real-time network (``stylelab train``):
one forward pass each, Johnson et al.'s network for its painting or an AdaIN decoder for any
painting (``--style``, ``--alpha``, ``--mix``)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ImageError, SettingsError
from .common import NUMBERS, POS_INT, PROG, UsageError, _float, _Formatter, _Inputs, _same_file, _type

#: The image files ``stylise`` takes from a folder (the rest are left alone).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
#: stylelab.image.DEFAULT_MAX_SIZE, without importing torch (tests/cli/test_realtime_cli.py keeps them equal).
DEFAULT_MAX_SIZE = 4096


def _unit(text: str) -> float:
    v = _float(text)
    if not 0.0 <= v <= 1.0:
        raise ValueError("must be between 0 and 1")
    return v


UNIT = _type(_unit, "a number from 0 to 1")


def add_adain_options(p, positional_style: bool = False) -> None:
    """--style, --mix, --alpha: the painting(s) an AdaIN network stylises with (stylise and video)."""
    g = p.add_argument_group("AdaIN networks only (Huang & Belongie 2017)")
    g.add_argument("--style", action="append", dest="adain_styles", metavar="STYLE",
                   help="the painting: an image file or a sample name such as starry_night; required for an AdaIN "
                        "network" + (" unless given as STYLE" if positional_style else "")
                        + "; several --style are mixed (Eq. 15, --mix)")
    g.add_argument("--mix", type=NUMBERS, metavar="W1,W2,...",
                   help="with several --style: their weights, in order (scaled to sum to 1; default: equal)")
    g.add_argument("--alpha", type=UNIT, metavar="A",
                   help="content-style trade-off (Eq. 14): 0 the photograph's responses, 1 (default) the painting's "
                        "statistics in full")


def check_adain_options(args, kind: str, net_path, styles: list[str]) -> None:
    """Refuse AdaIN's options for a Johnson network, and an AdaIN network without a painting."""
    if kind != "adain":
        given = [o for o, v in (("--style", styles), ("--mix", args.mix), ("--alpha", args.alpha)) if v]
        if given:
            raise UsageError(f"{', '.join(given)}: {net_path} is a {kind} network, trained for one painting; "
                             f"only an AdaIN network takes a painting (stylelab train --network adain)")
        return
    if not styles:
        raise UsageError(f"{net_path} is an AdaIN network: give the painting with --style (a file or a sample "
                         f"name such as starry_night)")
    if args.mix is not None:
        if len(args.mix) != len(styles):
            raise UsageError(f"--mix has {len(args.mix)} weights for {len(styles)} --style paintings")
        if sum(args.mix) <= 0:
            raise UsageError("--mix: the weights must not all be 0")


def mix_weights(args, n: int) -> list[float] | None:
    if args.mix is None:
        return None
    total = sum(args.mix)
    return [w / total for w in args.mix][:n]


class Network:
    """A trained network read with :func:`stylelab.realtime.saved.read`, ready to stylise frames:
    Johnson's on its own, AdaIN's with the VGG encoder and the paintings."""

    def __init__(self, path: Path, report: dict, net, kind: str):
        self.path, self.report, self.net, self.kind = path, report, net, kind
        self.encoder = self.styles = self.weights = None
        self.alpha = 1.0

    def with_paintings(self, encoder, styles: list, weights, alpha) -> "Network":
        """AdaIN: the encoder (the lessons' VGG) and the paintings (tensors)."""
        from ..realtime.adain import ENCODER_LAYER, encode

        probe = encode(encoder, styles[0][..., :16, :16] if min(styles[0].shape[-2:]) >= 16 else styles[0])
        if probe.shape[1] != self.net.in_channels:
            raise SettingsError(f"{self.path} decodes {self.net.in_channels}-channel {ENCODER_LAYER} responses, but "
                                f"the --weights network gives {probe.shape[1]}: use the VGG it was trained with")
        self.encoder, self.styles, self.weights = encoder, styles, weights
        self.alpha = 1.0 if alpha is None else alpha
        return self

    def to(self, device) -> "Network":
        self.net = self.net.to(device)
        return self

    def __call__(self, image):
        from ..realtime import adain, transformer

        if self.kind == "johnson":
            return transformer.stylise(self.net, image)
        return adain.stylise(self.encoder, self.net, image, self.styles, self.weights, self.alpha)


def read_network(path_text: str, inputs: _Inputs) -> Network:
    """The trained network at ``path_text`` (a one-line WeightsError for anything else); protected as an input."""
    from ..realtime import saved

    path = Path(path_text).expanduser()
    inputs.file(path)
    net, report = saved.read(path)
    return Network(path, report, net, report["network"])


def load_paintings(args, styles: list[str], inputs: _Inputs, network: Network, size: int | None):
    """AdaIN: the VGG (--weights) and the paintings at ``size`` (default: the recipe's painting size, else 512)."""
    from .. import config
    from ..networks.weights import load_vgg, resolve
    from .common import _load

    ws = resolve(args.weights)
    config.resolve_device(args.device)
    inputs.file(ws.path)
    paths = [inputs.image(s, "--style") for s in styles]
    return ws, paths, lambda: network.with_paintings(
        load_vgg(ws, device=args.device, progress=not args.quiet),
        [_load(p, size or network.report.get("recipe", {}).get("size") or 512, "--style") for p in paths],
        mix_weights(args, len(paths)), args.alpha)


def _images(texts: list[str], inputs: _Inputs) -> tuple[list[Path], list[Path], bool]:
    """(image files, input folders, whether any INPUT was a folder)."""
    files, folders = [], []
    for text in texts:
        p = Path(text).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
            if not found:
                raise ImageError(f"the folder {p} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            folders.append(p)
            inputs.paths.extend(found)
            files.extend(found)
        else:
            files.append(inputs.image(text, "input"))
    return files, folders, bool(folders)


def _outputs(out_text: str, files: list[Path], folders: list[Path], any_folder: bool) -> tuple[list[Path], Path]:
    """One output per input image: ``-o`` itself for one image, else ``-o``/NAME in a folder."""
    from ..image import SAVE_FORMATS, check_writable
    from .common import _check_output

    if len(files) == 1 and not any_folder:
        out = _check_output(out_text)
        return [out], out
    out = Path(out_text).expanduser()
    if out.exists() and not out.is_dir():
        raise ImageError(f"-o {out}: {len(files)} images need an output folder, and {out} is a file; "
                         f"give a folder name")
    if out.suffix.lower() in SAVE_FORMATS and not out.exists():
        raise ImageError(f"-o {out}: {len(files)} images need an output folder, not an image file name")
    for folder in folders:
        if _same_file(out, folder):
            raise ImageError(f"refusing to write into {out}: it is an input folder; choose another output folder")
    check_writable(out / "stylised.png", "the results")
    names, outs = set(), []
    for f in files:
        suffix = f.suffix.lower() if f.suffix.lower() in SAVE_FORMATS else ".png"
        name, k = f"{f.stem}{suffix}", 1
        while name in names:
            k += 1
            name = f"{f.stem}-{k}{suffix}"
        names.add(name)
        outs.append(out / name)
    return outs, out


def run(args) -> int:
    import sys
    import time

    import torch

    from .. import config
    from ..image import load_image, save_image
    from .common import EXIT_INTERRUPTED, EXIT_OK

    inputs = _Inputs()
    network = read_network(args.network, inputs)
    styles = list(args.adain_styles or [])
    check_adain_options(args, network.kind, network.path, styles)
    files, folders, any_folder = _images(args.inputs, inputs)
    outs, target = _outputs(args.output, files, folders, any_folder)
    prepare = None
    if network.kind == "adain":
        _, _, prepare = load_paintings(args, styles, inputs, network, args.style_size)
    else:
        config.resolve_device(args.device)
    inputs.check_outputs(outs)
    if prepare is not None:
        prepare()
    network.to(config.resolve_device(args.device))
    network(torch.zeros(1, 3, 32, 32))  # a warm-up: the first call's set-up is not the network's speed
    if len(outs) > 1:
        os.makedirs(target, exist_ok=True)
    done = 0
    try:
        for path, out in zip(files, outs):
            try:
                image = load_image(path, size=args.size, max_size=DEFAULT_MAX_SIZE)
            except ImageError as exc:
                raise ImageError(f"input image: {exc}") from None
            t = time.perf_counter()
            result = network(image)
            seconds = time.perf_counter() - t
            written = save_image(result, out, protect=inputs.paths)
            done += 1
            if not args.quiet:
                h, w = result.shape[-2:]
                print(f"{PROG}: {path.name}: {w}x{h} px in {seconds:.3f} s -> {written}", file=sys.stderr)
            print(written)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted: {done} of {len(files)} images written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def add(sub) -> None:
    """``stylelab stylise``: images through a trained real-time network."""
    p = sub.add_parser(
        "stylise", formatter_class=_Formatter, help="stylise images with a trained real-time network (stylelab train)",
        description=(
            "One forward pass per image through a network trained by `stylelab train`: Johnson et al.'s network\n"
            "paints in the style it was trained on; an AdaIN decoder (Huang & Belongie 2017) in the style of any\n"
            "painting given with --style. The time of each image is printed."),
        epilog="examples:\n  stylelab stylise starry.pt tubingen -o tubingen-starry.png\n"
               "  stylelab stylise adain.pt photos/ -o stylised/ --style the_scream --alpha 0.7\n"
               "  stylelab stylise adain.pt photo.jpg -o mix.png --style starry_night --style the_scream --mix 0.3,0.7",
    )
    p.add_argument("network", metavar="NET.pt", help="the trained network: a .pt file written by stylelab train")
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="image files, sample names or folders (every image file in a folder, in name order)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="with one input image: the image to write (.png, .jpg); else the folder to write them to "
                        "(created; each result named after its input). Never an input file or folder")
    p.add_argument("--size", type=POS_INT, metavar="PX",
                   help=f"longest side of the results (default: each input's own size, at most {DEFAULT_MAX_SIZE} px)")
    add_adain_options(p)
    p.add_argument("--style-size", type=POS_INT, metavar="PX",
                   help="AdaIN: longest side the paintings are loaded at (default: the size the network was trained "
                        "with, else 512)")
    p.add_argument("--weights", metavar="NAME|PATH",
                   help="AdaIN: the encoder's VGG weights, the ones the decoder was trained with (default: "
                        "$STYLELAB_WEIGHTS if set, else vgg19)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: $STYLELAB_DEVICE, else the best available)")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-image times")
    p.set_defaults(handler=run)
