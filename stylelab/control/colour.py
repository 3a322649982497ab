"""Colour preservation: style transfer that keeps the photograph's colours.

Gatys, Ecker, Bethge, Hertzmann & Shechtman, *Controlling Perceptual Factors in Neural
Style Transfer*, CVPR 2017, section 5 ("Colour control"), describe two ways to transfer
a painting's style while keeping the colours of the photograph:

- **luminance-only transfer** (section 5.1): the transfer runs on the luminance channel
  Y of the YIQ colour space alone. The style's luminance is first matched to the
  content's mean and standard deviation,

      L_S' = sigma_C / sigma_S (L_S - mu_S) + mu_C,

  the network (which takes three channels) is fed the luminances replicated to RGB,
  and the result's luminance is combined with the content's chroma (I, Q).
- **colour histogram matching** (section 5.1): the style image is recoloured first with
  the affine map x_S' = A x_S + b of its RGB pixels, chosen so that the mean and the
  covariance of x_S' equal the content's (mu_C, Sigma_C): b = mu_C - A mu_S and
  A Sigma_S A^T = Sigma_C. The paper compares two choices of A: from the Cholesky
  decompositions Sigma = L L^T, A = L_C L_S^-1 (``"cholesky"``), and from the
  eigenvalue ("PCA") square roots of the two covariances, A = Sigma_C^1/2 Sigma_S^-1/2
  (``"pca"``, the 3D colour matching of Hertzmann et al.'s *Image Analogies*; the
  product of two symmetric matrices, itself not symmetric). The authors' code has a third
  mode, the symmetric A of the Monge-Kantorovich (optimal transport) map between two
  Gaussians, A = Sigma_S^-1/2 (Sigma_S^1/2 Sigma_C Sigma_S^1/2)^1/2 Sigma_S^-1/2 (``"mk"``).
  Then the transfer runs as usual.

    sl.transfer(photo, painting, preserve_colour="luminance")
    sl.transfer(photo, painting, preserve_colour="histogram")           # = "histogram-pca"
    sl.transfer(photo, painting, preserve_colour="histogram-cholesky")
    sl.transfer(photo, colour.match_histogram(painting, photo, "mk", clamp=True))   # the symmetric A

:func:`stylelab.transfer` (:mod:`stylelab.control.transfer`) hands ``preserve_colour`` to
:func:`transfer_with_colour`.
Images are (1, 3, H, W) RGB in [0, 1], as everywhere in stylelab.
"""

from __future__ import annotations

import torch

from ..errors import ImageError, NonFiniteLossError, SettingsError
from ..image import resize_to
from ..method import transfer as _engine  # looked up at each call: a test may stand in for the engine


#: The values of ``preserve_colour``: ``"histogram"`` is ``"histogram-pca"``; ``"histogram-mk"``
#: recolours with the symmetric Monge-Kantorovich map (the authors' code's third mode).
PRESERVE_COLOUR = ("luminance", "histogram", "histogram-cholesky", "histogram-pca", "histogram-mk")
#: The choices of A in colour histogram matching (:func:`match_histogram`).
HISTOGRAM_METHODS = ("pca", "cholesky", "mk")
#: ``"histogram"`` without a variant: the eigenvalue square roots, A = Sigma_C^1/2 Sigma_S^-1/2.
#: Unlike the Cholesky factor it does not depend on the order of the channels (R, G, B versus
#: B, G, R); neither does ``"mk"``, the one symmetric A (of all A with A Sigma_S A^T = Sigma_C,
#: the map that moves the colours least on average: the Monge-Kantorovich map).
DEFAULT_HISTOGRAM_METHOD = "pca"

#: RGB -> YIQ (the NTSC matrix, FCC 1953): Y is Rec. 601 luma, I and Q the chroma plane.
YIQ_FROM_RGB = torch.tensor([[0.299, 0.587, 0.114],
                             [0.5959, -0.2746, -0.3213],
                             [0.2115, -0.5227, 0.3112]], dtype=torch.float64)
#: YIQ -> RGB, the exact inverse (so a round trip returns the image up to float rounding).
RGB_FROM_YIQ = torch.linalg.inv(YIQ_FROM_RGB)
#: Added to the style's covariance before it is inverted (RGB in [0, 1]: a standard deviation
#: of 1e-4, far below one grey level, 1/255): a style image of one colour still gives a finite A
#: (and is recoloured to the content's mean colour).
COVARIANCE_EPS = 1e-8


# --------------------------------------------------------------------------------------
# Colour spaces


def _rgb(image: torch.Tensor, what: str = "image") -> torch.Tensor:
    """``image`` as a (1, 3, H, W) or (3, H, W) tensor, checked."""
    if not isinstance(image, torch.Tensor):
        raise ImageError(f"the {what} must be an image tensor (1, 3, H, W), got {type(image).__name__}")
    if image.dim() not in (3, 4) or image.shape[-3] != 3 or (image.dim() == 4 and image.shape[0] != 1):
        raise ImageError(f"the {what} must be an RGB image (1, 3, H, W) or (3, H, W), got shape "
                         f"{tuple(image.shape)}")
    return image


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """The 3 x 3 ``matrix`` applied to every pixel of a (..., 3, H, W) image."""
    out = torch.einsum("ij,...jhw->...ihw", matrix.to(torch.float64), image.to(torch.float64))
    return out.to(image.dtype if image.is_floating_point() else torch.float32)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """The YIQ channels (Y luminance, I and Q chroma) of an RGB image, same shape."""
    return _apply(YIQ_FROM_RGB, _rgb(image))


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """RGB from YIQ channels (:data:`RGB_FROM_YIQ`); not clamped, so it inverts
    :func:`rgb_to_yiq` exactly (a Y with another image's I, Q can leave [0, 1])."""
    return _apply(RGB_FROM_YIQ, _rgb(yiq, "YIQ image"))


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Y channel of an RGB image, shape (1, 1, H, W) (or (1, H, W) for (3, H, W))."""
    return rgb_to_yiq(image)[..., 0:1, :, :]


def chroma(image: torch.Tensor) -> torch.Tensor:
    """The I and Q channels of an RGB image, shape (1, 2, H, W) (or (2, H, W))."""
    return rgb_to_yiq(image)[..., 1:3, :, :]


def grey(y: torch.Tensor) -> torch.Tensor:
    """A luminance (1, 1, H, W) replicated to three channels, clamped to [0, 1]: what the
    network is fed in a luminance-only transfer (R = G = B = Y has luminance Y)."""
    if y.dim() == 3:
        y = y.unsqueeze(0)
    if y.dim() != 4 or y.shape[1] != 1:
        raise ImageError(f"a luminance must have shape (1, 1, H, W), got {tuple(y.shape)}")
    return y.expand(-1, 3, -1, -1).clamp(0, 1).contiguous()


def combine(y: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The luminance ``y`` (1, 1, H, W) with the chroma (I, Q) of ``content`` (resized to
    ``y``'s size), as RGB clamped to [0, 1]: the last step of a luminance-only transfer.

    Where the combination leaves the RGB cube (a bright Y with a strongly coloured I, Q)
    the clamp changes the colour a little; everywhere else the chroma is the content's."""
    content = _rgb(content, "content image")
    if content.dim() == 3:
        content = content.unsqueeze(0)
    if tuple(content.shape[-2:]) != tuple(y.shape[-2:]):
        content = resize_to(content, tuple(y.shape[-2:]))
    yiq = torch.cat([y.to(torch.float32), chroma(content).to(torch.float32)], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


# --------------------------------------------------------------------------------------
# Matching statistics


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance matched to the content's mean and standard deviation,
    L_S' = sigma_C / sigma_S (L_S - mu_S) + mu_C (Gatys et al. 2017, section 5.1).

    ``style``, ``content``: RGB images; returns the matched luminance (1, 1, H, W) of the
    style, not clamped (:func:`grey` clamps it for the network)."""
    ls = luminance(_rgb(style, "style image")).to(torch.float64)
    lc = luminance(_rgb(content, "content image")).to(torch.float64)
    sd_s = ls.std(correction=0)
    if float(sd_s) < 1e-6:
        raise ImageError("the style image has a single brightness (its luminance does not vary), so its "
                         "luminance cannot be matched to the content's")
    out = (ls - ls.mean()) * (lc.std(correction=0) / sd_s) + lc.mean()
    out = out.to(torch.float32)
    return out if out.dim() == 4 else out.unsqueeze(0)


def colour_statistics(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (3,) and covariance (3, 3) of an image's RGB pixels, float64 (population
    covariance: divided by the number of pixels)."""
    x = _rgb(image).detach().reshape(3, -1).to(torch.float64)
    mu = x.mean(dim=1)
    d = x - mu[:, None]
    return mu, d @ d.T / x.shape[1]


def _symmetric_sqrt(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(0.0)
    root = vals.rsqrt() if inverse else vals.sqrt()
    return (vecs * root) @ vecs.T


def histogram_transform(style: torch.Tensor, content: torch.Tensor,
                        method: str = DEFAULT_HISTOGRAM_METHOD) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, b) of colour histogram matching (Gatys et al. 2017, section 5.1): the affine map
    x' = A x + b of the style's RGB pixels after which their mean is the content's and their
    covariance A Sigma_S A^T is the content's Sigma_C. b = mu_C - A mu_S, and

    - ``"cholesky"``: A = L_C L_S^-1 with the Cholesky factors Sigma = L L^T;
    - ``"pca"``: A = Sigma_C^1/2 Sigma_S^-1/2 with the symmetric (eigenvalue) square roots of
      the two covariances (A itself is not symmetric);
    - ``"mk"``: A = Sigma_S^-1/2 (Sigma_S^1/2 Sigma_C Sigma_S^1/2)^1/2 Sigma_S^-1/2, symmetric and
      positive definite: the Monge-Kantorovich map (the authors' code's third mode, "sym").

    Sigma_S gets :data:`COVARIANCE_EPS` on its diagonal (so a style image of nearly one
    colour still has an inverse). Float64 tensors (3, 3) and (3,).
    """
    if method not in HISTOGRAM_METHODS:
        raise SettingsError(f"unknown colour histogram matching {method!r}; choose one of {HISTOGRAM_METHODS}")
    mu_s, cov_s = colour_statistics(_rgb(style, "style image"))
    mu_c, cov_c = colour_statistics(_rgb(content, "content image"))
    eye = torch.eye(3, dtype=torch.float64)
    cov_s = cov_s + COVARIANCE_EPS * eye
    if method == "cholesky":
        l_s = torch.linalg.cholesky(cov_s)
        l_c = torch.linalg.cholesky(cov_c + 1e-12 * eye)  # a one-colour content: Sigma_C = 0
        a = l_c @ torch.linalg.solve_triangular(l_s, eye, upper=False)
    elif method == "mk":
        root_s, inv_root_s = _symmetric_sqrt(cov_s), _symmetric_sqrt(cov_s, inverse=True)
        a = inv_root_s @ _symmetric_sqrt(root_s @ cov_c @ root_s) @ inv_root_s
        a = (a + a.T) / 2  # symmetric up to rounding
    else:
        a = _symmetric_sqrt(cov_c) @ _symmetric_sqrt(cov_s, inverse=True)
    return a, mu_c - a @ mu_s


def match_histogram(style: torch.Tensor, content: torch.Tensor, method: str = DEFAULT_HISTOGRAM_METHOD,
                    clamp: bool = False) -> torch.Tensor:
    """The style image recoloured with :func:`histogram_transform`: its RGB mean and
    covariance become the content's (exactly, up to :data:`COVARIANCE_EPS`, if not ``clamp``ed).

    The recoloured pixels can leave [0, 1]; ``clamp=True`` clips them, as a transfer does
    before the image goes to the network (which moves the statistics a little)."""
    style = _rgb(style, "style image")
    a, b = histogram_transform(style, content, method)
    x = style.detach().to(torch.float64)
    out = (torch.einsum("ij,...jhw->...ihw", a, x) + b.view(3, 1, 1)).to(torch.float32)
    return out.clamp(0, 1) if clamp else out


# --------------------------------------------------------------------------------------
# The transfer


def parse(preserve_colour) -> tuple[str, str | None]:
    """``preserve_colour`` as (``"luminance"``, None) or (``"histogram"``, its method)."""
    if not isinstance(preserve_colour, str) or preserve_colour not in PRESERVE_COLOUR:
        raise SettingsError(f"unknown preserve_colour {preserve_colour!r}; choose one of {PRESERVE_COLOUR} "
                            f"(or None: no colour preservation, the 2016 paper)")
    if preserve_colour == "luminance":
        return "luminance", None
    return "histogram", preserve_colour.partition("-")[2] or DEFAULT_HISTOGRAM_METHOD


def transfer_with_colour(content: torch.Tensor, styles, preserve_colour: str, **kwargs):
    """Style transfer that keeps the content's colours (Gatys et al. 2017, section 5):
    ``preserve_colour`` is ``"luminance"`` (luminance-only transfer) or ``"histogram"``,
    ``"histogram-pca"``, ``"histogram-cholesky"``, ``"histogram-mk"`` (colour histogram matching, see
    :func:`histogram_transform`). Every other keyword goes to :func:`stylelab.method.transfer.run`.

    Luminance: the content and the style images (each matched to the content's luminance
    mean and standard deviation, :func:`match_luminance`) are fed to the network as grey
    RGB images; ``init`` given as an image is turned grey too. The result's luminance is
    combined with the content's I and Q (:func:`combine`). The optimisation may move the three
    channels apart a little (the network weighs them differently), so its images drift from
    grey; only their luminance is kept. The engine's callback sees the images of the
    optimisation, the returned Result the coloured one (its
    ``init_image`` is the grey start). Histogram: every style image is recoloured to the
    content's mean and covariance (clamped to [0, 1]) and the transfer runs as usual.

    ``Result.settings["preserve_colour"]`` records the choice (``"histogram"`` is recorded
    with its method, e.g. ``"histogram-pca"``); with histogram matching
    ``settings["colour_transform"]`` holds each style's A and b.
    """
    mode, method = parse(preserve_colour)
    if content is None:
        raise SettingsError("preserve_colour keeps the content image's colours: it needs a content image")
    content = _rgb(content, "content image")
    styles = _engine._as_list(styles)
    if not styles:
        raise SettingsError("preserve_colour needs a style image")
    styles = [_rgb(s, "style image") for s in styles]
    name = "luminance" if mode == "luminance" else f"histogram-{method}"
    if mode == "histogram":
        transforms = [histogram_transform(s, content, method) for s in styles]
        matched = [match_histogram(s, content, method, clamp=True) for s in styles]
        result = _engine.run(content, matched, **kwargs)
        result.settings["preserve_colour"] = name
        result.settings["colour_transform"] = [{"A": a.tolist(), "b": b.tolist()} for a, b in transforms]
        return result
    grey_content = grey(luminance(content if content.dim() == 4 else content.unsqueeze(0)))
    grey_styles = [grey(match_luminance(s, content)) for s in styles]
    if isinstance(kwargs.get("init"), torch.Tensor):
        kwargs["init"] = grey(luminance(_rgb(kwargs["init"], "init image")))
    try:
        result = _engine.run(grey_content, grey_styles, **kwargs)
    except NonFiniteLossError as exc:  # the best image so far, in colour too
        if exc.result is not None:
            _colour_result(exc.result, content, name)
        raise
    return _colour_result(result, content, name)


def _colour_result(result, content: torch.Tensor, name: str):
    """The luminance-only Result with the content's chroma put back."""
    result.image = combine(luminance(result.image), content)
    result.settings["preserve_colour"] = name
    return result
