"""The style transfer with Gatys et al. 2017's controls as keywords (*Controlling Perceptual
Factors in Neural Style Transfer*, CVPR 2017): :func:`stylelab.run` and :func:`stylelab.transfer`.

The engine (:mod:`stylelab.method.transfer`) knows none of the controls. Each reaches it
through an extension point: colour preservation (:mod:`stylelab.control.colour`) changes the
images handed to the engine and recolours its result; spatial control
(:mod:`stylelab.control.masks`) hands it a guide that builds the guided Gram targets and style
term (its ``regions=``). This module turns the keywords a student writes into those:

    sl.transfer(photo, painting, preserve_colour="luminance")
    sl.transfer(photo, [starry, scream], regions=[sky, 1 - sky])     # masks, one per style image
"""

from __future__ import annotations

from typing import Sequence

import torch

from . import colour, masks
from ..method import transfer as _engine
from ..method.optimise import Result


def run(content: torch.Tensor | None = None, styles: torch.Tensor | Sequence[torch.Tensor] | None = None, *,
        regions=None, **kwargs) -> Result:
    """:func:`stylelab.method.transfer.run` (every keyword of it), with ``regions`` as masks too:
    a :class:`~stylelab.control.masks.Regions`, or masks for one (:func:`~stylelab.control.masks.as_regions`),
    region r matched to style image r (guided Gram matrices, Gatys et al. 2017, spatial control)."""
    if regions is not None:
        regions = masks.as_regions(regions)
    return _engine.run(content, styles, regions=regions, **kwargs)


def transfer(content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor], *,
             preserve_colour: str | None = None, regions=None, **kwargs) -> Result:
    """Style transfer (Gatys et al., Fig. 2): content at relu4_2 (the paper's conv4_2),
    style at relu1_1..relu5_1, alpha/beta = 1e-3, from white noise, L-BFGS, in the
    calibrated loss convention (:data:`~stylelab.method.conventions.CONVENTIONS`). Every keyword of
    :func:`stylelab.method.transfer.run` can be changed.

    preserve_colour: keep the content's colours (Gatys et al. 2017, section 5): ``"luminance"``,
        ``"histogram"`` (= ``"histogram-pca"``), ``"histogram-cholesky"`` or ``"histogram-mk"``; see
        :mod:`stylelab.control.colour`. None: the 2016 paper's transfer.
    regions: a style per region (Gatys et al. 2017, spatial control): masks or a
        :class:`~stylelab.control.masks.Regions`, as in :func:`run`.
    """
    kwargs.setdefault("desc", "transfer")
    if regions is not None:
        kwargs["regions"] = masks.as_regions(regions)
    if preserve_colour is not None:
        return colour.transfer_with_colour(content, style, preserve_colour, **kwargs)
    return _engine.run(content, style, **kwargs)
