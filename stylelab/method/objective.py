"""The objective L_total = alpha L_content + beta L_style (Eq. 7, with the optional
TV and L2 priors and extra terms): one forward pass to the deepest layer needed per
evaluation, and the fused backward of Eq. 6."""

from __future__ import annotations

from typing import Sequence

import torch

from . import losses, statistics
from ..networks import precision as _precision
from ..networks.vgg import VGG, resolve_layers
from .settings import check_extra_terms, check_functions
from .targets import Targets


class _StyleLayerLoss(torch.autograd.Function):
    """E_l = c sum (G - A)^2 with G = F F^T (Eqs. 3, 4), differentiated as in Eq. 6.

    The value of :func:`stylelab.method.losses.style_layer_loss`; only the backward pass is
    written out: dE/dF = 2c (D + D^T) F with D = G - A (= 4c (G - A) F, the paper's
    Eq. 6, as G and A are symmetric): one matrix product of 2 N^2 M FLOPs, where
    autograd differentiates ``bmm(F, F^T)`` as two products and adds them, and the
    gradient comes out in the feature maps' memory layout. With channels-last maps
    (:meth:`stylelab.networks.vgg.VGG.forward`) an evaluation at 256 px runs 1.19x faster on a
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
    """:func:`stylelab.method.losses.style_layer_loss` with the backward pass of Eq. 6."""
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
        self.precision = precision  # the network's arithmetic (stylelab.networks.precision); losses stay fp32
        self.functions = check_functions(functions)
        self.extra_terms = check_extra_terms(extra_terms)  # name -> term(x), added to L_total (e.g. stylelab.video.temporal)
        self.guide = guide  # spatial control: per-region guided Grams (stylelab.control.masks.Guide)
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
        else:  # the network in bf16/fp16 (stylelab.networks.precision); Grams and losses from fp32 copies
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
        if self.guide is not None:  # Gatys et al. 2017: E_l = sum_r lambda_r E_l,r (stylelab.control.masks)
            s_layers = {l: self.guide.layer_loss(l, feats[l], self.norm) for l in self.style_weights}
        elif self.targets.statistic != "gram":  # another style statistic (stylelab.method.statistics)
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
        """The convention's rescaling of the paper's Eq. 1 / Eq. 4 (see :mod:`stylelab.method.losses`)."""
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
