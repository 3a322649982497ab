"""Arbitrary style transfer in one forward pass: adaptive instance normalisation (AdaIN; Huang &
Belongie, *Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization*, ICCV 2017).

The encoder f is the kit's VGG up to relu4_1 (fixed). AdaIN (Eq. 8) gives the photograph's
responses x the painting's per-channel mean and standard deviation y:

    AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y),

the statistics of :func:`stylelab.method.statistics.mean_std` (lesson 15: matching them makes a
texture too). A decoder g, trained once, maps t = AdaIN(f(c), f(s)) back to an image (Eq. 9):
T(c, s) = g(t). The content-style trade-off (Eq. 14) and the interpolation between styles
(Eq. 15) act on t alone:

    t = alpha * sum_k w_k AdaIN(f(c), f(s_k)) + (1 - alpha) f(c).

The decoder mirrors the encoder (Huang & Belongie's Sec. 6.1): nearest-neighbour upsampling in
place of pooling, reflection padding, no normalisation. :data:`PAPER` has the encoder's widths
(512 -> 256 -> 128 -> 64); :data:`SLIM` a quarter of them after the first convolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SettingsError
from ..method.statistics import mean_std

#: The encoder's last layer (Huang & Belongie: relu4_1 of VGG-19).
ENCODER_LAYER = "relu4_1"
#: The layers of the style loss (Eq. 11).
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


@dataclass(frozen=True)
class Architecture:
    """The decoder's widths after its first convolution (block 4 -> 3 -> 2 -> 1) and the
    number of 3x3 convolutions in its widest block (the encoder's block 3 has four in VGG-19)."""

    widths: tuple[int, int, int] = (256, 128, 64)
    repeats: int = 4

    def check(self) -> "Architecture":
        if len(self.widths) != 3 or not all(isinstance(w, int) and 1 <= w <= 1024 for w in self.widths):
            raise SettingsError(f"widths must be three channel counts between 1 and 1024, got {self.widths!r}")
        if not (isinstance(self.repeats, int) and 1 <= self.repeats <= 8):
            raise SettingsError(f"repeats must be from 1 to 8, got {self.repeats!r}")
        return self

    def describe(self) -> str:
        return f"decoder widths {'/'.join(map(str, self.widths))}, {self.repeats} convolutions in block 3"


#: Huang & Belongie's decoder (the mirror of VGG-19 up to relu4_1).
PAPER = Architecture((256, 128, 64), 4)
#: The student decoder: a quarter of the widths, two convolutions in block 3.
SLIM = Architecture((64, 32, 16), 2)


def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)] + ([nn.ReLU(inplace=True)] if relu else [])


class Decoder(nn.Module):
    """g: relu4_1 responses (B, 512, H/8, W/8) -> RGB image (B, 3, H, W) (not clamped while training)."""

    def __init__(self, architecture: Architecture = SLIM, in_channels: int = 512):
        super().__init__()
        a = architecture.check()
        self.architecture = a
        self.in_channels = in_channels
        w3, w2, w1 = a.widths
        up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
        layers = _conv(in_channels, w3) + [up()]
        for _ in range(a.repeats - 1):
            layers += _conv(w3, w3)
        layers += _conv(w3, w2) + [up()] + _conv(w2, w2) + _conv(w2, w1) + [up()] + _conv(w1, w1) + _conv(w1, 3, False)
        self.body = nn.Sequential(*layers)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.body(t)

    def describe(self) -> dict:
        return {"network": "adain", **asdict(self.architecture), "in_channels": self.in_channels,
                "parameters": sum(p.numel() for p in self.parameters())}


def adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``content`` (B, N, H, W) with each channel's mean and standard deviation replaced by
    ``style``'s (B or 1, N, H', W'), computed over positions (:func:`~stylelab.method.statistics.mean_std`)."""
    if content.shape[1] != style.shape[1]:
        raise SettingsError(f"content has {content.shape[1]} channels, the style {style.shape[1]}")
    mu_c, sigma_c = mean_std(content)
    mu_s, sigma_s = mean_std(style)
    return sigma_s[..., None, None] * (content - mu_c[..., None, None]) / sigma_c[..., None, None] + mu_s[..., None, None]


def mix(content: torch.Tensor, styles: Sequence[torch.Tensor], weights: Sequence[float] | None = None,
        alpha: float = 1.0) -> torch.Tensor:
    """Eqs. 14-15: t = alpha sum_k w_k AdaIN(f(c), f(s_k)) + (1 - alpha) f(c) for encoder responses
    ``content`` and ``styles``; ``weights`` default to equal and must sum to 1."""
    if not styles:
        raise SettingsError("give at least one style")
    if weights is None:
        weights = [1.0 / len(styles)] * len(styles)
    weights = [float(w) for w in weights]
    if len(weights) != len(styles):
        raise SettingsError(f"{len(weights)} weights for {len(styles)} styles")
    if any(w < 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
        raise SettingsError(f"the style weights must be >= 0 and sum to 1, got {weights}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise SettingsError(f"alpha must be between 0 and 1, got {alpha}")
    t = sum(w * adain(content, s) for w, s in zip(weights, styles) if w)
    return float(alpha) * t + (1.0 - float(alpha)) * content


def encode(encoder: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """f(image): the encoder's relu4_1 responses (float32)."""
    return encoder(image, [ENCODER_LAYER])[ENCODER_LAYER].float().contiguous()


def pad8(image: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """``image`` reflection-padded at the bottom and right to a multiple of 8 (the encoder's three
    poolings), and its own (H, W) to crop the decoded image back to."""
    h, w = image.shape[-2:]
    ph, pw = (-h) % 8, (-w) % 8
    if ph or pw:
        image = F.pad(image, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
    return image, (h, w)


@torch.no_grad()
def decode(decoder: nn.Module, t: torch.Tensor, shape: tuple[int, int] | None = None) -> torch.Tensor:
    """g(t) clamped to [0, 1] on the CPU, cropped to ``shape`` (H, W) if given."""
    decoder.eval()
    dev = next(decoder.parameters()).device
    y = decoder(t.to(dev)).float().clamp(0, 1).cpu()
    return y if shape is None else y[..., : shape[0], : shape[1]]


@torch.no_grad()
def stylise(encoder: nn.Module, decoder: nn.Module, content: torch.Tensor, styles: torch.Tensor | Sequence[torch.Tensor],
            weights: Sequence[float] | None = None, alpha: float = 1.0) -> torch.Tensor:
    """T(c, s) = g(t) (Eq. 9, with Eqs. 14-15's alpha and style weights): ``content`` (1, 3, H, W)
    in the style of one or several paintings (each its own size), in [0, 1]. Sides that are not a
    multiple of 8 are reflection-padded for the encoder and cropped back."""
    if isinstance(styles, torch.Tensor):
        styles = [styles]
    dev = next(decoder.parameters()).device
    x, shape = pad8(content.to(dev))
    fc = encode(encoder, x)
    fs = [encode(encoder, s.to(dev)) for s in styles]
    return decode(decoder, mix(fc, fs, weights, alpha), shape)


def loss(encoder: nn.Module, decoder: nn.Module, content: torch.Tensor, style: torch.Tensor,
         style_weight: float = 10.0, precision=None) -> dict[str, torch.Tensor]:
    """Eqs. 10-12 for a batch of photographs and paintings (B, 3, H, W) in [0, 1], paired:
    L = L_c + lambda L_s with L_c = ||f(g(t)) - t||^2 (the target is t, the AdaIN output, not the
    photograph's responses) and L_s = sum over relu1_1 ... relu4_1 of ||mu(phi(g(t))) - mu(phi(s))||^2
    + ||sigma(phi(g(t))) - sigma(phi(s))||^2, as mean squared errors (the authors' code), lambda = 10."""
    if not style_weight > 0:
        raise SettingsError(f"the style weight lambda must be > 0, got {style_weight}")
    dev = content.device

    def feats(x, layers):
        if precision is not None and precision.dtype is not None:
            with precision.autocast(dev):
                return encoder(x, layers)
        return encoder(x, layers)

    with torch.no_grad():
        fc = feats(content, [ENCODER_LAYER])[ENCODER_LAYER].float()
        fs = {k: v.float() for k, v in feats(style, list(STYLE_LAYERS)).items()}
        t = adain(fc, fs[ENCODER_LAYER])
    out = decoder(t)
    fo = {k: v.float() for k, v in feats(out, list(STYLE_LAYERS)).items()}
    content_term = F.mse_loss(fo[ENCODER_LAYER], t)
    style_term = content_term.new_zeros(())
    for l in STYLE_LAYERS:
        mu_o, sd_o = mean_std(fo[l])
        mu_s, sd_s = mean_std(fs[l])
        style_term = style_term + F.mse_loss(mu_o, mu_s) + F.mse_loss(sd_o, sd_s)
    return {"content": content_term, "style": style_term, "total": content_term + float(style_weight) * style_term}

