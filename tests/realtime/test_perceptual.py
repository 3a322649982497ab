"""Tests for stylelab.realtime.perceptual: Johnson et al.'s training loss in the kit's convention,
on the tiny random VGG of conftest (which has every default layer: relu4_2, relu1_1 ... relu5_1)."""

from __future__ import annotations

import pytest
import torch

from stylelab.errors import LayerError, SettingsError
from stylelab.method import losses
from stylelab.method.conventions import CALIBRATION
from stylelab.realtime.perceptual import PerceptualLoss


@pytest.fixture
def model(make_vgg):
    return make_vgg()


def test_default_layers_exist(model):
    loss = PerceptualLoss(model, torch.rand(1, 3, 32, 32))
    assert loss.content_layer == "relu4_2"
    assert tuple(loss.style_layers) == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert loss.w_l == {l: 0.2 for l in loss.style_layers}


def test_batch_loss_is_the_mean_of_single_losses(model, tiny_image):
    loss = PerceptualLoss(model, tiny_image(40, seed=9), tv_weight=0.1)
    photos = tiny_image(32, batch=3, seed=1)
    outputs = tiny_image(32, batch=3, seed=2)
    batch = loss(outputs, photos)
    singles = [loss(outputs[i:i + 1], photos[i:i + 1]) for i in range(3)]
    for k in ("content", "style", "tv", "total"):
        mean = sum(s[k] for s in singles) / 3
        torch.testing.assert_close(batch[k], mean, rtol=1e-5, atol=1e-7)
        assert batch[k] > 0


def test_output_equal_to_photo_has_no_content_term(model, tiny_image):
    loss = PerceptualLoss(model, tiny_image(32, seed=9))
    photo = tiny_image(32, batch=2, seed=1)
    terms = loss(photo.clone(), photo)
    assert float(terms["content"]) == 0.0
    assert float(loss(tiny_image(32, batch=2, seed=3), photo)["content"]) > 0


def test_style_image_itself_has_no_style_term(model, tiny_image):
    style = tiny_image(32, seed=9)
    loss = PerceptualLoss(model, style)
    other = float(loss(tiny_image(32, seed=3), style)["style"])
    assert other > 0.01
    assert float(loss(style.clone(), style)["style"]) < 1e-6 * other


def test_grams_are_per_position_and_scaled_to_the_output(model, tiny_image):
    style = tiny_image(48, seed=9)
    loss = PerceptualLoss(model, style, tv_weight=0.0)
    feats = model(style, loss.style_layers)
    for l in loss.style_layers:
        m = feats[l].shape[-1] * feats[l].shape[-2]
        torch.testing.assert_close(loss.grams[l], losses.gram(feats[l])[0] / m)
    # a 32 px output against the 48 px painting: the Gram per position times the output's M_l
    out = tiny_image(32, batch=2, seed=4)
    fo = model(out, loss.style_layers)
    expected = 0.0
    for l in loss.style_layers:
        m_out = fo[l].shape[-1] * fo[l].shape[-2]
        m_style = feats[l].shape[-1] * feats[l].shape[-2]
        assert m_out != m_style
        target = losses.gram(feats[l])[0] * (m_out / m_style)
        expected = expected + 0.2 * losses.style_layer_loss(fo[l], target, "hw") / 2
    torch.testing.assert_close(loss(out, out)["style"], expected, rtol=1e-4, atol=0)


def test_ratio_sets_beta(model, tiny_image):
    style, photo, out = tiny_image(32, seed=9), tiny_image(32, seed=1), tiny_image(32, seed=2)
    for ratio, tv_weight in ((1e-3, 1e-3), (1e-2, 0.0), (0.5, 2.0)):
        loss = PerceptualLoss(model, style, ratio=ratio, tv_weight=tv_weight)
        assert loss.beta == pytest.approx(1.0 / ratio)
        assert loss.content_weight == pytest.approx(CALIBRATION)
        t = loss(out, photo)
        expected = CALIBRATION * t["content"] + t["style"] / ratio + tv_weight * t["tv"]
        torch.testing.assert_close(t["total"], expected, rtol=1e-5, atol=0)
    # the terms themselves do not depend on the ratio
    a = PerceptualLoss(model, style, ratio=1e-3)(out, photo)
    b = PerceptualLoss(model, style, ratio=1e-1)(out, photo)
    for k in ("content", "style", "tv"):
        torch.testing.assert_close(a[k], b[k])
    assert a["total"] > b["total"]


def test_paper_convention_has_no_calibration(model, tiny_image):
    loss = PerceptualLoss(model, tiny_image(32), convention="paper")
    assert loss.content_weight == 1.0 and loss.norm == "paper"


def test_gradient_reaches_the_output_only(model, tiny_image):
    loss = PerceptualLoss(model, tiny_image(32, seed=9))
    out = tiny_image(32, seed=2).requires_grad_(True)
    loss(out, tiny_image(32, seed=1))["total"].backward()
    assert out.grad is not None and out.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_shallower_layers(model, tiny_image):
    loss = PerceptualLoss(model, tiny_image(32), content_layer="relu2_2", style_layers=("relu1_1", "relu2_1"))
    assert loss.content_layer == "relu2_2" and set(loss.grams) == {"relu1_1", "relu2_1"}
    assert float(loss(tiny_image(32, seed=1), tiny_image(32, seed=2))["total"]) > 0


@pytest.mark.parametrize("kwargs", [dict(ratio=0.0), dict(ratio=-1e-3), dict(ratio=float("nan")),
                                    dict(tv_weight=-1.0), dict(convention="nope")])
def test_invalid_settings(model, tiny_image, kwargs):
    with pytest.raises(SettingsError):
        PerceptualLoss(model, tiny_image(32), **kwargs)


def test_unknown_layer(model, tiny_image):
    with pytest.raises((LayerError, SettingsError)):
        PerceptualLoss(model, tiny_image(32), content_layer="relu9_9")
    with pytest.raises((LayerError, SettingsError)):
        PerceptualLoss(model, tiny_image(32), style_layers=("relu1_1", "nope"))
