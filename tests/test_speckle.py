"""Tests of stylelab.metrics.speckle, the fraction of an image covered by rainbow speckle:
colour noise with random hues scores high; smooth images, fine textures along one hue
axis (grey or two-colour stripes) and colour noise too faint to see score low. No
weights or sample images needed."""

from __future__ import annotations

import math
import time

import pytest
import torch

from stylelab import metrics
from stylelab.errors import ImageError


def _gradient(size: int) -> torch.Tensor:
    """A smooth colour gradient, (1, 3, size, size) in [0, 1]."""
    t = torch.linspace(0, 1, size)
    h, v = t[None, :].expand(size, size), t[:, None].expand(size, size)
    return torch.stack([h, v, 0.5 + 0.3 * h * v])[None]


def _salt_and_pepper(x: torch.Tensor, amount: float, seed: int = 0) -> torch.Tensor:
    """``x`` with a fraction ``amount`` of its pixels replaced by random colours."""
    g = torch.Generator().manual_seed(seed)
    hit = (torch.rand(1, 1, *x.shape[-2:], generator=g) < amount).float()
    return x * (1 - hit) + torch.rand(x.shape, generator=g) * hit


def _stripes(size: int, period: float, colours: bool = False, angle: float = 0.5) -> torch.Tensor:
    """Oriented sinusoidal stripes of ``period`` px: grey, or mixing two colours."""
    y, x = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    s = 0.5 + 0.4 * torch.sin(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period)
    if not colours:
        return s.expand(1, 3, size, size).clone()
    a = torch.tensor([0.9, 0.7, 0.1])[:, None, None]
    b = torch.tensor([0.1, 0.2, 0.7])[:, None, None]
    return (a * s + b * (1 - s))[None]


def test_colour_noise_scores_far_higher_than_the_smooth_image():
    clean = metrics.speckle(_gradient(128))
    noisy = metrics.speckle(_salt_and_pepper(_gradient(128), 0.1))
    assert clean < 0.01
    assert noisy > 0.2
    assert noisy > 20 * clean


def test_dense_colour_noise_is_near_one():
    g = torch.Generator().manual_seed(1)
    assert metrics.speckle(torch.rand(1, 3, 128, 128, generator=g)) > 0.7


@pytest.mark.parametrize("period", [2.0, 3.0, 4.0])
@pytest.mark.parametrize("colours", [False, True])
def test_fine_stripes_of_one_hue_axis_score_low(period, colours):
    """Grey stripes, or stripes mixing two colours, at 2-4 px: texture, not speckle."""
    assert metrics.speckle(_stripes(128, period, colours)) < 0.02


def test_stripes_plus_noise_score_higher_than_stripes():
    stripes = _stripes(128, 3.0, colours=True)
    assert metrics.speckle(_salt_and_pepper(stripes, 0.1)) > 10 * max(metrics.speckle(stripes), 1e-3)


def test_monotone_in_the_amount_of_noise():
    values = [metrics.speckle(_salt_and_pepper(_gradient(128), a)) for a in (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)]
    assert values == sorted(values)
    assert values[-1] > 5 * values[1]


def test_monotone_in_the_strength_of_gaussian_colour_noise():
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(1, 3, 128, 128, generator=g)
    values = [metrics.speckle((_gradient(128) + s * noise).clamp(0, 1)) for s in (0.0, 0.005, 0.01, 0.03, 0.1)]
    assert values == sorted(values)
    assert values[0] < 0.01 and values[-1] > 0.5


def test_colour_noise_too_faint_to_see_does_not_count():
    g = torch.Generator().manual_seed(3)
    faint = (_gradient(128) + 0.5 / 255 * torch.randn(1, 3, 128, 128, generator=g)).clamp(0, 1)
    assert metrics.speckle(faint) == 0.0


def test_same_pattern_at_128_and_256_px_scores_alike():
    for amount in (0.03, 0.1, 0.3):
        a = metrics.speckle(_salt_and_pepper(_gradient(128), amount))
        b = metrics.speckle(_salt_and_pepper(_gradient(256), amount))
        assert 1 / 1.5 < a / b < 1.5


def test_range_shapes_and_determinism():
    x = _salt_and_pepper(_gradient(64), 0.2)
    v = metrics.speckle(x)
    assert 0.0 <= v <= 1.0
    assert metrics.speckle(x[0]) == v  # (3, H, W) too
    assert metrics.speckle(x.clone()) == v
    assert metrics.speckle(x.double()) == pytest.approx(v, rel=1e-5)
    assert 0.0 <= metrics.speckle(torch.rand(1, 3, 2, 2)) <= 1.0


@pytest.mark.parametrize("shape", [(1, 1, 16, 16), (1, 4, 16, 16), (2, 3, 16, 16), (16, 16), (1, 3, 1, 16)])
def test_bad_shapes_raise_image_error(shape):
    with pytest.raises(ImageError):
        metrics.speckle(torch.zeros(shape))


def test_fast_at_512_px():
    x = torch.rand(1, 3, 512, 512)
    metrics.speckle(x)
    t = time.perf_counter()
    metrics.speckle(x)
    assert time.perf_counter() - t < 0.5  # about 30 ms on one laptop core; generous for loaded CI machines
