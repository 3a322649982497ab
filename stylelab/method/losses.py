"""The losses of Gatys et al., with the paper's normalisation and those of other
implementations.

Notation (CVPR 2016, section 2): layer ``l`` has ``N_l`` filters, each a feature
map of ``M_l`` = height x width positions. ``F^l`` (N_l x M_l) are the responses
of the generated image x, ``P^l`` those of the content image, ``A^l`` the Gram
matrix of the style image.

- content (Eq. 1):        L_content = 1/2 sum_ij (F_ij - P_ij)^2
- Gram matrix (Eq. 3):    G_ij = sum_k F_ik F_jk                (G = F F^T)
- style, one layer (Eq. 4): E_l = 1/(4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2
- style (Eq. 5):          L_style = sum_l w_l E_l
- total (Eq. 7):          L_total = alpha L_content + beta L_style
- plus the regularisers that later work added: total variation and an L2
  "pixel prior" (gamma).

Other normalisations (:data:`NORMS`), each an exact rescaling of the paper's terms:

==========  ===================================  =====================  =========================
norm        as in                                content vs paper       style layer vs paper
==========  ===================================  =====================  =========================
``paper``   Gatys et al.                         x 1                    x 1
``hw``      Keras/TF tutorials (Gram / hw, MSE)  x 2 / (N M)  (MSE)      x 4
``chw``     PyTorch tutorial (Gram / chw, MSE)   x 2 / (N M)  (MSE)      x 4 / N_l^2
==========  ===================================  =====================  =========================

So a run with ``norm="chw"`` and weights (alpha', beta', w_l') gives the same image as
the paper's loss with alpha = alpha' * 2/(N M) and beta w_l = beta' w_l' * 4/N_l^2:
:func:`paper_equivalent` does that conversion.

How a printed alpha/beta maps between conventions
-------------------------------------------------
A ratio printed under a figure (1e-3 for Fig. 2 B-D, 1e-4 for E-F) fixes the image only
together with everything else that scales the two terms: the normalisation above, the layer
weights w_l, the network (Gatys et al.'s normalised VGG, whose filters respond with mean 1, or
the VGG as trained, whose deep layers respond orders of magnitude more strongly), the pooling,
the start and the image size. :data:`stylelab.method.transfer.CONVENTIONS` names three coherent sets:

- ``paper``: Eqs. 1, 4, 5 as printed, w_l = 1/5. For a 512 px image the content term at conv4_2
  is ~N M / 2 times a mean square and each E_l ~1/(N_l^2 M_l^2) times a sum of squares, so the
  content term outweighs the style term by orders of magnitude: at 1e-3, almost pure content.
- ``gatys_code``: the authors' code (``norm="hw"``, w_l = 1e3 / N_l^2), written for the VGG as
  trained. There the deep layers' Gram entries are huge, and 1/N_l^2 pulls them back to the
  shallow layers' scale. On the *normalised* network every layer's E_l is already of one size,
  so the same 1/N_l^2 gives relu5_1 1/64 of relu1_1's weight: the colour statistics of the
  shallow layers decide and the strokes of the deep layers barely count. That is why the authors
  changed the weights with the network (their NeuralImageSynthesis notebook uses w_l = 1/5 with
  the normalised VGG-19).
- ``calibrated`` (stylelab's default): the normalised network, average pooling, w_l = 1/5 and
  ``norm="hw"``, every term a mean, so that no layer dominates by its size; alpha is multiplied by
  :data:`stylelab.method.transfer.CALIBRATION`, measured so that the printed ratios give the figures'
  look (benchmarks/calibration.py). Without the factor, 1e-3 gives the painting with no town in
  it: in this normalisation the balance of Fig. 2 lies two to three decades higher.

Converting between them exactly (same image) is :func:`paper_equivalent` for the normalisation;
the network and the layer weights change the image itself, so a ratio found under one set must be
found again, by looking, under another (notebook 07 does this).
"""

from __future__ import annotations

import torch

from ..errors import SettingsError


NORMS = ("paper", "hw", "chw")

#: ImageNet mean colour (RGB, [0, 1]): the centre of the L2 pixel prior.
IMAGE_MEAN = (0.485, 0.456, 0.406)


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise SettingsError(f"unknown loss normalisation {norm!r}; choose one of {NORMS}")


def flatten(features: torch.Tensor) -> torch.Tensor:
    """(B, N, H, W) responses -> (B, N, M) with M = H W (the paper's F^l, per image)."""
    b, n, h, w = features.shape
    return features.reshape(b, n, h * w)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Eq. 3: G^l = F^l (F^l)^T, shape (B, N_l, N_l). Not divided by anything."""
    f = flatten(features)
    return torch.bmm(f, f.transpose(1, 2))


def content_factor(norm: str, n: int, m: int) -> float:
    """How ``norm``'s content loss rescales the paper's Eq. 1 (see module table)."""
    _check_norm(norm)
    return 1.0 if norm == "paper" else 2.0 / (n * m)


def style_factor(norm: str, n: int, m: int) -> float:
    """How ``norm``'s per-layer style loss rescales the paper's Eq. 4."""
    _check_norm(norm)
    return {"paper": 1.0, "hw": 4.0, "chw": 4.0 / (n * n)}[norm]


def content_loss(features: torch.Tensor, target: torch.Tensor, norm: str = "paper") -> torch.Tensor:
    """Eq. 1: 1/2 sum (F - P)^2 (``norm="paper"``), or the mean squared error."""
    if features.shape != target.shape:
        raise SettingsError(f"content features {tuple(features.shape)} and target {tuple(target.shape)} differ in shape")
    _, n, h, w = features.shape
    return 0.5 * (features - target).pow(2).sum() * content_factor(norm, n, h * w)


def style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor, norm: str = "paper") -> torch.Tensor:
    """Eq. 4: E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2 for the responses ``features``
    (B, N, H, W) against the target Gram matrix ``A`` (N, N) or (B, N, N)."""
    _, n, h, w = features.shape
    m = h * w
    g = gram(features)
    return (g - target_gram).pow(2).sum() * (style_factor(norm, n, m) / (4.0 * n * n * m * m))


def style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
               layer_weights: dict[str, float], norm: str = "paper") -> torch.Tensor:
    """Eq. 5: sum_l w_l E_l over the layers in ``layer_weights``."""
    total = None
    for name, w_l in layer_weights.items():
        e = w_l * style_layer_loss(features[name], target_grams[name], norm)
        total = e if total is None else total + e
    if total is None:
        raise SettingsError("no style layers given")
    return total


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation (squared): sum over pixels of (x_{i+1,j} - x_ij)^2 + (x_{i,j+1} - x_ij)^2.

    Penalises high-frequency noise; used by Johnson et al. and most later implementations,
    not by Gatys et al.
    """
    dh = image[..., 1:, :] - image[..., :-1, :]
    dw = image[..., :, 1:] - image[..., :, :-1]
    return dh.pow(2).sum() + dw.pow(2).sum()


def l2_loss(image: torch.Tensor) -> torch.Tensor:
    """The L2 image regulariser (gamma term, Mahendran & Vedaldi 2015):
    1/2 sum (x - mu)^2 with mu the ImageNet mean colour; pulls extreme pixels in."""
    mu = torch.tensor(IMAGE_MEAN, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return 0.5 * (image - mu).pow(2).sum()


def total_loss(content: torch.Tensor | float, style: torch.Tensor | float, alpha: float, beta: float,
               tv: torch.Tensor | float = 0.0, tv_weight: float = 0.0,
               l2: torch.Tensor | float = 0.0, gamma: float = 0.0):
    """Eq. 7 plus regularisers: alpha L_content + beta L_style + tv_weight L_tv + gamma L_l2."""
    return alpha * content + beta * style + tv_weight * tv + gamma * l2


def paper_equivalent(norm: str, alpha: float, beta: float, layer_weights: dict[str, float],
                     content_shapes: dict[str, tuple[int, int]], style_shapes: dict[str, tuple[int, int]]):
    """Convert weights used with ``norm`` into the paper's loss that gives the same image.

    ``content_shapes``/``style_shapes`` map layer -> (N_l, M_l). Returns
    ``(alpha_paper_per_layer, beta_w_paper)``: a dict of the content weight per content
    layer and a dict of beta * w_l per style layer (the paper's loss is linear in
    both, so only these products matter).
    """
    a = {name: alpha * content_factor(norm, n, m) for name, (n, m) in content_shapes.items()}
    b = {name: beta * layer_weights[name] * style_factor(norm, n, m) for name, (n, m) in style_shapes.items()}
    return a, b
