"""The targets, computed once without autograd: the content responses P^l (Eq. 1) and
the style Gram matrices A^l (Eqs. 3-4) of one or several style images."""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Callable, Sequence

import torch

from . import losses, statistics
from ..errors import SettingsError
from ..image import resize_to
from ..networks.vgg import VGG, resolve_layers
from .settings import _finite_nonneg


STYLE_SCALES = ("content", "area", "own")


@dataclass
class Targets:
    """What the image is matched against, computed once: P^l and A^l (Eqs. 1, 4)."""

    content: dict[str, torch.Tensor]  # layer -> P^l (1, N, H, W)
    grams: dict[str, torch.Tensor]  # layer -> A^l (1, N, N), for an image of ``size``
    size: tuple[int, int]  # (H, W) of the image being optimised
    statistic: str = "gram"  # another: ``grams`` holds its targets instead (stylelab.method.statistics)


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
    image for each layer (:func:`blend_weights`; :mod:`stylelab.control.scale` builds the coarse/fine
    split of Gatys et al. 2017 this way).
    ``gram``: the function of Eq. 3 (default :func:`stylelab.method.losses.gram`; a student's in the lessons).
    ``statistic``: another style statistic than the Gram matrix (:mod:`stylelab.method.statistics`);
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
    any convention, :func:`stylelab.networks.vgg.resolve_layer`).
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
