"""Tests for stylelab.method.losses: the paper's equations against explicit computations,
the other normalisations against the tutorials' code, and gradients by gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from stylelab import losses
from stylelab.errors import SettingsError
from stylelab.method.objective import Objective
from stylelab.method.conventions import layer_weights
from stylelab.method.targets import make_targets


def _feats(rng, b=1, n=3, h=4, w=5, dtype=torch.float64):
    return torch.randn(b, n, h, w, generator=rng, dtype=dtype)


# --------------------------------------------------------------------------------------
# Gram matrix (Eq. 3)


def test_gram_against_explicit_loop(rng):
    f = _feats(rng, b=2, n=3, h=4, w=5)
    g = losses.gram(f)
    assert g.shape == (2, 3, 3)
    v = f.tolist()
    for b in range(2):
        for i in range(3):
            for j in range(3):
                expected = sum(v[b][i][y][x] * v[b][j][y][x] for y in range(4) for x in range(5))
                assert math.isclose(float(g[b, i, j]), expected, rel_tol=1e-12, abs_tol=1e-12)
    torch.testing.assert_close(g, g.transpose(1, 2))  # symmetric


def test_gram_is_not_normalised(rng):
    f = torch.ones(1, 2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(losses.gram(f), torch.full((1, 2, 2), 9.0, dtype=torch.float64))
    assert losses.flatten(_feats(rng)).shape == (1, 3, 20)


# --------------------------------------------------------------------------------------
# Content (Eq. 1) and style (Eq. 4, 5)


def test_content_loss_is_half_the_sum_of_squares(rng):
    f, p = _feats(rng), _feats(rng)
    expected = 0.5 * sum(float(a - b) ** 2 for a, b in zip(f.flatten(), p.flatten()))
    assert math.isclose(float(losses.content_loss(f, p)), expected, rel_tol=1e-12)
    assert float(losses.content_loss(f, f)) == 0.0


def test_content_loss_shape_mismatch(rng):
    with pytest.raises(SettingsError):
        losses.content_loss(_feats(rng, h=4), _feats(rng, h=5))


def test_style_layer_loss_formula(rng):
    f = _feats(rng, n=3, h=4, w=5)
    a = losses.gram(_feats(rng, n=3, h=4, w=5))
    n, m = 3, 20  # N_l filters, M_l = 4 x 5 positions
    g = losses.gram(f)
    expected = sum(float(g[0, i, j] - a[0, i, j]) ** 2 for i in range(n) for j in range(n)) / (4 * n**2 * m**2)
    assert math.isclose(float(losses.style_layer_loss(f, a)), expected, rel_tol=1e-12)
    # the target may be given as (N, N)
    assert math.isclose(float(losses.style_layer_loss(f, a[0])), expected, rel_tol=1e-12)
    assert float(losses.style_layer_loss(f, g)) == 0.0


def test_style_loss_is_the_weighted_sum(rng):
    feats = {"a": _feats(rng, n=2), "b": _feats(rng, n=4, h=2, w=2)}
    targets = {k: losses.gram(_feats(rng, n=v.shape[1], h=v.shape[2], w=v.shape[3])) for k, v in feats.items()}
    w = {"a": 0.25, "b": 3.0}
    expected = sum(w[k] * losses.style_layer_loss(feats[k], targets[k]) for k in w)
    torch.testing.assert_close(losses.style_loss(feats, targets, w), expected)
    with pytest.raises(SettingsError):
        losses.style_loss(feats, targets, {})


def test_content_hw_and_chw_equal_torch_mse(rng):
    f, p = _feats(rng, n=3, h=4, w=5), _feats(rng, n=3, h=4, w=5)
    for norm in ("hw", "chw"):
        torch.testing.assert_close(losses.content_loss(f, p, norm), F.mse_loss(f, p))


def _tutorial_gram(x):
    """The PyTorch tutorial's gram_matrix, written out."""
    a, b, c, d = x.size()
    features = x.view(a * b, c * d)
    return torch.mm(features, features.t()).div(a * b * c * d)


def test_style_chw_equals_the_pytorch_tutorial(rng):
    f, s = _feats(rng, n=3, h=4, w=5), _feats(rng, n=3, h=4, w=5)
    tutorial = F.mse_loss(_tutorial_gram(f), _tutorial_gram(s))
    torch.testing.assert_close(losses.style_layer_loss(f, losses.gram(s), "chw"), tutorial)


def test_style_hw_equals_the_keras_tutorial(rng):
    """TF/Keras tutorials: Gram / (number of locations), mean squared error."""
    f, s = _feats(rng, n=3, h=4, w=5), _feats(rng, n=3, h=4, w=5)
    m = 20
    keras = ((losses.gram(f) / m - losses.gram(s) / m) ** 2).mean()
    torch.testing.assert_close(losses.style_layer_loss(f, losses.gram(s), "hw"), keras)


def test_norm_factors(rng):
    f, s = _feats(rng, n=3, h=4, w=5), _feats(rng, n=3, h=4, w=5)
    a = losses.gram(s)
    paper_c, paper_s = losses.content_loss(f, s), losses.style_layer_loss(f, a)
    n, m = 3, 20
    torch.testing.assert_close(losses.content_loss(f, s, "hw"), paper_c * 2 / (n * m))
    torch.testing.assert_close(losses.style_layer_loss(f, a, "hw"), paper_s * 4)
    torch.testing.assert_close(losses.style_layer_loss(f, a, "chw"), paper_s * 4 / n**2)
    assert losses.content_factor("paper", n, m) == 1.0
    assert losses.style_factor("paper", n, m) == 1.0
    with pytest.raises(SettingsError):
        losses.content_loss(f, s, "l1")
    with pytest.raises(SettingsError):
        losses.style_layer_loss(f, a, "mse")


def test_paper_equivalent():
    a, b = losses.paper_equivalent("chw", alpha=2.0, beta=10.0, layer_weights={"r1": 0.5, "r2": 0.25},
                                   content_shapes={"c": (4, 100)}, style_shapes={"r1": (2, 50), "r2": (8, 10)})
    assert a == {"c": pytest.approx(2.0 * 2 / 400)}
    assert b == {"r1": pytest.approx(10 * 0.5 * 4 / 4), "r2": pytest.approx(10 * 0.25 * 4 / 64)}
    a, b = losses.paper_equivalent("paper", 1.0, 1e3, {"r": 1.0}, {"c": (4, 4)}, {"r": (4, 4)})
    assert a == {"c": 1.0} and b == {"r": 1e3}


# --------------------------------------------------------------------------------------
# Regularisers and the total (Eq. 7)


def test_tv_loss_explicit(rng):
    x = torch.rand(1, 3, 4, 5, generator=rng, dtype=torch.float64)
    expected = 0.0
    for c in range(3):
        for i in range(4):
            for j in range(5):
                if i + 1 < 4:
                    expected += float(x[0, c, i + 1, j] - x[0, c, i, j]) ** 2
                if j + 1 < 5:
                    expected += float(x[0, c, i, j + 1] - x[0, c, i, j]) ** 2
    assert math.isclose(float(losses.tv_loss(x)), expected, rel_tol=1e-12)
    assert float(losses.tv_loss(torch.full((1, 3, 6, 6), 0.3))) == 0.0


def test_l2_loss_explicit(rng):
    x = torch.rand(1, 3, 4, 5, generator=rng, dtype=torch.float64)
    mu = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    torch.testing.assert_close(losses.l2_loss(x), 0.5 * ((x - mu) ** 2).sum())
    assert float(losses.l2_loss(mu.expand(1, 3, 4, 4).clone())) == 0.0
    assert losses.l2_loss(x.float()).dtype == torch.float32


def test_total_loss():
    assert losses.total_loss(2.0, 3.0, alpha=1.0, beta=10.0) == 32.0
    assert losses.total_loss(2.0, 3.0, 1.0, 10.0, tv=5.0, tv_weight=0.1, l2=4.0, gamma=0.5) == 32.0 + 0.5 + 2.0


# --------------------------------------------------------------------------------------
# Gradients


def _input(rng, shape=(1, 3, 4, 5)):
    return torch.rand(*shape, generator=rng, dtype=torch.float64).requires_grad_(True)


@pytest.mark.parametrize("norm", ["paper", "hw", "chw"])
def test_gradcheck_content_and_style(rng, norm):
    target = _feats(rng, n=3, h=4, w=5)
    a = losses.gram(_feats(rng, n=3, h=4, w=5))
    f = _feats(rng, n=3, h=4, w=5).requires_grad_(True)
    assert gradcheck(lambda x: losses.content_loss(x, target, norm), (f,))
    assert gradcheck(lambda x: losses.style_layer_loss(x, a, norm), (f,))


def test_gradcheck_regularisers(rng):
    x = _input(rng)
    assert gradcheck(losses.tv_loss, (x,))
    assert gradcheck(losses.l2_loss, (x,))


@pytest.mark.parametrize("norm", ["paper", "hw"])
def test_gradcheck_objective_through_a_network(make_vgg, rng, norm):
    """The whole Eq. 7 (with both regularisers) through a tiny float64 VGG."""
    model = make_vgg(widths=(3, 4, 4, 4, 4)).double()
    content = torch.rand(1, 3, 8, 8, generator=rng, dtype=torch.float64)
    style = torch.rand(1, 3, 8, 8, generator=rng, dtype=torch.float64)
    c_layers, s_layers = ["relu3_1"], ["relu1_1", "relu2_1", "relu4_1"]
    targets = make_targets(model, (8, 8), content, c_layers, [style], s_layers)
    assert all(t.dtype == torch.float64 for t in list(targets.content.values()) + list(targets.grams.values()))
    w = layer_weights(s_layers, "gatys_code", {l.name: l.channels for l in model.layers})
    objective = Objective(model, targets, c_layers, w, alpha=1.0, beta=100.0, tv_weight=0.1, gamma=0.01,
                          norm=norm)
    x = torch.rand(1, 3, 8, 8, generator=rng, dtype=torch.float64).requires_grad_(True)
    total, parts = objective(x)
    assert total.dtype == torch.float64
    assert all(float(parts[k].detach()) > 0 for k in ("content", "style", "tv", "l2"))
    assert gradcheck(lambda im: objective(im)[0], (x,), eps=1e-6, atol=1e-5, rtol=1e-4)
