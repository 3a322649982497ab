"""Scale control: one painting's coarse structure with another's fine texture.

Gatys, Ecker, Bethge, Hertzmann & Shechtman, *Controlling Perceptual Factors in Neural
Style Transfer*, CVPR 2017, section 6 ("scale control"). The style representation of a
layer l is its Gram matrix A^l (Gatys et al. CVPR 2016, Eqs. 3-5); shallow layers (small
receptive fields) hold the fine scale of a painting, brush marks and colour, deep layers
its coarse scale, the larger shapes. So a new style can take its coarse scale from one
painting and its fine scale from another. ``split`` names the boundary: the style layers
before it are *fine* (their statistics come from ``fine``), ``split`` and the layers after
it *coarse* (from ``coarse``)::

    from stylelab import scale
    kw = scale.mix(coarse=great_wave, fine=starry_night, split="relu3_1")
    result = sl.run(photo, **kw)                                  # "layers": per-layer Grams
    result = scale.transfer(photo, great_wave, starry_night)     # "paper": a new style image

Two ways, :data:`METHODS`:

- ``"paper"``: what the authors' code does (L. Gatys, *NeuralImageSynthesis*,
  ``ExampleNotebooks/ScaleControl.ipynb``). It first makes a **new style image**: starting
  from the coarse painting itself, optimise its pixels to match the fine painting's Gram
  matrices at the fine layers only (no content term): the coarse painting's shapes stay
  (they are the start, and no term asks to move them), its texture becomes the fine
  painting's (:func:`new_style`). That image is then the style image of an ordinary style
  transfer, at every style layer. The authors made the new style image at the output's size
  (fine layers up to conv2_1 at 512 px, up to conv4_1 when they redid it at 1024 px) and
  colour-matched both paintings to the photograph first (colour control, section 5), which
  this module does not do.
- ``"layers"``: the plain reading of the idea, in one optimisation: the target Grams A^l are
  the coarse painting's at the coarse layers and the fine painting's at the fine layers
  (:func:`mix`, via the per-layer ``blend`` of :func:`stylelab.method.transfer.make_targets`).
  The Grams of different layers of *different* images need not be jointly reachable: the
  deep features are computed from the shallow ones, so an image cannot in general have the
  fine painting's shallow statistics and the coarse painting's deep ones exactly; the
  optimisation settles on a compromise. That is why the authors built a new style image
  instead, whose Grams at all layers come from one real image.

A split at the first style layer gives the coarse painting's style alone, one beyond the
last the fine painting's alone (both exactly a plain one-style run).

High resolution (section 6.2 of the paper, coarse to fine) is :func:`stylelab.method.transfer.run`'s
``scales=``; lesson 11 shows both.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..errors import SettingsError
from ..networks.vgg import PAPER_STYLE_LAYERS, layers, resolve_layer, resolve_layers


#: The default boundary: conv1_1 and conv2_1 fine, conv3_1 ... conv5_1 coarse (the authors'
#: notebook at 512 px: the fine painting's statistics up to conv2_1).
DEFAULT_SPLIT = "relu3_1"
METHODS = ("paper", "layers")
#: L-BFGS steps of :func:`new_style` (the authors' notebook: 500 at 512 px, 200 at 1024 px).
NEW_STYLE_STEPS = 200
#: L-BFGS step size of :func:`new_style` (the engine's default is 1). A style-only objective
#: started from a real painting is where the engine's L-BFGS, which takes its steps without a
#: line search, overshoots: measured at 256 px (the Great Wave re-textured with The Starry Night's
#: conv1_1 and conv2_1 Grams, equal w_l), with step size 1 the loss jumped between 1e3 and 2e5 and
#: after 200 steps the arrangement was gone (layout correlation with the Great Wave 0.52, from
#: 0.99); with 0.5 it still jumped once (to 1.5e5 at step 100); with 0.25 it fell to 0.033 and the
#: arrangement stayed (0.97), the fine layers as close to the Starry Night's Grams (relative
#: distance 0.08 at conv1_1 and 0.09 at conv2_1) as with step size 1.
NEW_STYLE_LR = 0.25


def split_layers(split: str, style_layers: Sequence[str] = PAPER_STYLE_LAYERS,
                 arch: str = "vgg19") -> tuple[list[str], list[str]]:
    """``(fine, coarse)``: the style layers before ``split`` in the network, and ``split``
    with the layers after it. ``split`` is any layer of ``arch`` (``relu3_1``, the paper's
    ``conv3_1``; names in any convention, :func:`stylelab.networks.vgg.resolve_layer`).

    Either list may be empty (a split at or before the first style layer: all coarse;
    after the last: all fine).
    """
    if not isinstance(split, (str, int)) or isinstance(split, bool):
        raise SettingsError(f"split must be a layer name such as 'relu3_1', got {split!r}")
    split = resolve_layer(split, arch)  # LayerError for an unknown name
    style_layers = resolve_layers(style_layers, arch)
    if not style_layers:
        raise SettingsError("choose at least one style layer")
    depth = {l.name: i for i, l in enumerate(layers(arch))}
    fine = [l for l in style_layers if depth[l] < depth[split]]
    coarse = [l for l in style_layers if depth[l] >= depth[split]]
    return fine, coarse


def mix(coarse: torch.Tensor, fine: torch.Tensor, split: str = DEFAULT_SPLIT,
        style_layers: Sequence[str] = PAPER_STYLE_LAYERS, arch: str = "vgg19") -> dict:
    """The keyword arguments of :func:`stylelab.method.transfer.run` for the ``"layers"`` mix:
    ``styles=[coarse, fine]``, ``style_layers`` and ``blend`` = {layer: [1, 0]} at the coarse
    layers and [0, 1] at the fine ones, so that A^l is exactly the coarse painting's Gram
    at the coarse layers and the fine painting's at the fine layers (Eq. 5's targets).

        result = sl.run(photo, **scale.mix(wave, starry, "relu3_1"), steps=300)
    """
    fine_layers, coarse_layers = split_layers(split, style_layers, arch)
    _check_images(coarse, fine)
    blend = {l: [0.0, 1.0] for l in fine_layers}
    blend.update({l: [1.0, 0.0] for l in coarse_layers})
    ordered = resolve_layers(style_layers, arch)
    return {"styles": [coarse, fine], "style_layers": ordered, "blend": {l: blend[l] for l in ordered}}


def new_style(coarse: torch.Tensor, fine: torch.Tensor, split: str = DEFAULT_SPLIT, *,
              style_layers: Sequence[str] = PAPER_STYLE_LAYERS, size: tuple[int, int] | None = None,
              steps: int = NEW_STYLE_STEPS, model=None, **kwargs):
    """The paper's new style image (the authors' code): the coarse painting, resized to
    ``size`` (H, W; default its own), re-textured by matching the fine painting's Gram
    matrices at the fine layers only, from the coarse painting as the start and with no
    content term (:func:`stylelab.method.transfer.texture` with ``init=coarse``). The fine layers'
    weights w_l are the loss convention's (the default ``calibrated``: equal, as the authors'
    notebook weighted them; ``gatys_code``: 1/N_l^2). L-BFGS takes steps of
    :data:`NEW_STYLE_LR` (0.25), not the engine's 1, which overshoots from a painting (``lr=``
    overrides it).

    Returns a :class:`~stylelab.method.transfer.Result`; ``.image`` is the new style image. With no
    fine layers (split at the first style layer) it is the coarse painting unchanged, with
    no coarse layers the fine painting (no optimisation: ``steps_done`` 0).
    ``model``: the network (else one is loaded from ``weights``, ``pooling``, ``normalized``,
    ``device``, as :func:`stylelab.method.transfer.run` does); ``kwargs``: more keywords of
    :func:`stylelab.method.transfer.run` (``seed``, ``progress``, ``convention``, ...).
    """
    from ..image import resize_to
    from ..method.optimise import Result
    from ..method.transfer import texture

    _check_images(coarse, fine)
    model = _model(model, kwargs, style_layers, split)
    fine_layers, coarse_layers = split_layers(split, style_layers, model.arch)
    size = tuple(coarse.shape[-2:]) if size is None else (int(size[0]), int(size[1]))
    info = {"method": "paper", "split": resolve_layer(split, model.arch), "fine_layers": fine_layers,
            "coarse_layers": coarse_layers, "steps": steps}
    if not fine_layers or not coarse_layers:  # one painting's style alone: nothing to mix
        image = resize_to(coarse if fine_layers == [] else fine, size)
        return Result(image.detach().float().cpu(), [], {"scale": info})
    kwargs.setdefault("desc", "new style image")
    if kwargs.get("optimizer", "lbfgs") == "lbfgs":
        kwargs.setdefault("lr", NEW_STYLE_LR)  # no overshooting from the painting (NEW_STYLE_LR)
    result = texture(fine, style_layers=fine_layers, size=size, init=resize_to(coarse, size), steps=steps,
                     model=model, **kwargs)
    result.settings["scale"] = info
    return result


def transfer(content: torch.Tensor, coarse: torch.Tensor, fine: torch.Tensor, split: str = DEFAULT_SPLIT, *,
             method: str = "paper", style_steps: int = NEW_STYLE_STEPS, model=None, **kwargs):
    """Style transfer of ``content`` with ``coarse``'s coarse scale and ``fine``'s fine scale.

    method: ``"paper"`` (default): :func:`new_style` at the output's size (``style_steps``
        L-BFGS steps), then :func:`stylelab.method.transfer.transfer` with it as the one style
        image, at every style layer; ``"layers"``: one transfer with per-layer targets (:func:`mix`).
    kwargs: keywords of :func:`stylelab.method.transfer.run` (``ratio``, ``steps``, ``scales``,
        ``model`` or ``weights``, ``style_layers``, ``callback``, ...); ``blend`` does not apply.
    The result's ``settings["scale"]`` records the method, the split and the two layer sets;
    with ``"paper"`` ``result.style_image`` is the new style image (``None`` with ``"layers"``).
    Interrupted (Ctrl-C, ``stop``) while making the new style image, it returns that
    optimisation's result (``interrupted`` or ``stopped`` set) without running the transfer.
    """
    from ..method.coarse_to_fine import stage_sizes
    from .transfer import transfer as transfer_

    if method not in METHODS:
        raise SettingsError(f"unknown scale-mix method {method!r}; choose one of {METHODS}")
    for k in ("blend", "styles"):
        if k in kwargs:
            raise SettingsError(f"scale.transfer sets the style images and their blend itself; {k}= does not apply")
    style_layers = kwargs.pop("style_layers", PAPER_STYLE_LAYERS)
    _check_images(coarse, fine)
    model = _model(model, kwargs, style_layers, split)
    fine_layers, coarse_layers = split_layers(split, style_layers, model.arch)
    info = {"method": method, "split": resolve_layer(split, model.arch), "fine_layers": fine_layers,
            "coarse_layers": coarse_layers}
    kwargs.setdefault("desc", "scale mix")
    if method == "layers":
        mixed = mix(coarse, fine, split, style_layers, model.arch)
        # through transfer(), so that preserve_colour= applies here as with method="paper"
        result = transfer_(content, mixed.pop("styles"), model=model, **mixed, **kwargs)
        result.settings["scale"] = info
        result.style_image = None
        return result
    size = kwargs.get("size") or tuple(content.shape[-2:])
    size = stage_sizes(kwargs.get("scales"), tuple(size), fixed=kwargs.get("size") is not None)[-1]
    shared = {k: kwargs[k] for k in ("convention", "norm", "seed", "progress", "stop", "optimizer") if k in kwargs}
    style = new_style(coarse, fine, split, style_layers=style_layers, size=size, steps=style_steps, model=model,
                      **shared)
    if style.interrupted or style.stopped:  # Ctrl-C or a stop: no transfer; the new style image so far
        style.style_image = style.image
        return style
    result = transfer_(content, style.image, model=model, style_layers=style_layers, **kwargs)
    result.settings["scale"] = {**info, "style_steps": style.steps_done,
                                "style_loss": style.losses.get("total") if style.history else None}
    result.style_image = style.image
    return result


def layout_correlation(image: torch.Tensor, reference: torch.Tensor, cells: int = 16) -> float:
    """How much of ``reference``'s arrangement ``image`` keeps, whatever its colours and
    texture: the correlation coefficient of the two images' luminance (Rec. 601), both
    shrunk by area averaging so that the longest side is ``cells`` px (``reference``
    resized to ``image``'s size first). 1: the same light and dark places; about 0:
    unrelated layouts. Unlike :func:`stylelab.metrics.layout_distance` it ignores the
    palette and the overall brightness, which a new style image takes from the fine painting.
    """
    import torch.nn.functional as F

    from ..image import luminance, resize_to

    if not isinstance(cells, int) or isinstance(cells, bool) or cells < 2:
        raise SettingsError(f"cells must be a whole number >= 2, got {cells!r}")
    reference = reference if reference.shape[-2:] == image.shape[-2:] else resize_to(reference, tuple(image.shape[-2:]))
    maps = []
    for x in (image, reference):
        y = luminance(x)[None, None]
        size = [max(1, round(v * cells / max(y.shape[-2:]))) for v in y.shape[-2:]]
        y = F.adaptive_avg_pool2d(y, size).flatten()
        maps.append(y - y.mean())
    a, b = maps
    norm = float(a.norm() * b.norm())
    return float((a * b).sum()) / norm if norm > 0 else 0.0


def _model(model, kwargs: dict, style_layers, split):
    """``model``, or the network ``kwargs`` name (popping its keywords); the split is checked first."""
    net = {k: kwargs.pop(k) for k in ("weights", "pooling", "normalized", "device") if k in kwargs}
    if model is not None:
        return model
    from ..networks.weights import load_vgg, resolve

    split_layers(split, style_layers, resolve(net.get("weights")).arch)  # a bad split fails before loading
    return load_vgg(net.get("weights"), pooling=net.get("pooling", "avg"), normalized=net.get("normalized", True),
                    device=net.get("device"))


def _check_images(coarse, fine) -> None:
    for name, img in (("coarse", coarse), ("fine", fine)):
        if not isinstance(img, torch.Tensor) or img.dim() != 4 or img.shape[:2] != (1, 3):
            shape = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
            raise SettingsError(f"the {name} painting must be an RGB image tensor (1, 3, H, W), got {shape}")
