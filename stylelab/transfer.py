"""Image optimisation: Gatys et al.'s style transfer, texture synthesis and
content reconstruction as one engine.

The image x is the only thing optimised. The network is frozen, the targets (the
content responses P^l and the style Gram matrices A^l) are computed once without
autograd, and each evaluation runs one forward pass to the deepest layer needed
and one backward pass to the pixels.

    result = transfer(content, style, ratio=1e-3, steps=500)
    texture(style, steps=300)                   # beta only: Fig. 1 style row
    reconstruct(content, layer="relu4_2")       # alpha only: Fig. 1 content row

Every call returns a :class:`Result` (the best image, the loss history per step
with every term and layer, the settings, the wall time). Ctrl-C returns the best
image so far; a NaN/inf loss raises :class:`NonFiniteLossError` carrying it.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from . import config, losses, statistics
from . import precision as _precision
from .errors import LayerError, NonFiniteLossError, SettingsError
from .image import resize_to, save_image
from .vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, VGG, resolve_layers

INITS = ("noise", "content", "style")
OPTIMIZERS = ("lbfgs", "adam")
STYLE_SCALES = ("content", "area", "own")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
#: Standard deviation of the white-noise start, on [0, 1] pixels, around the mean
#: colour. Gatys et al.'s own code draws N(0, 1) on the 0..255 scale; a faint noise
#: like this gives clean results, full-range uniform noise leaves speckle that
#: L-BFGS removes only slowly.
NOISE_STD = 0.01
#: L-BFGS sees the loss rescaled so that the first loss equals this many times the
#: number of pixels (see :func:`optimize`). torch's L-BFGS keeps a curvature pair only
#: when y.s > 1e-10, and with mean-squared losses y.s shrinks with the image's area, so
#: the scale grows with it. Measured (80 steps, VGG-16): a first loss of ~1 stores no
#: pairs and textures do not move (1.0x lower loss); 0.008/px at 128 px and 0.02/px at
#: 256 px lower the texture loss 120x and 88x; at 128 px a scale of 1e4 (0.8/px) makes
#: the early steps overshoot and leaves speckle that 80 steps do not remove.
LBFGS_SCALE_PER_PIXEL = 0.02
#: The stopping rule's defaults (:func:`optimize`): stop when the lowest loss so far fell
#: by no more than ``DEFAULT_TOL`` (relative) over the last ``DEFAULT_PATIENCE`` evaluations.
#: Measured (benchmarks/convergence.py, BENCHMARKS.md): on plain L-BFGS at 256 px this rule
#: stops at evaluation 697, 5.8 % above the loss after 800; 2e-3 never fired in 800
#: evaluations, and 1e-2 over 10 evaluations stopped at 480, 24 % above it.
DEFAULT_TOL = 1e-2
DEFAULT_PATIENCE = 20
#: What ``functions=`` can replace (the lessons' exercises, :mod:`stylelab.exercises`):
#: ``content_loss(F, P)`` Eq. 1; ``gram(F)`` Eq. 3, (B, N, H, W) -> (B, N, N), used for the
#: targets and E_l; ``style_layer_loss(F, A)`` Eq. 4; ``tv_loss(x)``; ``total_loss(content,
#: style, alpha, beta)`` Eq. 7; ``closure(optimizer, x, loss_fn)`` the L-BFGS closure maker.
#: Each is written with the paper's normalisation; the engine applies the convention's.
FUNCTIONS = ("content_loss", "gram", "style_layer_loss", "tv_loss", "total_loss", "closure")


# --------------------------------------------------------------------------------------
# Checking settings


def _finite_nonneg(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(v) or v < 0:
        raise SettingsError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise SettingsError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


#: Loss conventions: what an alpha/beta ratio refers to. Each is one coherent set: the loss
#: normalisation (:mod:`stylelab.losses`), the style layer weights w_l, the network it was made
#: for (``normalized``: Gatys et al.'s rescaled VGG, CVPR 2016 section 2, or the ImageNet VGG as
#: trained) and ``content_scale``, a factor on alpha (Eq. 7). A ratio printed under a figure means
#: something only together with all of these (notebook 07, section 7).
#:
#: ``calibrated`` (the default): the normalised network with average pooling (the paper's), the
#:     printed w_l = 1/5, Gram / M and mean squares (``norm="hw"``, every layer's E_l on one scale),
#:     and alpha multiplied by :data:`CALIBRATION`, measured so that the ratios printed under the
#:     figures give the figures' look: 1e-3 the town in the painting's strokes, 1e-4 more abstract,
#:     1e-5 almost pure texture, 1e-2 the photograph with texture (BENCHMARKS.md, "calibration").
#: ``gatys_code``: the authors' reference code (Gatys, PytorchNeuralStyleTransfer): ``norm="hw"``
#:     and w_l = 1e3 / N_l^2 (the 1e3 is in beta's default), made for the VGG as trained. On the
#:     normalised network it weights relu5_1 1/64 of relu1_1: the shallow layers' colour statistics
#:     decide, the deep layers' strokes barely count, and at the printed 1e-3 the result is the
#:     photograph with a tint and fine colour specks (the kit's default until the calibration).
#: ``paper``: the equations exactly as printed (Eqs. 1, 4, 5, w_l = 1/5); at the printed ratios the
#:     content term outweighs the style term by orders of magnitude: almost pure content.
CONVENTIONS = {
    "calibrated": {"norm": "hw", "style_weights": "equal", "normalized": True, "content_scale": None},
    "gatys_code": {"norm": "hw", "style_weights": "gatys_code", "normalized": False, "content_scale": 1.0},
    "paper": {"norm": "paper", "style_weights": "equal", "normalized": True, "content_scale": 1.0},
}
#: The calibrated convention's factor on alpha: the printed alpha/beta times this is the balance
#: of content and style in the ``hw`` normalisation with w_l = 1/5 on the normalised network.
#: Measured (benchmarks/calibration.py, VGG-16, Neckarfront x the five paintings of Fig. 2,
#: BENCHMARKS.md): see there for the sweep this number comes from.
CALIBRATION = 200.0
CONVENTIONS["calibrated"]["content_scale"] = CALIBRATION
DEFAULT_CONVENTION = "calibrated"
LAYER_WEIGHT_PRESETS = ("equal", "gatys_code")


def layer_weights(layers: Sequence[str], weights=None, channels: dict[str, int] | None = None) -> dict[str, float]:
    """The style layer weights w_l.

    ``None`` or ``"equal"``: 1 / number of layers (the paper's text: w_l = 1/5).
    ``"gatys_code"``: 1 / N_l^2 (N_l the layer's channels; the authors' code), needs ``channels``.
    Or a list parallel to ``layers``, or a dict by layer name.
    """
    if not layers:
        raise SettingsError("choose at least one style layer")
    if weights is None or (isinstance(weights, str) and weights == "equal"):
        return {l: 1.0 / len(layers) for l in layers}
    if isinstance(weights, str):
        if weights != "gatys_code":
            raise SettingsError(f"unknown layer weights {weights!r}; use {LAYER_WEIGHT_PRESETS}, a list or a dict")
        if channels is None:
            raise SettingsError("layer weights 'gatys_code' need the layers' channel counts")
        return {l: 1.0 / channels[l] ** 2 for l in layers}
    if isinstance(weights, dict):
        missing = [l for l in layers if l not in weights]
        if missing:
            raise SettingsError(f"no layer weight given for {', '.join(missing)}")
        values = [weights[l] for l in layers]
    else:
        values = list(weights)
        if len(values) != len(layers):
            raise SettingsError(f"{len(values)} layer weights given for {len(layers)} style layers")
    out = {l: _finite_nonneg(f"layer weight w_l of {l}", v) for l, v in zip(layers, values)}
    if not any(out.values()):
        raise SettingsError("all style layer weights are zero")
    return out


#: Names an extra term cannot take: the keys of a history record.
RECORD_KEYS = ("step", "time", "total", "content", "style", "tv", "l2", "content_layers", "style_layers",
               "stage", "size")


def check_extra_terms(extra_terms) -> dict:
    """``extra_terms`` as a dict name -> ``term(x)`` (None: {}): each takes the image being
    optimised, (1, 3, H, W) on the model's device, and returns a scalar tensor with autograd,
    already weighted, that is added to L_total (Eq. 7) and recorded in the history under its name."""
    if extra_terms is None:
        return {}
    if not isinstance(extra_terms, dict):
        raise SettingsError(f"extra_terms must be a dict name -> function, got {type(extra_terms).__name__}")
    for k, term in extra_terms.items():
        if not isinstance(k, str) or not k or k in RECORD_KEYS:
            raise SettingsError(f"extra term name {k!r} must be a new non-empty name, not one of {RECORD_KEYS}")
        if not callable(term):
            raise SettingsError(f"extra_terms[{k!r}] is not callable")
    return dict(extra_terms)


def check_functions(functions) -> dict:
    """``functions`` as a dict of callables with names from :data:`FUNCTIONS` (None: {})."""
    if functions is None:
        return {}
    if not isinstance(functions, dict):
        raise SettingsError(f"functions must be a dict name -> function, got {type(functions).__name__}")
    unknown = [k for k in functions if k not in FUNCTIONS]
    if unknown:
        raise SettingsError(f"unknown function(s) {unknown}; functions= can replace {FUNCTIONS}")
    bad = [k for k, f in functions.items() if not callable(f)]
    if bad:
        raise SettingsError(f"functions[{bad[0]!r}] is not callable")
    return dict(functions)


# --------------------------------------------------------------------------------------
# Targets and objective


@dataclass
class Targets:
    """What the image is matched against, computed once: P^l and A^l (Eqs. 1, 4)."""

    content: dict[str, torch.Tensor]  # layer -> P^l (1, N, H, W)
    grams: dict[str, torch.Tensor]  # layer -> A^l (1, N, N), for an image of ``size``
    size: tuple[int, int]  # (H, W) of the image being optimised
    statistic: str = "gram"  # another: ``grams`` holds its targets instead (stylelab.statistics)


def make_targets(model: VGG, size: tuple[int, int], content: torch.Tensor | None, content_layers: Sequence[str],
                 styles: Sequence[torch.Tensor], style_layers: Sequence[str], blend: Sequence[float] | None = None,
                 style_scale: str = "content", gram: Callable | None = None, statistic: str = "gram") -> Targets:
    """Content responses and style Grams, without autograd.

    style_scale: ``"content"`` resizes each style image to the generated image's size
    (the paper); ``"area"`` to the same number of pixels, keeping its aspect ratio;
    ``"own"`` keeps it as given. Grams of a style image with M_s positions are scaled
    by M/M_s so they describe an image of the generated size with the same statistics.
    Several styles are mixed as A = sum_k b_k A_k with blend weights b normalised to 1.
    ``blend`` is one weight per style image, or a dict style layer -> one weight per style
    image for each layer (:func:`blend_weights`; :mod:`stylelab.scale` builds the coarse/fine
    split of Gatys et al. 2017 this way).
    ``gram``: the function of Eq. 3 (default :func:`stylelab.losses.gram`; a student's in the lessons).
    ``statistic``: another style statistic than the Gram matrix (:mod:`stylelab.statistics`);
    its targets, of one style image, take the Grams' place.
    """
    if style_scale not in STYLE_SCALES:
        raise SettingsError(f"unknown style_scale {style_scale!r}; choose one of {STYLE_SCALES}")
    dev = next(model.parameters()).device
    h, w = size
    c_targets: dict[str, torch.Tensor] = {}
    grams: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        if content_layers:
            if content is None:
                raise SettingsError("content layers given but no content image")
            if tuple(content.shape[-2:]) != (h, w):  # the responses P^l must match the generated image's
                content = resize_to(content, (h, w))
            c_targets = {k: v.clone() for k, v in model(content.to(dev), content_layers).items()}
        if style_layers:
            if not styles:
                raise SettingsError("style layers given but no style image")
            b = blend_weights(blend, len(styles), style_layers, model.arch)
            for k, s in enumerate(styles):
                used = [l for l in style_layers if b[l][k]]  # a weight of 0: that image's Gram is not needed
                if not used:
                    continue
                if style_scale == "content":
                    s = resize_to(s, (h, w))
                elif style_scale == "area":
                    sh, sw = s.shape[-2:]
                    f = math.sqrt(h * w / (sh * sw))
                    s = resize_to(s, (max(1, round(sh * f)), max(1, round(sw * f))))
                feats = model(s.to(dev), used)
                for name, f_l in feats.items():
                    if statistic != "gram":  # one style image (run() checks): its statistic's targets
                        grams[name] = statistics.targets(statistic, f_l)
                        continue
                    m_s = f_l.shape[-1] * f_l.shape[-2]
                    ds = model.layers[model._pos[name]].downsampling  # the layer's stride, in input pixels
                    m_x = (h // ds) * (w // ds)
                    a = (gram or losses.gram)(f_l).detach() * (m_x / m_s) * b[name][k]
                    grams[name] = grams[name] + a if name in grams else a
    return Targets(c_targets, grams, (h, w), statistic)


def blend_weights(blend, n_styles: int, style_layers: Sequence[str], arch: str = "vgg19") -> dict[str, list[float]]:
    """The blend weights b_k of each style layer, normalised to sum 1 per layer:
    ``{layer: [b_1, ..., b_K]}`` for K style images.

    ``blend``: None (equal), one weight per style image (the same at every layer), or a
    dict style layer -> one weight per style image, naming every style layer (names in
    any convention, :func:`stylelab.vgg.resolve_layer`).
    """
    if not isinstance(blend, dict):
        b = [1.0] * n_styles if blend is None else [_finite_nonneg("style blend weight", x) for x in blend]
        if len(b) != n_styles:
            raise SettingsError(f"{len(b)} blend weights given for {n_styles} style images")
        if sum(b) <= 0:
            raise SettingsError("style blend weights sum to zero")
        return {l: [x / sum(b) for x in b] for l in style_layers}
    given = {resolve_layers([k], arch)[0]: v for k, v in blend.items()}
    extra = [l for l in given if l not in style_layers]
    if extra:
        raise SettingsError(f"blend gives weights for {', '.join(extra)}, not a style layer "
                            f"(style layers: {', '.join(style_layers)})")
    missing = [l for l in style_layers if l not in given]
    if missing:
        raise SettingsError(f"blend gives no weights for the style layer(s) {', '.join(missing)}")
    out = {}
    for l in style_layers:
        v = given[l]
        if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
            raise SettingsError(f"blend[{l!r}] must be one weight per style image, e.g. [1, 0], got {v!r}")
        b = [_finite_nonneg(f"blend weight of {l}", x) for x in v]
        if len(b) != n_styles:
            raise SettingsError(f"{len(b)} blend weights given for {l} but {n_styles} style images")
        if sum(b) <= 0:
            raise SettingsError(f"the blend weights of {l} sum to zero")
        out[l] = [x / sum(b) for x in b]
    return out


class _StyleLayerLoss(torch.autograd.Function):
    """E_l = c sum (G - A)^2 with G = F F^T (Eqs. 3, 4), differentiated as in Eq. 6.

    The value of :func:`stylelab.losses.style_layer_loss`; only the backward pass is
    written out: dE/dF = 2c (D + D^T) F with D = G - A (= 4c (G - A) F, the paper's
    Eq. 6, as G and A are symmetric): one matrix product of 2 N^2 M FLOPs, where
    autograd differentiates ``bmm(F, F^T)`` as two products and adds them, and the
    gradient comes out in the feature maps' memory layout. With channels-last maps
    (:meth:`stylelab.vgg.VGG.forward`) an evaluation at 256 px runs 1.19x faster on a
    2-core CPU (see BENCHMARKS.md).
    """

    @staticmethod
    def forward(ctx, features, target_gram, c):
        b, n, h, w = features.shape
        f = features.reshape(b, n, h * w)  # a view, for contiguous and channels-last maps
        diff = torch.bmm(f, f.transpose(1, 2)) - target_gram
        ctx.save_for_backward(f, diff)
        ctx.c, ctx.shape = c, features.shape
        return diff.pow(2).sum() * c

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        f, diff = ctx.saved_tensors
        sym = (diff + diff.transpose(1, 2)) * (grad * (2.0 * ctx.c))  # symmetric, N x N
        if f.stride(-1) == 1:  # (B, N, M) row-major: contiguous feature maps
            grad_f = torch.bmm(sym, f)
        else:  # channels-last maps: F^T is row-major; produce the gradient in that layout
            grad_f = torch.bmm(f.transpose(1, 2), sym).transpose(1, 2)
        return grad_f.reshape(ctx.shape), None, None


def _style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor, norm: str) -> torch.Tensor:
    """:func:`stylelab.losses.style_layer_loss` with the backward pass of Eq. 6."""
    if target_gram.requires_grad or features.dim() != 4 or target_gram.shape[-1] != features.shape[1]:
        return losses.style_layer_loss(features, target_gram, norm)
    _, n, h, w = features.shape
    m = h * w
    return _StyleLayerLoss.apply(features, target_gram, losses.style_factor(norm, n, m) / (4.0 * n * n * m * m))


class Objective:
    """L_total(x) = alpha L_content + beta sum_l w_l E_l + tv_weight L_tv + gamma L_l2 (Eq. 7).

    Calling it runs one forward pass to the deepest layer needed and returns the
    total (a tensor with autograd) and the per-term, per-layer breakdown.
    """

    def __init__(self, model: VGG, targets: Targets, content_layers: Sequence[str], style_weights: dict[str, float],
                 alpha: float = 1.0, beta: float = 1e3, tv_weight: float = 0.0, gamma: float = 0.0,
                 norm: str = "paper", functions: dict | None = None, guide=None, extra_terms: dict | None = None,
                 precision: "_precision.Precision" = _precision.FP32):
        losses._check_norm(norm)
        self.precision = precision  # the network's arithmetic (stylelab.precision); losses stay fp32
        self.functions = check_functions(functions)
        self.extra_terms = check_extra_terms(extra_terms)  # name -> term(x), added to L_total (e.g. stylelab.video)
        self.guide = guide  # spatial control: per-region guided Grams (stylelab.masks.Guide)
        self.model = model
        self.targets = targets
        self.content_layers = list(content_layers)
        self.style_weights = {k: v for k, v in style_weights.items()}
        self.alpha, self.beta = alpha, beta
        self.tv_weight, self.gamma = tv_weight, gamma
        self.norm = norm
        self.layers = resolve_layers(list(self.content_layers) + list(self.style_weights), model.arch)

    def __call__(self, image: torch.Tensor):
        if self.precision.dtype is None:
            feats = self.model(image, self.layers)
        else:  # the network in bf16/fp16 (stylelab.precision); Grams and losses from fp32 copies
            with self.precision.autocast(image.device):
                feats = self.model(image, self.layers)
            feats = {k: v.float() for k, v in feats.items()}
        f = self.functions
        if "content_loss" in f:
            c_layers = {l: f["content_loss"](feats[l], self.targets.content[l]) * self._factor(feats[l], "content")
                        for l in self.content_layers}
        else:
            c_layers = {l: losses.content_loss(feats[l], self.targets.content[l], self.norm)
                        for l in self.content_layers}
        if self.guide is not None:  # Gatys et al. 2017: E_l = sum_r lambda_r E_l,r (stylelab.masks)
            s_layers = {l: self.guide.layer_loss(l, feats[l], self.norm) for l in self.style_weights}
        elif self.targets.statistic != "gram":  # another style statistic (stylelab.statistics)
            s_layers = {l: statistics.loss(self.targets.statistic, feats[l], self.targets.grams[l])
                        for l in self.style_weights}
        elif "style_layer_loss" in f or "gram" in f:
            s_layers = {l: self._style_layer(feats[l], self.targets.grams[l]) for l in self.style_weights}
        else:  # losses.style_layer_loss, with the backward pass of Eq. 6 (see _StyleLayerLoss)
            s_layers = {l: _style_layer_loss(feats[l], self.targets.grams[l], self.norm)
                        for l, w in self.style_weights.items()}
        content = sum(c_layers.values()) if c_layers else image.new_zeros(())
        style = sum(self.style_weights[l] * e for l, e in s_layers.items()) if s_layers else image.new_zeros(())
        tv = f.get("tv_loss", losses.tv_loss)(image) if self.tv_weight else image.new_zeros(())
        l2 = losses.l2_loss(image) if self.gamma else image.new_zeros(())
        if "total_loss" in f:
            total = f["total_loss"](content, style, self.alpha, self.beta) + self.tv_weight * tv + self.gamma * l2
        else:
            total = losses.total_loss(content, style, self.alpha, self.beta, tv, self.tv_weight, l2, self.gamma)
        extra = {k: term(image) for k, term in self.extra_terms.items()}
        if extra:
            total = total + sum(extra.values())
        parts = {"content": content, "style": style, "tv": tv, "l2": l2,
                 "content_layers": c_layers, "style_layers": s_layers, "extra": extra}
        return total, parts

    def _factor(self, features: torch.Tensor, term: str) -> float:
        """The convention's rescaling of the paper's Eq. 1 / Eq. 4 (see :mod:`stylelab.losses`)."""
        n, m = features.shape[1], features.shape[-1] * features.shape[-2]
        return (losses.content_factor if term == "content" else losses.style_factor)(self.norm, n, m)

    def _style_layer(self, features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
        """E_l (Eq. 4) from ``functions``: their ``style_layer_loss``, else Eq. 4 on their ``gram``."""
        if "style_layer_loss" in self.functions:
            e = self.functions["style_layer_loss"](features, target_gram)
        else:
            n, m = features.shape[1], features.shape[-1] * features.shape[-2]
            e = (self.functions["gram"](features) - target_gram).pow(2).sum() / (4.0 * n * n * m * m)
        return e * self._factor(features, "style")

    def evaluate(self, image: torch.Tensor, fp32: bool = False) -> dict:
        """The loss breakdown of an image, as plain floats, without autograd; ``fp32``: with the
        network in float32 whatever the objective's precision (how a result reports its loss)."""
        dev = next(self.model.parameters()).device
        kept = self.precision
        if fp32:
            self.precision = _precision.FP32
        try:
            with torch.no_grad():
                total, parts = self(image.to(dev))
        finally:
            self.precision = kept
        return _record(0, 0.0, total, parts)


def _record(step: int, elapsed: float, total, parts) -> dict:
    return {
        "step": step, "time": elapsed, "total": float(total),
        "content": float(parts["content"].detach()), "style": float(parts["style"].detach()),
        "tv": float(parts["tv"].detach()), "l2": float(parts["l2"].detach()),
        "content_layers": {k: float(v.detach()) for k, v in parts["content_layers"].items()},
        "style_layers": {k: float(v.detach()) for k, v in parts["style_layers"].items()},
        **{k: float(v.detach()) for k, v in parts.get("extra", {}).items()},
    }


# --------------------------------------------------------------------------------------
# Results


@dataclass
class Result:
    """What an optimisation produced."""

    image: torch.Tensor  # (1, 3, H, W) RGB [0, 1] on the CPU: the lowest-loss image evaluated
    history: list[dict]  # one record per loss evaluation: step, time, total, terms, per-layer terms
    settings: dict  # everything needed to run it again (JSON-able)
    best_step: int = 0
    interrupted: bool = False  # Ctrl-C
    stopped: bool = False  # a callback or the stop event ended it early
    wall_time: float = 0.0
    init_image: torch.Tensor | None = field(default=None, repr=False)
    converged: bool = False  # the stopping rule ended the (last stage of the) run
    converged_step: int | None = None  # the step at which it did
    stages: list[dict] = field(default_factory=list)  # coarse-to-fine: one summary per size
    #: The returned image's losses evaluated again with the network in float32, when the run's
    #: network ran in bf16/fp16 (stylelab.precision); None for a float32 run.
    fp32_losses: dict | None = None

    @property
    def status(self) -> str:
        """"converged after N steps" or "not converged after N steps" (N: evaluations, all stages)."""
        if self.converged:
            return f"converged after {self.converged_step} steps"
        return f"not converged after {self.steps_done} steps"

    @property
    def losses(self) -> dict:
        """The loss record of the returned image (evaluated in float32: :attr:`fp32_losses`
        when the network ran in a lower precision)."""
        if self.fp32_losses is not None:
            return self.fp32_losses
        for r in self.history:
            if r["step"] == self.best_step:
                return r
        return self.history[-1] if self.history else {}

    @property
    def steps_done(self) -> int:
        return len(self.history)

    def to_pil(self):
        from .image import to_pil

        return to_pil(self.image)

    def summary(self) -> dict:
        """Settings, final losses, time: what a notebook writes to its metrics JSON."""
        return {"settings": self.settings, "losses": self.losses, "best_step": self.best_step,
                "steps_done": self.steps_done, "interrupted": self.interrupted, "stopped": self.stopped,
                "converged": self.converged, "converged_step": self.converged_step, "status": self.status,
                "stages": self.stages, "wall_time": self.wall_time}

    def save(self, path: str | os.PathLike, *, history: bool = True, protect: Iterable = ()) -> Path:
        """Save the image (PNG/JPEG by suffix) and ``<name>.json`` beside it with the
        settings, final losses and (optionally) the whole history."""
        path = save_image(self.image, path, protect=tuple(protect))
        meta = self.summary()
        if history:
            meta["history"] = self.history
        side = path.with_suffix(".json")
        tmp = config.atomic_write_path(side)
        tmp.write_text(json.dumps(meta, indent=1, default=str))
        os.replace(tmp, side)
        return path


# --------------------------------------------------------------------------------------
# The optimisation loop


def initial_image(init, size: tuple[int, int], content: torch.Tensor | None = None,
                  style: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """The starting image: white noise (Gaussian, :data:`NOISE_STD`, around the mean
    colour, seeded: the paper), the
    content image, the (first) style image resized to ``size``, or a given image."""
    h, w = size
    if isinstance(init, torch.Tensor):
        img = init.detach().float()
        if img.dim() == 3:
            img = img.unsqueeze(0)
        return resize_to(img, (h, w)).clamp(0, 1) if tuple(img.shape[-2:]) != (h, w) else img.clamp(0, 1).clone()
    if init == "noise":
        g = torch.Generator().manual_seed(int(seed))
        mean = torch.tensor(losses.IMAGE_MEAN).view(1, 3, 1, 1)
        return (mean + NOISE_STD * torch.randn(1, 3, h, w, generator=g)).clamp(0, 1)
    if init == "content":
        if content is None:
            raise SettingsError("init='content' needs a content image")
        return resize_to(content, (h, w)).clone()
    if init == "style":
        if style is None:
            raise SettingsError("init='style' needs a style image")
        return resize_to(style, (h, w)).clone()
    raise SettingsError(f"unknown init {init!r}; choose one of {INITS} or pass an image tensor")


def optimize(objective: Objective, init: torch.Tensor, *, steps: int = 500, optimizer: str = "lbfgs",
             lr: float | None = None, callback: Callable | None = None, every: int = 10,
             progress: bool = True, stop: threading.Event | Callable[[], bool] | None = None,
             settings: dict | None = None, desc: str = "optimising", tol: float | None = None,
             patience: int = DEFAULT_PATIENCE, make_closure: Callable | None = None) -> Result:
    """Optimise the pixels of ``init`` to minimise ``objective``.

    optimizer: ``"lbfgs"`` (the paper; one loss evaluation per step, no line search)
        or ``"adam"``. lr: step size (L-BFGS 1.0, Adam 0.02 on [0, 1] pixels by default).
    Pixels are clamped to [0, 1] after every step. For L-BFGS the loss is multiplied by
    a constant fixed at the first evaluation, so the result does not depend on the
    overall scale of alpha and beta (torch's L-BFGS skips curvature updates for
    tiny losses); the history records the true loss.
    callback(step, image, record) is called every ``every`` steps and after the last;
        returning True stops the run. ``stop`` (an Event or a function) is checked
        before every step, so a UI can end a run within one evaluation.
    Ctrl-C ends the run and returns the best image so far (``interrupted=True``).

    The stopping rule: with ``tol`` set, the run ends (``converged=True``, at
    ``converged_step``) as soon as the lowest loss so far fell by no more than the
    fraction ``tol`` over the last ``patience`` evaluations,
    ``min L[:n-k] - min L[:n] <= tol * min L[:n-k]`` (k = patience); ``steps`` is then a cap.
    The lowest loss so far, not the last one, so that a single overshooting L-BFGS step
    neither stops the run nor keeps it going. ``tol=None``: run all ``steps`` (the paper).

    make_closure(optimizer, x, loss_fn): builds the closure ``optimizer.step`` calls (the
    lesson 03 exercise); ``loss_fn(x)`` is the recorded, rescaled loss. Default: zero the
    gradients, ``loss = loss_fn(x)``, ``loss.backward()``, return ``loss``.
    """
    steps = _positive_int("steps", steps)
    tol = None if tol is None else _finite_nonneg("tol", tol)
    patience = _positive_int("patience", patience)
    every = _positive_int("every", every)
    if optimizer not in OPTIMIZERS:
        raise SettingsError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise SettingsError(f"learning rate must be a finite number > 0, got {lr!r}")
    dev = next(objective.model.parameters()).device
    x = init.detach().to(dev, torch.float32).clone().clamp_(0, 1).requires_grad_(True)
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=lr, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0)
    else:
        opt = torch.optim.Adam([x], lr=lr)
    should_stop = (stop.is_set if isinstance(stop, threading.Event) else stop) or (lambda: False)

    history: list[dict] = []
    best = {"loss": math.inf, "image": x.detach().clone(), "step": 0}
    t0 = time.perf_counter()
    state = {"step": 0}

    def loss_fn(image):
        total, parts = objective(image)
        state["step"] += 1
        value = float(total.detach())
        rec = _record(state["step"], time.perf_counter() - t0, value, parts)
        history.append(rec)
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"the loss became {value} at step {state['step']}: lower the learning rate or the loss "
                f"weights, or check the images and weights; the best image so far is kept in .result"
            )
        if value < best["loss"]:
            best.update(loss=value, image=image.detach().clone(), step=state["step"])
        if "scale" not in state:
            # L-BFGS is not scale-free in practice: torch's implementation stores a curvature
            # pair only when y.s > 1e-10, so a loss of order 1 (the default convention) turns it
            # into plain gradient descent. The optimiser therefore sees the loss times a
            # constant fixed at the first evaluation (first loss -> 0.02 x pixels); Adam is
            # scale-invariant and sees it unchanged. History records the true values.
            # (See LBFGS_SCALE_PER_PIXEL for the measurements behind the constant.)
            target = LBFGS_SCALE_PER_PIXEL * image.shape[-1] * image.shape[-2]
            state["scale"] = target / value if optimizer == "lbfgs" and value > 0 else 1.0
        return total * state["scale"]

    def closure():
        opt.zero_grad(set_to_none=True)
        scaled = loss_fn(x)
        scaled.backward()
        return scaled

    if make_closure is not None:
        closure = make_closure(opt, x, loss_fn)
        if not callable(closure):
            raise SettingsError(f"make_closure returned {type(closure).__name__}, not a function")

    result_kw = dict(settings=dict(settings or {}), init_image=init.detach().cpu())
    interrupted = stopped = converged = False
    lowest: list[float] = []  # the lowest loss after each evaluation (the stopping rule)
    bar = _progress(steps, desc, progress)
    try:
        for step in range(1, steps + 1):
            if should_stop():
                stopped = True
                break
            n_before = len(history)
            opt.step(closure)
            if make_closure is not None and (len(history) == n_before or x.grad is None):
                raise SettingsError("the closure must compute loss_fn(x) and call backward() (see "
                                    "stylelab.exercises.check_closure)")
            with torch.no_grad():
                x.clamp_(0, 1)
            rec = history[-1]
            bar.set_postfix(loss=f"{rec['total']:.4g}", refresh=False)
            bar.update(1)
            lowest.append(best["loss"])
            converged = tol is not None and len(lowest) > patience and (
                lowest[-1 - patience] - lowest[-1] <= tol * lowest[-1 - patience])
            if callback is not None and (step % every == 0 or step == steps or converged):
                if callback(step, best["image"].cpu(), rec):
                    stopped = True
                    break
            if converged:
                break
    except KeyboardInterrupt:
        interrupted = True
    except NonFiniteLossError as exc:
        bar.close()
        exc.result = Result(best["image"].cpu(), history, best_step=best["step"],
                            wall_time=time.perf_counter() - t0, **result_kw)
        raise
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    fp32_losses = None
    if getattr(objective, "precision", _precision.FP32).dtype is not None and best["step"]:  # loss in fp32
        fp32_losses = {**objective.evaluate(best["image"], fp32=True), "step": best["step"],
                       "time": history[best["step"] - 1]["time"], "evaluated_in": "fp32"}
    return Result(best["image"].cpu(), history, best_step=best["step"], interrupted=interrupted, stopped=stopped,
                  wall_time=wall, converged=converged, converged_step=len(history) if converged else None,
                  fp32_losses=fp32_losses, **result_kw)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


# --------------------------------------------------------------------------------------
# The three uses of the engine


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, torch.Tensor):
        return [x]
    return list(x)


def run(content: torch.Tensor | None = None, styles: torch.Tensor | Sequence[torch.Tensor] | None = None, *,
        model: VGG | None = None, features=None, weights=None, pooling: str = "avg", normalized: bool | None = None,
        device=None, content_layers: Sequence[str] | str | None = (PAPER_CONTENT_LAYER,),
        style_layers: Sequence[str] | None = PAPER_STYLE_LAYERS, style_weights=None,
        alpha: float | None = None, beta: float | None = None, ratio: float | None = None,
        tv_weight: float = 0.0, gamma: float = 0.0, convention: str = DEFAULT_CONVENTION,
        norm: str | None = None,
        blend: Sequence[float] | None = None, style_scale: str = "content", size: tuple[int, int] | None = None,
        init="noise", seed: int = 0, optimizer: str = "lbfgs", steps: int | Sequence[int] = 500,
        lr: float | None = None, scales: Sequence[int] | None = None, detail: str | None = "auto",
        tol: float | None = None,
        patience: int = DEFAULT_PATIENCE, callback: Callable | None = None, every: int = 10,
        progress: bool = True, stop=None, desc: str = "optimising", functions: dict | None = None,
        regions=None, style_statistic: str = "gram", extra_terms: dict | None = None,
        precision: str | None = None) -> Result:
    """The general engine behind :func:`transfer`, :func:`texture` and :func:`reconstruct`.

    content / styles: (1, 3, H, W) RGB images in [0, 1]; either may be None.
    model: a :class:`~stylelab.vgg.VGG`; else one is loaded from ``weights``,
        ``pooling``, ``normalized`` and ``device`` (see :func:`stylelab.weights.load_vgg`).
    features: another feature extractor by name (:func:`stylelab.features.names`: ``"random-vgg"``,
        ``"random-filters"``, ``"patch-cnn"``, ...) in place of ``model``; the paper's default
        layers become the extractor's own where it lacks them (:func:`stylelab.features.own_layers`).
    alpha, beta: the weights of Eq. 7; or ``ratio`` = alpha/beta (alpha 1, beta 1/ratio).
    normalized: Gatys et al.'s rescaled network (True) or the VGG as trained (False); None: the
        convention's (used only when ``model`` is not given).
    convention: ``"calibrated"`` (default), ``"gatys_code"`` or ``"paper"``: the loss normalisation,
        layer weights, network and factor on alpha that the alpha/beta ratio refers to (see
        :data:`CONVENTIONS`).
    style_weights: w_l per style layer: ``"equal"``, ``"gatys_code"``, a list or a dict
        (default: the convention's).
    norm: ``"paper"``, ``"hw"`` or ``"chw"`` (see :mod:`stylelab.losses`; default: the convention's).
    tv_weight, gamma: total variation and L2 pixel-prior weights (0: the paper).
    blend: weights of several style images, or per style layer (a dict layer -> one weight
        per image, :func:`blend_weights`); style_scale: see :func:`make_targets`.
    size: (H, W) of the generated image (default: the content's, else the style's).
    init: ``"noise"`` (with ``seed``), ``"content"``, ``"style"`` or an image tensor.
    optimizer, steps, lr, tol, patience, callback, every, progress, stop: see :func:`optimize`.
    scales: coarse-to-fine (Gatys et al. 2017, *Controlling Perceptual Factors in Neural
        Style Transfer*, the high-resolution procedure): the longest side of the image at
        each stage, increasing, e.g. ``(128, 256, 512)``; the last is the result's size. Each
        stage computes its targets from the images at its own size and starts from the
        previous stage's result, upsampled (the first from ``init``). ``steps`` is then
        the evaluations per stage, one number for all or one per stage, and ``tol`` applies
        to every stage. The history runs on across stages (``stage`` and ``size`` in each
        record); :attr:`Result.stages` summarises each. A run stopped early returns the
        best image of the stage it reached, upsampled to the final size.
    detail: what is added to each upsampled start of a coarse-to-fine stage. ``"content"``:
        the content image's detail band, content at the stage's size minus content at the
        previous stage's size upsampled (a Laplacian-pyramid level). The upsampled result
        lacks exactly these frequencies, and the content term at relu4_2 is dominated by
        them: on the Neckarfront at 256 px, a 128 px result upsampled starts with a loss as
        high as white noise's (8.3 against 8.4, almost all of it the content term; even the
        photograph itself, downsampled and upsampled, has a content loss of 1.9), with the
        band 7.6, and 100 steps later 0.71 against 1.30. ``None``: upsampling only.
        ``"auto"``: ``"content"`` for a style transfer (content and style terms), else
        ``None``: a texture has no content, and a content reconstruction must find the
        pixels from the layer's responses alone (notebook 01), not be given them.
    functions: the lessons' exercises, the student's own ``content_loss``, ``gram``,
        ``style_layer_loss``, ``tv_loss``, ``total_loss`` or ``closure`` in place of the
        engine's (:data:`FUNCTIONS`); slower than the engine's own (no fused Eq. 6 backward).
    regions: spatial control (Gatys et al. 2017, guided Gram matrices): a
        :class:`stylelab.masks.Regions` or masks for one, region r matched to style image r
        (or to its part of one style image); the style term is :mod:`stylelab.masks`'.
    style_statistic: what the style loss matches (:mod:`stylelab.statistics`): ``"gram"`` (the
        papers' Gram matrices, Eqs. 3-4), ``"mean_std"``, ``"mmd_linear"`` or ``"mmd_gauss"``
        (Li et al. 2017), with one style image.
    extra_terms: more terms of the objective, name -> ``term(x)`` returning a weighted scalar
        tensor added to L_total and recorded in the history under its name (e.g. Ruder et al.'s
        temporal loss, :mod:`stylelab.video`); with ``scales`` each stage hands it its own size.
    precision: the network's arithmetic (:mod:`stylelab.precision`): ``"auto"`` (None: the
        ``STYLELAB_PRECISION`` environment variable, else auto: bf16 on CPUs with AMX or
        AVX512_BF16 where a measured probe finds it faster, bf16/fp16 autocast on CUDA, else fp32),
        ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA). Grams, losses and the optimiser stay fp32;
        the result's :attr:`Result.losses` are evaluated in fp32.
    """
    functions = check_functions(functions)
    extra_terms = check_extra_terms(extra_terms)
    styles = _as_list(styles)
    content_layers = [content_layers] if isinstance(content_layers, str) else list(content_layers or [])
    style_layers = list(style_layers or []) if styles else []
    if content is None:
        content_layers = []
    if content is None and not styles:
        raise SettingsError("give a content image, a style image, or both")
    if not content_layers and not style_layers:
        raise SettingsError("choose at least one content or style layer")
    if convention not in CONVENTIONS:
        raise SettingsError(f"unknown loss convention {convention!r}; choose one of {tuple(CONVENTIONS)}")
    if normalized is None:
        normalized = CONVENTIONS[convention]["normalized"]
    alpha, beta = _weights(alpha, beta, ratio, bool(content_layers), bool(style_layers))
    tv_weight = _finite_nonneg("tv_weight", tv_weight)
    gamma = _finite_nonneg("gamma", gamma)
    if features is not None or not isinstance(model, (VGG, type(None))):  # another network (stylelab.features)
        from . import features as _features

        model, content_layers, style_layers = _features.prepare(
            features, model, content_layers, style_layers, weights=weights, pooling=pooling, normalized=normalized,
            device=device)
    if model is None:
        from .weights import load_vgg

        model = load_vgg(weights, pooling=pooling, normalized=normalized, device=device)
    content_layers = resolve_layers(content_layers, model.arch)
    style_layers = resolve_layers(style_layers, model.arch)
    prec = _precision.resolve(precision if precision is not None else os.environ.get(_precision.ENV) or None,
                              next(model.parameters()).device)
    content_scale = CONVENTIONS[convention]["content_scale"]
    norm = CONVENTIONS[convention]["norm"] if norm is None else norm
    losses._check_norm(norm)
    if style_weights is None:
        style_weights = CONVENTIONS[convention]["style_weights"]
    channels = {l.name: l.channels for l in model.layers}
    w_l = layer_weights(style_layers, style_weights, channels) if style_layers else {}
    size_given = size is not None
    if size is None:
        size = tuple(content.shape[-2:]) if content is not None else tuple(styles[0].shape[-2:])
    size = (int(size[0]), int(size[1]))
    sizes = stage_sizes(scales, size, fixed=size_given)
    stage_steps = _stage_steps(steps, len(sizes))
    for hw in sizes:
        try:
            model.check_input(torch.empty(1, 3, *hw, device="meta"), content_layers + style_layers)
        except (SettingsError, LayerError) as exc:
            if len(sizes) == 1:
                raise
            raise type(exc)(f"scale {max(hw)} px ({hw[0]} x {hw[1]}) is too small: {exc}") from None
    size = sizes[-1]
    if detail == "auto":  # a pure content reconstruction must not be handed the content's pixels
        detail = "content" if content_layers and style_layers else None
    if detail not in (None, "content"):
        raise SettingsError(f"unknown detail {detail!r}; choose 'content', None or 'auto'")
    if detail == "content" and content is None:
        raise SettingsError("detail='content' needs a content image")
    settings = {
        "arch": model.arch, "weights": model.info.get("weights"), "input_convention": model.convention,
        "pooling": model.pooling, "normalized": model.info.get("normalized"),
        "content_layers": content_layers, "style_layers": style_layers, "style_weights": w_l,
        "alpha": alpha, "beta": beta, "ratio": (alpha / beta) if beta else None, "content_scale": content_scale,
        "tv_weight": tv_weight, "gamma": gamma, "convention": convention, "norm": norm, "blend": _blend_setting(blend),
        "style_scale": style_scale, "size": list(size),
        "init": init if isinstance(init, str) else "image", "seed": seed, "optimizer": optimizer,
        "steps": steps if isinstance(steps, int) else list(stage_steps), "lr": lr if lr is not None else DEFAULT_LR.get(optimizer),
        "scales": [max(hw) for hw in sizes] if scales is not None else None,
        "detail": detail if scales is not None else None, "tol": tol,
        "patience": patience if tol is not None else None,
        "device": str(next(model.parameters()).device), "torch": torch.__version__, **prec.describe(),
    }
    if regions is not None:  # spatial control: stylelab.masks builds the style term
        from . import masks

        regions = masks.as_regions(regions)
        regions.style_index(len(styles))  # one style image per region, or style masks: checked now
        if functions or blend is not None:
            raise SettingsError("regions= cannot be combined with functions= or blend=")
        settings["regions"] = regions.describe()
    settings["style_statistic"] = statistics.check(style_statistic)
    if style_statistic != "gram":  # stylelab.statistics: one style image, no Grams to mix
        given = [o for o, v in (("regions=", regions is not None), ("functions=", bool(functions)),
                                ("blend=", blend is not None)) if v]
        if len(styles) > 1 or given:
            raise SettingsError(f"style_statistic={style_statistic!r} takes one style image and no "
                                f"{', '.join(given) or 'second style image'}; those work with 'gram'")
    if functions:  # whose functions made this image: the student's (the lessons' exercises)
        settings["functions"] = {k: getattr(f, "__qualname__", repr(f)) for k, f in functions.items()}
    if extra_terms:
        settings["extra_terms"] = list(extra_terms)
        weighted = {k: float(t.weight) for k, t in extra_terms.items() if isinstance(getattr(t, "weight", None), (int, float))}
        if weighted:  # a term that states its weight (e.g. stylelab.chroma_tv.term) has it recorded
            settings["extra_term_weights"] = weighted

    def objective_at(hw):
        guide = regions.guide(model, hw, styles, style_layers, style_scale) if regions is not None else None
        targets = make_targets(model, hw, content, content_layers, styles if guide is None else [],
                               style_layers if guide is None else [], blend, style_scale, gram=functions.get("gram"),
                               statistic=style_statistic)
        return Objective(model, targets, content_layers, w_l, alpha * content_scale, beta, tv_weight, gamma, norm,
                         functions={k: v for k, v in functions.items() if k != "closure"}, guide=guide,
                         extra_terms=extra_terms, precision=prec)

    start = initial_image(init, sizes[0], content, styles[0] if styles else None, seed)
    common = dict(optimizer=optimizer, lr=lr, every=every, progress=progress, stop=stop, tol=tol, patience=patience,
                  make_closure=functions.get("closure"))
    if len(sizes) == 1:
        return optimize(objective_at(size), start, steps=stage_steps[0], callback=callback, settings=settings,
                        desc=desc, **common)
    band = (lambda hw, prev: resize_to(content, hw) - resize_to(resize_to(content, prev), hw)) if detail else None
    return _coarse_to_fine(objective_at, sizes, stage_steps, start, callback, settings, desc, common, band)


def _blend_setting(blend):
    """``blend`` as JSON: a list, a dict layer -> list, or None."""
    if isinstance(blend, dict):
        return {str(k): [float(x) for x in v] for k, v in blend.items()}
    return list(blend) if blend else None


def stage_sizes(scales: Sequence[int] | None, size: tuple[int, int], fixed: bool = False) -> list[tuple[int, int]]:
    """(H, W) of each coarse-to-fine stage: longest side ``scales[i]``, the aspect of ``size``.

    ``None``: one stage of ``size``. With ``fixed`` (the caller chose ``size``) the last
    scale must be its longest side.
    """
    if scales is None:
        return [tuple(size)]
    if isinstance(scales, (str, bytes)) or not hasattr(scales, "__iter__"):
        raise SettingsError(f"scales must be a list of sizes in px, e.g. [128, 256, 512], got {scales!r}")
    scales = [_positive_int("each scale", v) for v in scales]
    if not scales:
        raise SettingsError("scales is empty: give at least one size in px")
    if any(b <= a for a, b in zip(scales, scales[1:])):
        raise SettingsError(f"scales must increase from coarse to fine, got {scales}")
    h, w = size
    if fixed and scales[-1] != max(h, w):
        raise SettingsError(f"the last scale ({scales[-1]} px) must be the image's longest side ({max(h, w)} px)")
    return [(max(1, round(h * s / max(h, w))), max(1, round(w * s / max(h, w)))) for s in scales]


def _stage_steps(steps, n: int) -> list[int]:
    if isinstance(steps, (int, float)) and not isinstance(steps, bool):
        return [_positive_int("steps", steps)] * n
    try:
        out = [_positive_int("steps", v) for v in steps]
    except TypeError:
        raise SettingsError(f"steps must be an integer or one integer per scale, got {steps!r}") from None
    if len(out) != n:
        raise SettingsError(f"{len(out)} step counts given for {n} scales")
    return out


def _coarse_to_fine(objective_at, sizes, stage_steps, start, callback, settings, desc, common, band=None) -> Result:
    """Run the stages of :func:`run`'s ``scales``: each from the previous result, upsampled
    (plus ``band(size, previous_size)``, the detail the coarser stage could not hold)."""
    t_start = time.perf_counter()
    history: list[dict] = []
    stages: list[dict] = []
    image = start
    result = None
    for i, (hw, n) in enumerate(zip(sizes, stage_steps)):
        if i:
            image = resize_to(result.image, hw)  # bicubic, antialiased, clamped to [0, 1]
            if band is not None:
                image = (image + band(hw, sizes[i - 1])).clamp_(0, 1)
        offset, t_offset = len(history), time.perf_counter() - t_start

        def shifted(step, img, rec, _o=offset, _t=t_offset, _i=i, _hw=hw):
            return callback(step + _o, img, {**rec, "step": rec["step"] + _o, "time": rec["time"] + _t,
                                             "stage": _i, "size": list(_hw)})

        try:
            result = optimize(objective_at(hw), image, steps=n, callback=shifted if callback else None,
                              settings=settings, desc=f"{desc} {max(hw)} px ({i + 1}/{len(sizes)})", **common)
        except NonFiniteLossError as exc:  # keep the earlier stages in the error's result
            _add_stage(history, stages, exc.result, i, hw, n, offset, t_offset)
            exc.result = _merged(exc.result, history, stages, sizes, settings, start, t_start)
            raise
        _add_stage(history, stages, result, i, hw, n, offset, t_offset)
        if result.interrupted or result.stopped:
            break
    return _merged(result, history, stages, sizes, settings, start, t_start)


def _add_stage(history, stages, result, i, hw, n, offset, t_offset) -> None:
    for rec in result.history:
        history.append({**rec, "step": rec["step"] + offset, "time": rec["time"] + t_offset,
                        "stage": i, "size": list(hw)})
    stages.append({"stage": i, "size": list(hw), "steps_done": result.steps_done, "steps": n,
                   "converged": result.converged, "best_step": result.best_step + offset,
                   "loss": result.losses.get("total"), "wall_time": round(result.wall_time, 3)})


def _merged(result, history, stages, sizes, settings, start, t_start) -> Result:
    """One Result for all stages: the last stage's best image at the final size."""
    final = result.image if tuple(result.image.shape[-2:]) == sizes[-1] else resize_to(result.image, sizes[-1])
    fp32_losses = result.fp32_losses and {**result.fp32_losses, "step": stages[-1]["best_step"],
                                          "stage": len(stages) - 1, "size": stages[-1]["size"]}
    return Result(final, history, settings, best_step=stages[-1]["best_step"], interrupted=result.interrupted,
                  stopped=result.stopped, wall_time=time.perf_counter() - t_start, init_image=start,
                  converged=result.converged and len(stages) == len(sizes),
                  converged_step=len(history) if result.converged else None, stages=stages,
                  fp32_losses=fp32_losses)


def _weights(alpha, beta, ratio, has_content: bool, has_style: bool) -> tuple[float, float]:
    """Resolve (alpha, beta). ``ratio`` = alpha/beta with alpha = 1 (so beta = 1/ratio),
    as in the paper's figures; defaults: alpha 1, beta 1e3 (ratio 1e-3)."""
    if ratio is not None:
        if alpha is not None and beta is not None:
            raise SettingsError("give alpha and beta, or their ratio, not all three")
        ratio = _finite_nonneg("alpha/beta ratio", ratio)
        if ratio == 0:
            raise SettingsError("the alpha/beta ratio must be > 0 (use texture() for style only)")
        if beta is not None:
            alpha, beta = ratio * _finite_nonneg("beta", beta), beta
        else:
            alpha = 1.0 if alpha is None else alpha
            beta = _finite_nonneg("alpha", alpha) / ratio
    alpha = 1.0 if alpha is None else _finite_nonneg("alpha", alpha)
    beta = 1e3 if beta is None else _finite_nonneg("beta", beta)
    if not has_content:
        alpha = 0.0
    if not has_style:
        beta = 0.0
    if alpha == 0 and beta == 0:
        raise SettingsError("alpha and beta are both zero: nothing to optimise")
    return float(alpha), float(beta)


def transfer(content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor], *,
             preserve_colour: str | None = None, **kwargs) -> Result:
    """Style transfer (Gatys et al., Fig. 2): content at relu4_2 (the paper's conv4_2),
    style at relu1_1..relu5_1, alpha/beta = 1e-3, from white noise, L-BFGS, in the
    calibrated loss convention (:data:`CONVENTIONS`). Every keyword of :func:`run` can be changed.

    preserve_colour: keep the content's colours (Gatys et al. 2017): ``"luminance"``,
        ``"histogram"`` (= ``"histogram-pca"``), ``"histogram-cholesky"`` or ``"histogram-mk"``; see
        :mod:`stylelab.colour`. None: the 2016 paper's transfer."""
    kwargs.setdefault("desc", "transfer")
    if preserve_colour is not None:
        from .colour import transfer_with_colour

        return transfer_with_colour(content, style, preserve_colour, **kwargs)
    return run(content, style, **kwargs)


def texture(style: torch.Tensor | Sequence[torch.Tensor], *, style_layers: Sequence[str] = PAPER_STYLE_LAYERS,
            size: tuple[int, int] | None = None, **kwargs) -> Result:
    """Texture synthesis (Fig. 1, style reconstructions): match only the Gram matrices
    on ``style_layers``, from white noise. ``size`` (H, W) defaults to the style's size."""
    kwargs.setdefault("desc", "texture")
    for k in ("content_layers", "alpha", "ratio"):
        if k in kwargs:
            raise SettingsError(f"texture() matches style only; {k} does not apply")
    # With style only, beta sets just the loss scale, but L-BFGS needs a large enough one: torch's
    # L-BFGS stores no curvature pair while y.s <= 1e-10, and at beta = 1 (norm "hw", w_l = 1/N_l^2)
    # a real VGG's texture loss (~1e-3) never moves. 1e3 is run()'s default beta.
    beta = kwargs.pop("beta", 1e3)
    return run(None, style, style_layers=style_layers, size=size, content_layers=(), beta=beta, **kwargs)


def reconstruct(content: torch.Tensor, *, layer: str | Sequence[str] = PAPER_CONTENT_LAYER, **kwargs) -> Result:
    """Content reconstruction (Fig. 1, content reconstructions): match only the
    responses at ``layer``, from white noise."""
    kwargs.setdefault("desc", f"reconstruct {layer}")
    for k in ("style_layers", "beta", "ratio"):
        if k in kwargs:
            raise SettingsError(f"reconstruct() matches content only; {k} does not apply")
    alpha = kwargs.pop("alpha", 1.0)
    return run(content, None, content_layers=layer, alpha=alpha, **kwargs)
