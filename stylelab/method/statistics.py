"""What a style loss matches: the statistics of the feature maps that stand for "style".

Gatys et al. match Gram matrices (CVPR 2016, Eqs. 3-4). Li, Wang, Liu & Hou (*Demystifying
Neural Style Transfer*, IJCAI 2017) showed that this is one member of a family: matching
Gram matrices is minimising the maximum mean discrepancy (MMD) between the two *sets of
feature vectors* (one vector f_i in R^N_l per position i) with the polynomial kernel
k(x, y) = (x^T y)^2, and other kernels, or the channels' means and standard deviations
(the statistics that batch normalisation, and later AdaIN, Huang & Belongie 2017, use),
transfer style too.

Notation as in :mod:`stylelab.method.losses`: F (N_l x M_l) the generated image's responses at
layer l, S (N_l x M_s) the style image's; f_i, s_j their columns (feature vectors).

==============  =============================================================  ==================
name            per-layer loss E_l                                              paper
==============  =============================================================  ==================
``gram``        1/(4 N^2 M^2) sum_ij (G - A)^2, G = F F^T  (Eq. 4)              Gatys et al. 2016
``mean_std``    1/N sum_c (mu_c(F) - mu_c(S))^2 + (sigma_c(F) - sigma_c(S))^2   Li et al. 2017 (BN),
                                                                               Huang & Belongie 2017
``mmd_linear``  1/N MMD^2_lin = 1/N || mean_i f_i - mean_j s_j ||^2             Li et al. 2017
``mmd_gauss``   MMD^2 with k(x, y) = exp(-||x - y||^2 / (2 sigma_l^2)) on a      Li et al. 2017
                fixed, seeded sample of positions
==============  =============================================================  ==================

with the (biased, "V-statistic") squared MMD between the sets {f_i} and {s_j}

    MMD^2 = 1/M^2 sum_ii' k(f_i, f_i') + 1/M_s^2 sum_jj' k(s_j, s_j') - 2/(M M_s) sum_ij k(f_i, s_j).

The identity (Li et al. 2017): with k(x, y) = (x^T y)^2,
sum_ij (G - A)^2 = ||F F^T - S S^T||_F^2 = M^2 MMD^2 for M_s = M, so

    E_l = 1/(4 N_l^2) MMD^2_poly            (exactly; :func:`gram_mmd_identity` computes both sides)

and with the engine's Gram of a style image of M_s positions scaled by M/M_s
(:func:`stylelab.method.transfer.make_targets`) it holds for any M_s. In the engine's default
convention (``calibrated``, norm ``hw``) E_l is 4x the paper's, so there E_l = MMD^2_poly / N_l^2.

Normalisation. The Gram loss keeps the engine's conventions (``norm``, fused Eq. 6 backward,
:mod:`stylelab.method.transfer`). The other statistics have one normalisation each (the table):
per channel for ``mean_std`` and ``mmd_linear``, none for ``mmd_gauss`` (its kernel is
scale-free, MMD^2 <= 2); ``norm`` does not apply to them. The layer weights w_l and beta
apply as for the Gram loss; L-BFGS sees the loss rescaled at the first step
(:func:`stylelab.method.transfer.optimize`), so a texture does not depend on the overall scale,
but in a transfer alpha/beta means something different for each statistic.

In the engine: ``sl.texture(style, style_statistic="mean_std")``,
``sl.transfer(photo, style, style_statistic="mmd_gauss")``; in the CLI
``stylelab texture starry_night --style-statistic mean_std -o t.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import losses
from ..errors import SettingsError


#: The statistics a style loss can match; ``gram`` is the papers' and the default.
STATISTICS = ("gram", "mean_std", "mmd_linear", "mmd_gauss")
DEFAULT_STATISTIC = "gram"
#: eps in sigma = sqrt(var + eps): keeps the gradient of sigma finite where a channel is constant
#: (a dead ReLU channel of the white-noise start), as AdaIN does (Huang & Belongie use 1e-5).
STD_EPS = 1e-5
#: Positions per layer the Gaussian MMD compares (all of them where a layer has fewer):
#: its cost grows with the square of this (an evaluation at relu1_1 of a 96 px image, 9216
#: positions, would need an 85 M-entry kernel matrix).
MMD_SAMPLES = 2048
#: The seed of the positions sampled for the Gaussian MMD, fixed so the loss is one fixed
#: function of the image during a run (L-BFGS needs that).
MMD_SEED = 0


def _vectors(features: torch.Tensor) -> torch.Tensor:
    """(1, N, H, W) responses -> (M, N): one feature vector f_i per position (Li et al.'s sets)."""
    if features.dim() != 4 or features.shape[0] != 1:
        raise SettingsError(f"expected responses of one image, shape (1, N, H, W), got {tuple(features.shape)}")
    return losses.flatten(features)[0].transpose(0, 1)


# --------------------------------------------------------------------------------------
# Mean and standard deviation (Li et al. 2017's batch-normalisation statistics; AdaIN's)


def mean_std(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """mu_c = 1/M sum_i F_ci and sigma_c = sqrt(1/M sum_i (F_ci - mu_c)^2 + eps) per channel,
    each of shape (B, N): the statistics AdaIN (Huang & Belongie 2017) transfers."""
    f = losses.flatten(features)
    mu = f.mean(dim=-1)
    var = (f - mu.unsqueeze(-1)).pow(2).mean(dim=-1)
    return mu, (var + STD_EPS).sqrt()


def mean_std_loss(features: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """E_l = 1/N_l sum_c (mu_c(F) - mu_c(S))^2 + (sigma_c(F) - sigma_c(S))^2 (Li et al. 2017,
    the batch-normalisation statistics; AdaIN's style loss uses the same two statistics, as
    unsquared L2 norms). ``target``: :func:`mean_std` of the style image's responses."""
    mu, sigma = mean_std(features)
    mu_t, sigma_t = target
    return ((mu - mu_t).pow(2).sum() + (sigma - sigma_t).pow(2).sum()) / features.shape[1]


# --------------------------------------------------------------------------------------
# MMD with the linear kernel k(x, y) = x^T y: the means only


def mmd_linear_target(features: torch.Tensor) -> torch.Tensor:
    """The style image's mean feature vector, (B, N) (all that the linear kernel sees)."""
    return losses.flatten(features).mean(dim=-1)


def mmd_linear_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """E_l = 1/N_l MMD^2 with k(x, y) = x^T y, which is 1/N_l ||mean_i f_i - mean_j s_j||^2
    (Li et al. 2017, the linear kernel): only the channels' means are matched."""
    return (mmd_linear_target(features) - target).pow(2).sum() / features.shape[1]


# --------------------------------------------------------------------------------------
# MMD with a Gaussian kernel, on a fixed sample of positions


def sample_positions(m: int, k: int | None = None, seed: int | None = None) -> torch.Tensor | None:
    """``k`` of ``m`` positions drawn without replacement by a generator seeded with ``seed``,
    sorted; None (all positions) where m <= k. The same (m, k, seed) always give the same
    positions, so an image and a style image of the same size are sampled alike.
    Defaults: :data:`MMD_SAMPLES`, :data:`MMD_SEED` (read at the call, so they can be changed)."""
    k = MMD_SAMPLES if k is None else int(k)
    seed = MMD_SEED if seed is None else seed
    if m <= k:
        return None
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(m, generator=g)[:k].sort().values


def _sq_dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_i - y_j||^2 for the rows of x (P, N) and y (Q, N), clamped at 0."""
    d = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2.0 * x @ y.transpose(0, 1)
    return d.clamp_min(0.0)


@dataclass
class GaussTarget:
    """The style side of the Gaussian MMD at one layer: the sampled style vectors, the
    kernel bandwidth sigma^2 and the constant term 1/K^2 sum k(s_j, s_j')."""

    samples: torch.Tensor  # (K_s, N) the style image's feature vectors at the sampled positions
    sigma2: float  # bandwidth: the median heuristic on the style sample
    k_ss: torch.Tensor  # () the mean of the style-style kernel matrix
    k: int = MMD_SAMPLES  # positions sampled from each image
    seed: int = MMD_SEED


def mmd_gauss_target(features: torch.Tensor, k: int | None = None, seed: int | None = None,
                     sigma2: float | None = None) -> GaussTarget:
    """Sample the style image's feature vectors (:func:`sample_positions`) and choose the
    bandwidth by the median heuristic (Gretton et al. 2012): sigma^2 = the median of the
    squared distances ||s_j - s_j'||^2 between distinct sampled vectors (``sigma2`` to fix it).
    ``k``, ``seed``: default :data:`MMD_SAMPLES`, :data:`MMD_SEED`."""
    k = MMD_SAMPLES if k is None else int(k)
    seed = MMD_SEED if seed is None else int(seed)
    if k < 1:
        raise SettingsError(f"the Gaussian MMD needs at least one sampled position, got k={k}")
    with torch.no_grad():
        s = _vectors(features.detach())
        idx = sample_positions(s.shape[0], k, seed)
        if idx is not None:
            s = s[idx.to(s.device)]
        d = _sq_dists(s, s)
        if sigma2 is None:
            off = d[~torch.eye(d.shape[0], dtype=torch.bool, device=d.device)]
            sigma2 = float(off.median()) if off.numel() else 1.0
            sigma2 = sigma2 if sigma2 > 0 else 1.0  # a constant style image: any bandwidth
        k_ss = torch.exp(-d / (2.0 * sigma2)).mean()
    return GaussTarget(s.clone(), float(sigma2), k_ss, k, seed)


def mmd_gauss_loss(features: torch.Tensor, target: GaussTarget) -> torch.Tensor:
    """E_l = MMD^2 with k(x, y) = exp(-||x - y||^2 / (2 sigma^2)) between the generated image's
    and the style image's feature vectors at the fixed, seeded sample of positions
    (Li et al. 2017, the Gaussian kernel): 1/K^2 sum k(f, f') + 1/K_s^2 sum k(s, s') - 2/(K K_s) sum k(f, s).

    Positions outside the sample get no gradient from this layer (only through deeper ones)."""
    x = _vectors(features)
    idx = sample_positions(x.shape[0], target.k, target.seed)
    if idx is not None:
        x = x[idx.to(x.device)]
    s = target.samples.to(x.dtype)
    two_s2 = 2.0 * target.sigma2
    k_xx = torch.exp(-_sq_dists(x, x) / two_s2).mean()
    k_xs = torch.exp(-_sq_dists(x, s) / two_s2).mean()
    return k_xx + target.k_ss.to(x.dtype) - 2.0 * k_xs


# --------------------------------------------------------------------------------------
# Li et al.'s identity: the Gram loss is an MMD with the kernel (x^T y)^2


def mmd2(x: torch.Tensor, y: torch.Tensor, kernel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
         chunk: int = 1024) -> torch.Tensor:
    """The biased squared MMD between the sets of rows of x (M, N) and y (M_s, N):
    1/M^2 sum k(x_i, x_i') + 1/M_s^2 sum k(y_j, y_j') - 2/(M M_s) sum k(x_i, y_j), computed
    from the kernel matrices block by block (``kernel(a, b)`` -> the (P, Q) matrix k(a_p, b_q))."""

    def mean_k(a, b):
        total = a.new_zeros(())
        for i in range(0, a.shape[0], chunk):
            total = total + kernel(a[i:i + chunk], b).sum()
        return total / (a.shape[0] * b.shape[0])

    return mean_k(x, x) + mean_k(y, y) - 2.0 * mean_k(x, y)


def polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x^T y)^2, the kernel of Li et al.'s identity."""
    return (a @ b.transpose(0, 1)).pow(2)


def gram_mmd_identity(features: torch.Tensor, style_features: torch.Tensor) -> dict:
    """Both sides of Li et al. 2017's identity for one layer, in float64:
    ``E_l`` (Eq. 4 as printed, the style Gram scaled by M/M_s as the engine does) and
    ``mmd2`` (MMD^2 with k(x, y) = (x^T y)^2, from the kernel sums, not from Gram matrices),
    with ``constant`` = 1/(4 N_l^2), ``rhs`` = constant * mmd2 and ``relative_difference``
    = |E_l - rhs| / E_l (0 up to rounding: the identity is exact)."""
    f = features.detach().to(torch.float64)
    s = style_features.detach().to(torch.float64)
    _, n, h, w = f.shape
    m, m_s = h * w, s.shape[-1] * s.shape[-2]
    a = losses.gram(s) * (m / m_s)
    e_l = float(losses.style_layer_loss(f, a, "paper"))
    mmd = float(mmd2(_vectors(f), _vectors(s), polynomial_kernel))
    constant = 1.0 / (4.0 * n * n)
    rhs = constant * mmd
    return {"N": n, "M": m, "M_s": m_s, "E_l": e_l, "mmd2": mmd, "constant": constant, "rhs": rhs,
            "relative_difference": abs(e_l - rhs) / abs(e_l) if e_l else abs(rhs)}


# --------------------------------------------------------------------------------------
# The registry the engine looks statistics up in


@dataclass(frozen=True)
class Statistic:
    """One style statistic: its targets (computed once from the style image's responses,
    without autograd) and its per-layer loss E_l(features, target)."""

    name: str
    title: str
    equation: str
    paper: str
    targets: Callable[[torch.Tensor], object]
    loss: Callable[[torch.Tensor, object], torch.Tensor]


def _gram_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return losses.style_layer_loss(features, target, "paper")


REGISTRY = {
    s.name: s for s in (
        Statistic("gram", "Gram matrix", "E_l = 1/(4 N^2 M^2) sum_ij (G_ij - A_ij)^2 (Eqs. 3-4)",
                  "Gatys, Ecker & Bethge 2016", lambda f: losses.gram(f).detach(), _gram_loss),
        Statistic("mean_std", "mean and standard deviation",
                  "E_l = 1/N sum_c (mu_c - mu_c^S)^2 + (sigma_c - sigma_c^S)^2",
                  "Li, Wang, Liu & Hou 2017; Huang & Belongie 2017",
                  lambda f: tuple(t.detach() for t in mean_std(f)), mean_std_loss),
        Statistic("mmd_linear", "MMD, linear kernel (means)", "E_l = 1/N ||mean f - mean s||^2",
                  "Li, Wang, Liu & Hou 2017", lambda f: mmd_linear_target(f).detach(), mmd_linear_loss),
        Statistic("mmd_gauss", "MMD, Gaussian kernel",
                  "E_l = MMD^2, k(x, y) = exp(-||x - y||^2 / (2 sigma^2)), sigma^2: median heuristic",
                  "Li, Wang, Liu & Hou 2017", mmd_gauss_target, mmd_gauss_loss),
    )
}


def check(name) -> str:
    """``name`` if it is a known statistic, else a :class:`SettingsError` naming the choices."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise SettingsError(f"unknown style statistic {name!r}; choose one of {STATISTICS}")
    return name


def get(name: str) -> Statistic:
    return REGISTRY[check(name)]


def targets(name: str, features: torch.Tensor):
    """The target of statistic ``name`` for the style image's responses at one layer."""
    with torch.no_grad():
        return get(name).targets(features)


def loss(name: str, features: torch.Tensor, target) -> torch.Tensor:
    """E_l of statistic ``name`` (the table in the module docstring)."""
    return get(name).loss(features, target)


@torch.no_grad()
def layer_losses(model, image: torch.Tensor, style: torch.Tensor, name: str,
                 layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) -> dict[str, float]:
    """E_l of statistic ``name`` of ``image`` against ``style`` at each layer, as plain floats:
    the style image resized to the image's size first (the engine's ``style_scale="content"``),
    so at the layers a run matched these are its ``Result.losses["style_layers"]`` for the
    statistics other than ``gram`` (whose E_l here is Eq. 4 as printed, the ``paper`` norm)."""
    from ..image import resize_to
    from ..networks.vgg import resolve_layers

    check(name)
    layers = resolve_layers(list(layers), model.arch)
    dev = next(model.parameters()).device
    if tuple(style.shape[-2:]) != tuple(image.shape[-2:]):
        style = resize_to(style, tuple(image.shape[-2:]))
    fi, fs = model(image.to(dev), layers), model(style.to(dev), layers)
    return {l: float(loss(name, fi[l], targets(name, fs[l]))) for l in layers}
