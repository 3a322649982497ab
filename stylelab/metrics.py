"""Numbers that say what a result shows: distances in pixel, content and style space.

The lessons' checks are built from these, e.g. "the conv1_1 reconstruction is
closer to the photograph than the conv5_1 one" is
``pixel_distance(r1, photo) < pixel_distance(r5, photo)``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from . import losses
from .image import resize_to
from .vgg import VGG, resolve_layers


def _match(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``b`` resized to ``a``'s size if they differ."""
    return b if a.shape[-2:] == b.shape[-2:] else resize_to(b, tuple(a.shape[-2:]))


def pixel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root mean squared difference of two RGB images in [0, 1] (``b`` resized to ``a``)."""
    b = _match(a, b)
    return float((a.float().cpu() - b.float().cpu()).pow(2).mean().sqrt())


@torch.no_grad()
def content_distance(model: VGG, image: torch.Tensor, reference: torch.Tensor, layer: str = "relu4_2") -> float:
    """Relative distance of the content representations at ``layer``:
    ||F(image) - F(reference)|| / ||F(reference)||  (Eq. 1 up to normalisation)."""
    reference = _match(image, reference)
    dev = next(model.parameters()).device
    (layer,) = resolve_layers([layer], model.arch)
    f = model(image.to(dev), [layer])[layer]
    p = model(reference.to(dev), [layer])[layer]
    return float((f - p).norm() / p.norm().clamp_min(1e-12))


@torch.no_grad()
def style_distances(model: VGG, image: torch.Tensor, reference: torch.Tensor,
                    layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) -> dict[str, float]:
    """Relative Gram distance per layer: ||G(image) - G(reference)||_F / ||G(reference)||_F,
    with Grams divided by the number of positions (so images of different size compare)."""
    layers = resolve_layers(layers, model.arch)
    dev = next(model.parameters()).device
    fi = model(image.to(dev), layers)
    fr = model(reference.to(dev), layers)
    out = {}
    for l in layers:
        gi = losses.gram(fi[l]) / (fi[l].shape[-1] * fi[l].shape[-2])
        gr = losses.gram(fr[l]) / (fr[l].shape[-1] * fr[l].shape[-2])
        out[l] = float((gi - gr).norm() / gr.norm().clamp_min(1e-12))
    return out


def style_distance(model: VGG, image: torch.Tensor, reference: torch.Tensor,
                   layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) -> float:
    """Mean of :func:`style_distances` over ``layers``."""
    d = style_distances(model, image, reference, layers)
    return sum(d.values()) / len(d)
