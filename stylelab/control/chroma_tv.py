"""A smoothness prior on colour only: total variation of the chroma planes.

**Not in Gatys et al.** The paper's objective (Eq. 7, CVPR 2016) has no regulariser; its
results from white noise keep a fine "rainbow speckle" where the optimisation has not
converged (:func:`stylelab.metrics.speckle` measures it). The total-variation term of later
work (:func:`stylelab.method.losses.tv_loss`, Johnson et al. 2016) penalises every fine variation
of R, G and B alike: the painting's strokes as much as the specks. Speckle is a variation
of *hue*; strokes are mostly variations of lightness, or run along one hue axis. This
module's term penalises only the chroma planes

    u = R - G,    v = (R + G)/2 - B

(the planes :func:`stylelab.metrics.speckle` looks at), with the squared total variation
of :func:`stylelab.method.losses.tv_loss`:

    L_chroma = sum_ij (u_{i+1,j} - u_ij)^2 + (u_{i,j+1} - u_ij)^2 + (same for v),

so lightness may vary freely. A grey image, or one whose pixels differ only in lightness
(R = G = B + const), scores 0.

It plugs into the engine as an extra term (``run(..., extra_terms={"chroma_tv":
term(weight)})``, ``stylelab transfer --chroma-tv W``); the student and quick profiles, the
explorer and ``stylelab transfer`` use :data:`stylelab.teaching.paper.CHROMA_TV_WEIGHT` (0.3), the paper
profile none. Measured (BENCHMARKS.md, "Speckle and
the chroma prior"): ``stylelab transfer`` at 256 px on a photograph the kit never saw, in the
style of The Starry Night, speckle 0.44 with the default TV 1e-3; 0.43 and 0.40 with the TV
raised to 2e-3 and 4e-3; 0.32 with chroma weight 0.03 and **0.11 with 0.3**, content and style
distances unchanged (0.45 and 0.09 of the painting's and the photograph's).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from ..errors import SettingsError
from ..method.losses import tv_loss


def chroma(image: torch.Tensor) -> torch.Tensor:
    """The chroma planes ``(N, 2, H, W)`` of an RGB image ``(N, 3, H, W)``: u = R - G and
    v = (R + G)/2 - B (both 0 on grey)."""
    if image.dim() != 4 or image.shape[1] != 3:
        raise SettingsError(f"chroma needs an RGB image (N, 3, H, W), got shape {tuple(image.shape)}")
    r, g, b = image[:, 0], image[:, 1], image[:, 2]
    return torch.stack([r - g, (r + g) / 2 - b], dim=1)


def chroma_tv_loss(image: torch.Tensor) -> torch.Tensor:
    """L_chroma: the squared total variation (as :func:`stylelab.method.losses.tv_loss`) of the
    chroma planes u and v of ``image`` (see the module docstring)."""
    return tv_loss(chroma(image))


def term(weight: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> weight * L_chroma(x)``: an extra term for :func:`stylelab.method.transfer.run`
    (``extra_terms={"chroma_tv": term(0.3)}``)."""
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        raise SettingsError(f"the chroma TV weight must be a number, got {weight!r}") from None
    if not math.isfinite(weight) or weight < 0:
        raise SettingsError(f"the chroma TV weight must be a finite number >= 0, got {weight!r}")

    def chroma_tv(image: torch.Tensor) -> torch.Tensor:
        return weight * chroma_tv_loss(image)

    chroma_tv.weight = weight  # read back by whoever records the settings
    return chroma_tv


def extra_terms(weight: float) -> dict:
    """``run()``'s ``extra_terms`` keyword with the prior at ``weight``: ``{"extra_terms":
    {"chroma_tv": term(weight)}}``, or ``{}`` for 0 (the paper's objective). The CLI, the
    explorer and the lesson profiles spread it into their keywords."""
    return {"extra_terms": {"chroma_tv": term(weight)}} if weight else {}
