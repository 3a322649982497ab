"""Feature extractors: which network's responses the losses match.

API (stable; the explorer and the CLI use it):

    stylelab.networks.features.names()          # ("vgg16", "vgg19", "random-vgg", "random-filters",
                                       #  "patch-cnn", "autoencoder")
    stylelab.networks.features.describe(name)   # one line for a menu
    stylelab.networks.features.load(name, *, weights=None, device=None, seed=0, pooling="avg", **options)
    sl.run(..., features="random-vgg") # and sl.transfer / sl.texture / sl.reconstruct;
                                       # model= (an extractor object) keeps working
    stylelab transfer|texture ... --features random-filters     # the CLI

Gatys et al. use the VGG-19 trained on ImageNet. Does the network have to be trained at all?
Ustyuzhaninov, Brendel, Gatys & Bethge (*What does it take to generate natural textures?*,
ICLR 2017; arXiv 1606.00021) synthesised good textures from a single layer of random
multi-scale filters, while Gatys et al. (2015) had found a random VGG useless. One of this
project's source reports trained its own small CNN and an autoencoder and found that small
networks on small images transfer little style. The extractors here let the lesson
(notebook 14) compare them on one painting:

===================  ===========================================================================
name                 the network
===================  ===========================================================================
``vgg16``/``vgg19``  the ImageNet VGG (:func:`stylelab.networks.weights.load_vgg`; ``weights=`` or
                     ``STYLELAB_WEIGHTS`` if its architecture matches, else the registry's set)
``random-vgg``       the same layout with random weights (seeded; torchvision's initialisation:
                     Kaiming-normal, fan-out, zero bias), normalised like the paper's network
``random-filters``   Ustyuzhaninov et al.'s single layer of random multi-scale filters
                     (:class:`RandomFilters`)
``patch-cnn``        a VGG-11 layout of narrow layers trained by stylelab to tell which sample
                     image a 32 px patch comes from (:mod:`stylelab.networks.patchnet`)
``autoencoder``      the same encoder trained to reconstruct those patches (:mod:`stylelab.networks.patchnet`)
===================  ===========================================================================

The protocol. The engine (:mod:`stylelab.method.transfer`, :mod:`stylelab.metrics`) needs of a
feature extractor exactly what :class:`stylelab.networks.vgg.VGG` has: it is an ``nn.Module`` with at
least one (frozen) parameter, so that ``next(model.parameters()).device`` is its device;
``model(image, names)`` maps an RGB image in [0, 1], (B, 3, H, W), to ``{name: responses}``
and applies its own input convention; ``model.check_input(image, names)`` raises
:class:`~stylelab.errors.LayerError` for an image too small for a layer; ``model.layers`` is
its table of :class:`stylelab.networks.vgg.Layer` rows (name, kind, channels, downsampling) in forward
order and ``model._pos`` a layer's index in it; ``model.arch`` names a layout whose layer names
:func:`stylelab.networks.vgg.resolve_layers` knows (a VGG's, a VGG-like one registered with
:func:`stylelab.networks.vgg.register_layout`, or any table registered with :func:`stylelab.networks.vgg.register_layers`); ``model.convention``, ``model.pooling`` and
``model.info`` (a dict, ``info["weights"]`` naming the weights) describe it in a result's
settings. :class:`FeatureExtractor` writes this down for type checkers.

Layers. The VGGs, the random VGG and the small trained networks (a VGG-11 layout) share the
paper's layer names, so the paper's layers are matched in every one of them. The filter
bank has one layer, ``relu1_1`` (``conv1_1`` before the ReLU); asked for the paper's default
layers, :func:`own_layers` gives it that one layer for content and style.

Normalisation. A VGG's layers respond on scales that differ by orders of magnitude, and the
style loss (Eq. 5) adds the layers' terms, so the deepest or the shallowest layers would
decide the texture alone. Measured (VGG-16, the style loss E_l of a white-noise start
against *The Starry Night* at 128 px, in the engine's convention): random weights with
torchvision's initialisation give 6.0e-4 at relu1_1 falling to 7.7e-7 at relu5_1 (800x);
normalised, 2.3 ... 125 (the ImageNet VGG normalised: 2.9 ... 9.0; not normalised, 2.3e3 ...
5.4e9). Every extractor here is therefore normalised as Gatys et al. normalised the VGG
(CVPR 2016, section 2; :func:`stylelab.networks.weights.normalize`): each filter's mean activation over
the sample images (128 px) and positions is scaled to one.
"""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence

import torch
from torch import nn
import torch.nn.functional as F

from . import patchnet  # patchnet registers its networks' layout
from .. import config
from ..errors import SettingsError
from .vgg import (
    BLOCKS, PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, TORCH_MEAN, TORCH_STD, VGG, Layer, min_input_size, register_layers,
    resolve_layers
)
from .weights import normalize_filters as normalize  # also sl.features.normalize


#: The extractors by name, in the order a menu shows them.
NAMES = ("vgg16", "vgg19", "random-vgg", "random-filters", "patch-cnn", "autoencoder")
#: The filter sizes of Ustyuzhaninov et al.'s multi-scale model (their paper: 128 random
#: filters of each size, one convolutional layer, ReLU, the Gram matrix of its 1024 maps).
FILTER_SIZES = (3, 5, 7, 11, 15, 23, 37, 55)
#: Random filters per size here: a bank of 55 x 55 filters is slow on a CPU (measured, one
#: thread, 96 px: 0.63 s per evaluation with 32 per size, 2.1 s with the paper's 128).
RANDOM_FILTERS = 32
_DESCRIPTIONS = {
    "vgg16": "VGG-16 trained on ImageNet (the network on these machines)",
    "vgg19": "VGG-19 trained on ImageNet (Gatys et al.'s network)",
    "random-vgg": "VGG with random weights (seeded), normalised like the paper's",
    "random-filters": "one layer of random multi-scale filters (Ustyuzhaninov et al. 2017)",
    "patch-cnn": "a small CNN trained by stylelab to tell which sample image a patch is from",
    "autoencoder": "a small autoencoder trained by stylelab on the same patches",
}


class FeatureExtractor(Protocol):
    """What the engine uses of a network (see the module's docstring); :class:`VGG` is one."""

    arch: str
    convention: str
    pooling: str
    info: dict
    layers: tuple[Layer, ...]
    _pos: dict[str, int]

    def __call__(self, image: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]: ...

    def check_input(self, image: torch.Tensor, names: Iterable[str]) -> None: ...

    def parameters(self): ...


def names() -> tuple[str, ...]:
    """The extractors :func:`load` knows, for ``features=`` and ``--features``."""
    return NAMES


def describe(name: str) -> str:
    """One line about the extractor ``name``."""
    _check_name(name)
    return _DESCRIPTIONS[name]


def _check_name(name) -> str:
    if not isinstance(name, str) or name not in NAMES:
        raise SettingsError(f"unknown feature extractor {name!r}; choose one of {', '.join(NAMES)}")
    return name


# --------------------------------------------------------------------------------------
# Loading by name

_CACHE: dict[tuple, nn.Module] = {}


def load(name: str, *, weights=None, device=None, seed: int = 0, pooling: str = "avg", normalized: bool = True,
         arch: str | None = None, filters: int = RANDOM_FILTERS, **options) -> nn.Module:
    """The feature extractor ``name`` (:func:`names`), frozen, on ``device``.

    weights: for ``vgg16``/``vgg19``, a weight set (:func:`stylelab.networks.weights.resolve`);
        default ``STYLELAB_WEIGHTS`` when its architecture is ``name``'s, else the registry's.
    seed: the random weights of ``random-vgg`` and ``random-filters``, and the training of
        ``patch-cnn`` and ``autoencoder``.
    arch: the layout of ``random-vgg`` (default: ``STYLELAB_WEIGHTS``'s architecture, else vgg19),
        so that it is the ImageNet network's layout with other weights.
    filters: random filters per filter size of ``random-filters`` (the paper: 128).
    options: ``patch-cnn``/``autoencoder``: :func:`stylelab.networks.patchnet.load`'s (``steps``,
        ``path``, ``progress``, ...).
    normalized: each filter's mean activation over the sample images scaled to 1 (the paper's
        normalisation; see the module's docstring).
    """
    _check_name(name)
    dev = config.resolve_device(device)
    if name in ("vgg16", "vgg19"):
        _no_options(name, options)
        from . import weights as _weights

        ws = _weights.resolve(weights) if weights is not None else _weights.from_env()
        if ws is None or ws.arch != name:
            ws = _weights.resolve(name) if weights is None else ws
        if ws.arch != name:
            raise SettingsError(f"features={name!r} but the weights {ws.name} are a {ws.arch}")
        model = _weights.load_vgg(ws, pooling=pooling, normalized=normalized, device=dev)
        model.info.setdefault("features", name)
        return model
    if name in ("patch-cnn", "autoencoder"):
        return patchnet.load(name, seed=seed, device=dev, normalized=normalized, **options)
    if name == "random-vgg":
        _no_options(name, options)
        if arch is None and weights is not None:  # the layout of the weights it stands in for
            from . import weights as _weights

            arch = _weights.resolve(weights).arch
        return random_vgg(arch, seed=seed, pooling=pooling, normalized=normalized, device=dev)
    _no_options(name, options)
    return random_filters(filters, seed=seed, normalized=normalized, device=dev)


def _no_options(name: str, options: dict) -> None:
    if options:
        raise SettingsError(f"features={name!r} takes no option(s) {', '.join(sorted(options))}")


def _finish(model: nn.Module, key: tuple, normalized: bool, dev, images) -> nn.Module:
    """Normalise ``model`` (on ``images``, default the sample images), move it to ``dev``, and
    cache it under ``key`` when it was normalised on the default images."""
    if normalized:
        normalize(model, images)
    model = model.to(dev)
    if images is None:
        _CACHE[key] = model
    return model


# --------------------------------------------------------------------------------------
# The VGG with random weights


def random_vgg(arch: str | None = None, *, seed: int = 0, pooling: str = "avg", normalized: bool = True,
               device=None, images: Sequence[torch.Tensor] | None = None,
               widths: tuple[int, ...] | None = None) -> VGG:
    """A VGG (``arch``: vgg16, vgg19; default: ``STYLELAB_WEIGHTS``'s, else vgg19) with
    random weights drawn as torchvision initialises an untrained VGG (Kaiming-normal,
    fan-out, ReLU gain; zero biases), seeded, frozen, with the paper's layer names.

    normalized: scaled to mean activation 1 per filter on ``images`` (default: the sample
    images at 128 px); without it the deeper layers' responses are orders of magnitude
    smaller (see the module's docstring). ``widths``: narrower layers (unit tests).
    """
    if arch is None:
        from . import weights as _weights

        env = _weights.from_env()
        arch = env.arch if env is not None else "vgg19"
    if arch not in BLOCKS:
        raise SettingsError(f"unknown architecture {arch!r} for random-vgg; choose one of {sorted(BLOCKS)}")
    dev = config.resolve_device(device)
    key = ("random-vgg", arch, int(seed), pooling, bool(normalized), str(dev), widths)
    if key in _CACHE and images is None:
        return _CACHE[key]
    model = VGG(arch, pooling=pooling, convention="torch", **({"widths": widths} if widths else {}))
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for layer in model.layers:
            if layer.kind == "conv":
                conv = model.convs[layer.name]
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu", generator=g)
                conv.bias.zero_()
    model.info.update({"weights": f"random (seed {int(seed)})", "features": "random-vgg", "seed": int(seed)})
    return _finish(model, key, normalized, dev, images)


# --------------------------------------------------------------------------------------
# Ustyuzhaninov et al.'s random multi-scale filter bank

#: The filter bank's layout name (:func:`stylelab.networks.vgg.resolve_layers` knows its two layers).
FILTER_BANK_ARCH = "random-filters"


def _filter_bank_layers(filters: int = RANDOM_FILTERS, sizes: Sequence[int] = FILTER_SIZES) -> tuple[Layer, ...]:
    n, rf = filters * len(sizes), max(sizes)
    return (Layer("conv1_1", "conv", 1, 1, 0, "conv1_1", "conv1_1", n, 3, 1, rf),
            Layer("relu1_1", "relu", 1, 1, 1, "relu1_1", "relu1_1", n, 3, 1, rf))


register_layers(FILTER_BANK_ARCH, _filter_bank_layers())  # names only: each bank's channels are its own


class RandomFilters(nn.Module):
    """One convolutional layer of random filters of several sizes, then a ReLU
    (Ustyuzhaninov, Brendel, Gatys & Bethge, *What does it take to generate natural
    textures?*, ICLR 2017, the multi-scale model): layers ``conv1_1`` (the filter responses)
    and ``relu1_1`` (their rectification, whose Gram matrix describes a texture).

    ``filters`` random filters of each size in ``sizes`` (the paper: 128 of each of 3 ... 55;
    default here 32, as a 55 x 55 filter bank is slow on a CPU), drawn from a seeded normal
    distribution with variance 2 / fan-in (He et al.), zero biases, on the image in the torch
    input convention (ImageNet mean and standard deviation), zero-padded so every map has the
    image's size. Where the paper's details differ from this (their filters' distribution,
    padding), this is our reading of it.
    """

    def __init__(self, filters: int = RANDOM_FILTERS, sizes: Sequence[int] = FILTER_SIZES, seed: int = 0):
        super().__init__()
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise SettingsError(f"filters must be an integer >= 1 (random filters per size), got {filters!r}")
        sizes = tuple(sizes)
        if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 or s % 2 == 0 for s in sizes):
            raise SettingsError(f"filter sizes must be odd integers >= 1, got {sizes!r}")
        g = torch.Generator().manual_seed(int(seed))
        self.banks = nn.ParameterList(
            nn.Parameter(torch.randn(filters, 3, s, s, generator=g) * (2.0 / (3 * s * s)) ** 0.5, requires_grad=False)
            for s in sizes)
        self.register_buffer("bias", torch.zeros(filters * len(sizes)))
        self.sizes, self.filters = sizes, filters
        self.arch = FILTER_BANK_ARCH
        self.layers = _filter_bank_layers(filters, sizes)
        self._pos = {l.name: i for i, l in enumerate(self.layers)}
        self.convention = "torch"
        self.pooling = "none"
        self.register_buffer("_mean", torch.tensor(TORCH_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(TORCH_STD).view(1, 3, 1, 1), persistent=False)
        self.info: dict = {"arch": self.arch, "weights": f"random filters (seed {int(seed)})",
                           "features": "random-filters", "seed": int(seed), "normalized": False,
                           "filters": filters, "sizes": list(sizes)}
        self.eval()

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self._mean) / self._std

    def check_input(self, image: torch.Tensor, names: Iterable[str]) -> None:
        if image.dim() != 4 or image.shape[1] != 3:
            raise SettingsError(f"expected an image tensor of shape (B, 3, H, W), got {tuple(image.shape)}")
        min_input_size(list(names), self.arch)  # unknown names raise LayerError

    def forward(self, image: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        names = resolve_layers(names, self.arch)
        self.check_input(image, names)
        x = self.preprocess(image.to(self._mean.dtype))
        maps = torch.cat([F.conv2d(x, w, padding=w.shape[-1] // 2) for w in self.banks], dim=1)
        maps = maps + self.bias.view(1, -1, 1, 1)
        out = {}
        if "conv1_1" in names:
            out["conv1_1"] = maps
        if "relu1_1" in names:
            out["relu1_1"] = F.relu(maps)
        return out

    def apply_normalisation(self, means: dict[str, torch.Tensor]) -> "RandomFilters":
        """Divide filter k (and its bias) by its mean activation m_k: mean activation 1."""
        m = means["relu1_1"].to(self.bias)
        with torch.no_grad():
            for i, w in enumerate(self.banks):
                w.div_(m[i * self.filters:(i + 1) * self.filters].view(-1, 1, 1, 1))
            self.bias.div_(m)
        self.info["normalized"] = True
        return self

    def extra_repr(self) -> str:
        return f"filters={self.filters}, sizes={self.sizes}"


def random_filters(filters: int = RANDOM_FILTERS, *, sizes: Sequence[int] = FILTER_SIZES, seed: int = 0,
                   normalized: bool = True, device=None, images: Sequence[torch.Tensor] | None = None) -> RandomFilters:
    """:class:`RandomFilters`, normalised to mean activation 1 per filter on ``images``
    (default: the sample images at 128 px), on ``device``."""
    dev = config.resolve_device(device)
    key = ("random-filters", int(filters), tuple(sizes), int(seed), bool(normalized), str(dev))
    if key in _CACHE and images is None:
        return _CACHE[key]
    return _finish(RandomFilters(filters, sizes, seed), key, normalized, dev, images)


# --------------------------------------------------------------------------------------
# The engine's hook


#: The layers a network without the paper's layers matches by default: (content, style).
OWN_LAYERS = {FILTER_BANK_ARCH: (("relu1_1",), ("relu1_1",))}


def arch_of(name: str, weights=None) -> str:
    """The layer layout of the extractor ``name`` (without building it): what its layer
    names resolve against (``weights``: the weight set a ``vgg16``/``random-vgg`` follows)."""
    _check_name(name)
    if name in ("vgg16", "vgg19"):
        return name
    if name == "random-vgg":
        if weights is None:
            from . import weights as _weights

            weights = _weights.from_env()
        return getattr(weights, "arch", None) or "vgg19"
    if name == "random-filters":
        return FILTER_BANK_ARCH
    return patchnet.ARCH


def own_layers(model, content_layers: Sequence[str], style_layers: Sequence[str]) -> tuple[list[str], list[str]]:
    """The layers to match in ``model`` (a network, or its ``arch``): the paper's default
    layers (``relu4_2``; ``relu1_1`` ... ``relu5_1``) become the network's own
    (:data:`OWN_LAYERS`) where it has no such layers (the filter bank: ``relu1_1`` for both);
    any other choice is kept (and checked by the engine)."""
    content_layers = [content_layers] if isinstance(content_layers, str) else list(content_layers or [])
    style_layers = list(style_layers or [])
    own = OWN_LAYERS.get(model if isinstance(model, str) else getattr(model, "arch", None))
    if own is None:
        return content_layers, style_layers
    if content_layers == [PAPER_CONTENT_LAYER]:
        content_layers = list(own[0])
    if style_layers == list(PAPER_STYLE_LAYERS):
        style_layers = list(own[1])
    return content_layers, style_layers


def prepare(features, model, content_layers, style_layers, *, weights=None, pooling="avg", normalized=True,
            device=None):
    """For :func:`stylelab.method.transfer.run`: the extractor ``features`` names (or ``model``), and
    the layers to match in it (:func:`own_layers`)."""
    if features is not None:
        if model is not None:
            raise SettingsError("give features= (a name) or model= (a network), not both")
        if not isinstance(features, str):  # an extractor object passed as features=
            model = features
        else:
            model = load(features, weights=weights, pooling=pooling, normalized=normalized, device=device)
    return (model, *own_layers(model, content_layers, style_layers))

