"""The explorer: Gatys et al.'s method behind sliders, for a notebook.

    from stylelab.explorer import Explorer
    explorer = Explorer()          # nothing is loaded yet: the network loads on the first Run
    explorer.display()

Choose a content and a style image (a sample or an upload), the size, alpha/beta,
the content layer, the style layers and their weights, the start image, the
optimiser, the pooling and the regularisers, or load a figure's settings from the
preset menu, then press Run. The optimisation runs in a background thread, so the
notebook stays responsive: the progress bar, the current image and the loss curves
update while it runs, and Stop ends it before the next step, keeping the best image
so far. Every finished (or stopped) run is kept with its settings, shown side by
side in the history, can be compared with another run and saved as PNG with its
settings as JSON beside it.

Settings are read from the widgets once, when Run is pressed (:meth:`Explorer.run`),
into a frozen snapshot: changing a widget during a run changes the next run, never
the running one. Errors a student can cause (no style layer ticked, an unreadable
upload, out of memory, a diverging loss) appear as one red line in the widget,
never as a traceback.

Everything the widgets do is also a method, so the explorer can be scripted and
tested without a browser: :meth:`~Explorer.apply_preset`, :meth:`~Explorer.run`,
:meth:`~Explorer.stop`, :meth:`~Explorer.wait`, :meth:`~Explorer.save`,
:meth:`~Explorer.add_upload`, :meth:`~Explorer.compare`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import html
import importlib
import io
import logging
import math
import os
import tempfile
import threading
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import ipywidgets as widgets
import torch
from PIL import Image, ImageDraw

from . import data, paper, plot
from . import weights as _weights
from .errors import ImageError, NonFiniteLossError, SettingsError, StylelabError
from .image import ImageDownscaledWarning, load_image, resize, to_pil
from .vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, VGG
from .vgg import layers as _vgg_layers

#: The engine module (the package attribute ``stylelab.transfer`` is the function of that name).
transfer = importlib.import_module(f"{__package__}.transfer")

__all__ = ["Explorer", "Run", "RunSpec", "NONE", "UPLOAD_PREFIX"]

log = logging.getLogger(__name__)

#: The menu entry for "no image" / "no content layer".
NONE = "(none)"
#: Uploaded images appear in the image menus under this prefix.
UPLOAD_PREFIX = "upload: "
#: Uploads are kept at most this large (longest side, px); each run resizes them.
MAX_UPLOAD_SIDE = 1024
#: The preset menu's first entry (no preset / settings changed since).
CUSTOM = ""
#: What a figure preset sets unless it says otherwise: the paper's method (average
#: pooling, the normalised network, L-BFGS, no regularisers) in the loss convention
#: its alpha/beta ratios refer to.
PAPER_SETTINGS = {"convention": "gatys_code", "pooling": "avg", "normalized": True, "optimizer": "lbfgs",
                  "tv_weight": 0.0, "gamma": 0.0, "init": "noise"}
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
    result: transfer.Result
    status: str  # "finished" | "stopped" | "diverged"

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
# The explorer


class Explorer:
    """An ipywidgets explorer of Gatys et al.'s style transfer.

    model: a :class:`~stylelab.vgg.VGG` to use (tests pass a tiny random one); else the
        network is loaded on the first Run from ``weights`` (None: ``STYLELAB_WEIGHTS``,
        else VGG-19) with the pooling and normalisation chosen in the widget, on ``device``.
    images: extra in-memory images ``{name: (1, 3, H, W) tensor}`` offered in the image
        menus (uploads are added the same way); samples: offer the sample images of
        :mod:`stylelab.data` (True), a list of their names, or none (False).
    profile: ``"quick"`` or ``"paper"`` (:data:`stylelab.paper.PROFILES`): the initial
        size and steps; ``size`` / ``steps`` override them.
    output_dir: where Save writes ``run-NNN.png`` and ``run-NNN.json``.
    every: update the image and the curves every k steps (a widget too).
    history_size: how many runs the history row shows (all are kept in :attr:`runs`).

    The widgets are attributes (``ratio``, ``content``, ``style``, ``style_layers`` (a
    dict layer -> Checkbox), ``layer_weights`` (layer -> FloatText), ``run_button``,
    ``stop_button``, ``preview``, ``curves``, ``progress``, ``message``, ``history_box``,
    ...); :attr:`widget` is the whole box.
    """

    def __init__(self, model: VGG | None = None, *, weights=None, device=None,
                 output_dir: str | os.PathLike = "explorer-out", profile: str = "quick",
                 size: int | None = None, steps: int | None = None, seed: int = 0, every: int = 5,
                 images: Mapping[str, torch.Tensor] | None = None, samples: bool | Sequence[str] = True,
                 history_size: int = 6, content: str | None = None, style: str | None = None):
        self._model = model
        self._weights = weights
        self._device = device
        self.output_dir = Path(output_dir)
        self.history_size = int(history_size)
        self.runs: list[Run] = []
        self.last_error: str | None = None
        self.last_traceback: str | None = None
        self._images: dict[str, torch.Tensor] = {}
        self._sample_cache: dict[tuple[str, int], torch.Tensor] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._busy = False
        self._counter = 0
        self._applying = 0  # > 0 while a preset / profile sets widgets
        self._comparing = 0  # > 0 while the comparison menus are set from code
        self._cards: dict[int, widgets.Widget] = {}
        self._shown_run: Run | None = None
        self._live_records: list[dict] | None = None
        self._init_error: str | None = None

        if samples is True:
            self._samples = list(data.names())
        elif samples:
            self._samples = [data.info(n).name for n in samples]
        else:
            self._samples = []
        for name, img in (images or {}).items():
            self._images[str(name)] = self._check_tensor(img, str(name))

        self._arch, self._layer_list = self._layers()
        prof = paper.profile(profile)
        self._build(prof, size=size or prof.size, steps=steps or prof.steps, seed=seed, every=every,
                    content=content, style=style)
        if self._init_error:
            self._error(self._init_error)

    # ------------------------------------------------------------------ set-up

    def _layers(self):
        if self._model is not None:
            return self._model.arch, list(self._model.layers)
        try:
            arch = _weights.resolve(self._weights).arch
        except StylelabError as exc:  # shown in the widget; Run will report it again
            self._init_error = str(exc)
            arch = "vgg19"
        return arch, list(_vgg_layers(arch))

    @staticmethod
    def _check_tensor(img, name: str) -> torch.Tensor:
        if not isinstance(img, torch.Tensor):
            raise ImageError(f"image {name!r} must be a (1, 3, H, W) tensor, got {type(img).__name__}")
        if img.dim() == 3:
            img = img.unsqueeze(0)
        if img.dim() != 4 or img.shape[:2] != (1, 3):
            raise ImageError(f"image {name!r} must have shape (1, 3, H, W), got {tuple(img.shape)}")
        return img.detach().float().cpu().clamp(0, 1)

    def _image_options(self) -> list[str]:
        return [NONE, *(n for n in self._samples if n not in self._images), *self._images]

    def _build(self, prof, *, size, steps, seed, every, content, style) -> None:
        W = widgets
        dw = {"description_width": "96px"}
        tb = {"button_width": "70px"}

        def labelled(text: str, toggle: widgets.ToggleButtons) -> widgets.HBox:
            # ToggleButtons' own description wraps above the buttons; a label beside them does not.
            toggle.layout = W.Layout(width="auto")
            label = W.Label(text, layout=W.Layout(width="96px", justify_content="flex-end",
                                                   margin="0 8px 0 0"))
            return W.HBox([label, toggle], layout=W.Layout(width="auto", align_items="center"))
        options = self._image_options()
        names = [n for n in options if n != NONE]
        default_content = content or ("tubingen" if "tubingen" in names else (names[0] if names else NONE))
        default_style = style or ("starry_night" if "starry_night" in names
                                  else next((n for n in names if n != default_content), NONE))

        # -- presets and profile
        self.preset = W.Dropdown(options=[("— a figure of the paper —", CUSTOM)]
                                 + [(n, n) for n in paper.presets()], value=CUSTOM, description="preset",
                                 style=dw, layout=W.Layout(width="440px"))
        self.profile = W.ToggleButtons(options=list(paper.PROFILES), value=prof.name, style=tb,
                                       tooltips=[p.description for p in paper.PROFILES.values()])

        # -- images
        self.content = W.Dropdown(options=options, value=default_content, description="content",
                                  style=dw, layout=W.Layout(width="300px"))
        self.style = W.Dropdown(options=options, value=default_style, description="style",
                                style=dw, layout=W.Layout(width="300px"))
        self.content_upload = W.FileUpload(accept="image/*", multiple=False, description="upload",
                                           layout=W.Layout(width="110px"))
        self.style_upload = W.FileUpload(accept="image/*", multiple=False, description="upload",
                                         layout=W.Layout(width="110px"))
        self.content_thumb = W.Image(format="png", layout=W.Layout(width=f"{INPUT_THUMB}px"))
        self.style_thumb = W.Image(format="png", layout=W.Layout(width=f"{INPUT_THUMB}px"))
        self.size = W.IntSlider(value=int(size), min=32, max=1024, step=16, description="size (px)",
                                style=dw, continuous_update=False, layout=W.Layout(width="400px"))

        # -- the loss
        self.ratio = W.FloatLogSlider(value=1e-3, base=10, min=-6, max=1, step=0.1, description="α/β",
                                      readout_format=".2e", style=dw, continuous_update=False,
                                      layout=W.Layout(width="400px"))
        layer_names = [l.name for l in self._layer_list]
        self.content_layer = W.Dropdown(
            options=[NONE, *layer_names],
            value=PAPER_CONTENT_LAYER if PAPER_CONTENT_LAYER in layer_names else NONE,
            description="content layer", style=dw, layout=W.Layout(width="230px"))
        self.convention = W.Dropdown(
            options=[("authors' code", "gatys_code"), ("paper's equations", "paper")],
            value=transfer.DEFAULT_CONVENTION, description="loss scale", style=dw,
            layout=W.Layout(width="250px"),
            tooltip="gatys_code: MSE-normalised losses, w_l ∝ 1/N_l² (the figures' α/β); "
                    "paper: Eqs. 1, 4, 5 as printed, w_l = 1/L")
        relus = [l for l in self._layer_list if l.kind == "relu"]
        self.style_layers: dict[str, widgets.Checkbox] = {}
        self.layer_weights: dict[str, widgets.BoundedFloatText] = {}
        rows = []
        for block in sorted({l.block for l in relus}):
            cells = [W.HTML(f"<span style='color:{_GREY}'>block {block}</span>", layout=W.Layout(width="52px"))]
            for l in (l for l in relus if l.block == block):
                cb = W.Checkbox(value=l.name in PAPER_STYLE_LAYERS, description=l.name, indent=False,
                                layout=W.Layout(width="74px"))
                wt = W.BoundedFloatText(value=1.0, min=0.0, max=1e6, step=0.5, layout=W.Layout(width="52px"),
                                        tooltip=f"weight of {l.name}: multiplies w_l (1 = the convention's)")
                self.style_layers[l.name] = cb
                self.layer_weights[l.name] = wt
                cells.append(W.HBox([cb, wt], layout=W.Layout(width="134px")))
            rows.append(W.HBox(cells))
        self.tv_weight = W.BoundedFloatText(value=0.0, min=0.0, max=1e12, step=1.0, description="TV weight",
                                            style=dw, layout=W.Layout(width="200px"),
                                            tooltip="total variation prior (not in the paper: 0)")
        self.gamma = W.BoundedFloatText(value=0.0, min=0.0, max=1e12, step=1.0, description="L2 weight γ",
                                        style=dw, layout=W.Layout(width="200px"),
                                        tooltip="L2 pixel prior (not in the paper: 0)")

        # -- optimisation
        self.init = W.ToggleButtons(options=list(transfer.INITS), value="noise", style=tb)
        self.seed = W.BoundedIntText(value=int(seed), min=0, max=2**31 - 1, description="seed", style=dw,
                                     layout=W.Layout(width="180px"))
        self.optimizer = W.ToggleButtons(options=[("L-BFGS", "lbfgs"), ("Adam", "adam")], value="lbfgs",
                                         style=tb)
        self.lr = W.BoundedFloatText(value=transfer.DEFAULT_LR["lbfgs"], min=1e-6, max=100.0, step=0.01,
                                     description="learning rate", style=dw, layout=W.Layout(width="200px"))
        self.steps = W.BoundedIntText(value=int(steps), min=1, max=100_000, description="steps", style=dw,
                                      layout=W.Layout(width="180px"))
        self.every = W.BoundedIntText(value=int(every), min=1, max=10_000, description="update every",
                                      style=dw, layout=W.Layout(width="180px"),
                                      tooltip="refresh the image and the curves every k steps")
        self.pooling = W.ToggleButtons(options=["avg", "max"], value="avg", style=tb,
                                       tooltips=["average pooling (the paper)", "max pooling (as trained)"])
        self.normalized = W.Checkbox(value=True, description="normalised network (mean activation 1)",
                                     indent=False)
        if self._model is not None:
            self.normalized.disabled = True
            self.normalized.description = "normalised network (fixed: a model was given)"

        # -- run and output
        self.run_button = W.Button(description="Run", button_style="success", icon="play",
                                   tooltip="optimise an image with these settings")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                    tooltip="end the run before the next step, keeping the best image so far")
        self.progress = W.IntProgress(value=0, min=0, max=int(steps), description="", bar_style="",
                                      layout=W.Layout(width="300px"))
        self.status = W.Label(value="ready")
        self.status.add_class("stylelab-status")
        self.message = W.HTML(value="")
        self.message.add_class("stylelab-message")
        self.preview = W.Image(value=_placeholder("press Run"), format="png",
                               layout=W.Layout(width=f"{PREVIEW_WIDTH}px"))
        self.preview.add_class("stylelab-preview")
        self.curves = W.Image(value=b"", format="png", layout=W.Layout(width="400px", display="none"))
        self.curves.add_class("stylelab-curves")
        self.per_layer = W.Checkbox(value=False, description="per-layer curves", indent=False)

        # -- history and comparison
        self.history_box = W.HBox([], layout=W.Layout(overflow="auto hidden", width="100%"))
        self.history_box.add_class("stylelab-history")
        self.compare_a = W.Dropdown(options=[], description="compare", style={"description_width": "60px"},
                                    layout=W.Layout(width="280px"))
        self.compare_b = W.Dropdown(options=[], description="with", style={"description_width": "40px"},
                                    layout=W.Layout(width="260px"))
        self.compare_view = W.VBox([])
        self.compare_view.add_class("stylelab-compare")

        # -- events
        self.run_button.on_click(lambda _b: self.run())
        self.stop_button.on_click(lambda _b: self.stop())
        self.preset.observe(self._on_preset, "value")
        self.profile.observe(self._on_profile, "value")
        self.content.observe(lambda c: self._on_image_choice("content", c), "value")
        self.style.observe(lambda c: self._on_image_choice("style", c), "value")
        self.content_upload.observe(lambda c: self._on_upload("content", c), "value")
        self.style_upload.observe(lambda c: self._on_upload("style", c), "value")
        self.optimizer.observe(self._on_optimizer, "value")
        self.per_layer.observe(self._on_per_layer, "value")
        self.compare_a.observe(self._on_compare, "value")
        self.compare_b.observe(self._on_compare, "value")
        for w in self._setting_widgets():
            w.observe(self._on_setting_changed, "value")

        # -- layout
        def section(title: str, *children) -> widgets.VBox:
            return W.VBox([W.HTML(f"<b>{title}</b>"), *children],
                          layout=W.Layout(border="1px solid #ddd", padding="4px 8px", margin="0 0 6px 0"))

        images = section(
            "Images",
            W.HBox([W.VBox([self.content, W.HBox([W.HTML(layout=W.Layout(width="100px")), self.content_upload])]),
                    self.content_thumb]),
            W.HBox([W.VBox([self.style, W.HBox([W.HTML(layout=W.Layout(width="100px")), self.style_upload])]),
                    self.style_thumb]),
            self.size,
        )
        loss = section(
            "Loss  L = α L_content + β Σ w_l E_l (+ regularisers)",
            self.ratio,
            W.HBox([self.content_layer, self.convention]),
            W.HTML(f"<span style='color:{_GREY}'>style layers and their weights "
                   "(× the convention's w_l)</span>"),
            *rows,
            W.HBox([self.tv_weight, self.gamma]),
        )
        optim = section(
            "Optimisation",
            W.HBox([labelled("start from", self.init), self.seed]),
            W.HBox([labelled("optimiser", self.optimizer), self.lr]),
            W.HBox([self.steps, self.every]),
            W.HBox([labelled("pooling", self.pooling), self.normalized]),
        )
        left = W.VBox([images, loss, optim], layout=W.Layout(width="600px", flex="0 0 auto"))
        right = W.VBox([
            W.HBox([self.run_button, self.stop_button]),
            W.HBox([self.progress, self.status]),
            self.message,
            self.preview,
            self.per_layer,
            self.curves,
        ], layout=W.Layout(flex="1 1 auto", padding="0 0 0 12px"))
        self.widget = W.VBox([
            W.HTML("<h3 style='margin:0 0 4px 0'>stylelab explorer: Gatys, Ecker &amp; Bethge's "
                   "style transfer</h3>"),
            W.HBox([self.preset, labelled("profile", self.profile)]),
            W.HBox([left, right]),
            W.HTML("<b>History</b> <span style='color:#555'>(newest first; Save writes PNG + JSON)</span>"),
            self.history_box,
            W.HBox([self.compare_a, self.compare_b]),
            self.compare_view,
        ])
        self.widget.add_class("stylelab-explorer")
        self._refresh_thumb("content")
        self._refresh_thumb("style")

    def _setting_widgets(self) -> list[widgets.Widget]:
        return [self.content, self.style, self.size, self.ratio, self.content_layer, self.convention,
                *self.style_layers.values(), *self.layer_weights.values(), self.tv_weight, self.gamma,
                self.init, self.seed, self.optimizer, self.lr, self.steps, self.pooling, self.normalized]

    # ------------------------------------------------------------------ display

    def display(self) -> None:
        """Show the explorer in the notebook."""
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ messages

    def _message(self, text: str, colour: str, details: str | None = None) -> None:
        body = f"<span style='color:{colour}'>{html.escape(text)}</span>"
        if details:
            body += ("<details><summary style='color:#555'>details</summary><pre style='font-size:11px'>"
                     f"{html.escape(details)}</pre></details>")
        self.message.value = body

    def _info(self, text: str) -> None:
        self._message(text, _GREY)

    def _error(self, text: str, details: str | None = None) -> None:
        self.last_error = text
        self._message("⚠ " + text, _RED, details)

    def _report(self, exc: BaseException, size: int | None = None) -> None:
        """Turn an exception into a one-line message in the widget."""
        if _is_oom(exc):
            where = f" at {size} px" if size else ""
            self._error(f"out of memory{where}: choose a smaller size (the 'quick' profile), fewer or "
                        f"shallower style layers, or free memory and try again")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        elif isinstance(exc, StylelabError):
            self._error(str(exc))
        else:
            self.last_traceback = "".join(traceback.format_exception(exc))
            log.debug("explorer: unexpected error", exc_info=exc)
            self._error(f"unexpected error: {type(exc).__name__}: {exc}", details=self.last_traceback)

    # ------------------------------------------------------------------ settings

    def settings(self) -> dict:
        """The settings the widgets show now, as a plain JSON-able dict."""
        style_layers = [n for n, cb in self.style_layers.items() if cb.value]
        return {
            "content": None if self.content.value == NONE else self.content.value,
            "style": None if self.style.value == NONE else self.style.value,
            "size": int(self.size.value),
            "ratio": float(self.ratio.value),
            "content_layer": None if self.content_layer.value == NONE else self.content_layer.value,
            "style_layers": style_layers,
            "layer_weights": {n: float(self.layer_weights[n].value) for n in style_layers},
            "convention": self.convention.value,
            "tv_weight": float(self.tv_weight.value),
            "gamma": float(self.gamma.value),
            "init": self.init.value,
            "seed": int(self.seed.value),
            "optimizer": self.optimizer.value,
            "lr": float(self.lr.value),
            "steps": int(self.steps.value),
            "every": int(self.every.value),
            "pooling": self.pooling.value,
            "normalized": bool(self.normalized.value) if self._model is None else None,
            "preset": self.preset.value or None,
            "profile": self.profile.value,
        }

    def _snapshot(self) -> RunSpec:
        s = self.settings()
        if s["content"] is None and s["style"] is None:
            raise SettingsError("choose a content image, a style image, or both")
        if s["style"] is not None and not s["style_layers"]:
            raise SettingsError("no style layer selected: tick at least one style layer (the paper uses "
                                "relu1_1 ... relu5_1), or set style to (none)")
        if s["style"] is None and s["content_layer"] is None:
            raise SettingsError("no content layer selected: choose one (the paper uses relu4_2), "
                                "or choose a style image")
        if s["init"] == "content" and s["content"] is None:
            raise SettingsError("'start from content' needs a content image")
        if s["init"] == "style" and s["style"] is None:
            raise SettingsError("'start from style' needs a style image")
        images = {k: self._images[s[k]] for k in ("content", "style") if s[k] in self._images}
        self._counter += 1
        return RunSpec(self._counter, _freeze(s), MappingProxyType(images))

    def _set(self, widget: widgets.Widget, value) -> None:
        if widget.value != value:
            widget.value = value

    @_guarded
    def _on_setting_changed(self, change) -> None:
        if not self._applying and self.preset.value != CUSTOM:
            self._applying += 1
            try:
                self.preset.value = CUSTOM
            finally:
                self._applying -= 1

    # ------------------------------------------------------------------ presets, profile

    def presets(self) -> list[str]:
        return [v for _label, v in self.preset.options if v]

    def apply_preset(self, name: str) -> bool:
        """Set the widgets to a figure's settings (:func:`stylelab.paper.presets`).
        Returns False (and shows why) if the preset cannot be applied here."""
        try:
            self._apply_preset(name)
            return True
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return False

    def _apply_preset(self, name: str) -> None:
        table = paper.presets()
        if name not in table:
            raise SettingsError(f"unknown preset {name!r}")
        p = table[name]
        options = self._image_options()
        for key in ("content", "style"):
            if key in p and p[key] is not None and p[key] not in options:
                raise SettingsError(f"preset {name!r} needs the image {p[key]!r}, which this explorer "
                                    f"does not offer")
        layers = {l.name for l in self._layer_list}
        missing = [l for l in p.get("content_layers") or [] if l not in layers]
        missing += [l for l in p.get("style_layers") or [] if l not in self.style_layers]
        if missing:
            raise SettingsError(f"preset {name!r} needs layers {missing} that this explorer's {self._arch} "
                                f"does not offer")
        self._applying += 1
        try:
            if "content" in p:
                self._set(self.content, p["content"] or NONE)
            if "style" in p:
                self._set(self.style, p["style"] or NONE)
            if p.get("ratio") is not None:
                self._set(self.ratio, float(p["ratio"]))
            if "content_layers" in p:
                cl = list(p["content_layers"] or [])
                self._set(self.content_layer, cl[0] if cl else NONE)
            if "style_layers" in p:
                chosen = set(p["style_layers"] or [])
                for n, cb in self.style_layers.items():
                    self._set(cb, n in chosen)
                for wt in self.layer_weights.values():
                    self._set(wt, 1.0)
            # The paper's settings unless the preset says otherwise; size, steps and seed stay.
            merged = {**PAPER_SETTINGS, **{k: v for k, v in p.items() if v is not None}}
            merged.setdefault("lr", transfer.DEFAULT_LR[merged["optimizer"]])
            simple = {"init": self.init, "seed": self.seed, "optimizer": self.optimizer, "lr": self.lr,
                      "steps": self.steps, "pooling": self.pooling, "tv_weight": self.tv_weight,
                      "gamma": self.gamma, "convention": self.convention}
            if self._model is None:
                simple["normalized"] = self.normalized
            for key, w in simple.items():
                if key in merged:
                    self._set(w, merged[key])
            self._set(self.preset, name)
        finally:
            self._applying -= 1
        self._info(f"preset: {name}")

    @_guarded
    def _on_preset(self, change) -> None:
        if change["new"] and not self._applying:
            self.apply_preset(change["new"])

    @_guarded
    def _on_profile(self, change) -> None:
        prof = paper.profile(change["new"])
        self._applying += 1  # a size switch, not a change of the figure's settings
        try:
            self.size.value = min(max(prof.size, self.size.min), self.size.max)
            self.steps.value = prof.steps
        finally:
            self._applying -= 1
        self._info(f"profile {prof.name}: {prof.size} px, {prof.steps} steps ({prof.description})")

    @_guarded
    def _on_optimizer(self, change) -> None:
        self.lr.value = transfer.DEFAULT_LR[change["new"]]

    # ------------------------------------------------------------------ images

    def add_upload(self, which: str, name: str, content: bytes) -> str | None:
        """Add an uploaded image file (its bytes) to the image menus and choose it for
        ``which`` (``"content"`` or ``"style"``). Returns its menu name, or None (and a
        message in the widget) when the file cannot be read as an image."""
        try:
            return self._add_upload(which, name, bytes(content))
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return None

    def _add_upload(self, which: str, name: str, content: bytes) -> str:
        if which not in ("content", "style"):
            raise SettingsError(f"uploads go to 'content' or 'style', not {which!r}")
        name = Path(str(name) or "upload").name
        suffix = Path(name).suffix or ".img"
        fd, tmp = tempfile.mkstemp(prefix="stylelab-upload-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            try:
                with warnings.catch_warnings():  # a big photo is shrunk: said in the message below
                    warnings.simplefilter("ignore", ImageDownscaledWarning)
                    img = load_image(tmp, max_size=MAX_UPLOAD_SIDE)
            except ImageError as exc:
                raise ImageError(f"cannot read the upload {name!r} as an image: "
                                 f"{str(exc).replace(tmp, name)}") from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        key = UPLOAD_PREFIX + name
        self._images[key] = img
        options = self._image_options()
        for dd in (self.content, self.style):
            current = dd.value
            dd.options = options
            if current in options:
                dd.value = current
        getattr(self, which).value = key
        self._info(f"uploaded {name} ({img.shape[-1]}×{img.shape[-2]} px) as the {which} image")
        return key

    @_guarded
    def _on_upload(self, which: str, change) -> None:
        files = change["new"]
        if not files:
            return
        f = files[-1]
        try:
            self.add_upload(which, f.get("name", "upload"), f.get("content", b""))
        finally:
            # The image now lives in the menus; clearing frees the bytes and lets the same
            # file be uploaded again.
            getattr(self, f"{which}_upload").value = ()

    @_guarded
    def _on_image_choice(self, which: str, change) -> None:
        self._refresh_thumb(which)

    def _refresh_thumb(self, which: str) -> None:
        name = getattr(self, which).value
        thumb = getattr(self, f"{which}_thumb")
        try:
            img = self._thumbnail(name)
        except StylelabError as exc:
            self._error(str(exc))
            img = None
        thumb.value = png_bytes(img) if img is not None else _placeholder(
            "none" if name == NONE else "not yet\ndownloaded", (96, 72))

    def _thumbnail(self, name: str) -> torch.Tensor | None:
        if name == NONE:
            return None
        if name in self._images:
            return resize(self._images[name], INPUT_THUMB)
        if not data.verify(name).get(data.info(name).name):
            return None  # not downloaded yet: Run fetches it; no download for a thumbnail
        return self._load(name, INPUT_THUMB)

    def _load(self, name: str, size: int, images: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """An image of the menu at ``size`` px (longest side)."""
        source = (images or {}).get(name)
        if source is None:
            source = self._images.get(name)
        if source is not None:
            return resize(source, size)
        key = (name, size)
        with self._lock:
            cached = self._sample_cache.get(key)
        if cached is None:
            cached = data.load(name, size=size)
            with self._lock:
                self._sample_cache[key] = cached
        return cached

    # ------------------------------------------------------------------ running

    @property
    def running(self) -> bool:
        return self._busy

    def run(self, wait: bool = False, timeout: float | None = None) -> Run | None:
        """Start a run with the settings the widgets show now (what the Run button does).

        The settings are snapshotted here; the optimisation runs in a background
        thread. With ``wait=True`` block until it ends and return its :class:`Run`
        (None if it failed: the message says why). Never raises for a user error.
        """
        if self._busy:
            self._info("a run is in progress: press Stop first")
            return None
        try:
            spec = self._snapshot()
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return None
        self._busy = True
        self.last_error = None
        self._stop_event = threading.Event()
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.progress.max = spec.settings["steps"]
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.status.value = "starting"
        self._info(f"run #{spec.number} started")
        self._thread = threading.Thread(target=self._worker, args=(spec, self._stop_event),
                                        name=f"stylelab-explorer-run-{spec.number}", daemon=True)
        self._thread.start()
        if wait:
            self.wait(timeout)
            return next((r for r in self.runs if r.number == spec.number), None)
        return None

    def stop(self) -> None:
        """End the current run before its next step (what the Stop button does); the
        best image so far is kept in the history."""
        if self._busy:
            self._stop_event.set()
            self.stop_button.disabled = True
            self.status.value = "stopping…"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run ends; True if nothing is running any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _get_model(self, s: Mapping[str, Any]) -> VGG:
        if self._model is not None:
            if self._model.pooling == s["pooling"]:
                return self._model
            model = copy.copy(self._model)  # shares the frozen weights; only the pooling differs
            model.pooling = s["pooling"]
            return model
        from .weights import load_vgg

        return load_vgg(self._weights, pooling=s["pooling"], normalized=s["normalized"], device=self._device,
                        progress=False)

    def _worker(self, spec: RunSpec, stop_event: threading.Event) -> None:
        s = spec.settings
        result = None
        status = "finished"
        try:
            if self._model is None:
                self.status.value = "loading the network (downloaded on first use)…"
            model = self._get_model(s)
            self.status.value = "loading the images…"
            content = self._load(s["content"], s["size"], spec.images) if s["content"] else None
            style = self._load(s["style"], s["size"], spec.images) if s["style"] else None
            kwargs = self._run_kwargs(s, model, content is not None, style is not None)
            records: list[dict] = []
            self._live_records = records
            self._shown_run = None
            every = s["every"]
            steps = s["steps"]
            self.status.value = "running"

            def callback(step, image, record):
                records.append(record)
                self.progress.value = step
                self.status.value = (f"step {step}/{steps} · {record['time']:.1f} s · "
                                     f"loss {record['total']:.3g}")
                if step % every == 0 or step == steps:
                    try:
                        self.preview.value = png_bytes(image, PREVIEW_WIDTH // 2)
                        self._draw_curves(records)
                    except Exception as exc:  # noqa: BLE001  (drawing must not end the run)
                        log.debug("explorer: drawing failed", exc_info=exc)
                return False

            try:
                result = transfer.run(content, style, callback=callback, every=1, progress=False,
                                      stop=stop_event, desc=f"explorer run {spec.number}", **kwargs)
                status = "stopped" if (result.stopped or result.interrupted) else "finished"
            except NonFiniteLossError as exc:
                result, status = exc.result, "diverged"
                self._report(exc)
            if result is not None and result.history:
                result.settings["explorer"] = _thaw(s)
                run = Run(spec.number, s, result, status)
                self.runs.append(run)
                self._show(run)
                self._add_card(run)
                if status == "stopped":
                    self._message(f"run #{run.number} stopped after {result.steps_done} of {s['steps']} steps "
                                  f"({result.wall_time:.1f} s), loss {run.final_loss:.4g}", _GREEN)
                elif status == "finished":
                    self._message(f"run #{run.number} finished: {result.steps_done} steps in "
                                  f"{result.wall_time:.1f} s, loss {run.final_loss:.4g}", _GREEN)
            elif status == "stopped":
                self._info(f"run #{spec.number} stopped before its first step")
        except Exception as exc:  # noqa: BLE001
            self._report(exc, size=s["size"])
            status = "error"
        finally:
            self._live_records = None
            self._busy = False
            self.progress.bar_style = {"finished": "success", "stopped": "warning"}.get(status, "danger")
            self.status.value = status
            self.run_button.disabled = False
            self.stop_button.disabled = True

    def _run_kwargs(self, s: Mapping[str, Any], model: VGG, has_content: bool, has_style: bool) -> dict:
        content_layers = [s["content_layer"]] if (has_content and s["content_layer"]) else []
        style_layers = list(s["style_layers"]) if has_style else []
        style_weights = None
        if style_layers:
            channels = {l.name: l.channels for l in model.layers}
            base = transfer.layer_weights(style_layers, transfer.CONVENTIONS[s["convention"]]["style_weights"],
                                          channels)
            style_weights = {l: base[l] * s["layer_weights"][l] for l in style_layers}
        return dict(model=model, content_layers=content_layers, style_layers=style_layers,
                    style_weights=style_weights, ratio=s["ratio"], tv_weight=s["tv_weight"], gamma=s["gamma"],
                    convention=s["convention"], init=s["init"], seed=s["seed"], optimizer=s["optimizer"],
                    steps=s["steps"], lr=s["lr"])

    # ------------------------------------------------------------------ output

    def _draw_curves(self, records: list[dict]) -> None:
        if not records:
            return
        from matplotlib.figure import Figure

        per_layer = bool(self.per_layer.value)
        # A fixed layout: constrained layout would cost a third of the drawing time, every k steps.
        fig = Figure(figsize=(5.4, 5.6 if per_layer else 3.0))
        axes = fig.subplots(2 if per_layer else 1, 1, squeeze=False)[:, 0]
        plot.loss_curves(records, terms=("total", "content", "style", "tv", "l2"), per_layer=per_layer,
                         ax=list(axes) if per_layer else axes[0])
        if per_layer:
            fig.subplots_adjust(left=0.14, right=0.97, top=0.95, bottom=0.08, hspace=0.35)
        else:
            fig.subplots_adjust(left=0.14, right=0.97, top=0.9, bottom=0.16)
        self.curves.value = _figure_png(fig)
        self.curves.layout.display = None

    def _show(self, run: Run) -> None:
        """Show a run's image, progress and curves in the preview."""
        self._shown_run = run
        self.progress.max = max(1, run.settings["steps"])
        self.progress.value = run.result.steps_done
        self._draw_curves(run.result.history)
        self.preview.value = png_bytes(run.result.image, PREVIEW_WIDTH // 2)

    def show(self, run_index: int | Run = -1) -> None:
        """Show a run of the history in the preview (what a card's Show button does)."""
        if self._busy:
            self._info("a run is in progress: its image is the one shown")
            return
        try:
            run = self._run(run_index)
            self._show(run)
            self.progress.bar_style = {"finished": "success", "stopped": "warning"}.get(run.status, "danger")
            self.status.value = f"#{run.number} {run.status}"
            self._info(f"showing run #{run.number}")
        except Exception as exc:  # noqa: BLE001
            self._report(exc)

    @_guarded
    def _on_per_layer(self, change) -> None:
        records = self._live_records
        if records is None and self._shown_run is not None:
            records = self._shown_run.result.history
        if records:
            self._draw_curves(list(records))

    def _caption(self, run: Run) -> str:
        s, r = run.settings, run.result
        layers = s["style_layers"] if s["style"] else ()
        rows = [
            f"<b>#{run.number}</b> {html.escape(_pretty(s['content']))} × {html.escape(_pretty(s['style']))}",
            (f"α/β {s['ratio']:.3g}" if s["content"] and s["style"] else "")
            + (f" · content {s['content_layer']}" if s["content"] and s["content_layer"] else ""),
            f"style {len(layers)} layer{'s' if len(layers) != 1 else ''}"
            + (f" (to {layers[-1]})" if layers else "") + f" · {s['size']} px",
            f"{'L-BFGS' if s['optimizer'] == 'lbfgs' else 'Adam'} · {s['init']} · {s['pooling']} pool",
            f"{r.steps_done}/{s['steps']} steps · {r.wall_time:.1f} s",
            f"loss {run.final_loss:.4g}" if run.final_loss is not None else "",
        ]
        if run.status != "finished":
            rows.append(f"<span style='color:{_RED}'>{run.status}</span>")
        return "<div style='font-size:11px;line-height:1.3'>" + "<br>".join(x for x in rows if x) + "</div>"

    def _add_card(self, run: Run) -> None:
        W = widgets
        thumb = W.Image(value=png_bytes(run.result.image, THUMB_WIDTH // 2), format="png",
                        layout=W.Layout(width=f"{THUMB_WIDTH}px"))
        save = W.Button(description="Save", layout=W.Layout(width="66px"),
                        tooltip=f"write run-{run.number:03d}.png and .json to {self.output_dir}")
        show = W.Button(description="Show", layout=W.Layout(width="66px"),
                        tooltip="show this run's image and curves above")
        save.on_click(lambda _b, n=run.number: self.save(n))
        show.on_click(lambda _b, r=run: self.show(r))
        card = W.VBox([thumb, W.HTML(self._caption(run)), W.HBox([save, show])],
                      layout=W.Layout(width=f"{THUMB_WIDTH + 12}px", margin="0 6px 0 0", padding="4px",
                                      border="1px solid #ddd", flex="0 0 auto"))
        card.add_class("stylelab-history-card")
        self._cards[run.number] = card
        newest = sorted(self._cards, reverse=True)[: self.history_size]
        self.history_box.children = [self._cards[n] for n in newest]
        # The comparison menus: the newest run against the one before it.
        options = [(r.label, r.number) for r in reversed(self.runs)]
        self._comparing += 1
        try:
            self.compare_a.options = options
            self.compare_b.options = options
        finally:
            self._comparing -= 1
        if len(self.runs) >= 2:
            self.compare(self.runs[-2].number, self.runs[-1].number)

    def _run(self, number: int | Run) -> Run:
        if isinstance(number, Run):
            return number
        if not self.runs:
            raise SettingsError("no runs yet: press Run first")
        if isinstance(number, bool) or not isinstance(number, int):
            raise SettingsError(f"a run is given by its number (#3 -> 3), got {number!r}")
        if number < 0:
            if -number > len(self.runs):
                raise SettingsError(f"there are only {len(self.runs)} runs")
            return self.runs[number]
        for r in self.runs:
            if r.number == number:
                return r
        raise SettingsError(f"no run #{number}; the runs are " + ", ".join(f"#{r.number}" for r in self.runs))

    def save(self, run_index: int | Run = -1, path: str | os.PathLike | None = None) -> Path | None:
        """Save a run's image as PNG (or JPEG by suffix) with its settings, final losses
        and loss history as JSON beside it. ``run_index``: the run's number as shown
        (``#3`` -> 3), or negative to count from the newest (-1). ``path`` defaults to
        ``output_dir/run-NNN.png``. Returns the path, or None (and a message) on failure."""
        try:
            run = self._run(run_index)
            target = Path(path) if path is not None else self.output_dir / f"run-{run.number:03d}.png"
            written = run.result.save(target)
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return None
        self._message(f"saved run #{run.number} to {written} and {written.with_suffix('.json').name}", _GREEN)
        return written

    # ------------------------------------------------------------------ comparison

    def compare(self, a: int | Run, b: int | Run) -> None:
        """Show two runs side by side: their images, the settings that differ, their
        final losses and their total loss curves."""
        try:
            ra, rb = self._run(a), self._run(b)
            self._comparing += 1
            try:
                self.compare_a.value = ra.number
                self.compare_b.value = rb.number
            finally:
                self._comparing -= 1
            self._render_compare(ra, rb)
        except Exception as exc:  # noqa: BLE001
            self._report(exc)

    @_guarded
    def _on_compare(self, change) -> None:
        if self._comparing or self.compare_a.value is None or self.compare_b.value is None:
            return
        self._render_compare(self._run(self.compare_a.value), self._run(self.compare_b.value))

    def _render_compare(self, ra: Run, rb: Run) -> None:
        W = widgets
        keys = [k for k in ra.settings if k not in ("preset", "every", "profile")]
        diff = [k for k in keys if _thaw(ra.settings.get(k)) != _thaw(rb.settings.get(k))]
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(_fmt(_thaw(ra.settings.get(k))))}</td>"
            f"<td>{html.escape(_fmt(_thaw(rb.settings.get(k))))}</td></tr>" for k in diff)
        la, lb = ra.result.losses, rb.result.losses
        for term in ("total", "content", "style"):
            rows += (f"<tr><td><i>final {term} loss</i></td><td>{_fmt(la.get(term))}</td>"
                     f"<td>{_fmt(lb.get(term))}</td></tr>")
        table = ("<table style='font-size:12px'><tr><th></th>"
                 f"<th>#{ra.number}</th><th>#{rb.number}</th></tr>{rows}</table>")
        if not diff:
            table = "<i>same settings</i><br>" + table
        try:
            fig = plot.compare_curves({f"#{ra.number}": ra.result.history, f"#{rb.number}": rb.result.history})
            fig.set_size_inches(4.6, 3.0)
            curves = [W.Image(value=_figure_png(fig), format="png", layout=W.Layout(width="360px"))]
        except StylelabError:
            curves = []
        images = [W.VBox([W.HTML(f"<b>#{r.number}</b>"),
                          W.Image(value=png_bytes(r.result.image, 128), format="png",
                                  layout=W.Layout(width="240px"))]) for r in (ra, rb)]
        self.compare_view.children = [W.HBox([*images, W.HTML(table, layout=W.Layout(margin="0 12px")),
                                              *curves])]


