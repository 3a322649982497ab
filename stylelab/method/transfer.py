"""Image optimisation: Gatys et al.'s style transfer, texture synthesis and
content reconstruction as one engine.

The image x is the only thing optimised. The network is frozen, the targets (the
content responses P^l and the style Gram matrices A^l) are computed once without
autograd, and each evaluation runs one forward pass to the deepest layer needed
and one backward pass to the pixels.

    result = transfer(content, style, ratio=1e-3, steps=500)
    texture(style, steps=300)                   # beta only: Fig. 1 style row
    reconstruct(content, layer="relu4_2")       # alpha only: Fig. 1 content row

Every call returns a :class:`~stylelab.method.optimise.Result` (the best image, the loss
history per step with every term and layer, the settings, the wall time). Ctrl-C returns
the best image so far; a NaN/inf loss raises :class:`~stylelab.errors.NonFiniteLossError`
carrying it.

:func:`run` checks the settings and ties the steps together, each in its own module of
this folder: the convention (:mod:`~stylelab.method.conventions`), the targets
(:mod:`~stylelab.method.targets`), the objective (:mod:`~stylelab.method.objective`), the
optimiser (:mod:`~stylelab.method.optimise`) and coarse to fine
(:mod:`~stylelab.method.coarse_to_fine`).
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import torch

from . import losses, statistics
from ..errors import LayerError, SettingsError
from ..image import resize_to
from ..networks import precision as _precision
from ..networks.vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, VGG, resolve_layers
from .coarse_to_fine import _coarse_to_fine, _stage_steps, stage_sizes
from .conventions import CONVENTIONS, DEFAULT_CONVENTION, layer_weights
from .objective import Objective
from .optimise import DEFAULT_LR, DEFAULT_PATIENCE, Result, initial_image, optimize
from .settings import _finite_nonneg, check_extra_terms, check_functions
from .targets import make_targets


# --------------------------------------------------------------------------------------
# The three uses of the engine


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, torch.Tensor):
        return [x]
    return list(x)


def run(content: torch.Tensor | None = None, styles: torch.Tensor | Sequence[torch.Tensor] | None = None, *,
        model: VGG | None = None, features=None, weights=None, pooling: str = "avg", normalized: bool | None = None,
        device=None, content_layers: Sequence[str] | str | None = (PAPER_CONTENT_LAYER,),
        style_layers: Sequence[str] | None = PAPER_STYLE_LAYERS, style_weights=None,
        alpha: float | None = None, beta: float | None = None, ratio: float | None = None,
        tv_weight: float = 0.0, gamma: float = 0.0, convention: str = DEFAULT_CONVENTION,
        norm: str | None = None,
        blend: Sequence[float] | None = None, style_scale: str = "content", size: tuple[int, int] | None = None,
        init="noise", seed: int = 0, optimizer: str = "lbfgs", steps: int | Sequence[int] = 500,
        lr: float | None = None, scales: Sequence[int] | None = None, detail: str | None = "auto",
        tol: float | None = None,
        patience: int = DEFAULT_PATIENCE, callback: Callable | None = None, every: int = 10,
        progress: bool = True, stop=None, desc: str = "optimising", functions: dict | None = None,
        regions=None, style_statistic: str = "gram", extra_terms: dict | None = None,
        precision: str | None = None) -> Result:
    """The general engine behind :func:`transfer`, :func:`texture` and :func:`reconstruct`.

    content / styles: (1, 3, H, W) RGB images in [0, 1]; either may be None.
    model: a :class:`~stylelab.networks.vgg.VGG`; else one is loaded from ``weights``,
        ``pooling``, ``normalized`` and ``device`` (see :func:`stylelab.networks.weights.load_vgg`).
    features: another feature extractor by name (:func:`stylelab.networks.features.names`: ``"random-vgg"``,
        ``"random-filters"``, ``"patch-cnn"``, ...) in place of ``model``; the paper's default
        layers become the extractor's own where it lacks them (:func:`stylelab.networks.features.own_layers`).
    alpha, beta: the weights of Eq. 7; or ``ratio`` = alpha/beta (alpha 1, beta 1/ratio).
    normalized: Gatys et al.'s rescaled network (True) or the VGG as trained (False); None: the
        convention's (used only when ``model`` is not given).
    convention: ``"calibrated"`` (default), ``"gatys_code"`` or ``"paper"``: the loss normalisation,
        layer weights, network and factor on alpha that the alpha/beta ratio refers to (see
        :data:`CONVENTIONS`).
    style_weights: w_l per style layer: ``"equal"``, ``"gatys_code"``, a list or a dict
        (default: the convention's).
    norm: ``"paper"``, ``"hw"`` or ``"chw"`` (see :mod:`stylelab.method.losses`; default: the convention's).
    tv_weight, gamma: total variation and L2 pixel-prior weights (0: the paper).
    blend: weights of several style images, or per style layer (a dict layer -> one weight
        per image, :func:`blend_weights`); style_scale: see :func:`make_targets`.
    size: (H, W) of the generated image (default: the content's, else the style's).
    init: ``"noise"`` (with ``seed``), ``"content"``, ``"style"`` or an image tensor.
    optimizer, steps, lr, tol, patience, callback, every, progress, stop: see :func:`optimize`.
    scales: coarse-to-fine (Gatys et al. 2017, *Controlling Perceptual Factors in Neural
        Style Transfer*, the high-resolution procedure): the longest side of the image at
        each stage, increasing, e.g. ``(128, 256, 512)``; the last is the result's size. Each
        stage computes its targets from the images at its own size and starts from the
        previous stage's result, upsampled (the first from ``init``). ``steps`` is then
        the evaluations per stage, one number for all or one per stage, and ``tol`` applies
        to every stage. The history runs on across stages (``stage`` and ``size`` in each
        record); :attr:`Result.stages` summarises each. A run stopped early returns the
        best image of the stage it reached, upsampled to the final size.
    detail: what is added to each upsampled start of a coarse-to-fine stage. ``"content"``:
        the content image's detail band, content at the stage's size minus content at the
        previous stage's size upsampled (a Laplacian-pyramid level). The upsampled result
        lacks exactly these frequencies, and the content term at relu4_2 is dominated by
        them: on the Neckarfront at 256 px, a 128 px result upsampled starts with a loss as
        high as white noise's (8.3 against 8.4, almost all of it the content term; even the
        photograph itself, downsampled and upsampled, has a content loss of 1.9), with the
        band 7.6, and 100 steps later 0.71 against 1.30. ``None``: upsampling only.
        ``"auto"``: ``"content"`` for a style transfer (content and style terms), else
        ``None``: a texture has no content, and a content reconstruction must find the
        pixels from the layer's responses alone (notebook 01), not be given them.
    functions: the lessons' exercises, the student's own ``content_loss``, ``gram``,
        ``style_layer_loss``, ``tv_loss``, ``total_loss`` or ``closure`` in place of the
        engine's (:data:`FUNCTIONS`); slower than the engine's own (no fused Eq. 6 backward).
    regions: spatial control (Gatys et al. 2017, guided Gram matrices), the engine's extension
        point for a guided style term: an object with ``style_index(n_styles)`` (checks it),
        ``describe()`` (JSON for the settings) and ``guide(model, hw, styles, style_layers,
        style_scale)`` (the guided targets and style term at size ``hw``), such as a
        :class:`stylelab.control.masks.Regions`. :func:`stylelab.run` and :func:`stylelab.transfer`
        (:mod:`stylelab.control.transfer`) also take the masks themselves.
    style_statistic: what the style loss matches (:mod:`stylelab.method.statistics`): ``"gram"`` (the
        papers' Gram matrices, Eqs. 3-4), ``"mean_std"``, ``"mmd_linear"`` or ``"mmd_gauss"``
        (Li et al. 2017), with one style image.
    extra_terms: more terms of the objective, name -> ``term(x)`` returning a weighted scalar
        tensor added to L_total and recorded in the history under its name (e.g. Ruder et al.'s
        temporal loss, :mod:`stylelab.video.temporal`); with ``scales`` each stage hands it its own size.
    precision: the network's arithmetic (:mod:`stylelab.networks.precision`): ``"auto"`` (None: the
        ``STYLELAB_PRECISION`` environment variable, else auto: bf16 on CPUs with AMX or
        AVX512_BF16 where a measured probe finds it faster, bf16/fp16 autocast on CUDA, else fp32),
        ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA). Grams, losses and the optimiser stay fp32;
        the result's :attr:`Result.losses` are evaluated in fp32.
    """
    functions = check_functions(functions)
    extra_terms = check_extra_terms(extra_terms)
    styles = _as_list(styles)
    content_layers = [content_layers] if isinstance(content_layers, str) else list(content_layers or [])
    style_layers = list(style_layers or []) if styles else []
    if content is None:
        content_layers = []
    if content is None and not styles:
        raise SettingsError("give a content image, a style image, or both")
    if not content_layers and not style_layers:
        raise SettingsError("choose at least one content or style layer")
    if convention not in CONVENTIONS:
        raise SettingsError(f"unknown loss convention {convention!r}; choose one of {tuple(CONVENTIONS)}")
    if normalized is None:
        normalized = CONVENTIONS[convention]["normalized"]
    alpha, beta = _weights(alpha, beta, ratio, bool(content_layers), bool(style_layers))
    tv_weight = _finite_nonneg("tv_weight", tv_weight)
    gamma = _finite_nonneg("gamma", gamma)
    if features is not None or not isinstance(model, (VGG, type(None))):  # another network (stylelab.networks.features)
        from ..networks import features as _features

        model, content_layers, style_layers = _features.prepare(
            features, model, content_layers, style_layers, weights=weights, pooling=pooling, normalized=normalized,
            device=device)
    if model is None:
        from ..networks.weights import load_vgg

        model = load_vgg(weights, pooling=pooling, normalized=normalized, device=device)
    content_layers = resolve_layers(content_layers, model.arch)
    style_layers = resolve_layers(style_layers, model.arch)
    prec = _precision.resolve(precision if precision is not None else os.environ.get(_precision.ENV) or None,
                              next(model.parameters()).device)
    content_scale = CONVENTIONS[convention]["content_scale"]
    norm = CONVENTIONS[convention]["norm"] if norm is None else norm
    losses._check_norm(norm)
    if style_weights is None:
        style_weights = CONVENTIONS[convention]["style_weights"]
    channels = {l.name: l.channels for l in model.layers}
    w_l = layer_weights(style_layers, style_weights, channels) if style_layers else {}
    size_given = size is not None
    if size is None:
        size = tuple(content.shape[-2:]) if content is not None else tuple(styles[0].shape[-2:])
    size = (int(size[0]), int(size[1]))
    sizes = stage_sizes(scales, size, fixed=size_given)
    stage_steps = _stage_steps(steps, len(sizes))
    for hw in sizes:
        try:
            model.check_input(torch.empty(1, 3, *hw, device="meta"), content_layers + style_layers)
        except (SettingsError, LayerError) as exc:
            if len(sizes) == 1:
                raise
            raise type(exc)(f"scale {max(hw)} px ({hw[0]} x {hw[1]}) is too small: {exc}") from None
    size = sizes[-1]
    if detail == "auto":  # a pure content reconstruction must not be handed the content's pixels
        detail = "content" if content_layers and style_layers else None
    if detail not in (None, "content"):
        raise SettingsError(f"unknown detail {detail!r}; choose 'content', None or 'auto'")
    if detail == "content" and content is None:
        raise SettingsError("detail='content' needs a content image")
    settings = {
        "arch": model.arch, "weights": model.info.get("weights"), "input_convention": model.convention,
        "pooling": model.pooling, "normalized": model.info.get("normalized"),
        "content_layers": content_layers, "style_layers": style_layers, "style_weights": w_l,
        "alpha": alpha, "beta": beta, "ratio": (alpha / beta) if beta else None, "content_scale": content_scale,
        "tv_weight": tv_weight, "gamma": gamma, "convention": convention, "norm": norm, "blend": _blend_setting(blend),
        "style_scale": style_scale, "size": list(size),
        "init": init if isinstance(init, str) else "image", "seed": seed, "optimizer": optimizer,
        "steps": steps if isinstance(steps, int) else list(stage_steps), "lr": lr if lr is not None else DEFAULT_LR.get(optimizer),
        "scales": [max(hw) for hw in sizes] if scales is not None else None,
        "detail": detail if scales is not None else None, "tol": tol,
        "patience": patience if tol is not None else None,
        "device": str(next(model.parameters()).device), "torch": torch.__version__, **prec.describe(),
    }
    if regions is not None:  # spatial control: the guide (stylelab.control.masks) builds the style term
        missing = [m for m in ("style_index", "describe", "guide") if not callable(getattr(regions, m, None))]
        if missing:
            raise SettingsError(
                f"regions= takes a guide such as stylelab.control.masks.Regions (it lacks {', '.join(missing)}); "
                "stylelab.run and stylelab.transfer also take the masks themselves")
        regions.style_index(len(styles))  # one style image per region, or style masks: checked now
        if functions or blend is not None:
            raise SettingsError("regions= cannot be combined with functions= or blend=")
        settings["regions"] = regions.describe()
    settings["style_statistic"] = statistics.check(style_statistic)
    if style_statistic != "gram":  # stylelab.method.statistics: one style image, no Grams to mix
        given = [o for o, v in (("regions=", regions is not None), ("functions=", bool(functions)),
                                ("blend=", blend is not None)) if v]
        if len(styles) > 1 or given:
            raise SettingsError(f"style_statistic={style_statistic!r} takes one style image and no "
                                f"{', '.join(given) or 'second style image'}; those work with 'gram'")
    if functions:  # whose functions made this image: the student's (the lessons' exercises)
        settings["functions"] = {k: getattr(f, "__qualname__", repr(f)) for k, f in functions.items()}
    if extra_terms:
        settings["extra_terms"] = list(extra_terms)
        weighted = {k: float(t.weight) for k, t in extra_terms.items() if isinstance(getattr(t, "weight", None), (int, float))}
        if weighted:  # a term that states its weight (e.g. stylelab.control.chroma_tv.term) has it recorded
            settings["extra_term_weights"] = weighted

    def objective_at(hw):
        guide = regions.guide(model, hw, styles, style_layers, style_scale) if regions is not None else None
        targets = make_targets(model, hw, content, content_layers, styles if guide is None else [],
                               style_layers if guide is None else [], blend, style_scale, gram=functions.get("gram"),
                               statistic=style_statistic)
        return Objective(model, targets, content_layers, w_l, alpha * content_scale, beta, tv_weight, gamma, norm,
                         functions={k: v for k, v in functions.items() if k != "closure"}, guide=guide,
                         extra_terms=extra_terms, precision=prec)

    start = initial_image(init, sizes[0], content, styles[0] if styles else None, seed)
    common = dict(optimizer=optimizer, lr=lr, every=every, progress=progress, stop=stop, tol=tol, patience=patience,
                  make_closure=functions.get("closure"))
    if len(sizes) == 1:
        return optimize(objective_at(size), start, steps=stage_steps[0], callback=callback, settings=settings,
                        desc=desc, **common)
    band = (lambda hw, prev: resize_to(content, hw) - resize_to(resize_to(content, prev), hw)) if detail else None
    return _coarse_to_fine(objective_at, sizes, stage_steps, start, callback, settings, desc, common, band)


def _blend_setting(blend):
    """``blend`` as JSON: a list, a dict layer -> list, or None."""
    if isinstance(blend, dict):
        return {str(k): [float(x) for x in v] for k, v in blend.items()}
    return list(blend) if blend else None


def _weights(alpha, beta, ratio, has_content: bool, has_style: bool) -> tuple[float, float]:
    """Resolve (alpha, beta). ``ratio`` = alpha/beta with alpha = 1 (so beta = 1/ratio),
    as in the paper's figures; defaults: alpha 1, beta 1e3 (ratio 1e-3)."""
    if ratio is not None:
        if alpha is not None and beta is not None:
            raise SettingsError("give alpha and beta, or their ratio, not all three")
        ratio = _finite_nonneg("alpha/beta ratio", ratio)
        if ratio == 0:
            raise SettingsError("the alpha/beta ratio must be > 0 (use texture() for style only)")
        if beta is not None:
            alpha, beta = ratio * _finite_nonneg("beta", beta), beta
        else:
            alpha = 1.0 if alpha is None else alpha
            beta = _finite_nonneg("alpha", alpha) / ratio
    alpha = 1.0 if alpha is None else _finite_nonneg("alpha", alpha)
    beta = 1e3 if beta is None else _finite_nonneg("beta", beta)
    if not has_content:
        alpha = 0.0
    if not has_style:
        beta = 0.0
    if alpha == 0 and beta == 0:
        raise SettingsError("alpha and beta are both zero: nothing to optimise")
    return float(alpha), float(beta)


def transfer(content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor], **kwargs) -> Result:
    """Style transfer (Gatys et al., Fig. 2): content at relu4_2 (the paper's conv4_2),
    style at relu1_1..relu5_1, alpha/beta = 1e-3, from white noise, L-BFGS, in the
    calibrated loss convention (:data:`~stylelab.method.conventions.CONVENTIONS`). Every keyword
    of :func:`run` can be changed. :func:`stylelab.transfer` adds the 2017 controls
    (``preserve_colour=``, masks as ``regions=``; :mod:`stylelab.control.transfer`)."""
    kwargs.setdefault("desc", "transfer")
    return run(content, style, **kwargs)


def texture(style: torch.Tensor | Sequence[torch.Tensor], *, style_layers: Sequence[str] = PAPER_STYLE_LAYERS,
            size: tuple[int, int] | None = None, **kwargs) -> Result:
    """Texture synthesis (Fig. 1, style reconstructions): match only the Gram matrices
    on ``style_layers``, from white noise. ``size`` (H, W) defaults to the style's size."""
    kwargs.setdefault("desc", "texture")
    for k in ("content_layers", "alpha", "ratio"):
        if k in kwargs:
            raise SettingsError(f"texture() matches style only; {k} does not apply")
    # With style only, beta sets just the loss scale, but L-BFGS needs a large enough one: torch's
    # L-BFGS stores no curvature pair while y.s <= 1e-10, and at beta = 1 (norm "hw", w_l = 1/N_l^2)
    # a real VGG's texture loss (~1e-3) never moves. 1e3 is run()'s default beta.
    beta = kwargs.pop("beta", 1e3)
    return run(None, style, style_layers=style_layers, size=size, content_layers=(), beta=beta, **kwargs)


def reconstruct(content: torch.Tensor, *, layer: str | Sequence[str] = PAPER_CONTENT_LAYER, **kwargs) -> Result:
    """Content reconstruction (Fig. 1, content reconstructions): match only the
    responses at ``layer``, from white noise."""
    kwargs.setdefault("desc", f"reconstruct {layer}")
    for k in ("style_layers", "beta", "ratio"):
        if k in kwargs:
            raise SettingsError(f"reconstruct() matches content only; {k} does not apply")
    alpha = kwargs.pop("alpha", 1.0)
    return run(content, None, content_layers=layer, alpha=alpha, **kwargs)
