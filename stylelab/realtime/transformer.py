"""The image transformation network of Johnson, Alahi & Fei-Fei, *Perceptual Losses for Real-Time
Style Transfer and Super-Resolution* (ECCV 2016, supplementary Table 1), with Ulyanov, Vedaldi &
Lempitsky's instance normalisation (*Instance Normalization: The Missing Ingredient for Fast
Stylization*, 2016) or the original batch normalisation.

One forward pass turns a photograph into its stylised version::

    x -> conv 9x9 (w1) -> conv 3x3 /2 (w2) -> conv 3x3 /2 (w3) -> residual blocks (w3) x R
      -> upsample x2, conv 3x3 (w2) -> upsample x2, conv 3x3 (w1) -> conv 9x9 (3) -> y

each convolution but the last followed by a normalisation and a ReLU. Johnson et al. use widths
(w1, w2, w3) = (32, 64, 128), R = 5 residual blocks and fractionally-strided convolutions to
upsample; here upsampling is nearest-neighbour followed by a convolution (Odena et al. 2016,
"Deconvolution and Checkerboard Artifacts"), the usual replacement, and padding is by
reflection (Johnson's own later code, fast-neural-style). The network is fully convolutional:
trained on small crops, it runs on an image of any size (padded to a multiple of 4 and cropped
back by :func:`stylise`). The output: Johnson et al. bound it with a scaled tanh; here the
network predicts a change to the photograph in logit space and bounds the sum with a sigmoid,

    y = sigmoid(logit(x) + f(x)),

with the last convolution started at zero, so an untrained network returns the photograph
exactly and a short training on a CPU spends its steps on the style. An unbounded output,
clamped only when it is shown, is what a short training learns to abuse: pixels far outside
[0, 1] lower the style loss and are clipped away afterwards.

:data:`PAPER` is the paper's network; :data:`SLIM` a quarter of its width-squared cost with three
residual blocks, which a 2-core CPU trains in minutes (lesson 16).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SettingsError

#: The normalisation after each convolution: Ulyanov et al.'s per-image ``"instance"`` or Johnson
#: et al.'s original ``"batch"``.
NORMS = ("instance", "batch")


@dataclass(frozen=True)
class Architecture:
    """The widths (w1, w2, w3), the number of residual blocks and the normalisation."""

    widths: tuple[int, int, int] = (32, 64, 128)
    blocks: int = 5
    norm: str = "instance"

    def check(self) -> "Architecture":
        if len(self.widths) != 3 or not all(isinstance(w, int) and 1 <= w <= 1024 for w in self.widths):
            raise SettingsError(f"widths must be three channel counts between 1 and 1024, got {self.widths!r}")
        if not (isinstance(self.blocks, int) and 0 <= self.blocks <= 32):
            raise SettingsError(f"blocks must be a number of residual blocks from 0 to 32, got {self.blocks!r}")
        if self.norm not in NORMS:
            raise SettingsError(f"unknown normalisation {self.norm!r}; choose one of {NORMS}")
        return self

    def describe(self) -> str:
        return f"widths {'/'.join(map(str, self.widths))}, {self.blocks} residual blocks, {self.norm} norm"


#: Johnson et al.'s network (supplementary Table 1), with instance normalisation (Ulyanov et al.).
PAPER = Architecture((32, 64, 128), 5, "instance")
#: The student network: half the widths, three residual blocks (about 1/4 of the paper's cost per pixel).
SLIM = Architecture((16, 32, 64), 3, "instance")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.BatchNorm2d(channels)


class _Conv(nn.Sequential):
    """Reflection padding, a convolution, and (unless ``last``) the normalisation and a ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: str = "instance",
                 upsample: bool = False, last: bool = False):
        layers: list[nn.Module] = []
        if upsample:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if not last:
            layers += [_norm(norm, cout), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class _Residual(nn.Module):
    """Johnson et al.'s residual block: x + (conv, norm, ReLU, conv, norm)(x) (He et al. 2016)."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(norm, channels),
                                  nn.ReLU(inplace=True), nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
                                  _norm(norm, channels))

    def forward(self, x):
        return x + self.body(x)


#: Pixels are kept this far inside (0, 1) before the logit (1/255 of a level: invisible).
LOGIT_EPS = 1e-3


class TransformNet(nn.Module):
    """f_W: photograph -> stylised image, RGB in [0, 1] in and out (bounded by a sigmoid)."""

    def __init__(self, architecture: Architecture = SLIM):
        super().__init__()
        a = architecture.check()
        self.architecture = a
        w1, w2, w3 = a.widths
        self.body = nn.Sequential(
            _Conv(3, w1, 9, norm=a.norm), _Conv(w1, w2, 3, 2, norm=a.norm), _Conv(w2, w3, 3, 2, norm=a.norm),
            *[_Residual(w3, a.norm) for _ in range(a.blocks)],
            _Conv(w3, w2, 3, norm=a.norm, upsample=True), _Conv(w2, w1, 3, norm=a.norm, upsample=True),
            _Conv(w1, 3, 9, last=True))
        last = self.body[-1][-1]
        nn.init.zeros_(last.weight)  # untrained: y = x exactly
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the photograph's pixels are the starting point: predicting the change is easier to learn
        return torch.sigmoid(torch.logit(x.clamp(LOGIT_EPS, 1 - LOGIT_EPS)) + self.body(x))

    def describe(self) -> dict:
        return {"network": "johnson", **asdict(self.architecture),
                "parameters": sum(p.numel() for p in self.parameters())}


def _pad4(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """``x`` reflection-padded at the bottom and right to a multiple of 4 (two stride-2 convolutions)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
    return x, (h, w)


@torch.no_grad()
def stylise(net: nn.Module, image: torch.Tensor, precision=None) -> torch.Tensor:
    """The stylised ``image`` (1 or B, 3, H, W) in [0, 1]: one forward pass of a trained network in
    eval mode (batch normalisation then uses its running statistics), any size, clamped.
    ``precision``: a :class:`stylelab.networks.precision.Precision` (autocast), None: float32."""
    if image.dim() != 4 or image.shape[1] != 3:
        raise SettingsError(f"expected an image tensor of shape (B, 3, H, W), got {tuple(image.shape)}")
    if min(image.shape[-2:]) < 5:  # the 9x9 convolution's reflection padding needs more than 4 px
        raise SettingsError(f"the image is too small ({image.shape[-1]}x{image.shape[-2]} px); at least 5 px a side")
    was_training = net.training
    net.eval()
    dev = next(net.parameters()).device
    x, (h, w) = _pad4(image.to(dev, torch.float32))
    try:
        if precision is not None and precision.dtype is not None:
            with precision.autocast(dev):
                y = net(x)
        else:
            y = net(x)
    finally:
        net.train(was_training)
    return y[..., :h, :w].float().clamp(0, 1).cpu()
