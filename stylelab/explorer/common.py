"""What the explorer's modules share: its constants, the records of a run, small helpers.

The explorer (the folder :mod:`stylelab.explorer`) is split by concern:

- :mod:`stylelab.explorer.app` the :class:`~stylelab.explorer.app.Explorer` itself: settings,
  presets and profiles, images and uploads, running in a background thread;
- :mod:`stylelab.explorer.widgets` building the widgets and their layout;
- :mod:`stylelab.explorer.images` the image menus: samples, in-memory images, uploads;
- :mod:`stylelab.explorer.history` the large view of a run, the history cards, Save,
  and the comparison of two runs;
- :mod:`stylelab.explorer.controls` the 2017 paper's regions and scale controls, and
  the style statistic (Li et al. 2017);
- :mod:`stylelab.explorer.features` the network menu (:mod:`stylelab.networks.features`);
- :mod:`stylelab.explorer.film` the film of a run (record, show, download, save);
- this module, which the others import (it imports none of them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import copy
from dataclasses import dataclass, field
import functools
import io
import math
from types import MappingProxyType
from typing import Any

from PIL import Image, ImageDraw
import torch

from ..image import to_pil
from ..method import optimise


#: The menu entry for "no image" / "no content layer".
NONE = "(none)"
#: Uploaded images appear in the image menus under this prefix.
UPLOAD_PREFIX = "upload: "
#: Uploads are kept at most this large (longest side, px); each run resizes them.
MAX_UPLOAD_SIDE = 1024
#: The preset menu's first entry (no preset / settings changed since).
CUSTOM = ""
#: What a figure preset sets unless it says otherwise: the paper's method (average
#: pooling, the normalised network, L-BFGS, no L2 prior) in the loss convention
#: in which its printed alpha/beta ratios give its look (stylelab.method.conventions.CONVENTIONS).
#: The TV weight, like size and steps, stays the profile's (0 in the paper profile).
PAPER_SETTINGS = {"convention": "calibrated", "pooling": "avg", "normalized": True, "optimizer": "lbfgs",
                  "gamma": 0.0, "init": "noise", "preserve_colour": "",
                  "regions": "", "fine_style": NONE, "split": "relu3_1", "scale_method": "paper",
                  "style_statistic": "gram", "features": ""}  # explorer.controls, explorer.features
#: The coarse-to-fine stages the menu offers (1: the paper's single size).
STAGES = (1, 2, 3, 4)
PREVIEW_WIDTH = 320  # px on screen
THUMB_WIDTH = 136
INPUT_THUMB = 96
_RED, _GREEN, _GREY = "#b00020", "#1b5e20", "#555"


# --------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class RunSpec:
    """What Run read from the widgets: a frozen snapshot, and the images it refers to."""

    number: int
    settings: Mapping[str, Any]  # read-only, JSON-able: see Explorer.settings()
    images: Mapping[str, torch.Tensor | None] = field(default_factory=dict, repr=False)  # in-memory images


@dataclass
class Run:
    """A finished, stopped or diverged run in the explorer's history."""

    number: int  # 1, 2, ... as shown in the widget ("#3")
    settings: Mapping[str, Any]  # the explorer's frozen snapshot (content, style, ratio, layers, ...)
    result: optimise.Result
    status: str  # "finished" | "stopped" | "diverged"
    film: Any = None  # its film, encoded (stylelab.explorer.film.RunFilm), if it recorded one

    @property
    def label(self) -> str:
        return f"#{self.number} {_short(self.settings)}"

    @property
    def final_loss(self) -> float | None:
        value = self.result.losses.get("total") if self.result.history else None
        return float(value) if value is not None else None


def _short(s: Mapping[str, Any]) -> str:
    parts = []
    if s.get("style"):
        parts.append(_pretty(s["style"]))
    elif s.get("content"):
        parts.append(_pretty(s["content"]))
    if s.get("content") and s.get("style") and s.get("content_layer"):
        parts.append(f"α/β {s['ratio']:.2g}")
    return ", ".join(parts)


def _pretty(name: str | None) -> str:
    if not name:
        return NONE
    if name.startswith(UPLOAD_PREFIX):
        return name[len(UPLOAD_PREFIX):]
    return name.replace("_", " ")

# --------------------------------------------------------------------------------------
# Small helpers


#: How allocators word running out of memory (CUDA, MPS, the CPU allocator).
_OOM_MARKERS = ("out of memory", "can't allocate memory", "not enough memory")


def _is_oom(exc: BaseException) -> bool:
    """Out of memory on any device: torch's OOM errors, MemoryError, or a RuntimeError
    saying so (CPU allocators and MPS report it that way)."""
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if isinstance(t, type))
    if isinstance(exc, MemoryError) or (oom_types and isinstance(exc, oom_types)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(m in text for m in _OOM_MARKERS)


def png_bytes(image: torch.Tensor | Image.Image, min_side: int = 0) -> bytes:
    """An image tensor (or PIL image) as PNG bytes, enlarged by a whole factor
    (nearest neighbour) until its longest side is at least ``min_side``."""
    pil = image if isinstance(image, Image.Image) else to_pil(image)
    longest = max(pil.size)
    if min_side and longest < min_side:
        f = math.ceil(min_side / longest)
        pil = pil.resize((pil.width * f, pil.height * f), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _placeholder(text: str, size: tuple[int, int] = (256, 192)) -> bytes:
    im = Image.new("RGB", size, (236, 236, 236))
    draw = ImageDraw.Draw(im)
    box = draw.textbbox((0, 0), text)
    draw.text(((size[0] - box[2]) / 2, (size[1] - box[3]) / 2), text, fill=(120, 120, 120))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _figure_png(fig, dpi: int = 72) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v) or "—"
    if isinstance(v, Mapping):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items()) or "—"
    return "—" if v is None else str(v)


def _freeze(value: Any) -> Any:
    """A deep, read-only copy: dicts become mappingproxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return copy.deepcopy(value)


def _thaw(value: Any) -> Any:
    """A frozen snapshot back as plain dicts and lists (for JSON)."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _guarded(method):
    """Widget callbacks: any exception becomes a message in the widget."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001  (the UI must survive anything)
            self._report(exc)
            return None

    return wrapper


# --------------------------------------------------------------------------------------
# Coarse-to-fine stages


def scales_text(scales: Sequence[int] | None, size: int | None = None) -> str:
    """A run's stage sizes as the widget shows them: ``"64 → 128 px"``; ``"one size, 128 px"``
    for a single stage (the paper)."""
    if not scales:
        return "one size" + (f", {size} px" if size else "")
    return " → ".join(str(v) for v in scales) + " px"


def n_stages(settings: Mapping[str, Any]) -> int:
    """How many coarse-to-fine stages a run's settings ask for (1: the paper's single size)."""
    scales = settings.get("scales")
    return len(scales) if scales else 1
