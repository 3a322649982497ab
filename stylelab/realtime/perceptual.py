"""The perceptual loss that trains a transformation network (Johnson, Alahi & Fei-Fei 2016, Sec. 3):
Gatys et al.'s content and style terms, now a training objective over a batch of photographs.

For a photograph x and the network's output y = f_W(x), with the same loss network and the same
convention as the optimisation of the earlier lessons (:mod:`stylelab.method.conventions`):

    L(y, x) = alpha * c * L_content(y, x) + beta * L_style(y, a) + lambda_TV * L_TV(y)

L_content is Eq. 1 at the content layer against x's own responses ("feature reconstruction
loss"), L_style Eqs. 4-5 against the painting's Gram matrices ("style reconstruction loss"),
L_TV the total variation (Johnson et al.'s regulariser, :func:`stylelab.method.losses.tv_loss`),
c the convention's factor on alpha (``CALIBRATION`` in the default ``calibrated`` convention).
alpha = 1 and beta = 1/ratio, so ``ratio`` means what it means in :func:`stylelab.transfer`.
Each term is the mean over the batch, so the loss of one image is the optimisation's objective.

The painting's Gram matrices are computed once, divided by the number of positions, and scaled
back to each crop's number of positions (Eq. 4 compares Grams of the same M_l): the painting at
``style_size`` px plays the part of the style image resized to the photograph in the engine
(``style_scale="content"``), so a network trained on crops of photographs at ``style_size`` px
paints strokes of the size the optimisation paints at that size.

Johnson et al. match the content at relu2_2 and the style at relu1_2, relu2_2, relu3_3 and
relu4_3 of VGG-16; the default here is Gatys et al.'s choice (relu4_2; relu1_1 ... relu5_1), so
that the network and the optimisation minimise the same objective and can be compared.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..errors import SettingsError
from ..method import losses
from ..method.conventions import CONVENTIONS, layer_weights
from ..networks.vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, resolve_layers


class PerceptualLoss:
    """L(y, x) for a frozen loss network ``model`` (:class:`stylelab.networks.vgg.VGG`) and one
    painting ``style`` (1, 3, H, W) in [0, 1], already at the size its Grams are taken at."""

    def __init__(self, model, style: torch.Tensor, *, ratio: float = 1e-3, content_layer: str = PAPER_CONTENT_LAYER,
                 style_layers: Sequence[str] = PAPER_STYLE_LAYERS, tv_weight: float = 1e-3,
                 convention: str = "calibrated", precision=None):
        if convention not in CONVENTIONS:
            raise SettingsError(f"unknown loss convention {convention!r}; choose one of {tuple(CONVENTIONS)}")
        if not (ratio > 0):
            raise SettingsError(f"the alpha/beta ratio must be > 0, got {ratio}")
        if tv_weight < 0:
            raise SettingsError(f"the TV weight must be >= 0, got {tv_weight}")
        conv = CONVENTIONS[convention]
        self.model = model
        self.norm = conv["norm"]
        (self.content_layer,) = resolve_layers([content_layer], model.arch)
        self.style_layers = resolve_layers(style_layers, model.arch)
        channels = {l: model.layers[model._pos[l]].channels for l in self.style_layers}
        self.w_l = layer_weights(self.style_layers, conv["style_weights"], channels)
        self.content_weight = float(conv["content_scale"])  # alpha = 1 times the convention's factor
        self.beta = 1.0 / float(ratio)
        self.tv_weight = float(tv_weight)
        self.precision = precision
        self.layers = list(dict.fromkeys([self.content_layer, *self.style_layers]))
        dev = next(model.parameters()).device
        with torch.no_grad():
            feats = self._features(style.to(dev))
        #: A^l / M_l per style layer: the painting's Gram matrices per position
        self.grams = {l: losses.gram(feats[l].float())[0] / (feats[l].shape[-1] * feats[l].shape[-2])
                      for l in self.style_layers}

    def _features(self, image: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        layers = layers or self.layers
        if self.precision is not None and self.precision.dtype is not None:
            with self.precision.autocast(image.device):
                return self.model(image, layers)
        return self.model(image, layers)

    def __call__(self, output: torch.Tensor, photo: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms for a batch: ``{"content", "style", "tv", "total"}`` (float32, means over the batch)."""
        b = output.shape[0]
        with torch.no_grad():
            target = self._features(photo, [self.content_layer])[self.content_layer].float()
        feats = self._features(output)
        content = losses.content_loss(feats[self.content_layer].float(), target, self.norm) / b
        style = output.new_zeros(())
        for l, w in self.w_l.items():
            f = feats[l].float()
            m = f.shape[-1] * f.shape[-2]
            style = style + w * losses.style_layer_loss(f, self.grams[l] * m, self.norm) / b
        tv = losses.tv_loss(output) / b
        total = self.content_weight * content + self.beta * style + self.tv_weight * tv
        return {"content": content, "style": style, "tv": tv, "total": total}
