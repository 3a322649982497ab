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


@torch.no_grad()
def style_losses(model: VGG, image: torch.Tensor, reference: torch.Tensor,
                 layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                 convention: str = "gatys_code", norm: str | None = None) -> dict[str, float]:
    """The style loss E_l (Eq. 4) of ``image`` against ``reference``'s Gram matrices at
    every layer in ``layers``, matched or not, in a loss convention.

    ``reference`` is resized to ``image``'s size first, as the engine resizes a style
    image (``style_scale="content"``), so at the layers an optimisation matched these
    are the per-layer values of its ``Result.losses["style_layers"]`` (unweighted by
    w_l). ``convention``: ``"gatys_code"`` or ``"paper"`` (see
    :data:`stylelab.transfer.CONVENTIONS`); ``norm`` overrides its normalisation.
    """
    from .transfer import CONVENTIONS
    from .errors import SettingsError

    if norm is None:
        if convention not in CONVENTIONS:
            raise SettingsError(f"unknown loss convention {convention!r}; choose one of {tuple(CONVENTIONS)}")
        norm = CONVENTIONS[convention]["norm"]
    layers = resolve_layers(layers, model.arch)
    reference = _match(image, reference)
    dev = next(model.parameters()).device
    fi = model(image.to(dev), layers)
    fr = model(reference.to(dev), layers)
    return {l: float(losses.style_layer_loss(fi[l], losses.gram(fr[l]), norm)) for l in layers}


# --------------------------------------------------------------------------------------
# Image statistics for the lessons 04-07: noise, dark and clipped pixels, pairwise
# differences, convergence, layout (layout_distance, below).


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma 0.299 R + 0.587 G + 0.114 B of a (1, 3, H, W) or (3, H, W) image, as (H, W)."""
    x = image.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    if x.dim() != 3 or x.shape[0] != 3:
        from .errors import ImageError

        raise ImageError(f"expected an RGB image (1, 3, H, W) or (3, H, W), got shape {tuple(image.shape)}")
    return 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]


def roughness(image: torch.Tensor) -> float:
    """Root mean squared difference between neighbouring pixels (horizontal and vertical,
    all channels): the square root of the total-variation loss per pixel difference.
    Pixel noise raises it; smooth images have small values."""
    x = image.detach().float().cpu()
    dh = x[..., 1:, :] - x[..., :-1, :]
    dw = x[..., :, 1:] - x[..., :, :-1]
    return float(((dh.pow(2).sum() + dw.pow(2).sum()) / (dh.numel() + dw.numel())).sqrt())


def dark_fraction(image: torch.Tensor, threshold: float = 0.1) -> float:
    """The fraction of pixels whose luminance is below ``threshold`` (near black)."""
    return float((luminance(image) < threshold).float().mean())


def clipped_fraction(image: torch.Tensor, margin: float = 1.0 / 255) -> float:
    """The fraction of pixel values (all channels) within ``margin`` of 0 or 1: the
    values that the [0, 1] box of the optimisation holds in place."""
    x = image.detach().float().cpu()
    return float(((x <= margin) | (x >= 1.0 - margin)).float().mean())


def pairwise_pixel_distances(images: Sequence[torch.Tensor]) -> list[float]:
    """:func:`pixel_distance` of every pair ``(i, j)``, ``i < j``, in order."""
    images = list(images)
    return [pixel_distance(images[i], images[j]) for i in range(len(images)) for j in range(i + 1, len(images))]


def steps_to_converge(history: Sequence[dict], term: str = "total", tolerance: float = 0.1) -> int:
    """The first step after which ``term`` stays within ``tolerance`` (relative) of the
    lowest value the run reached: how many steps were "enough" for that run.

    ``history`` is a :class:`~stylelab.transfer.Result`'s history (or the Result)."""
    records = list(getattr(history, "history", history))
    if not records:
        from .errors import SettingsError

        raise SettingsError("the history is empty")
    values = [float(r[term]) for r in records]
    best = min(values)
    bound = best + abs(best) * tolerance
    last_above = -1
    for i, v in enumerate(values):
        if v > bound:
            last_above = i
    return int(records[min(last_above + 1, len(records) - 1)].get("step", last_above + 2))


@torch.no_grad()
def feature_shapes(model: VGG, image: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, tuple[int, int, int]]:
    """(channels, height, width) of the feature maps of ``image`` at ``layers``
    (default: every ReLU and pooling layer of the network), as computed."""
    if layers is None:
        layers = [l.name for l in model.layers if l.kind in ("relu", "pool")]
    dev = next(model.parameters()).device
    feats = model(image.to(dev), list(layers))
    return {name: tuple(int(s) for s in f.shape[1:]) for name, f in feats.items()}


def predicted_shapes(arch: str, size: tuple[int, int], layers: Sequence[str] | None = None) -> dict[str, tuple[int, int, int]]:
    """(channels, height, width) that :func:`stylelab.vgg.layer_table` predicts for an
    input of ``size`` = (H, W) pixels (default: every ReLU and pooling layer)."""
    from .vgg import layer_table

    rows = {r["paper"]: r for r in layer_table(arch, (int(size[0]), int(size[1])))}
    if layers is None:
        layers = [name for name, r in rows.items() if r["kind"] in ("relu", "pool")]
    return {l: (rows[l]["channels"], rows[l]["height"], rows[l]["width"]) for l in resolve_layers(layers, arch)}


def mean_activations(model: VGG, images: Sequence[torch.Tensor],
                     layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) -> dict[str, float]:
    """Per layer, the median over filters of each filter's mean activation over
    ``images`` and positions: 1 in the paper's normalised network (CVPR 2016, section 2)."""
    from .weights import normalisation_scales

    means = normalisation_scales(model, images)
    return {l: float(means[l].median()) for l in resolve_layers(layers, model.arch)}


def layout_distance(a: torch.Tensor, b: torch.Tensor, cells: int = 16) -> float:
    """:func:`pixel_distance` of the two images shrunk (area averaging) so their longest
    side is ``cells`` px: compares the layout (where light, dark and colour are) and
    ignores texture and pixel noise finer than about 1/``cells`` of the image."""
    import torch.nn.functional as F

    from .errors import SettingsError

    if not isinstance(cells, int) or isinstance(cells, bool) or cells < 1:
        raise SettingsError(f"cells must be a whole number >= 1, got {cells!r}")
    b = _match(a, b)
    h, w = a.shape[-2:]
    f = cells / max(h, w)
    size = (max(1, round(h * f)), max(1, round(w * f)))
    shrink = lambda x: F.adaptive_avg_pool2d(x.detach().float().cpu().reshape(1, 3, h, w), size)
    return pixel_distance(shrink(a), shrink(b))
