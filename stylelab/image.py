"""Image I/O: reading any picture a student throws at us, and writing results.

Images handed between stylelab modules are float32 tensors of shape
``(1, 3, H, W)``, RGB in ``[0, 1]``, on the CPU. This module turns files into
such tensors and back:

* :func:`load_pil` opens any file Pillow can read, honours the EXIF orientation
  and converts every colour mode to 8-bit RGB (transparency is composited over
  white; 16- and 32-bit greyscale is rescaled, not clipped).
* :func:`load_image` also resizes (longest side) on the PIL image, *before* a
  tensor exists, so huge photographs never reach the device at full size.
* :func:`save_image` writes PNG or JPEG atomically and can refuse to overwrite
  the inputs.

Every problem a user can cause raises :class:`~stylelab.errors.ImageError`
(bad files) or :class:`~stylelab.errors.SettingsError` (bad numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import contextlib
import math
import os
from pathlib import Path
import struct
import threading
from typing import Union
import warnings
import zlib

from PIL import Image, ImageOps, UnidentifiedImageError
import numpy as np
import torch
import torch.nn.functional as F

from .config import atomic_file
from .errors import ImageError, SettingsError


PathLike = Union[str, "os.PathLike[str]"]
ImageLike = Union[torch.Tensor, Image.Image]

#: Images with more pixels than this are refused outright (about 31600 x 31600).
MAX_PIXELS = 1_000_000_000

#: Default cap on the longest side when :func:`load_image` is given no ``size``.
DEFAULT_MAX_SIZE = 4096

#: Output formats :func:`save_image` writes, by lower-case file suffix.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}

_WHITE = (255, 255, 255, 255)
_HIGH_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
# Errors Pillow raises (depending on the format plug-in) for broken files.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                  struct.error, zlib.error)
_pillow_limit_lock = threading.Lock()


class ImageDownscaledWarning(UserWarning):
    """An image was larger than ``max_size`` and was shrunk while loading."""


# --------------------------------------------------------------------------- reading


@contextlib.contextmanager
def _huge_images_allowed() -> Iterator[None]:
    """Let Pillow open images up to :data:`MAX_PIXELS` inside this block.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` (about 89 Mpx) and refuses
    above twice that, to stop decompression bombs. We want big photographs
    *downscaled*, not rejected, so the limit is raised to :data:`MAX_PIXELS`
    here (its warning silenced; Pillow itself refuses only above twice that, and
    :func:`load_pil` checks :data:`MAX_PIXELS` with a clearer message) and
    restored afterwards. The setting is global to Pillow, hence the lock.
    """
    with _pillow_limit_lock:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _check_readable(path: Path) -> None:
    """Raise :class:`ImageError` if ``path`` is missing, a folder or empty."""
    try:
        if not path.exists():
            raise ImageError(f"no such file: {path}")
        if path.is_dir():
            raise ImageError(f"{path} is a folder, not an image file")
        empty = path.stat().st_size == 0
    except OSError as exc:  # e.g. a folder on the way that we may not enter
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if empty:
        raise ImageError(f"{path} is empty (0 bytes); re-download or re-export it")


def _draft_box(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """The (w, h) box with the image's aspect whose longest side is ``longest``."""
    w, h = size
    scale = longest / max(w, h)
    return max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))


def load_pil(path: PathLike, *, draft_size: int | None = None) -> Image.Image:
    """Open an image file as an 8-bit RGB :class:`PIL.Image.Image`.

    The EXIF orientation is applied (phone photos come out upright), and every
    Pillow mode is converted to RGB: see :func:`pil_to_rgb`.

    ``draft_size`` is a hint for big JPEGs: the longest side you are going to
    resize to. The decoder then works at 1/2, 1/4 or 1/8 scale, as long as the
    result stays at least that large (much faster, much less memory). The
    returned image is *not* resized to ``draft_size``; :func:`load_image` does that.

    Raises :class:`ImageError` for a missing file, a folder, an empty file, a
    file that is not an image, a truncated or corrupt image, and images of more
    than :data:`MAX_PIXELS` pixels.
    """
    if draft_size is not None:
        draft_size = _check_size(draft_size, "draft_size")
    return _open_rgb(Path(path).expanduser(), draft_size)[0]


def _open_rgb(path: Path, draft_size: int | None) -> tuple[Image.Image, tuple[int, int]]:
    """:func:`load_pil`, also returning the (w, h) stored in the file (before draft/EXIF)."""
    _check_readable(path)
    try:
        with _huge_images_allowed(), Image.open(path) as im:
            stored_size = w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageError(
                    f"{path} is {w}x{h} pixels, more than stylelab's limit of {MAX_PIXELS:,} "
                    "pixels; shrink it with an image editor first"
                )
            if draft_size is not None and im.format in ("JPEG", "MPO") and max(w, h) > draft_size:
                im.draft(None, _draft_box((w, h), draft_size))
            im.load()  # decode everything now, so truncated files fail here
            im = _upright(im, path)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{path} is larger than stylelab's limit of {MAX_PIXELS:,} pixels; "
            "shrink it with an image editor first"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{path} is not an image file Pillow can read (is it really a "
            f"{path.suffix or 'picture'} file? save it as PNG or JPEG)"
        ) from exc
    except PermissionError as exc:
        raise ImageError(f"cannot read {path}: permission denied") from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(
            f"{path} is truncated or corrupt ({exc}); re-download or re-export it"
        ) from exc
    try:
        return pil_to_rgb(im), stored_size
    except ValueError as exc:
        raise ImageError(
            f"{path} uses colour mode {im.mode!r}, which stylelab cannot convert "
            "to RGB; save it as an ordinary RGB PNG or JPEG"
        ) from exc


def _high_depth_to_l(im: Image.Image) -> Image.Image:
    """Rescale 16-bit, 32-bit integer or float greyscale to 8-bit ``L``.

    * ``I;16*`` (16-bit): 0..65535 maps to 0..255.
    * ``I`` (32-bit int): values within 0..65535 are taken as 16-bit (that is
      how 16-bit PNG/TIFF data usually arrives); anything else is stretched
      from its minimum to its maximum.
    * ``F`` (float): values within [0, 1] map to 0..255; anything else is
      stretched from its minimum to its maximum.
    """
    values = np.asarray(im).astype(np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if im.mode.startswith("I;16") or (im.mode == "I" and lo >= 0 and hi <= 65535):
        scaled = values / 257.0
    elif im.mode == "F" and lo >= 0 and hi <= 1:
        scaled = values * 255.0
    elif hi > lo:
        scaled = (values - lo) * (255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def pil_to_rgb(im: Image.Image) -> Image.Image:
    """Convert a PIL image of any mode to 8-bit RGB.

    Transparent pixels (RGBA, LA, PA, P or L with a transparent colour) are
    composited over white; 16/32-bit and float greyscale is rescaled to 8 bits
    by :func:`_high_depth_to_l` (Pillow's own ``convert`` would clip it).
    Raises ``ValueError`` for modes Pillow cannot convert.
    """
    if im.mode in _HIGH_DEPTH_MODES:
        im = _high_depth_to_l(im)
    if im.has_transparency_data:
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba)
    return im.convert("RGB")


def _upright(im: Image.Image, path: Path) -> Image.Image:
    """Apply the EXIF orientation tag; an unreadable tag is ignored with a warning."""
    try:
        return ImageOps.exif_transpose(im)
    except _DECODE_ERRORS as exc:
        warnings.warn(f"{path}: ignoring its unreadable EXIF orientation ({exc})")
        return im.copy()


def _check_size(value: object, name: str) -> int:
    """``value`` as a positive int, else :class:`SettingsError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise SettingsError(f"{name} must be a positive whole number of pixels, got {value!r}")
    return int(value)


def _longest_side_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) with the same aspect ratio and ``max(w, h) == size``."""
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resize_pil(im: Image.Image, size: int) -> Image.Image:
    """Lanczos-resize a PIL image so its longest side is ``size``."""
    new = _longest_side_shape(*im.size, size)
    if new == im.size:
        return im
    return im.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)


def load_image(path: PathLike, size: int | None = None,
               max_size: int | None = DEFAULT_MAX_SIZE) -> torch.Tensor:
    """Load an image file as a ``(1, 3, H, W)`` float32 tensor in ``[0, 1]``.

    ``size``: if given, the image is resized (Lanczos, aspect kept) so that its
    longest side is exactly ``size`` pixels, up or down. If ``size`` is None and
    the longest side exceeds ``max_size``, the image is shrunk to ``max_size``
    with an :class:`ImageDownscaledWarning` (``max_size=None``: no limit).
    Resizing happens on the PIL image, before the tensor is made.
    """
    if size is not None:
        size = _check_size(size, "size")
    if max_size is not None:
        max_size = _check_size(max_size, "max_size")
    target = size if size is not None else max_size
    path = Path(path).expanduser()
    im, (stored_w, stored_h) = _open_rgb(path, target)
    if size is not None:
        im = _resize_pil(im, size)
    elif max_size is not None and max(stored_w, stored_h) > max_size:
        warnings.warn(
            f"{path.name} is {stored_w}x{stored_h} pixels; downscaling it so its longest side "
            f"is {max_size} (pass size= or max_size= to choose another size)",
            ImageDownscaledWarning,
            stacklevel=2,
        )
        im = _resize_pil(im, max_size)
    return to_tensor(im)


# --------------------------------------------------------------------------- tensors


def to_tensor(pil: Image.Image) -> torch.Tensor:
    """A PIL image (any mode) as a ``(1, 3, H, W)`` float32 tensor in ``[0, 1]``."""
    rgb = pil_to_rgb(pil)
    array = np.array(rgb, dtype=np.uint8)  # H x W x 3, a writable copy
    tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
    return tensor.to(torch.float32).div_(255.0).contiguous()


def _as_batch(tensor: torch.Tensor) -> torch.Tensor:
    """Check an image tensor is (1, 3, H, W) or (3, H, W); return it as 4-D."""
    if not isinstance(tensor, torch.Tensor):
        raise ImageError(f"expected an image tensor, got {type(tensor).__name__}")
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4 or tensor.shape[0] != 1 or tensor.shape[1] != 3:
        raise ImageError(
            f"expected an image tensor of shape (1, 3, H, W) or (3, H, W), got {tuple(tensor.shape)}"
        )
    return tensor


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """A ``(1, 3, H, W)`` or ``(3, H, W)`` tensor as an 8-bit RGB PIL image.

    Values are clamped to ``[0, 1]`` and rounded to the nearest of 0..255.
    Raises :class:`ImageError` if the tensor contains NaN.
    """
    batch = _as_batch(tensor).detach()
    if torch.isnan(batch).any():
        raise ImageError("the image tensor contains NaN values; it cannot be shown or saved")
    array = batch[0].to("cpu", torch.float32).clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).numpy())


def image_to_numpy(image: ImageLike) -> np.ndarray:
    """An image (tensor or PIL) as an ``H x W x 3`` float32 array in ``[0, 1]``, for plotting."""
    if isinstance(image, Image.Image):
        image = to_tensor(image)
    batch = _as_batch(image).detach()
    return batch[0].to("cpu", torch.float32).clamp(0, 1).permute(1, 2, 0).numpy().copy()


def resize_to(tensor: torch.Tensor, shape: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """Resize an image tensor to exactly ``(h, w)``, antialiased.

    ``mode`` is ``"bicubic"`` or ``"bilinear"``; results are clamped to
    ``[0, 1]`` (bicubic overshoots slightly at edges). The shape convention
    of the input ((1, 3, H, W) or (3, H, W)) is kept.
    """
    if mode not in ("bicubic", "bilinear"):
        raise SettingsError(f"resize mode must be 'bicubic' or 'bilinear', got {mode!r}")
    try:
        h, w = shape
    except (TypeError, ValueError):
        raise SettingsError(f"shape must be (height, width), got {shape!r}") from None
    h, w = _check_size(h, "height"), _check_size(w, "width")
    batch = _as_batch(tensor)
    if tuple(batch.shape[-2:]) == (h, w):
        out = batch.clone()
    else:
        dtype = batch.dtype
        out = F.interpolate(batch.float(), size=(h, w), mode=mode, align_corners=False,
                            antialias=True).clamp_(0, 1).to(dtype)
    return out if tensor.dim() == 4 else out[0]


def resize(tensor: torch.Tensor, size: int, mode: str = "bicubic") -> torch.Tensor:
    """Resize an image tensor so its longest side is ``size`` (aspect kept, antialiased)."""
    size = _check_size(size, "size")
    height, width = _as_batch(tensor).shape[-2:]
    new_w, new_h = _longest_side_shape(int(width), int(height), size)
    return resize_to(tensor, (new_h, new_w), mode=mode)


# --------------------------------------------------------------------------- writing


def check_writable(path: PathLike, what: str = "the output") -> Path:
    """Raise :class:`ImageError` now if ``path`` could not be written later: its folder (or
    the first existing folder above it, where it would be created) must accept a new file.
    A probe file is created there and removed at once, so that a long run never ends in
    "cannot write" (a read-only disk, /proc, a folder of someone else's). Returns ``path``."""
    import tempfile

    path = Path(path).expanduser()
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ImageError(f"cannot write {what} {path}: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ImageError(f"cannot write {what} {path}: {folder} is not writable "
                         f"({exc.strerror or exc}); choose another folder") from None
    return path


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (resolved paths, or same inode)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def save_image(image: ImageLike, path: PathLike, quality: int = 95, *,
               protect: Iterable[PathLike] = ()) -> Path:
    """Write an image (tensor or PIL) to ``path`` as PNG or JPEG; return the path.

    The format follows the suffix (``.png``, ``.jpg``, ``.jpeg``, any case).
    Parent folders are created. The file is written to a temporary sibling and
    moved into place with ``os.replace``, so a crash never leaves half an image.
    ``quality`` (1..100) is used for JPEG. ``protect``: paths that must never be
    overwritten (the CLI passes the input images) -> :class:`ImageError`.
    """
    path = Path(path).expanduser()
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        allowed = ", ".join(SAVE_FORMATS)
        raise ImageError(f"cannot save {path}: unknown suffix {path.suffix!r}; use one of {allowed}")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise SettingsError(f"JPEG quality must be a whole number from 1 to 100, got {quality!r}")
    if path.is_dir():
        raise ImageError(f"cannot save to {path}: it is a folder")
    for other in protect:
        if _same_file(path, Path(other).expanduser()):
            raise ImageError(f"refusing to overwrite {path}: it is one of the input images; "
                             "choose another output name")
    pil = pil_to_rgb(image) if isinstance(image, Image.Image) else to_pil(image)
    options = {"quality": int(quality), "subsampling": 0} if fmt == "JPEG" else {}

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as temp, open(temp, "wb") as handle:
            pil.save(handle, format=fmt, **options)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise ImageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


# --------------------------------------------------------------------------- framing (lesson 07)


def on_black(image: torch.Tensor, area: float = 0.25) -> torch.Tensor:
    """``image`` shrunk to ``area`` of its own size (aspect kept) and centred on a black
    canvas of the original size: a "mostly black" style image, as a painting photographed
    on a black wall, for the failure case of lesson 07. Returns (1, 3, H, W)."""
    if not (isinstance(area, (int, float)) and 0 < area <= 1):
        raise SettingsError(f"area must be a fraction in (0, 1], got {area!r}")
    batch = _as_batch(image).detach().float().cpu()
    h, w = batch.shape[-2:]
    f = math.sqrt(area)
    th, tw = max(1, round(h * f)), max(1, round(w * f))
    out = torch.zeros_like(batch)
    top, left = (h - th) // 2, (w - tw) // 2
    out[..., top:top + th, left:left + tw] = resize_to(batch, (th, tw))
    return out


def crop_dark_border(image: torch.Tensor, threshold: float = 0.05) -> torch.Tensor:
    """``image`` cropped to the bounding box of its pixels brighter than ``threshold``
    (any channel): removes a black frame or border (the fix of lesson 07's failure case).
    Raises :class:`ImageError` if the whole image is darker than ``threshold``."""
    batch = _as_batch(image).detach().float().cpu()
    bright = (batch[0] > threshold).any(dim=0)
    rows = torch.nonzero(bright.any(dim=1)).flatten()
    cols = torch.nonzero(bright.any(dim=0)).flatten()
    if rows.numel() == 0:
        raise ImageError(f"the image has no pixel brighter than {threshold}: nothing to keep")
    return batch[..., int(rows[0]):int(rows[-1]) + 1, int(cols[0]):int(cols[-1]) + 1].clone()


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma 0.299 R + 0.587 G + 0.114 B of a (1, 3, H, W) or (3, H, W) image, as (H, W)."""
    x = image.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    if x.dim() != 3 or x.shape[0] != 3:
        raise ImageError(f"expected an RGB image (1, 3, H, W) or (3, H, W), got shape {tuple(image.shape)}")
    return 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
