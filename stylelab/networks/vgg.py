"""The VGG convolutional stacks with the paper's layer names.

Gatys et al. describe the network by Caffe's blob names: ``conv1_1`` ... ``conv5_4``
for the convolutions of block 1..5, ``pool1`` ... ``pool5`` for the poolings.
In Caffe the ReLU runs *in place*, so the blob the paper calls ``conv4_2`` holds
the rectified response. stylelab names both: ``conv4_2`` is the convolution's
output before the ReLU and ``relu4_2`` the rectified response the paper used.
The paper's layer choices are therefore the ``relu`` names here
(:data:`PAPER_CONTENT_LAYER`, :data:`PAPER_STYLE_LAYERS`), as in pystiche.

The PyTorch tutorial numbers convolutions globally (``conv_1`` ... ``conv_16``):
its ``conv_4`` is ``conv2_2``, not the paper's ``conv4_2``. :func:`layer_table`
and :func:`resolve_layer` translate between the conventions so such mistakes
are visible.

The extractor :class:`VGG` takes an RGB image in ``[0, 1]``, applies the input
convention of its weights ("torch" or "caffe") itself, runs the stack only as
far as the deepest layer requested, and returns the requested layers by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn
import torch.nn.functional as F

from ..errors import LayerError, SettingsError


#: Convolutions per block (the "D" and "E" configurations of Simonyan & Zisserman).
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
#: Other VGG-like layouts (convolutions per block), registered with :func:`register_layout`:
#: stylelab's small trained networks (:mod:`stylelab.networks.patchnet`). No weight set has them.
_LAYOUTS: dict[str, tuple[int, ...]] = {}
#: Output channels of each block.
CHANNELS = (64, 128, 256, 512, 512)

#: The content layer of Gatys et al. (paper name ``conv4_2``: the rectified response).
PAPER_CONTENT_LAYER = "relu4_2"
#: The style layers of Gatys et al. (``conv1_1`` ... ``conv5_1``), each with w_l = 1/5.
PAPER_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: The layers of the 2015 paper's content reconstructions (Fig. 1).
PAPER_RECONSTRUCTION_LAYERS = PAPER_STYLE_LAYERS
#: The CVPR 2016 paper's content reconstructions (Fig. 1): conv1_2 ... conv5_2.
CVPR_RECONSTRUCTION_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")

#: Input conventions: "torch" = RGB in [0, 1] normalised by ImageNet mean/std;
#: "caffe" = BGR in [0, 255] with the per-channel mean (B, G, R) subtracted.
CONVENTIONS = ("torch", "caffe")
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

POOLINGS = ("avg", "max")


@dataclass(frozen=True)
class Layer:
    """One layer of the stack and its names in the other conventions."""

    name: str  # the paper's name: conv3_1, relu3_1, pool3
    kind: str  # "conv", "relu" or "pool"
    block: int  # 1..5
    position: int  # 1.. within the block (pools: 0)
    index: int  # index in torchvision's ``vgg19().features``
    tutorial: str  # the PyTorch tutorial's name: conv_5, relu_5, pool_2
    keras: str  # Keras: block3_conv1 (relu: the same, Keras fuses it), block3_pool
    channels: int
    in_channels: int
    downsampling: int  # input pixels per output pixel along one side (1, 2, ..., 32)
    receptive_field: int  # side of the input window that one output unit sees


def _build_layers(arch: str, widths: tuple[int, ...] = CHANNELS) -> tuple[Layer, ...]:
    if arch not in BLOCKS and arch not in _LAYOUTS:
        raise SettingsError(f"unknown architecture {arch!r}; choose one of {sorted(BLOCKS)}")
    if len(widths) != 5 or not all(isinstance(c, int) and c > 0 for c in widths):
        raise SettingsError(f"widths must be 5 positive channel counts, got {widths!r}")
    layers: list[Layer] = []
    index, n_conv, n_pool = 0, 0, 0
    rf, jump, in_ch = 1, 1, 3
    for block, (n, ch) in enumerate(zip(BLOCKS.get(arch) or _LAYOUTS[arch], widths), start=1):
        for pos in range(1, n + 1):
            n_conv += 1
            rf += 2 * jump  # a 3x3 convolution, stride 1
            common = dict(block=block, position=pos, channels=ch, in_channels=in_ch,
                          downsampling=jump, receptive_field=rf)
            layers.append(Layer(f"conv{block}_{pos}", "conv", index=index, tutorial=f"conv_{n_conv}",
                                keras=f"block{block}_conv{pos}", **common))
            layers.append(Layer(f"relu{block}_{pos}", "relu", index=index + 1, tutorial=f"relu_{n_conv}",
                                keras=f"block{block}_conv{pos}", **common))
            index += 2
            in_ch = ch
        n_pool += 1
        rf += jump  # a 2x2 pooling, stride 2
        jump *= 2
        # the tutorial names a pooling after the number of convolutions before it (pool1: pool_2)
        layers.append(Layer(f"pool{block}", "pool", block=block, position=0, index=index,
                            tutorial=f"pool_{n_conv}", keras=f"block{block}_pool", channels=ch,
                            in_channels=ch, downsampling=jump, receptive_field=rf))
        index += 1
    return tuple(layers)


_LAYERS: dict[tuple, tuple[Layer, ...]] = {}
#: Layer tables of feature extractors that are not VGGs (:mod:`stylelab.networks.features`), by name.
_REGISTERED: dict[str, tuple[Layer, ...]] = {}


def register_layers(arch: str, table) -> None:
    """Make another feature extractor's layer names resolve like a VGG's (:func:`resolve_layer`,
    :func:`min_input_size`): ``table`` lists its :class:`Layer` rows in forward order."""
    if arch in BLOCKS:
        raise SettingsError(f"{arch!r} is a VGG layout; register another name")
    _REGISTERED[arch] = tuple(table)


def register_layout(arch: str, blocks: tuple[int, ...]) -> None:
    """A VGG-like layout with ``blocks`` convolutions in each of the five blocks: :class:`VGG`
    builds it and its layers take the paper's names (:mod:`stylelab.networks.patchnet`'s networks)."""
    if arch in BLOCKS or len(blocks) != 5 or not all(isinstance(n, int) and n > 0 for n in blocks):
        raise SettingsError(f"cannot register the layout {arch!r} with blocks {blocks!r}")
    _LAYOUTS[arch] = tuple(blocks)


def layers(arch: str = "vgg19", widths: tuple[int, ...] = CHANNELS) -> tuple[Layer, ...]:
    """All layers of ``arch`` in forward order (``widths``: channels per block; the
    real networks use :data:`CHANNELS`, unit tests use narrow ones)."""
    if arch in _REGISTERED:
        return _REGISTERED[arch]
    key = (arch, tuple(widths))
    if key not in _LAYERS:
        _LAYERS[key] = _build_layers(arch, tuple(widths))
    return _LAYERS[key]


def layer_names(arch: str = "vgg19", kind: str | None = None) -> list[str]:
    """The paper names of ``arch``'s layers, optionally only one kind (conv/relu/pool)."""
    return [l.name for l in layers(arch) if kind is None or l.kind == kind]


def layer_table(arch: str = "vgg19", size: int | tuple[int, int] | None = 512) -> list[dict]:
    """One row per layer: its names in every convention, channels, receptive field and,
    for an input of ``size`` pixels (longest side, or (H, W)), its spatial size."""
    if isinstance(size, int):
        size = (size, size)
    rows = []
    for l in layers(arch):
        row = {
            "paper": l.name, "kind": l.kind, "torchvision_index": l.index,
            "pytorch_tutorial": l.tutorial, "keras": l.keras, "channels": l.channels,
            "receptive_field": l.receptive_field, "downsampling": l.downsampling,
        }
        if size is not None:
            row["height"], row["width"] = (s // l.downsampling for s in size)
        rows.append(row)
    return rows


def resolve_layer(name: str | int, arch: str = "vgg19") -> str:
    """The paper name of a layer given in any convention.

    Accepts the paper's ``conv4_2``/``relu4_2``/``pool4``, Keras' ``block4_conv2``
    (taken as the rectified response, as Keras fuses the ReLU), torchvision's
    index (``21`` or ``"features.21"``) and the PyTorch tutorial's ``conv_10``.
    Raises :class:`LayerError` listing the valid names otherwise.
    """
    table = layers(arch)
    key = name
    if isinstance(key, str):
        key = key.strip()
        if key.startswith("features."):
            key = key[len("features."):]
        if key.isdigit():
            key = int(key)
    if isinstance(key, int) and not isinstance(key, bool):
        for l in table:
            if l.index == key:
                return l.name
    else:
        for l in table:
            if key == l.name or key == l.tutorial:
                return l.name
        for l in table:  # Keras names the fused conv+relu
            if key == l.keras and l.kind in ("relu", "pool"):
                return l.name
    raise LayerError(
        f"unknown layer {name!r} for {arch}; valid names: {', '.join(layer_names(arch))}"
    )


def resolve_layers(names: Iterable[str | int], arch: str = "vgg19") -> list[str]:
    """:func:`resolve_layer` for each name, keeping order and dropping repeats."""
    if isinstance(names, (str, int)):
        names = [names]
    out: list[str] = []
    for n in names:
        r = resolve_layer(n, arch)
        if r not in out:
            out.append(r)
    return out


def min_input_size(layer_names_: Iterable[str], arch: str = "vgg19") -> int:
    """The smallest input side (pixels) for which every named layer is at least 1x1."""
    by_name = {l.name: l for l in layers(arch)}
    need = 1
    for n in layer_names_:
        l = by_name[resolve_layer(n, arch)]
        need = max(need, l.downsampling)  # a pool's downsampling already counts its own stride
    return need


class VGG(nn.Module):
    """A frozen VGG-16/19 convolution stack addressed by the paper's layer names.

    ``model(image, ["relu4_2", "relu1_1"])`` returns ``{"relu4_2": ..., "relu1_1": ...}``
    and computes nothing beyond the deepest requested layer. ``image`` is RGB in
    ``[0, 1]`` with shape (B, 3, H, W); the input convention is applied inside.

    The parameters are named after the paper (``conv1_1.weight``); a torchvision
    state dict is translated by :func:`stylelab.networks.weights.load_vgg`.
    """

    def __init__(self, arch: str = "vgg19", pooling: str = "avg", convention: str = "torch",
                 widths: tuple[int, ...] = CHANNELS):
        super().__init__()
        if pooling not in POOLINGS:
            raise SettingsError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
        if convention not in CONVENTIONS:
            raise SettingsError(f"unknown input convention {convention!r}; choose one of {CONVENTIONS}")
        self.arch = arch
        self.pooling = pooling
        self.convention = convention
        self.layers = layers(arch, tuple(widths))
        self.widths = tuple(widths)
        self.convs = nn.ModuleDict(
            {l.name: nn.Conv2d(l.in_channels, l.channels, 3, padding=1) for l in self.layers if l.kind == "conv"}
        )
        if convention == "torch":
            scale = 1.0 / torch.tensor(TORCH_STD)
            shift = -torch.tensor(TORCH_MEAN) / torch.tensor(TORCH_STD)
            order = [0, 1, 2]
        else:  # caffe: x_bgr * 255 - mean_bgr
            scale = torch.full((3,), 255.0)
            shift = -torch.tensor(CAFFE_MEAN_BGR)
            order = [2, 1, 0]
        self.register_buffer("_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_shift", shift.view(1, 3, 1, 1), persistent=False)
        self._order = order
        self._pos = {l.name: i for i, l in enumerate(self.layers)}
        self.info: dict = {"arch": arch, "pooling": pooling, "convention": convention, "normalized": False}
        self.freeze()

    def freeze(self) -> "VGG":
        """Eval mode, no parameter gradients: backpropagation then only reaches the image."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> the network's input convention."""
        if self._order != [0, 1, 2]:
            image = image[:, self._order]
        return image * self._scale + self._shift

    def check_input(self, image: torch.Tensor, names: Iterable[str]) -> None:
        if image.dim() != 4 or image.shape[1] != 3:
            raise SettingsError(f"expected an image tensor of shape (B, 3, H, W), got {tuple(image.shape)}")
        names = list(names)
        need = min_input_size(names, self.arch)
        h, w = image.shape[-2:]
        if min(h, w) < need:
            deepest = max(names, key=lambda n: self._pos[n])
            raise LayerError(
                f"image is {w}x{h} px but {deepest} needs at least {need} px on each side "
                f"(it sits after {need.bit_length() - 1} poolings); use a larger image or shallower layers"
            )

    def forward(self, image: torch.Tensor, names: Iterable[str | int]) -> dict[str, torch.Tensor]:
        names = resolve_layers(names, self.arch)
        if not names:
            raise LayerError("no layers requested")
        self.check_input(image, names)
        wanted = set(names)
        position = self._pos
        last = max(position[n] for n in names)
        x = self.preprocess(image.to(self._scale.dtype))
        nhwc = x.device.type == "cpu" and torch.backends.mkldnn.enabled and torch.backends.mkldnn.is_available()
        if nhwc:
            # oneDNN's convolutions (above all their backward pass) run faster on channels-last
            # (NHWC) maps: with the style loss's backward in method/objective.py, 1.19x per L-BFGS
            # evaluation at 256 px (BENCHMARKS.md). Same values and shapes; the returned maps
            # are channels-last strided (.contiguous() gives NCHW).
            x = x.contiguous(memory_format=torch.channels_last)
        weights = self._conv_weights(x.device, nhwc)
        out: dict[str, torch.Tensor] = {}
        for l in self.layers[: last + 1]:
            if l.kind == "conv":
                w, b = weights[l.name]
                x = F.conv2d(x, w, b, padding=1)
            elif l.kind == "relu":
                # In place unless the pre-activation was asked for: saves a copy per layer.
                x = F.relu(x, inplace=f"conv{l.name[4:]}" not in wanted)
            elif self.pooling == "avg":
                x = F.avg_pool2d(x, 2, 2)
            else:
                x = F.max_pool2d(x, 2, 2)
            if l.name in wanted:
                out[l.name] = x
        return out

    def _conv_weights(self, device: torch.device, nhwc: bool) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each convolution's (weight, bias) as the forward pass uses them, prepared once.

        On the CPU the weights are kept channels-last beside the input, and under bf16/fp16
        autocast (:mod:`stylelab.networks.precision`) also in that dtype: otherwise every call converts
        them again (measured at 256 px, fp32: a 512 x 512 x 3 x 3 weight copied on every
        convolution, 2 % of an evaluation; under autocast the frozen weights, which need no
        gradient, are re-cast on every call too, as autocast caches only the casts of leaf
        tensors that require one). The prepared copies are dropped whenever the parameters
        change (``load_state_dict``, ``.to()``, normalisation rescaling in place): the cache is
        keyed by each weight's storage and version. A network whose parameters require
        gradients (being trained, :mod:`stylelab.networks.patchnet`) uses its parameters themselves.
        """
        dtype = torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None
        trained = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
        if trained or (not nhwc and dtype is None):  # a network being trained needs its own parameters
            return {name: (c.weight, c.bias) for name, c in self.convs.items()}
        key = (str(device), nhwc, dtype,
               tuple((c.weight.data_ptr(), c.weight._version, c.bias._version) for c in self.convs.values()))
        cache = self.__dict__.setdefault("_prepared", {})
        if key not in cache:
            cache.clear()
            fmt = torch.channels_last if nhwc else torch.contiguous_format
            with torch.no_grad():
                cache[key] = {name: (c.weight.to(dtype=dtype or c.weight.dtype, memory_format=fmt),
                                     c.bias.to(dtype=dtype or c.bias.dtype))
                              for name, c in self.convs.items()}
        return cache[key]

    def extra_repr(self) -> str:
        return f"arch={self.arch}, pooling={self.pooling}, convention={self.convention}"
