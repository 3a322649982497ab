"""Tests for the colour metrics of lesson 09: chroma_distance and luminance_style_distance."""

from __future__ import annotations

import pytest
import torch

from stylelab import colour, metrics
from stylelab.errors import SettingsError


def _rgb(*values, h=4, w=6):
    return torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, h, w).clone()


def test_chroma_distance_ignores_brightness_and_measures_colour():
    grey_dark, grey_light = _rgb(0.2, 0.2, 0.2), _rgb(0.9, 0.9, 0.9)
    red = _rgb(1.0, 0.0, 0.0)
    assert metrics.chroma_distance(grey_dark, grey_light) == pytest.approx(0.0, abs=1e-6)
    assert metrics.chroma_distance(grey_dark, red) == pytest.approx((0.5959 ** 2 + 0.2115 ** 2) ** 0.5, rel=1e-4)
    # the same chroma with another luminance (what a luminance-only transfer produces) is 0
    g = torch.Generator().manual_seed(0)
    photo = 0.3 + 0.4 * torch.rand(1, 3, 8, 8, generator=g)
    y = colour.luminance(torch.rand(1, 3, 8, 8, generator=g)) * 0.2 + 0.4
    assert metrics.chroma_distance(colour.combine(y, photo), photo) < 1e-5
    assert metrics.chroma_distance(photo, red[..., :8, :6]) > 0.3
    # symmetric, and b is resized to a's size
    a, b = torch.rand(1, 3, 8, 8, generator=g), torch.rand(1, 3, 8, 8, generator=g)
    assert metrics.chroma_distance(a, b) == pytest.approx(metrics.chroma_distance(b, a))
    assert metrics.chroma_distance(red, _rgb(1.0, 0.0, 0.0, h=16, w=24)) == pytest.approx(0.0, abs=1e-6)


def test_chroma_distance_with_cells_compares_the_colour_layout():
    g = torch.Generator().manual_seed(1)
    # left half blue, right half orange, with independent colour noise on top
    layout = torch.cat([_rgb(0.2, 0.3, 0.8, h=16, w=16), _rgb(0.9, 0.5, 0.1, h=16, w=16)], dim=-1)
    a = (layout + 0.2 * torch.randn(1, 3, 16, 32, generator=g)).clamp(0, 1)
    b = (layout + 0.2 * torch.randn(1, 3, 16, 32, generator=g)).clamp(0, 1)
    swapped = layout.flip(-1)
    per_pixel, coarse = metrics.chroma_distance(a, b), metrics.chroma_distance(a, b, cells=4)
    assert coarse < 0.3 * per_pixel  # the noise averages out, the layout is the same
    assert metrics.chroma_distance(a, swapped, cells=4) > 5 * coarse  # another layout
    for bad in (0, 2.5, True, "4"):
        with pytest.raises(SettingsError, match="cells"):
            metrics.chroma_distance(a, b, cells=bad)


def test_luminance_style_distance_ignores_colour(make_vgg):
    model = make_vgg()
    g = torch.Generator().manual_seed(2)
    texture = torch.rand(1, 3, 32, 32, generator=g)
    y = colour.luminance(texture)
    # the same luminance in two colourings: no luminance-style difference at all
    # (mild tints: the combination stays inside the RGB cube, nothing is clamped)
    tinted = colour.combine(y * 0.4 + 0.3, _rgb(0.6, 0.45, 0.4, h=32, w=32))
    tinted2 = colour.combine(y * 0.4 + 0.3, _rgb(0.4, 0.5, 0.6, h=32, w=32))
    assert 0 < tinted.min() and tinted.max() < 1 and 0 < tinted2.min() and tinted2.max() < 1
    assert metrics.luminance_style_distance(model, tinted, tinted2) < 1e-3
    assert metrics.style_distance(model, tinted, tinted2) > 0.01  # while the RGB Grams differ
    # a smooth image has another luminance texture than the noise
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32).contiguous()
    assert metrics.luminance_style_distance(model, smooth, tinted) > 0.1
