"""Tests for stylelab.realtime.adain: AdaIN (Eq. 8), mix (Eqs. 14-15), the decoder, the loss
(Eqs. 10-12) and stylise, on the tiny random VGG of conftest."""

from __future__ import annotations

import pytest
import torch

from stylelab.errors import SettingsError
from stylelab.method.statistics import mean_std
from stylelab.realtime import adain

ARCH = adain.Architecture((8, 8, 8), 1)


def _channels(model) -> int:
    return model.layers[model._pos[adain.ENCODER_LAYER]].channels


def _decoder(model, seed=0):
    torch.manual_seed(seed)
    return adain.Decoder(ARCH, in_channels=_channels(model))


def _feats(shape, mean, std, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * std + mean


def test_adain_gives_the_style_statistics():
    x = _feats((2, 6, 5, 7), 0.3, 2.0, 0) * torch.linspace(0.5, 3, 6).view(1, 6, 1, 1)
    y = _feats((2, 6, 9, 4), -1.0, 0.5, 1) * torch.linspace(3, 0.2, 6).view(1, 6, 1, 1) + 4.0
    t = adain.adain(x, y)
    assert t.shape == x.shape
    mu_t, sd_t = mean_std(t)
    mu_y, sd_y = mean_std(y)
    torch.testing.assert_close(mu_t, mu_y, atol=1e-4, rtol=0)
    torch.testing.assert_close(sd_t, sd_y, atol=1e-4, rtol=0)
    # x's pattern, normalised
    mu_x, sd_x = mean_std(x)
    torch.testing.assert_close((t - mu_t[..., None, None]) / sd_t[..., None, None],
                               (x - mu_x[..., None, None]) / sd_x[..., None, None], atol=1e-3, rtol=1e-3)


def test_adain_broadcasts_one_style_over_a_batch():
    x = _feats((3, 4, 6, 6), 0.0, 1.0, 0)
    y = _feats((1, 4, 5, 5), 2.0, 3.0, 1)
    mu_t, sd_t = mean_std(adain.adain(x, y))
    mu_y, sd_y = mean_std(y)
    torch.testing.assert_close(mu_t, mu_y.expand(3, 4), atol=1e-4, rtol=0)
    torch.testing.assert_close(sd_t, sd_y.expand(3, 4), atol=1e-4, rtol=0)


def test_adain_refuses_channel_mismatch():
    with pytest.raises(SettingsError):
        adain.adain(torch.rand(1, 4, 5, 5), torch.rand(1, 5, 5, 5))


def test_mix():
    c = _feats((1, 4, 6, 6), 0.0, 1.0, 0)
    s1, s2 = _feats((1, 4, 5, 5), 2.0, 3.0, 1), _feats((1, 4, 7, 3), -1.0, 0.2, 2)
    torch.testing.assert_close(adain.mix(c, [s1, s2], [0.4, 0.6], alpha=0.0), c)
    torch.testing.assert_close(adain.mix(c, [s1]), adain.adain(c, s1))
    torch.testing.assert_close(adain.mix(c, [s1, s2], [1.0, 0.0]), adain.adain(c, s1))
    torch.testing.assert_close(adain.mix(c, [s1, s2], [0.3, 0.7]),
                               0.3 * adain.adain(c, s1) + 0.7 * adain.adain(c, s2))
    torch.testing.assert_close(adain.mix(c, [s1, s2]), 0.5 * adain.adain(c, s1) + 0.5 * adain.adain(c, s2))
    torch.testing.assert_close(adain.mix(c, [s1], alpha=0.25), 0.25 * adain.adain(c, s1) + 0.75 * c)


@pytest.mark.parametrize("styles,weights,alpha", [
    ([], None, 1.0), (["a", "b"], [0.5, 0.6], 1.0), (["a", "b"], [0.5], 1.0), (["a", "b"], [1.5, -0.5], 1.0),
    (["a"], [1.0], 1.5), (["a"], [1.0], -0.1), (["a"], [0.9], 1.0),
])
def test_mix_refuses(styles, weights, alpha):
    c = _feats((1, 4, 6, 6), 0.0, 1.0, 0)
    feats = {"a": _feats((1, 4, 5, 5), 1.0, 1.0, 1), "b": _feats((1, 4, 5, 5), 2.0, 1.0, 2)}
    with pytest.raises(SettingsError):
        adain.mix(c, [feats[s] for s in styles], weights, alpha)


@pytest.mark.parametrize("kwargs", [dict(widths=(8, 8)), dict(widths=(8, 0, 8)), dict(widths=(8, 8, 8.5)),
                                    dict(repeats=0), dict(repeats=9)])
def test_architecture_check_refuses(kwargs):
    arch = adain.Architecture(**{**dict(widths=(8, 8, 8), repeats=1), **kwargs})
    with pytest.raises(SettingsError):
        adain.Decoder(arch, 16)


def test_decoder_upsamples_eight_times(make_vgg):
    model = make_vgg()
    dec = _decoder(model)
    assert dec.describe()["in_channels"] == _channels(model) == 16
    t = torch.rand(2, 16, 3, 5)
    assert dec(t).shape == (2, 3, 24, 40)
    assert dec.describe()["parameters"] == sum(p.numel() for p in dec.parameters())


@pytest.mark.parametrize("h,w", [(37, 45), (32, 40), (29, 30)])
def test_stylise_any_size(make_vgg, tiny_image, h, w):
    model = make_vgg()
    dec = _decoder(model)
    out = adain.stylise(model, dec, tiny_image(h, w), tiny_image(27, 35, seed=1))
    assert out.shape == (1, 3, h, w)
    assert out.min() >= 0 and out.max() <= 1
    two = adain.stylise(model, dec, tiny_image(h, w), [tiny_image(27, 35, seed=1), tiny_image(40, seed=2)],
                        weights=[0.5, 0.5], alpha=0.5)
    assert two.shape == (1, 3, h, w)
    assert not torch.allclose(two, out)


def test_stylise_alpha_zero_decodes_the_photograph(make_vgg, tiny_image):
    model = make_vgg()
    dec = _decoder(model)
    photo = tiny_image(32)
    out = adain.stylise(model, dec, photo, tiny_image(32, seed=1), alpha=0.0)
    expected = adain.decode(dec, adain.encode(model, photo))
    torch.testing.assert_close(out, expected)


def test_stylise_refuses_bad_weights(make_vgg, tiny_image):
    model = make_vgg()
    with pytest.raises(SettingsError):
        adain.stylise(model, _decoder(model), tiny_image(32), [tiny_image(32, seed=1)], weights=[0.5])


def test_loss_terms_and_training(make_vgg, tiny_image):
    model = make_vgg()
    dec = _decoder(model)
    content, style = tiny_image(32, batch=2, seed=1), tiny_image(32, batch=2, seed=2)
    terms = adain.loss(model, dec, content, style)
    assert set(terms) == {"content", "style", "total"}
    torch.testing.assert_close(terms["total"], terms["content"] + 10.0 * terms["style"])
    t2 = adain.loss(model, dec, content, style, style_weight=2.0)
    torch.testing.assert_close(t2["total"], t2["content"] + 2.0 * t2["style"])
    opt = torch.optim.Adam(dec.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        opt.zero_grad()
        total = adain.loss(model, dec, content, style)["total"]
        first = float(total.detach()) if first is None else first
        total.backward()
        opt.step()
    with torch.no_grad():
        last = float(adain.loss(model, dec, content, style)["total"])
    assert last < 0.8 * first


def test_loss_gradient_reaches_only_the_decoder(make_vgg, tiny_image):
    model = make_vgg()
    dec = _decoder(model)
    adain.loss(model, dec, tiny_image(32, batch=2), tiny_image(32, batch=2, seed=1))["total"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in dec.parameters())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("weight", [0.0, -1.0])
def test_loss_refuses_bad_style_weight(make_vgg, tiny_image, weight):
    model = make_vgg()
    with pytest.raises(SettingsError):
        adain.loss(model, _decoder(model), tiny_image(32), tiny_image(32, seed=1), style_weight=weight)
