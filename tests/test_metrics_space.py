"""The spatial-control metrics of lesson 10 (stylelab.metrics): style distance inside a
region, and the seam ratio at a region border."""

from __future__ import annotations

import pytest
import torch

from stylelab import metrics
from stylelab.errors import SettingsError

LAYERS = ["relu1_1", "relu2_1", "relu3_1"]


def _left(h=32, w=32):
    m = torch.zeros(h, w)
    m[:, : w // 2] = 1
    return m


def test_masked_style_distance_of_ones_is_the_plain_one(make_vgg, tiny_image):
    model = make_vgg()
    a, b = tiny_image(32, seed=0), tiny_image(32, seed=1)
    plain = metrics.style_distances(model, a, b, LAYERS)
    masked = metrics.masked_style_distances(model, a, torch.ones(32, 32), b, layers=LAYERS)
    assert masked.keys() == plain.keys()
    for l in LAYERS:
        assert masked[l] == pytest.approx(plain[l], rel=1e-4)


def test_masked_style_distance_looks_only_inside(make_vgg, tiny_image):
    """Left half of the image is the reference's texture, right half another: inside the left
    half the distance to the reference is small, inside the right half it is not."""
    model = make_vgg()
    ref, other = tiny_image(32, seed=3), tiny_image(32, seed=4) * 0.3
    img = torch.cat([ref[..., :16], other[..., 16:]], dim=-1)
    left, right = _left(), 1 - _left()
    ref_left = _left()  # the same half of the reference
    d_in = metrics.masked_style_distance(model, img, left, ref, ref_left, layers=["relu1_1"])
    d_out = metrics.masked_style_distance(model, img, right, ref, ref_left, layers=["relu1_1"])
    assert d_in < 0.2 < d_out


def test_seam_ratio_sees_a_seam_and_not_a_smooth_image():
    g = torch.Generator().manual_seed(0)
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32).contiguous()
    assert metrics.seam_ratio(smooth, _left()) == pytest.approx(1.0, abs=0.05)
    noise = torch.rand(1, 3, 32, 32, generator=g)
    assert 0.7 < metrics.seam_ratio(noise, _left()) < 1.3  # texture everywhere: no seam
    seam = torch.full((1, 3, 32, 32), 0.2) + 0.02 * torch.rand(1, 3, 32, 32, generator=g)
    seam[..., 16:] += 0.6  # a hard step at the border
    assert metrics.seam_ratio(seam, _left()) > 5


def test_boundary_band_and_errors():
    band = metrics.boundary_band(_left(8, 8))
    assert band[:, 3:5].all() and not band[:, :3].any() and not band[:, 5:].any()
    assert metrics.boundary_band(_left(8, 8), width=2)[:, 2:6].all()
    with pytest.raises(SettingsError, match="no border"):
        metrics.seam_ratio(torch.rand(1, 3, 8, 8), torch.ones(8, 8))
    with pytest.raises(SettingsError, match="differ in size"):
        metrics.seam_ratio(torch.rand(1, 3, 8, 8), _left(8, 10))
    with pytest.raises(SettingsError, match="width"):
        metrics.boundary_band(_left(8, 8), width=0)


def test_gradient_magnitude():
    ramp = torch.linspace(0, 1, 11).view(1, 1, 1, 11).expand(1, 3, 5, 11)
    g = metrics.gradient_magnitude(ramp)
    assert g.shape == (5, 11)
    assert torch.allclose(g[:, 1:-1], torch.full((5, 9), 0.1 * 3 ** 0.5), atol=1e-5)
