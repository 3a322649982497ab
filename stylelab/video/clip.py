"""Video clips: reading them (MP4 and other ffmpeg formats, animated GIF/WebP, a folder of
frames), writing them at their frame rate, and a synthetic clip whose true motion is known.

    clip = sl.clip.read("walk.mp4", size=256, frames=30)   # the first 30 frames, longest side 256 px
    clip = sl.clip.synthetic("tubingen", frames=12, size=128)   # a camera pan and zoom, true flow known
    sl.clip.write("out.mp4", clip.frames, clip.fps)

A :class:`Clip` holds its frames as (1, 3, H, W) tensors in [0, 1] and its frame rate. The
synthetic clip also holds the TRUE backward flow of each frame (frame i -> frame i-1, see
:mod:`stylelab.video.flow`) and the mask of its pixels that frame i-1 also saw, so flows, masks
and the temporal error of a stylised clip can be measured against the truth.

MP4 (and MOV, MKV, AVI, WebM) is read and written with the optional ``imageio-ffmpeg``
(``pip install "stylelab[film]"``); GIF, WebP and folders of PNG/JPEG frames with Pillow.
Files are written through :mod:`stylelab.video.film`'s writers: atomically, and an .mp4 without
imageio-ffmpeg becomes the .gif beside it with a warning. Bad input (not a video, no
frames, more frames than the limit, a corrupt frame) raises :class:`~stylelab.errors.ImageError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import os
from pathlib import Path

from PIL import Image, ImageSequence
import numpy as np
import torch
import torch.nn.functional as F

from . import film as _film
from ..errors import ImageError, SettingsError
from ..image import load_image, pil_to_rgb, resize_to, to_pil, to_tensor


#: Suffixes read with ffmpeg (imageio-ffmpeg) and with Pillow.
FFMPEG_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
PILLOW_SUFFIXES = (".gif", ".webp")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
#: The most frames :func:`read` accepts unless told otherwise (a 128 px frame takes seconds
#: to stylise on a CPU; a long clip takes hours).
MAX_FRAMES = 300
#: The frame rate of a folder of frames (which does not store one) unless given.
DEFAULT_FPS = 12.0
#: The largest frame :func:`read` decodes: 8K UHD (7680 x 4320). A bigger canvas (an 85-byte
#: GIF can declare 10000 x 10000) is refused before any frame is decoded.
MAX_FRAME_PIXELS = 7680 * 4320
#: The most pixels :func:`read` decodes in all (frame size x frames it would read), checked
#: before the first frame is decoded: 300 frames of 4K video (3840 x 2160) fit.
MAX_CLIP_PIXELS = 2_500_000_000
#: Without ``size`` the frames are kept as stored: at most this many pixels in all (as
#: float32 tensors, 12 bytes each); pass ``size`` to shrink larger clips as they are read.
MAX_KEPT_PIXELS = 50_000_000


@dataclass
class Clip:
    """Frames (1, 3, H, W) in [0, 1] of one size, the frame rate, and, for a synthetic clip,
    the true backward flows (``flows[i]``: frame i -> i-1, ``flows[0]`` None) and the masks
    of the pixels of frame i that frame i-1 also shows (1) or does not (0)."""

    frames: list[torch.Tensor]
    fps: float
    source: str = ""
    flows: list | None = field(default=None, repr=False)
    masks: list | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames."""
        return tuple(self.frames[0].shape[-2:])

    def head(self, n: int) -> "Clip":
        """The first ``n`` frames (with their flows and masks)."""
        cut = lambda xs: None if xs is None else xs[:n]  # noqa: E731
        return Clip(self.frames[:n], self.fps, self.source, cut(self.flows), cut(self.masks))


# ------------------------------------------------------------------------------ reading


def _frames_count(frames, limit) -> tuple[int | None, int]:
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
        raise SettingsError(f"frames must be a whole number >= 1 (the first frames to take), got {frames!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise SettingsError(f"the frame limit must be a whole number >= 1, got {limit!r}")
    if frames is not None and frames > limit:
        raise SettingsError(f"{frames} frames asked for, more than the limit of {limit}; raise the limit")
    return frames, limit


def _too_long(path, n: str, limit: int) -> ImageError:
    return ImageError(f"{path} has {n} frames, more than the limit of {limit}: take the first ones with "
                      f"frames=N (stylelab video --frames N) or raise the limit (--max-frames)")


def read(path: str | os.PathLike, size: int | None = None, *, frames: int | None = None,
         limit: int = MAX_FRAMES, fps: float | None = None) -> Clip:
    """Read a clip: a video file (MP4, MOV, MKV, AVI, WebM: needs imageio-ffmpeg), an animated
    GIF or WebP, or a folder of PNG/JPEG frames (in name order).

    size: the longest side of the frames (default: as stored). frames: take only the first
    ``frames``. limit: refuse a clip with more frames than this (unless ``frames`` picks
    fewer), saying so. fps: the frame rate of a folder of frames (default :data:`DEFAULT_FPS`);
    files carry their own. Raises :class:`ImageError` for a missing path, a file that is not
    a video, a clip without frames, a clip over the limit and a corrupt or odd-sized frame.

    Decompression bombs: the frame size and the number of frames are read from the file's
    header and checked before any frame is decoded (a frame of at most
    :data:`MAX_FRAME_PIXELS`, at most :data:`MAX_CLIP_PIXELS` decoded in all, and without
    ``size`` at most :data:`MAX_KEPT_PIXELS` kept); each frame is shrunk to ``size`` as it
    is read (by ffmpeg itself for videos), so memory stays that of the small frames.
    """
    frames, limit = _frames_count(frames, limit)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise SettingsError(f"size must be a whole number of pixels >= 1, got {size!r}")
    path = Path(path).expanduser()
    if not path.exists():
        raise ImageError(f"no such clip: {path}")
    want = frames if frames is not None else limit + 1  # one more than the limit: to tell "too long"
    suffix = path.suffix.lower()
    if path.is_dir():
        images, rate = _read_folder(path, size, want, limit, frames), fps or DEFAULT_FPS
    elif path.is_file() and path.stat().st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes); re-download or re-export it")
    elif suffix in PILLOW_SUFFIXES:
        images, rate = _read_pillow(path, size, want)
    elif suffix in FFMPEG_SUFFIXES:
        images, rate = _read_ffmpeg(path, size, want)
    else:
        raise ImageError(f"{path} is not a video stylelab can read: use MP4 (or MOV, MKV, AVI, WebM), an animated "
                         f"GIF or WebP, or a folder of PNG/JPEG frames")
    if not images:
        raise ImageError(f"{path} has no frames")
    if frames is None and len(images) > limit:
        raise _too_long(path, f"more than {limit}", limit)
    shapes = {tuple(f.shape[-2:]) for f in images}
    if len(shapes) > 1:
        raise ImageError(f"the frames of {path} differ in size ({sorted(shapes)}); every frame must have one size")
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        rate = DEFAULT_FPS
    return Clip(images, float(rate), str(path))


def _budget(path, w: int, h: int, n: int, size) -> None:
    """Refuse a clip whose (w x h) frames, ``n`` of them to be read, would take too much
    memory or time to decode: checked on the header, before any frame is decoded."""
    if w < 1 or h < 1:
        raise ImageError(f"{path} declares frames of {w}x{h} px: not a readable video")
    if w * h > MAX_FRAME_PIXELS:
        raise ImageError(f"{path} has frames of {w}x{h} px, more than stylelab's limit of {MAX_FRAME_PIXELS:,} "
                         f"pixels per frame (8K video); shrink the video first (e.g. ffmpeg -vf scale=1920:-2)")
    if w * h * n > MAX_CLIP_PIXELS:
        raise ImageError(f"{path}: {n} frames of {w}x{h} px are more than stylelab's limit of {MAX_CLIP_PIXELS:,} "
                         f"pixels to decode; take fewer frames (--frames N) or shrink the video first")
    if size is None and w * h * n > MAX_KEPT_PIXELS:
        raise ImageError(f"{path}: {n} frames of {w}x{h} px kept at full size are more than {MAX_KEPT_PIXELS:,} "
                         f"pixels; pass size= (stylelab video --size) to shrink them as they are read")


def _target(w: int, h: int, size: int | None) -> tuple[int, int]:
    """(w, h) of a frame shrunk (or enlarged) so that its longest side is ``size``."""
    if size is None or max(w, h) == size:
        return w, h
    return max(1, round(w * size / max(h, w))), max(1, round(h * size / max(h, w)))


def _fit(pil: Image.Image, size: int | None) -> torch.Tensor:
    """A decoded frame as (1, 3, H, W), shrunk on the PIL image first (never a full-size
    float tensor of a big frame)."""
    w, h = pil.size
    tw, th = _target(w, h, size)
    if (tw, th) != (w, h) and tw * th < w * h:
        if pil.mode not in ("L", "RGB", "RGBA", "LA", "I", "F"):
            pil = pil_to_rgb(pil)
        pil = pil.resize((tw, th), Image.Resampling.LANCZOS, reducing_gap=3.0)
    t = to_tensor(pil_to_rgb(pil))
    if size is not None and tuple(t.shape[-2:]) != (th, tw):
        t = resize_to(t, (th, tw))
    return t


def _read_folder(path: Path, size, want: int, limit: int, frames) -> list[torch.Tensor]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file())
    if not files:
        raise ImageError(f"the folder {path} holds no frames (PNG or JPEG files)")
    if frames is None and len(files) > limit:
        raise _too_long(path, str(len(files)), limit)
    from ..image import _huge_images_allowed

    total = kept = 0
    for f in files[:want]:  # every frame's header first: nothing is decoded before the budget is known
        try:
            with _huge_images_allowed(), Image.open(f) as im:
                w, h = im.size
        except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for broken headers
            raise ImageError(f"frame {f.name} of {path} is not a readable image ({exc})") from None
        if w * h > MAX_FRAME_PIXELS:
            raise ImageError(f"frame {f.name} of {path} is {w}x{h} px, more than stylelab's limit of "
                             f"{MAX_FRAME_PIXELS:,} pixels per frame; shrink the frames first")
        total += w * h
        tw, th = _target(w, h, size)
        kept += tw * th
    if total > MAX_CLIP_PIXELS or kept > MAX_KEPT_PIXELS:
        raise ImageError(f"the frames of {path} hold {total:,} pixels, too many to decode or keep; take fewer "
                         f"(--frames N) or pass a smaller size (--size)")
    out = []
    for f in files[:want]:
        try:
            out.append(load_image(f, size=size))
        except ImageError as exc:
            raise ImageError(f"frame {f.name} of {path}: {exc}") from None
    return out


def _read_pillow(path: Path, size, want: int) -> tuple[list[torch.Tensor], float]:
    from ..image import _huge_images_allowed

    out, durations = [], []
    try:
        with _huge_images_allowed(), Image.open(path) as im:
            w, h = im.size  # the canvas every frame is decoded to
            _budget(path, w, h, min(want, int(getattr(im, "n_frames", 1) or 1)), size)  # headers only
            for k, frame in enumerate(ImageSequence.Iterator(im)):
                if k >= want:
                    break
                frame.load()
                durations.append(frame.info.get("duration") or 0)
                out.append(_fit(frame, size))  # shrunk now: one full-size frame at a time
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for broken files
        where = f"frame {len(out)} of " if out else ""
        raise ImageError(f"{where}{path} is not a readable GIF/WebP animation or is corrupt ({exc})") from None
    good = [d for d in durations if d]
    return out, (1000.0 / float(np.median(good)) if good else DEFAULT_FPS)


def _read_ffmpeg(path: Path, size, want: int) -> tuple[list[torch.Tensor], float]:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise SettingsError(f'reading {path.suffix} needs imageio-ffmpeg: pip install "stylelab[film]"; or give '
                            "an animated GIF or a folder of frames") from None
    out: list[torch.Tensor] = []
    header = _ffmpeg_header(path)  # frame size and length, without decoding a frame
    sw, sh = header["size"]
    rate, seconds = float(header.get("fps") or 0), float(header.get("duration") or 0)
    estimate = math.ceil(rate * seconds) + 1 if rate > 0 and seconds > 0 else want
    _budget(path, sw, sh, min(want, estimate), size)
    tw, th = _target(sw, sh, size)
    # ffmpeg shrinks each frame itself (area average) and stops after the frames wanted
    params = ["-frames:v", str(want)] + (["-vf", f"scale={tw}:{th}:flags=area"] if (tw, th) != (sw, sh) else [])
    try:
        reader = imageio_ffmpeg.read_frames(str(path), output_params=params)
        meta = reader.__next__()
        w, h = meta["size"]
        if tuple(meta.get("source_size") or (sw, sh)) != (sw, sh):
            reader.close()
            raise ImageError(f"{path} changed its frame size while it was read")
        try:
            for k, raw in enumerate(reader):
                if k >= want:
                    break
                a = np.frombuffer(raw, dtype=np.uint8)
                if a.size != w * h * 3:
                    raise ImageError(f"frame {k} of {path} is truncated or corrupt")
                out.append(_fit(Image.fromarray(a.reshape(h, w, 3)), size))
        finally:
            reader.close()
    except (ImageError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - ffmpeg's complaints: not a video, broken stream
        where = f"frame {len(out)} of " if out else ""
        raise ImageError(f"{where}{path} is not a readable video or is corrupt "
                         f"({' '.join(str(exc).split())[:200]})") from None
    return out, float(meta.get("fps") or DEFAULT_FPS)


def _ffmpeg_header(path: Path) -> dict:
    """The video stream's size, fps and duration from ``ffmpeg -i`` (which reads the header
    and decodes nothing). :class:`ImageError` if there is no video stream."""
    import subprocess

    import imageio_ffmpeg
    from imageio_ffmpeg._parsing import parse_ffmpeg_header

    try:
        proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                              capture_output=True, timeout=60)
        text = proc.stderr.decode("utf-8", "replace")
        meta = parse_ffmpeg_header(text)
        w, h = (int(v) for v in meta["size"])
    except subprocess.TimeoutExpired:
        raise ImageError(f"{path}: ffmpeg could not read its header within 60 s") from None
    except Exception:  # noqa: BLE001 - no video stream, not a video, ffmpeg's complaints
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()] if "text" in locals() else []
        why = f" ({lines[-1][:200]})" if lines else ""
        raise ImageError(f"{path} is not a readable video or is corrupt{why}") from None
    return {**meta, "size": (w, h)}


# ------------------------------------------------------------------------------ writing


def pictures(frames) -> list[Image.Image]:
    """Frames (tensors (1, 3, H, W), PIL images or uint8 arrays) as PIL images of one size."""
    out = [f if isinstance(f, Image.Image) else to_pil(f) if isinstance(f, torch.Tensor) else Image.fromarray(f)
           for f in frames]
    if not out:
        raise SettingsError("no frames to write")
    if len({p.size for p in out}) > 1:
        raise SettingsError(f"the frames differ in size: {sorted({p.size for p in out})}")
    return [p.convert("RGB") for p in out]


def output_path(path: str | os.PathLike) -> Path:
    """The file :func:`write` will write ``path`` to, checked now (see :func:`stylelab.video.film.output_path`)."""
    return _film.output_path(path)


def write(path: str | os.PathLike, frames, fps: float = DEFAULT_FPS, *, quality: int = 85) -> Path:
    """Write ``frames`` as a clip at ``fps`` frames per second: .mp4, .gif or .webp, atomically
    (:mod:`stylelab.video.film`'s writers; an .mp4 without imageio-ffmpeg is written as the .gif
    beside it, with a warning). Returns the path written."""
    target = output_path(path)
    if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and math.isfinite(fps) and 0 < fps <= 120):
        raise SettingsError(f"fps must be a number of frames per second in (0, 120], got {fps!r}")
    pics = pictures(frames)
    writer = {".mp4": _film._write_mp4, ".gif": _film._write_gif, ".webp": _film._write_webp}[target.suffix.lower()]
    _film._atomic(target, lambda tmp: writer(tmp, pics, float(fps), 0.0, quality))
    return target


# ------------------------------------------------------------------------------ the synthetic clip


def _camera(t: int, h: int, w: int, hs: int, ws: int, pan: tuple[float, float], zoom: float, start: float):
    """Frame t's map p -> source position: c_t + s_t (p - m) (source pixels), as (c_t, s_t)."""
    s0 = start * (ws - 1) / (w - 1)  # source pixels per frame pixel at frame 0
    s = s0 / zoom ** t
    c0 = torch.tensor([(ws - 1) * 0.5 - 0.5 * pan[0] * s0 * 8, (hs - 1) * 0.5 - 0.5 * pan[1] * s0 * 8])
    c = c0 + t * torch.tensor(pan) * s0  # pan: frame pixels per frame, at the first frame's scale
    return c, s


def synthetic(image: str | torch.Tensor = "tubingen", frames: int = 8, size: int = 128, *, pan=(2.0, 0.6),
              zoom: float = 1.01, start: float = 0.7, ball: bool = True, ball_speed=(-2.5, 1.0), fps: float = 8.0,
              seed: int = 0) -> Clip:
    """A clip made from one photograph (a sample name or an image): a slow camera pan and zoom
    across it with a small striped ball moving against the pan, and its TRUE flows and masks.

    frames: the number of frames; size: their longest side (the photograph's aspect ratio).
    pan: the camera's motion, frame pixels per frame (x, y); zoom: the magnification from one
    frame to the next (1.01: 1 % closer each frame); start: the share of the photograph's
    width the first frame shows. ball: draw the moving ball (it hides and uncovers the town,
    so some pixels of each frame were not in the previous one: the mask marks them 0);
    ball_speed: its motion in frame pixels per frame. The photograph is loaded at about
    1.6 x ``size`` and sampled bilinearly, so frames are not blurred by upsampling.

    The true backward flow of frame t (t -> t-1) is, for the photograph, the camera maps
    composed, q = m + (c_t - c_{t-1} + s_t (p - m)) / s_{t-1}, w = q - p; on the ball its
    translation. The mask is 0 where q leaves frame t-1, where the ball covered q in frame
    t-1 and on the ball's soft rim.
    """
    from .. import data

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise SettingsError(f"frames must be a whole number >= 1, got {frames!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise SettingsError(f"size must be a whole number of pixels >= 16, got {size!r}")
    if not (isinstance(zoom, (int, float)) and math.isfinite(zoom) and 0.5 <= zoom <= 2):
        raise SettingsError(f"zoom must be a magnification per frame between 0.5 and 2, got {zoom!r}")
    if not (0.1 <= float(start) <= 1):
        raise SettingsError(f"start must be a share of the photograph's width in [0.1, 1], got {start!r}")
    src = data.load(image, size=math.ceil(1.6 * size / start)) if isinstance(image, str) else image.detach().float()
    if src.dim() != 4 or src.shape[:2] != (1, 3):
        raise SettingsError(f"the photograph must be an RGB image (1, 3, H, W), got {tuple(src.shape)}")
    hs, ws = src.shape[-2:]
    h, w = (round(size * hs / ws), size) if ws >= hs else (size, round(size * ws / hs))
    m = torch.tensor([(w - 1) / 2, (h - 1) / 2])
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    p = torch.stack((xs, ys))  # (2, H, W)
    radius = 0.09 * min(h, w) + 2
    o0 = torch.tensor([0.72 * w, 0.3 * h])
    speed = torch.tensor([float(v) for v in ball_speed])
    g = torch.Generator().manual_seed(int(seed))
    hue = torch.rand(3, generator=g) * 0.3

    def ball_alpha(t):  # soft-edged disc of the ball at frame t, (H, W) in [0, 1]
        d = (p - (o0 + t * speed).view(2, 1, 1)).pow(2).sum(0).sqrt()
        return (radius + 0.5 - d).clamp(0, 1)

    out, flows, masks = [], [None], [torch.ones(1, 1, h, w)]
    for t in range(frames):
        c, s = _camera(t, h, w, hs, ws, pan, zoom, start)
        pos = c.view(2, 1, 1) + s * (p - m.view(2, 1, 1))  # source pixel positions of frame t
        if pos[0].min() < 0 or pos[0].max() > ws - 1 or pos[1].min() < 0 or pos[1].max() > hs - 1:
            raise SettingsError(f"the camera leaves the photograph at frame {t}: use fewer frames, a slower "
                                f"pan or zoom, or a smaller start")
        grid = torch.stack((2 * pos[0] / (ws - 1) - 1, 2 * pos[1] / (hs - 1) - 1), dim=-1).unsqueeze(0)
        frame = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)
        a = ball_alpha(t) if ball else torch.zeros(h, w)
        if ball:  # diagonal stripes in the ball's own coordinates: they move with it
            q = p - (o0 + t * speed).view(2, 1, 1)
            stripes = 0.5 + 0.5 * torch.sin((q[0] + q[1]) * 0.7)
            colour = torch.stack([0.85 + 0.1 * stripes, 0.15 + 0.7 * stripes * (1 - hue[1]), 0.1 + hue[2] * stripes])
            frame = frame * (1 - a) + colour.unsqueeze(0) * a
        out.append(frame.clamp(0, 1))
        if t == 0:
            continue
        c1, s1 = _camera(t - 1, h, w, hs, ws, pan, zoom, start)
        q = m.view(2, 1, 1) + (c.view(2, 1, 1) - c1.view(2, 1, 1) + s * (p - m.view(2, 1, 1))) / s1
        flow = q - p
        inside = (q[0] >= 0) & (q[0] <= w - 1) & (q[1] >= 0) & (q[1] <= h - 1)
        mask = inside.clone()
        if ball:
            on_ball = a >= 0.5
            flow[:, on_ball] = (-speed).view(2, 1).expand(2, int(on_ball.sum()))
            prev_a = ball_alpha(t - 1)
            qg = torch.stack((2 * q[0] / (w - 1) - 1, 2 * q[1] / (h - 1) - 1), dim=-1).unsqueeze(0)
            covered = F.grid_sample(prev_a.view(1, 1, h, w), qg, align_corners=True)[0, 0] > 0
            rim = (a > 0) & (a < 1)
            mask = torch.where(on_ball, torch.ones_like(mask), mask & ~covered) & ~rim
            prev_rim = F.grid_sample(((prev_a > 0) & (prev_a < 1)).float().view(1, 1, h, w), qg,
                                     align_corners=True)[0, 0] > 0
            mask &= ~(on_ball & prev_rim)
        flows.append(flow.unsqueeze(0))
        masks.append(mask.float().view(1, 1, h, w))
    name = image if isinstance(image, str) else "image"
    return Clip(out, float(fps), f"synthetic:{name}", flows, masks)
