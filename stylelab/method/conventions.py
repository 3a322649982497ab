"""Loss conventions: what an alpha/beta ratio (Eq. 7) refers to, and the style layer
weights w_l (Eq. 5) of each."""

from __future__ import annotations

from typing import Sequence

from ..errors import SettingsError
from .settings import _finite_nonneg


#: Loss conventions: what an alpha/beta ratio refers to. Each is one coherent set: the loss
#: normalisation (:mod:`stylelab.method.losses`), the style layer weights w_l, the network it was made
#: for (``normalized``: Gatys et al.'s rescaled VGG, CVPR 2016 section 2, or the ImageNet VGG as
#: trained) and ``content_scale``, a factor on alpha (Eq. 7). A ratio printed under a figure means
#: something only together with all of these (notebook 07, section 7).
#:
#: ``calibrated`` (the default): the normalised network with average pooling (the paper's), the
#:     printed w_l = 1/5, Gram / M and mean squares (``norm="hw"``, every layer's E_l on one scale),
#:     and alpha multiplied by :data:`CALIBRATION`, measured so that the ratios printed under the
#:     figures give the figures' look: 1e-3 the town in the painting's strokes, 1e-4 more abstract,
#:     1e-5 almost pure texture, 1e-2 the photograph with texture (BENCHMARKS.md, "calibration").
#: ``gatys_code``: the authors' reference code (Gatys, PytorchNeuralStyleTransfer): ``norm="hw"``
#:     and w_l = 1e3 / N_l^2 (the 1e3 is in beta's default), made for the VGG as trained. On the
#:     normalised network it weights relu5_1 1/64 of relu1_1: the shallow layers' colour statistics
#:     decide, the deep layers' strokes barely count, and at the printed 1e-3 the result is the
#:     photograph with a tint and fine colour specks (the kit's default until the calibration).
#: ``paper``: the equations exactly as printed (Eqs. 1, 4, 5, w_l = 1/5); at the printed ratios the
#:     content term outweighs the style term by orders of magnitude: almost pure content.
CONVENTIONS = {
    "calibrated": {"norm": "hw", "style_weights": "equal", "normalized": True, "content_scale": None},
    "gatys_code": {"norm": "hw", "style_weights": "gatys_code", "normalized": False, "content_scale": 1.0},
    "paper": {"norm": "paper", "style_weights": "equal", "normalized": True, "content_scale": 1.0},
}
#: The calibrated convention's factor on alpha: the printed alpha/beta times this is the balance
#: of content and style in the ``hw`` normalisation with w_l = 1/5 on the normalised network.
#: Measured (benchmarks/calibration.py, VGG-16, Neckarfront x the five paintings of Fig. 2,
#: BENCHMARKS.md): see there for the sweep this number comes from.
CALIBRATION = 200.0
CONVENTIONS["calibrated"]["content_scale"] = CALIBRATION
DEFAULT_CONVENTION = "calibrated"
LAYER_WEIGHT_PRESETS = ("equal", "gatys_code")


def layer_weights(layers: Sequence[str], weights=None, channels: dict[str, int] | None = None) -> dict[str, float]:
    """The style layer weights w_l.

    ``None`` or ``"equal"``: 1 / number of layers (the paper's text: w_l = 1/5).
    ``"gatys_code"``: 1 / N_l^2 (N_l the layer's channels; the authors' code), needs ``channels``.
    Or a list parallel to ``layers``, or a dict by layer name.
    """
    if not layers:
        raise SettingsError("choose at least one style layer")
    if weights is None or (isinstance(weights, str) and weights == "equal"):
        return {l: 1.0 / len(layers) for l in layers}
    if isinstance(weights, str):
        if weights != "gatys_code":
            raise SettingsError(f"unknown layer weights {weights!r}; use {LAYER_WEIGHT_PRESETS}, a list or a dict")
        if channels is None:
            raise SettingsError("layer weights 'gatys_code' need the layers' channel counts")
        return {l: 1.0 / channels[l] ** 2 for l in layers}
    if isinstance(weights, dict):
        missing = [l for l in layers if l not in weights]
        if missing:
            raise SettingsError(f"no layer weight given for {', '.join(missing)}")
        values = [weights[l] for l in layers]
    else:
        values = list(weights)
        if len(values) != len(layers):
            raise SettingsError(f"{len(values)} layer weights given for {len(layers)} style layers")
    out = {l: _finite_nonneg(f"layer weight w_l of {l}", v) for l, v in zip(layers, values)}
    if not any(out.values()):
        raise SettingsError("all style layer weights are zero")
    return out
