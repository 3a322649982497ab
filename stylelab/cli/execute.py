"""Running the engine from the command line: the optimisation with its progress, snapshots
(``--save-every``), film (``--film``), Ctrl-C (the best image so far is saved), and the image
with its JSON record (settings, losses, history) written atomically."""

from __future__ import annotations

from pathlib import Path
import sys

from ..errors import ImageError, NonFiniteLossError, StylelabError
from .common import EXIT_INTERRUPTED, EXIT_OK, PROG, UsageError, _Inputs, _same_file


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
        from ..image import save_image, to_pil

        self.written.append(save_image(image, self.path(step), protect=self.protect))
        self.frames.append(to_pil(image))
        return False

    def gif(self, result) -> Path:
        from ..image import to_pil
        from ..plot import save_gif

        frames = ([to_pil(result.init_image)] if result.init_image is not None else []) + self.frames
        frames.append(to_pil(result.image))
        size = frames[-1].size  # coarse-to-fine: earlier stages' frames are smaller
        frames = [f if f.size == size else f.resize(size) for f in frames]
        return save_gif(frames, self.out.with_suffix(".gif"), duration=0.1)


def _film(args, out: Path, inputs: _Inputs):
    """--film, --film-frames: the recorder (stylelab.video.film) and its path, checked before anything runs."""
    if not args.film:
        if args.film_frames:
            raise UsageError("--film-frames needs --film")
        return None, None
    from ..video import film

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
