"""Tests for stylelab.realtime.transformer: Johnson et al.'s transformation network on tiny widths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stylelab.errors import SettingsError
from stylelab.realtime import transformer

TINY = transformer.Architecture((4, 8, 8), 1, "instance")
TINY_BN = transformer.Architecture((4, 8, 8), 1, "batch")


def _net(arch=TINY, seed=0):
    torch.manual_seed(seed)
    return transformer.TransformNet(arch)


@pytest.mark.parametrize("h,w", [(37, 53), (32, 32), (5, 9), (41, 5), (8, 8)])
def test_stylise_keeps_any_size(h, w, tiny_image):
    net = _net()
    image = tiny_image(h, w)
    out = transformer.stylise(net, image)
    assert out.shape == image.shape
    padded, shape = transformer._pad4(image)
    assert shape == (h, w)
    assert padded.shape[-2] % 4 == 0 and padded.shape[-1] % 4 == 0
    assert torch.equal(padded[..., :h, :w], image)  # padded at the bottom and right only


def test_forward_keeps_multiples_of_four(tiny_image):
    x = tiny_image(36, 52)
    assert _net()(x).shape == x.shape


def test_stylise_bounds_and_restores_mode(tiny_image):
    net = _net()
    with torch.no_grad():
        net.body[-1][-1].bias.copy_(torch.tensor([30.0, -30.0, 0.0]))  # push red up, green down
        raw = net(tiny_image(32))
    assert raw.min() >= 0 and raw.max() <= 1  # the sigmoid bounds the output while training too
    for training in (True, False):
        net.train(training)
        out = transformer.stylise(net, tiny_image(32))
        assert net.training is training
        assert out.min() >= 0 and out.max() <= 1
        assert torch.all(out[:, 0] > 0.999) and torch.all(out[:, 1] < 0.001)
    assert out.device.type == "cpu" and out.dtype == torch.float32


def test_an_untrained_network_returns_its_input(tiny_image):
    x = tiny_image(37, 53)
    out = transformer.stylise(transformer.TransformNet(transformer.Architecture((4, 8, 8), 1, "instance")), x)
    assert (out - x.clamp(transformer.LOGIT_EPS, 1 - transformer.LOGIT_EPS)).abs().max() < 1e-5


def test_stylise_refuses_bad_images(tiny_image):
    net = _net()
    with pytest.raises(SettingsError):
        transformer.stylise(net, tiny_image(16)[0])
    with pytest.raises(SettingsError):
        transformer.stylise(net, torch.rand(1, 1, 16, 16))
    with pytest.raises(SettingsError):
        transformer.stylise(net, torch.rand(1, 3, 3, 16))
    with pytest.raises(SettingsError):  # 4 px: the 9x9 convolution's padding cannot reflect it
        transformer.stylise(net, torch.rand(1, 3, 16, 4))


def test_the_last_layer_starts_at_zero():
    last = _net().body[-1][-1]
    assert isinstance(last, nn.Conv2d) and not last.weight.any() and not last.bias.any()


@pytest.mark.parametrize("arch,norm_type,other", [(TINY, nn.InstanceNorm2d, nn.BatchNorm2d),
                                                  (TINY_BN, nn.BatchNorm2d, nn.InstanceNorm2d)])
def test_norm_is_built(arch, norm_type, other):
    net = _net(arch)
    norms = [m for m in net.modules() if isinstance(m, norm_type)]
    # 5 convolutions with a norm plus 2 per residual block
    assert len(norms) == 5 + 2 * arch.blocks
    assert not any(isinstance(m, other) for m in net.modules())
    if norm_type is nn.InstanceNorm2d:
        assert all(m.affine for m in norms)
    d = net.describe()
    assert d["network"] == "johnson" and d["norm"] == arch.norm and d["widths"] == (4, 8, 8)
    assert d["parameters"] == sum(p.numel() for p in net.parameters())


def test_blocks_count():
    for blocks in (0, 1, 3):
        net = _net(transformer.Architecture((4, 8, 8), blocks, "instance"))
        assert sum(isinstance(m, transformer._Residual) for m in net.modules()) == blocks


@pytest.mark.parametrize("kwargs", [
    dict(widths=(4, 8)), dict(widths=(4, 8, 8, 8)), dict(widths=(0, 8, 8)), dict(widths=(4, 8, 2000)),
    dict(widths=(4, 8.0, 8)), dict(blocks=-1), dict(blocks=33), dict(blocks=1.5), dict(norm="layer"),
    dict(norm="Instance"),
])
def test_architecture_check_refuses(kwargs):
    arch = transformer.Architecture(**{**dict(widths=(4, 8, 8), blocks=1, norm="instance"), **kwargs})
    with pytest.raises(SettingsError):
        arch.check()
    with pytest.raises(SettingsError):
        transformer.TransformNet(arch)


def test_architecture_check_accepts_presets():
    for arch in (TINY, TINY_BN, transformer.SLIM, transformer.PAPER):
        assert arch.check() is arch
    assert "residual blocks" in TINY.describe()


def _three(tiny_image):
    return tiny_image(24, seed=1), tiny_image(24, seed=2), tiny_image(24, seed=3)


def test_batch_norm_uses_running_stats_in_eval(tiny_image):
    a, b, c = _three(tiny_image)
    net = _net(TINY_BN).train()
    with torch.no_grad():  # a trained last layer (it starts at zero, which hides the body), then the running statistics
        nn.init.normal_(net.body[-1][-1].weight, std=0.5)
        for s in range(5):
            net(tiny_image(24, seed=10 + s, batch=2))
        # in training mode the batch's statistics make one image's output depend on the others
        assert not torch.allclose(net(torch.cat([a, b]))[:1], net(torch.cat([a, c]))[:1], atol=1e-4)
    alone = transformer.stylise(net, a)
    with_b = transformer.stylise(net, torch.cat([a, b]))[:1]
    with_c = transformer.stylise(net, torch.cat([a, c]))[:1]
    torch.testing.assert_close(alone, with_b, atol=1e-5, rtol=0)
    torch.testing.assert_close(alone, with_c, atol=1e-5, rtol=0)
    assert net.training  # stylise put it back


def test_instance_norm_is_per_image(tiny_image):
    a, b, c = _three(tiny_image)
    net = _net(TINY).train()
    with torch.no_grad():
        alone = net(a)
        torch.testing.assert_close(net(torch.cat([a, b]))[:1], alone, atol=1e-5, rtol=0)
        torch.testing.assert_close(net(torch.cat([a, c]))[:1], alone, atol=1e-5, rtol=0)
        # and the image matters: a different one gives a different output
        assert not torch.allclose(net(b), alone, atol=1e-3)
