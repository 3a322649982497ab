"""The optimisation as a film: the image x as it forms under L-BFGS, frame by frame,
with the step and the terms of Eq. 7 (L_total = alpha L_content + beta L_style,
Gatys, Ecker & Bethge 2015/2016) drawn under it and, optionally, the loss curves beside it.

    film = sl.film.Film(frames=120)                        # keeps at most 120 frames
    result = sl.transfer(content, style, steps=300, callback=film, every=1)
    film.save("run.mp4", result=result)                    # or run.gif / run.webp
    sl.film.show("run.mp4")                                # plays inline in a notebook

A :class:`Film` is the engine's ``callback(step, image, record)`` (:func:`stylelab.method.transfer.optimize`).
It keeps a FIXED number of frames whatever the number of steps: when its buffer is full
it drops every other frame and from then on keeps every second call only (the stride
doubles), so memory stays bounded; the first and the latest frame are always kept.
Coarse-to-fine runs (``scales=``) hand it smaller images in the early stages: frames are
stored at their own size and scaled to the final size when the film is rendered.

The image of each frame is the engine's: the lowest-loss image so far (which, for
L-BFGS, is nearly always the current one); the caption shows the losses of that step.

MP4 needs the optional ``imageio-ffmpeg`` (``pip install "stylelab[film]"``; its wheel
ships an ffmpeg binary). Without it ``save("run.mp4")`` writes ``run.gif`` with Pillow
instead and warns (:class:`FilmFallbackWarning`); GIF and WebP always work. Every file is
written to a temporary sibling and moved into place, so no half-written film is left.
"""

from __future__ import annotations

import base64
import bisect
from dataclasses import dataclass
import math
import os
from pathlib import Path
from typing import Callable, Sequence
import warnings

from PIL import Image, ImageDraw, ImageFont
import numpy as np
import torch

from .. import config
from ..errors import ImageError, SettingsError


#: The file types a film can be written as, by suffix.
FORMATS = {".mp4": "MP4", ".gif": "GIF", ".webp": "WEBP"}
DEFAULT_FRAMES = 120
DEFAULT_FPS = 12
#: Frames are scaled up until the image's longest side is at least this (a 128 px run: x2).
MIN_SIDE = 256
RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bicubic": Image.Resampling.BICUBIC}
#: Curve colours: the total, alpha L_content, beta L_style (as in stylelab.plot).
COLOURS = {"total": (20, 20, 20), "content": (31, 119, 180), "style": (214, 39, 40)}
TERMS = ("total", "content", "style")


class FilmFallbackWarning(UserWarning):
    """An MP4 was asked for but imageio-ffmpeg is not installed: a GIF was written instead."""


def has_mp4() -> bool:
    """Whether MP4 can be written here (the optional ``imageio-ffmpeg`` package)."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Frame:
    """One kept snapshot: the step, the image (H, W, 3) uint8 at its own size, the losses."""

    step: int
    image: np.ndarray
    losses: dict  # total, content, style (and stage, size for coarse-to-fine runs)


def _uint8(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    if isinstance(image, torch.Tensor):
        t = image.detach().to("cpu", torch.float32)
        if t.dim() == 4:
            t = t[0]
        if t.dim() != 3 or t.shape[0] != 3:
            raise SettingsError(f"a film frame must be an RGB image (1, 3, H, W), got shape {tuple(image.shape)}")
        return (t.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy().copy()
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise SettingsError(f"a film frame must be an RGB image, got an array of shape {a.shape}")
    return (a * 255 + 0.5).clip(0, 255).astype(np.uint8) if a.dtype.kind == "f" else a.astype(np.uint8)


def _losses(record: dict | None) -> dict:
    record = record or {}
    out = {k: float(record[k]) for k in TERMS if isinstance(record.get(k), (int, float))}
    for k in ("stage", "size"):
        if k in record:
            out[k] = record[k]
    return out


class Film:
    """Records the optimisation as at most ``frames`` frames; use it as ``callback=``.

    frames: the most frames kept (>= 2), whatever the number of steps (see the module).
    callback: another ``callback(step, image, record)`` to call as well (its return value,
        True to stop the run, is passed on), so a film can ride along with one.

    Memory: at most ``frames`` images (H x W x 3 bytes each, at their own size) plus five
    numbers per call for the loss curves. ``film.frames``, ``len(film)``, ``film.stride``.
    """

    def __init__(self, frames: int = DEFAULT_FRAMES, *, callback: Callable | None = None):
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
            raise SettingsError(f"a film keeps at least 2 frames (first and last); frames={frames!r}")
        if callback is not None and not callable(callback):
            raise SettingsError(f"callback must be a function, got {type(callback).__name__}")
        self.capacity = frames
        self.callback = callback
        self.stride = 1  # every stride-th call is kept
        self._kept: list[Frame] = []  # at most capacity - 1; the latest call is self._last
        self._last: Frame | None = None
        self._calls = 0
        self._curve: list[tuple] = []  # (step, total, content, style, stage) of every call
        self._size = (0, 0)  # the largest (H, W) seen: the final size of a coarse-to-fine run

    # -------------------------------------------------------------------- recording

    def __call__(self, step: int, image, record: dict | None = None) -> bool:
        """Keep this step's image if the stride says so (always as the latest frame)."""
        frame = Frame(int(step), _uint8(image), _losses(record))
        h, w = frame.image.shape[:2]
        if h * w > self._size[0] * self._size[1]:
            self._size = (h, w)
        if self._calls % self.stride == 0:
            if len(self._kept) >= self.capacity - 1:  # full: keep every other frame, halve the rate
                self._kept = self._kept[::2]
                self.stride *= 2
            if self._calls % self.stride == 0:
                self._kept.append(frame)
        self._last = frame
        self._calls += 1
        L = frame.losses
        self._curve.append((frame.step, L.get("total", math.nan), L.get("content", math.nan),
                            L.get("style", math.nan), L.get("stage", 0)))
        return bool(self.callback(step, image, record)) if self.callback is not None else False

    add = __call__

    @property
    def frames(self) -> list[Frame]:
        """The kept frames in order: the first call, every stride-th after it, the latest."""
        if self._last is None:
            return []
        if self._kept and self._kept[-1] is self._last:
            return list(self._kept)
        return self._kept + [self._last]

    def __len__(self) -> int:
        return len(self.frames)

    def __bool__(self) -> bool:  # an empty film is still a callback (the engine tests `if callback`)
        return True

    def __repr__(self) -> str:
        return f"Film({len(self)} of at most {self.capacity} frames, {self._calls} steps seen, stride {self.stride})"

    # -------------------------------------------------------------------- rendering

    def render(self, result=None, *, size: int | None = None, resample: str = "nearest",
               curves: bool = True, caption: bool = True) -> list[Image.Image]:
        """The frames as pictures, all of one size.

        result: the run's :class:`~stylelab.method.transfer.Result`: its image fixes the final size
            and its history (every step) draws the curves; without it, the largest image
            seen and the recorded steps.
        size: the longest side of the image in the film (default: the final size, scaled
            up by a whole factor to at least :data:`MIN_SIDE`); resample: ``"nearest"``
            (the pixels as they are; a coarse stage looks blocky) or ``"bicubic"``.
        curves: draw the loss curves beside the image (log scale; faint in full, in colour up
            to the frame's step; a grey line where a coarse-to-fine stage starts).
        caption: write the step and the losses under the image, in the colours of the curves.
        With ``result`` (its settings give alpha and beta) the caption and the curves show
        L_total, alpha L_content and beta L_style, the terms of Eq. 7 that add up to the
        total; without it the unweighted L_content and L_style of the records.
        """
        frames = self.frames
        if not frames:
            raise SettingsError("the film has no frames: pass it to the run as callback=film (e.g. "
                                "sl.transfer(..., callback=film, every=1)) before rendering or saving it")
        if resample not in RESAMPLE:
            raise SettingsError(f"resample must be one of {tuple(RESAMPLE)}, got {resample!r}")
        final = tuple(result.image.shape[-2:]) if result is not None else self._size
        if size is None:
            size = max(final) * max(1, math.ceil(MIN_SIDE / max(final)))
        if isinstance(size, bool) or not isinstance(size, int) or size < 16:
            raise SettingsError(f"size must be a whole number of pixels >= 16, got {size!r}")
        h, w = final
        dw, dh = max(1, round(w * size / max(h, w))), max(1, round(h * size / max(h, w)))
        weights = _loss_weights(result)
        curve = _history(result) if result is not None and result.history else self._curve
        if weights is not None:  # alpha L_content and beta L_style: with tv and l2 they add up to L_total
            curve = [(p[0], p[1], p[2] * weights[0], p[3] * weights[1], p[4]) for p in curve]
        total_steps = result.steps_done if result is not None else (curve[-1][0] if curve else None)
        n_stages = len(result.stages) if result is not None and result.stages else None
        layout = _Layout(dw, dh, curves, caption)
        panel = _CurvePanel(curve, layout.panel_w, dh, layout.font_small) if curves else None
        out = []
        for f in frames:
            img = Image.fromarray(f.image)
            if img.size != (dw, dh):
                img = img.resize((dw, dh), RESAMPLE[resample])
            canvas = Image.new("RGB", (layout.width, layout.height), "white")
            canvas.paste(img, (0, 0))
            if panel is not None:
                canvas.paste(panel.draw(f.step), (dw, 0))
            if caption:
                _caption(ImageDraw.Draw(canvas), f, total_steps, n_stages, layout, weights)
            out.append(canvas)
        return out

    # -------------------------------------------------------------------- writing

    def save(self, path: str | os.PathLike, result=None, *, fps: float = DEFAULT_FPS, hold: float = 2.0,
             size: int | None = None, resample: str = "nearest", curves: bool = True, caption: bool = True,
             fallback: bool = True, quality: int = 80) -> Path:
        """Write the film to ``path`` (.mp4, .gif or .webp) atomically; return the path written.

        fps: frames per second; hold: seconds the last frame stays (the result).
        quality: MP4 1..100 (libx264's CRF follows it) and WebP 1..100.
        An .mp4 without imageio-ffmpeg: with ``fallback`` the GIF beside it (same name,
        .gif) is written and a :class:`FilmFallbackWarning` says so; else an error.
        The rest: see :meth:`render`.
        """
        target = output_path(path, fallback=fallback)
        if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and math.isfinite(fps) and 0 < fps <= 60):
            raise SettingsError(f"fps must be a number of frames per second in (0, 60], got {fps!r}")
        if not (isinstance(hold, (int, float)) and math.isfinite(hold) and 0 <= hold <= 60):
            raise SettingsError(f"hold must be 0 to 60 seconds, got {hold!r}")
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise SettingsError(f"quality must be a whole number from 1 to 100, got {quality!r}")
        pictures = self.render(result, size=size, resample=resample, curves=curves, caption=caption)
        writer = {".mp4": _write_mp4, ".gif": _write_gif, ".webp": _write_webp}[target.suffix.lower()]
        _atomic(target, lambda tmp: writer(tmp, pictures, float(fps), float(hold), quality))
        return target

    def show(self, result=None, *, format: str | None = None, **kwargs):
        """The film as an IPython display object (MP4 if it can be written here, else GIF)."""
        import tempfile

        suffix = "." + (format or ("mp4" if has_mp4() else "gif")).lower().lstrip(".")
        with tempfile.TemporaryDirectory() as folder:
            return show(self.save(Path(folder) / f"film{suffix}", result, **kwargs))


def output_path(path: str | os.PathLike, *, fallback: bool = True) -> Path:
    """The file a film saved to ``path`` is written to: checked now, before any run.

    A known suffix (:data:`FORMATS`), not a folder, in a folder that is one or can be
    created and that accepts a new file (:func:`stylelab.image.check_writable`). An .mp4
    without imageio-ffmpeg becomes the .gif beside it (with a :class:`FilmFallbackWarning`),
    or an error when ``fallback`` is False.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ImageError(f"cannot write a film to {path}: unknown suffix {path.suffix!r}; use one of "
                         f"{', '.join(FORMATS)}")
    if path.is_dir():
        raise ImageError(f"cannot write a film to {path}: it is a folder; give a file name such as "
                         f"{path / ('film' + suffix)}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ImageError(f"cannot write a film to {path}: {parent} is a file, not a folder")
            break
    from ..image import check_writable

    check_writable(path, "the film")  # now, not after the run
    if suffix == ".mp4" and not has_mp4():
        if not fallback:
            raise SettingsError(f"cannot write {path}: MP4 needs imageio-ffmpeg (pip install \"stylelab[film]\"); "
                                "or save a .gif or .webp")
        gif = path.with_suffix(".gif")
        warnings.warn(f"MP4 needs imageio-ffmpeg (pip install \"stylelab[film]\"), which is not installed: "
                      f"writing the animated GIF {gif} instead of {path}", FilmFallbackWarning, stacklevel=3)
        return gif
    return path


def show(path: str | os.PathLike, *, width: int | None = None):
    """An IPython display object that plays a film file inline in a notebook: an HTML5
    ``<video>`` for MP4, an ``<img>`` for GIF and WebP (the data embedded as base64)."""
    from IPython.display import HTML

    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ImageError(f"cannot show {path}: unknown suffix {path.suffix!r}; use one of {', '.join(FORMATS)}")
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        raise ImageError(f"cannot read the film {path}: {exc.strerror or exc}") from None
    style = f' width="{int(width)}"' if width else ""
    if suffix == ".mp4":
        return HTML(f'<video controls autoplay loop muted playsinline{style} '
                    f'src="data:video/mp4;base64,{data}"></video>')
    return HTML(f'<img{style} src="data:image/{suffix[1:]};base64,{data}"/>')


# ------------------------------------------------------------------------ drawing helpers


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _history(result) -> list[tuple]:
    return [(r["step"], r.get("total", math.nan), r.get("content", math.nan), r.get("style", math.nan),
             r.get("stage", 0)) for r in result.history]


class _Layout:
    """Where things go: the image top left, the curve panel right of it, the caption below."""

    def __init__(self, dw: int, dh: int, curves: bool, caption: bool):
        self.image_w, self.image_h = dw, dh
        self.font = _font(max(11, min(18, round(max(dw, dh) / 20))))
        self.font_small = _font(max(10, min(14, round(max(dw, dh) / 26))))
        self.panel_w = max(dh, 200) if curves else 0
        self.line_h = self.font.getbbox("Ag")[3] + 4
        self.caption_h = 3 * self.line_h + 8 if caption else 0
        # even sizes, multiples of 16: what H.264's yuv420p and its macro blocks need
        self.width = _round16(dw + self.panel_w)
        self.height = _round16(dh + self.caption_h)


def _round16(n: int) -> int:
    return -(-n // 16) * 16


def _fmt(v: float) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _loss_weights(result) -> tuple[float, float] | None:
    """(alpha, beta) of Eq. 7 from a result's settings, or None when they are not known."""
    settings = getattr(result, "settings", None) or {}
    try:
        return float(settings["alpha"]), float(settings["beta"])
    except (KeyError, TypeError, ValueError):
        return None


def _caption(draw: ImageDraw.ImageDraw, f: Frame, total_steps, n_stages, layout: _Layout, weights=None) -> None:
    """The step (and stage), then the loss terms in the colours of their curves."""
    L = f.losses
    head = f"step {f.step}" + (f" of {total_steps}" if total_steps else "")
    if "stage" in L:
        size = L.get("size")
        head += f"   stage {int(L['stage']) + 1}" + (f" of {n_stages}" if n_stages else "")
        if size:
            head += f" ({size[1]}x{size[0]} px)"
    a, b = weights if weights is not None else (1.0, 1.0)
    pa, pb = ("alpha·", "beta·") if weights is not None else ("", "")
    parts = [(f"L_total {_fmt(L.get('total'))}", COLOURS["total"])]
    if L.get("content"):
        parts.append((f"{pa}L_content {_fmt(a * L['content'])}", COLOURS["content"]))
    if L.get("style"):
        parts.append((f"{pb}L_style {_fmt(b * L['style'])}", COLOURS["style"]))
    x0, y = 6, layout.image_h + 4
    draw.text((x0, y), head, fill=(0, 0, 0), font=layout.font)
    y += layout.line_h
    x = x0
    for text, colour in parts:  # as many per line as fit
        tw = draw.textlength(text, font=layout.font)
        if x > x0 and x + tw > layout.width - 4:
            x, y = x0, y + layout.line_h
        draw.text((x, y), text, fill=colour, font=layout.font)
        x += tw + 14


def _ticks(lo: float, hi: float) -> list[float]:
    """Values for the log axis from 10^lo to 10^hi: 1, 2, 5 x 10^k over a short range,
    decades over a longer one (every second, third ... over a very long one), the two
    ends over a very narrow one."""
    span = hi - lo
    mantissas = (1, 2, 5) if span < 2.5 else (1,)
    every = max(1, math.ceil(span / 6))
    out = [m * 10.0 ** k for k in range(math.floor(lo), math.ceil(hi) + 1) if k % every == 0 for m in mantissas]
    out = [v for v in out if lo - 1e-9 <= math.log10(v) <= hi + 1e-9]
    return out if len(out) >= 2 else [10.0 ** lo, 10.0 ** hi]  # a narrow range: its ends


class _CurvePanel:
    """The loss curves on a log scale: drawn in full, faint, and in colour up to the frame's step."""

    def __init__(self, curve: Sequence[tuple], width: int, height: int, font):
        self.w, self.h, self.font = width, height, font
        self.left, self.right, self.top, self.bottom = 44, 8, 8, 22
        pts = sorted(curve)
        self.steps = [p[0] for p in pts]
        values = [v for p in pts for v in p[1:4] if math.isfinite(v) and v > 0]
        self.base = Image.new("RGB", (width, height), "white")
        self.lines: dict[str, list[tuple[float, float]]] = {}
        if not pts or not values:
            return
        lo, hi = math.log10(min(values)), math.log10(max(values))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        s0, s1 = self.steps[0], max(self.steps[-1], self.steps[0] + 1)
        pw, ph = width - self.left - self.right, height - self.top - self.bottom
        X = lambda s: self.left + (s - s0) / (s1 - s0) * pw  # noqa: E731
        Y = lambda v: self.top + (hi - math.log10(v)) / (hi - lo) * ph  # noqa: E731
        stride = max(1, len(pts) // (2 * pw))  # no more points than pixels need
        sampled = pts[::stride] + ([pts[-1]] if (len(pts) - 1) % stride else [])
        self.line_steps: dict[str, list[int]] = {}
        for i, term in enumerate(TERMS):
            kept = [p for p in sampled if math.isfinite(p[i + 1]) and p[i + 1] > 0]
            if kept:  # a term the run does not have (texture: no content) is not drawn
                self.lines[term] = [(X(p[0]), Y(p[i + 1])) for p in kept]
                self.line_steps[term] = [p[0] for p in kept]
        self.X = X
        d = ImageDraw.Draw(self.base)
        d.rectangle([self.left, self.top, width - self.right, height - self.bottom], outline=(150, 150, 150))
        for v in _ticks(lo, hi):
            y = Y(v)
            d.line([(self.left, y), (width - self.right, y)], fill=(232, 232, 232))
            d.text((self.left - 4, y), f"{v:.3g}", fill=(90, 90, 90), font=font, anchor="rm")
        stages = [p for a, p in zip(pts, pts[1:]) if p[4] != a[4]]
        for p in stages:  # coarse-to-fine: where a stage starts
            d.line([(X(p[0]), self.top), (X(p[0]), height - self.bottom)], fill=(200, 200, 200))
        d.text((self.left, height - self.bottom + 3), f"{s0}", fill=(90, 90, 90), font=font)
        d.text((width - self.right, height - self.bottom + 3), f"{s1} steps", fill=(90, 90, 90), font=font, anchor="ra")
        for term, line in self.lines.items():
            faint = tuple(int(c + (255 - c) * 0.75) for c in COLOURS[term])
            if len(line) > 1:
                d.line(line, fill=faint, width=1)

    def draw(self, step: int) -> Image.Image:
        img = self.base.copy()
        if not self.lines:
            return img
        d = ImageDraw.Draw(img)
        for term, line in self.lines.items():
            n = bisect.bisect_right(self.line_steps[term], step)
            if n > 1:
                d.line(line[:n], fill=COLOURS[term], width=2)
            if n >= 1:
                x, y = line[n - 1]
                d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=COLOURS[term])
        x = self.X(step)
        d.line([(x, self.top), (x, self.h - self.bottom)], fill=(120, 120, 120))
        return img


# ------------------------------------------------------------------------ writers


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a temporary sibling (with the same suffix, so encoders know the
    format), then ``os.replace``; on any error the temporary file is removed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with config.atomic_file(path, path.suffix) as tmp:
            write(tmp)
    except OSError as exc:
        raise ImageError(f"cannot write the film {path}: {exc.strerror or exc}") from exc


def _durations(n: int, fps: float, hold: float) -> list[int]:
    ms = max(20, round(1000 / fps))  # browsers show GIF frames of < 20 ms at 100 ms
    return [ms] * (n - 1) + [max(ms, round(hold * 1000))]


def _write_gif(tmp: Path, pictures: list[Image.Image], fps: float, hold: float, quality: int) -> None:
    pal = [p.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) for p in pictures]
    pal[0].save(tmp, format="GIF", save_all=True, append_images=pal[1:], duration=_durations(len(pal), fps, hold),
                loop=0, disposal=1, optimize=False)


def _write_webp(tmp: Path, pictures: list[Image.Image], fps: float, hold: float, quality: int) -> None:
    pictures[0].save(tmp, format="WEBP", save_all=True, append_images=pictures[1:], loop=0,
                     duration=_durations(len(pictures), fps, hold), quality=quality, method=4)


def _write_mp4(tmp: Path, pictures: list[Image.Image], fps: float, hold: float, quality: int) -> None:
    import imageio_ffmpeg

    w, h = pictures[0].size
    extra = max(0, round(hold * fps) - 1)  # the last frame, held
    crf = round(51 - 0.33 * quality)  # quality 80 -> CRF 25
    writer = imageio_ffmpeg.write_frames(
        str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p", quality=None, macro_block_size=16,
        ffmpeg_log_level="error", output_params=["-crf", str(crf), "-movflags", "+faststart"])
    writer.send(None)
    try:
        for p in pictures + [pictures[-1]] * extra:
            writer.send(np.ascontiguousarray(np.asarray(p, dtype=np.uint8)))
    finally:
        writer.close()
