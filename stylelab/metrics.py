"""Numbers that say what a result shows: distances in pixel, content and style space.

The lessons' checks are built from these, e.g. "the conv1_1 reconstruction is
closer to the photograph than the conv5_1 one" is
``pixel_distance(r1, photo) < pixel_distance(r5, photo)``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .image import luminance, resize_to  # luminance: Rec. 601 luma, also a measure here
from .method import losses
from .networks.vgg import VGG, resolve_layers


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
    :data:`stylelab.method.transfer.CONVENTIONS`); ``norm`` overrides its normalisation.
    """
    from .errors import SettingsError
    from .method.conventions import CONVENTIONS

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

    ``history`` is a :class:`~stylelab.method.transfer.Result`'s history (or the Result)."""
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
    """(channels, height, width) that :func:`stylelab.networks.vgg.layer_table` predicts for an
    input of ``size`` = (H, W) pixels (default: every ReLU and pooling layer)."""
    from .networks.vgg import layer_table

    rows = {r["paper"]: r for r in layer_table(arch, (int(size[0]), int(size[1])))}
    if layers is None:
        layers = [name for name, r in rows.items() if r["kind"] in ("relu", "pool")]
    return {l: (rows[l]["channels"], rows[l]["height"], rows[l]["width"]) for l in resolve_layers(layers, arch)}


def mean_activations(model: VGG, images: Sequence[torch.Tensor],
                     layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) -> dict[str, float]:
    """Per layer, the median over filters of each filter's mean activation over
    ``images`` and positions: 1 in the paper's normalised network (CVPR 2016, section 2)."""
    from .networks.weights import normalisation_scales

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


# --------------------------------------------------------------------------------------
# Speckle: rainbow-coloured pixel noise of short optimisations from white noise.

_SPECKLE_BAND = (0.7, 1.4)  # sigmas (px) of the difference of Gaussians: periods of about 2-5 px
_SPECKLE_WINDOW = 1.0  # sigma (px) of the window of the local colour covariance
_SPECKLE_FLOOR = (2.0 / 255) ** 2  # band energy too faint to see (about 2 levels of 255)


def _gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius 3 sigma) of every channel of a (1, C, H, W)
    tensor, edges replicated; as sums of shifted copies, which is several times
    faster on a CPU than a (grouped) convolution."""
    import torch.nn.functional as F

    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = (k / k.sum()).tolist()
    for dim, pad in ((-1, (r, r, 0, 0)), (-2, (0, 0, r, r))):
        n = x.shape[dim]
        p = F.pad(x, pad, mode="replicate")
        x = p.narrow(dim, r, n) * k[r]
        for i in range(r):  # the kernel is symmetric: one multiply per pair of taps
            x.add_(p.narrow(dim, i, n) + p.narrow(dim, 2 * r - i, n), alpha=k[i])
    return x


def speckle(image: torch.Tensor) -> float:
    """The fraction of an image's area covered by "rainbow" speckle: fine colour
    variation that is visible and takes more than one hue direction. In [0, 1].

    The chroma planes u = R - G and v = (R + G)/2 - B are band-passed to periods of
    about 2-5 px (difference of Gaussians, sigma 0.7 and 1.4 px); around every pixel
    the 2x2 covariance of the band-passed (u, v) is taken over a Gaussian window
    (sigma 1 px), with eigenvalues l1 >= l2, trace T = l1 + l2 and determinant
    D = l1 l2; a pixel is speckled where

        4 D / (T + f)^2 > 1/2,   f = (2/255)^2,

    i.e. where the local hue variation is round (l2 > 0.17 l1 for strong variation)
    and strong enough to see (f: a round variation must have an RMS above about
    3/255). ``speckle`` is the fraction of such pixels. A stroke or edge between two
    colours varies along one hue axis (D = 0), any grey texture has no chroma at all;
    colour noise with random hues is round.

    Scale (128-512 px; tensors or PNG files): the paintings and the photograph
    0.003-0.21 (Starry Night at 512 px and Composition VII at 128 px the highest);
    clean 256 px results from the photograph 0.11-0.22; results from white noise
    covered in rainbow speckle (80 L-BFGS steps at 128 px, 150 at 256 px) 0.40-0.72,
    one dominated by it 0.88. A check "no speckle" is ``speckle(result) < 0.3``: an
    absolute value, not a multiple of the painting's, as the paintings differ far
    more among themselves (0.003-0.21) than clean results do. A given pattern scores
    alike at 128 and 256 px; JPEG at quality 95 adds about 0.02.

    A plain Laplacian (high-pass) energy of the RGB or chroma planes does not work:
    the paintings have fine texture of their own at the same scale (Starry Night at
    128 px has more Laplacian chroma energy than three of the five speckled 128 px
    results of the Neckarfront figure), and the energy changes with image size. What
    differs is not how much the colour varies at the pixel scale but in how many hue
    directions, and where: a painting's strokes mix two colours at a time, speckle
    takes every hue, everywhere.
    """
    x = image.detach().float().cpu()
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[:2] != (1, 3) or min(x.shape[-2:]) < 2:
        from .errors import ImageError

        raise ImageError(f"expected an RGB image (1, 3, H, W) or (3, H, W), H, W >= 2, got shape {tuple(image.shape)}")
    from .control.chroma_tv import chroma as chroma_planes  # u = R - G, v = (R + G)/2 - B: the planes the prior smooths

    chroma = chroma_planes(x)
    band = _gauss_blur(chroma, _SPECKLE_BAND[0]) - _gauss_blur(chroma, _SPECKLE_BAND[1])
    u, v = band[:, 0:1], band[:, 1:2]
    uu, vv, uv = _gauss_blur(torch.cat([u * u, v * v, u * v], 1), _SPECKLE_WINDOW).unbind(1)
    roundness = 4 * (uu * vv - uv * uv) / (uu + vv + _SPECKLE_FLOOR).pow(2)
    return float((roundness > 0.5).float().mean())


# --------------------------------------------------------------------------------------
# Spatial control (lesson 10, stylelab.control.masks): style inside a region, seams at its border.


@torch.no_grad()
def masked_style_distances(model: VGG, image: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor,
                           reference_mask: torch.Tensor | None = None,
                           layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
                           ) -> dict[str, float]:
    """:func:`style_distances` inside a region: the relative distance per layer between the
    guided Gram matrices (Gatys et al. 2017; :func:`stylelab.control.masks.guided_gram`, the
    mask downsampled to each layer) of ``image`` under ``mask`` (H, W) and of ``reference``
    under ``reference_mask`` (default: all of it), each an average over its region's positions."""
    from .control.masks import downsample, guided_gram, load_mask

    layers = resolve_layers(layers, model.arch)
    dev = next(model.parameters()).device
    m = load_mask(mask, tuple(image.shape[-2:]), name="mask").unsqueeze(0)
    rm = (torch.ones(1, *reference.shape[-2:]) if reference_mask is None else
          load_mask(reference_mask, tuple(reference.shape[-2:]), name="reference mask").unsqueeze(0))
    fi = model(image.to(dev), layers)
    fr = model(reference.to(dev), layers)
    out = {}
    for l in layers:
        gi = guided_gram(fi[l], downsample(m, fi[l].shape[-2:]).to(dev))[0] / (fi[l].shape[-1] * fi[l].shape[-2])
        gr = guided_gram(fr[l], downsample(rm, fr[l].shape[-2:]).to(dev))[0] / (fr[l].shape[-1] * fr[l].shape[-2])
        out[l] = float((gi - gr).norm() / gr.norm().clamp_min(1e-12))
    return out


def masked_style_distance(model: VGG, image: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor,
                          reference_mask: torch.Tensor | None = None,
                          layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) -> float:
    """Mean of :func:`masked_style_distances` over ``layers``."""
    d = masked_style_distances(model, image, mask, reference, reference_mask, layers)
    return sum(d.values()) / len(d)


def gradient_magnitude(image: torch.Tensor) -> torch.Tensor:
    """(H, W): the colour gradient magnitude sqrt(sum_c (dx_c^2 + dy_c^2)) by central differences."""
    import torch.nn.functional as F

    x = image.detach().float().cpu().reshape(1, -1, *image.shape[-2:])
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    dx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) / 2
    dy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) / 2
    return (dx.pow(2) + dy.pow(2)).sum(1)[0].sqrt()


def boundary_band(mask: torch.Tensor, width: int = 1) -> torch.Tensor:
    """(H, W) bool: the pixels within ``width`` px of the border between a 0/1 mask's inside
    and outside (the image's own edges are not a border)."""
    import torch.nn.functional as F

    from .errors import SettingsError

    if not isinstance(width, int) or width < 1:
        raise SettingsError(f"width must be a whole number >= 1, got {width!r}")
    m = (mask.detach().float().cpu() > 0.5).float().reshape(1, 1, *mask.shape[-2:])
    k = 2 * width + 1
    grown = F.max_pool2d(F.pad(m, (width,) * 4, mode="replicate"), k, stride=1)
    shrunk = -F.max_pool2d(F.pad(-m, (width,) * 4, mode="replicate"), k, stride=1)
    return (grown - shrunk)[0, 0] > 0.5


def seam_ratio(image: torch.Tensor, mask: torch.Tensor, width: int = 1) -> float:
    """How much stronger the image changes along a region border than elsewhere: the mean
    :func:`gradient_magnitude` on :func:`boundary_band` over its mean off the band. About 1:
    no seam; a hard seam between two unrelated textures gives several. A photograph whose
    region border follows an object's outline (a skyline) has its own ratio above 1;
    compare a result's with its photograph's (lesson 10)."""
    from .errors import SettingsError

    band = boundary_band(mask, width)
    if tuple(band.shape) != tuple(image.shape[-2:]):
        raise SettingsError(f"mask {tuple(band.shape)} and image {tuple(image.shape[-2:])} differ in size")
    if not band.any() or band.all():
        raise SettingsError("the mask has no border inside the image (one region covers it all)")
    g = gradient_magnitude(image)
    return float(g[band].mean() / g[~band].mean().clamp_min(1e-12))


# --------------------------------------------------------------------------------------
# Colour (lesson 09; Gatys et al. 2017, Controlling Perceptual Factors, section 5)


def chroma_distance(a: torch.Tensor, b: torch.Tensor, cells: int | None = None) -> float:
    """Mean distance of two images' colours in the chroma plane (I, Q of YIQ; brightness
    left out): the mean over pixels of ||(I, Q)(a) - (I, Q)(b)||, ``b`` resized to ``a``.

    0 for two images with the same colours at every pixel whatever their luminance
    (a luminance-only transfer against its photograph); grey against pure red is 0.63.
    ``cells``: both images shrunk first (area averaging) so their longest side is ``cells``
    px, as in :func:`layout_distance`: compares where which colour is, not the colour
    of each brush stroke or noise pixel."""
    import torch.nn.functional as F

    from .control.colour import chroma
    from .errors import SettingsError

    b = _match(a, b)
    x, y = a.detach().float().cpu(), b.detach().float().cpu()
    if cells is not None:
        if not isinstance(cells, int) or isinstance(cells, bool) or cells < 1:
            raise SettingsError(f"cells must be a whole number >= 1 or None, got {cells!r}")
        h, w = x.shape[-2:]
        f = cells / max(h, w)
        size = (max(1, round(h * f)), max(1, round(w * f)))
        x, y = (F.adaptive_avg_pool2d(t.reshape(1, 3, h, w), size) for t in (x, y))
    return float((chroma(x) - chroma(y)).pow(2).sum(dim=-3).sqrt().mean())


def luminance_style_distance(model: VGG, image: torch.Tensor, reference: torch.Tensor,
                             layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) -> float:
    """:func:`style_distance` of the two images' luminances (Y of YIQ, each fed to the
    network as a grey RGB image): how well ``image``'s light and dark texture matches
    ``reference``'s, whatever their colours. For a luminance-only transfer pass the style
    target it matched, ``stylelab.control.colour.grey(stylelab.control.colour.match_luminance(painting, photo))``."""
    from .control.colour import grey
    from .control.colour import luminance as y

    return style_distance(model, grey(y(image)), grey(y(reference)), layers)
