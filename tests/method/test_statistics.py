"""stylelab.method.statistics: the style statistics other than the Gram matrix (Li et al. 2017), and
the engine's ``style_statistic`` (tiny random networks; the real-weight finding is lesson 15's)."""

from __future__ import annotations

import json

import pytest
import torch

import stylelab as sl
from stylelab import losses, statistics
from stylelab.errors import SettingsError
from stylelab.method.objective import Objective
from stylelab.method.targets import Targets
from stylelab.method.optimise import initial_image, optimize

LAYERS = ["relu1_1", "relu2_1", "relu3_1"]
OTHERS = [s for s in statistics.STATISTICS if s != "gram"]


def _features(seed: int, n: int = 3, h: int = 4, w: int = 5, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, n, h, w, generator=g, dtype=dtype)


# --------------------------------------------------------------------------------------
# The losses


@pytest.mark.parametrize("name", statistics.STATISTICS)
def test_zero_at_the_target_and_positive_elsewhere(name):
    s = _features(0)
    target = statistics.targets(name, s)
    assert float(statistics.loss(name, s, target)) == pytest.approx(0.0, abs=1e-12)
    for seed in (1, 2):
        assert float(statistics.loss(name, _features(seed), target)) > 1e-6
    # the same statistics, other positions: a shuffle of the positions leaves every statistic unchanged
    flat = s.reshape(1, 3, -1)
    shuffled = flat[..., torch.randperm(flat.shape[-1], generator=torch.Generator().manual_seed(3))].reshape(s.shape)
    if name != "mmd_gauss":  # the Gaussian MMD compares the sampled positions as a set: all of them here
        assert float(statistics.loss(name, shuffled, target)) == pytest.approx(0.0, abs=1e-10)


def test_mean_only_statistics_see_only_what_they_should():
    s = _features(0)
    # the linear kernel sees only the means: a change that keeps every channel's mean costs nothing
    f = s.clone()
    f[..., 0, 0] += 0.3
    f[..., 0, 1] -= 0.3
    t = statistics.targets("mmd_linear", s)
    assert float(statistics.loss("mmd_linear", f, t)) == pytest.approx(0.0, abs=1e-12)
    assert float(statistics.loss("mean_std", f, statistics.targets("mean_std", s))) > 1e-4  # the stds changed
    # mean/std of a channel shifted by c: exactly (c^2) / N
    shifted = s.clone()
    shifted[:, 1] += 0.5
    e = statistics.loss("mean_std", shifted, statistics.targets("mean_std", s))
    assert float(e) == pytest.approx(0.25 / 3, rel=1e-9)


@pytest.mark.parametrize("name", statistics.STATISTICS)
def test_gradients(name):
    target = statistics.targets(name, _features(0))
    f = _features(1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: statistics.loss(name, x, target), (f,), eps=1e-6, atol=1e-7)


def test_gaussian_mmd_samples_a_fixed_set_of_positions(monkeypatch):
    s = _features(0, n=4, h=8, w=8)
    t = statistics.mmd_gauss_target(s, k=16)
    assert t.samples.shape == (16, 4)
    a = statistics.sample_positions(64, 16)
    assert torch.equal(a, statistics.sample_positions(64, 16)) and len(set(a.tolist())) == 16
    assert not torch.equal(a, statistics.sample_positions(64, 16, seed=1))
    assert statistics.sample_positions(10, 16) is None  # all positions
    monkeypatch.setattr(statistics, "MMD_SAMPLES", 8)  # the defaults are read at the call
    assert len(statistics.sample_positions(64)) == 8 and statistics.mmd_gauss_target(s).samples.shape == (8, 4)
    monkeypatch.undo()
    # the same image, sampled alike: zero; the median heuristic gives a positive bandwidth
    assert float(statistics.mmd_gauss_loss(s, t)) == pytest.approx(0.0, abs=1e-12)
    d = torch.cdist(t.samples, t.samples).pow(2)
    assert t.sigma2 == pytest.approx(float(d[~torch.eye(16, dtype=torch.bool)].median()))
    # the MMD is symmetric in the two sets, and the k_ss term is the style sample's
    x = _features(5, n=4, h=8, w=8)
    forward = statistics.mmd_gauss_loss(x, statistics.mmd_gauss_target(s, k=16, sigma2=t.sigma2))
    backward = statistics.mmd_gauss_loss(s, statistics.mmd_gauss_target(x, k=16, sigma2=t.sigma2))
    assert float(forward) == pytest.approx(float(backward), rel=1e-10)


@pytest.mark.parametrize("m_s", [(4, 5), (6, 7)])
def test_gram_loss_is_the_polynomial_mmd(m_s):
    """Li et al. 2017: E_l = 1/(4 N_l^2) MMD^2 with k(x, y) = (x^T y)^2, also for another M_s
    once the style Gram is scaled by M/M_s (as make_targets does)."""
    f, s = _features(1, n=5), _features(2, n=5, h=m_s[0], w=m_s[1])
    r = statistics.gram_mmd_identity(f, s)
    assert r["constant"] == 1 / (4 * 5 ** 2) and r["N"] == 5 and r["M"] == 20
    assert r["relative_difference"] < 1e-12
    assert r["E_l"] == pytest.approx(r["rhs"], rel=1e-12) and r["E_l"] > 0
    # the MMD side is computed from kernel sums, not from Gram matrices: compare with the definition
    x, y = f.reshape(5, -1).T, s.reshape(5, -1).T
    k = lambda a, b: (a @ b.T).pow(2).mean()
    assert r["mmd2"] == pytest.approx(float(k(x, x) + k(y, y) - 2 * k(x, y)), rel=1e-12)
    # and any other constant is wrong
    assert abs(r["E_l"] - r["mmd2"] / (2 * 5 ** 2)) > 0.1 * r["E_l"]
    # chunked and unchunked kernel sums agree
    assert float(statistics.mmd2(x, y, statistics.polynomial_kernel, chunk=3)) == pytest.approx(r["mmd2"], rel=1e-12)


def test_bad_names_are_clear_errors(make_vgg, tiny_image):
    for bad in ("Gram", "mmd", "", None, 3):
        with pytest.raises(SettingsError, match="unknown style statistic.*mean_std"):
            statistics.check(bad)
    with pytest.raises(SettingsError, match="unknown style statistic"):
        statistics.layer_losses(make_vgg(), tiny_image(32), tiny_image(32, seed=1), "adain")
    with pytest.raises(SettingsError, match="one image"):  # the Gaussian MMD compares the positions of one image
        statistics.mmd_gauss_target(torch.zeros(2, 3, 4, 4))


# --------------------------------------------------------------------------------------
# The engine


@pytest.fixture
def net(make_vgg):
    return make_vgg()


def test_default_gram_run_is_bit_identical(net, tiny_image):
    """The default run, "gram" named, and the engine's fused Gram path built by hand (targets
    from losses.gram, not make_targets) give the same bits."""
    style = tiny_image(32, seed=1)
    kw = dict(model=net, steps=8, progress=False, style_layers=LAYERS)
    default = sl.texture(style, **kw)
    named = sl.texture(style, style_statistic="gram", **kw)
    assert torch.equal(default.image, named.image) and default.settings["style_statistic"] == "gram"
    with torch.no_grad():
        feats = net(style, LAYERS)
    targets = Targets({}, {l: losses.gram(feats[l]).detach() for l in LAYERS}, (32, 32))
    from stylelab.method.conventions import CONVENTIONS, DEFAULT_CONVENTION, layer_weights

    channels = {l.name: l.channels for l in net.layers}
    w_l = layer_weights(LAYERS, CONVENTIONS[DEFAULT_CONVENTION]["style_weights"], channels)
    objective = Objective(net, targets, [], w_l, 0.0, 1e3, norm="hw")
    by_hand = optimize(objective, initial_image("noise", (32, 32), seed=0), steps=8, progress=False)
    assert torch.equal(default.image, by_hand.image)
    assert [r["total"] for r in default.history] == [r["total"] for r in by_hand.history]
    # a transfer too: the content term and the default statistic
    photo = tiny_image(32, seed=2)
    a = sl.transfer(photo, style, model=net, steps=5, progress=False)
    b = sl.transfer(photo, style, model=net, steps=5, progress=False, style_statistic="gram")
    assert torch.equal(a.image, b.image)


@pytest.mark.parametrize("name", OTHERS)
def test_each_statistic_lowers_its_loss_and_is_recorded(net, tiny_image, name):
    style = tiny_image(32, seed=1)
    r = sl.texture(style, model=net, steps=30, progress=False, style_layers=LAYERS, style_statistic=name)
    assert r.settings["style_statistic"] == name
    assert r.losses["style"] < 0.05 * r.history[0]["style"], (name, r.history[0]["style"], r.losses["style"])
    # the per-layer values are the statistic's E_l, and layer_losses measures them again
    with torch.no_grad():
        f, s = net(r.image, LAYERS), net(style, LAYERS)
    again = statistics.layer_losses(net, r.image, style, name, LAYERS)
    for l in LAYERS:
        e = statistics.loss(name, f[l], statistics.targets(name, s[l]))
        assert r.losses["style_layers"][l] == pytest.approx(float(e), rel=1e-4, abs=1e-9)
        assert again[l] == pytest.approx(float(e), rel=1e-6, abs=1e-12)
    start = statistics.layer_losses(net, r.init_image, style, name, LAYERS)
    assert all(again[l] < start[l] for l in LAYERS)
    # and a transfer runs with it
    t = sl.transfer(tiny_image(32, seed=2), style, model=net, steps=3, progress=False, style_statistic=name)
    assert t.settings["style_statistic"] == name and t.steps_done == 3


def test_mean_std_matching_gives_the_targets_means_and_stds(net, tiny_image):
    style = tiny_image(32, seed=1)
    r = sl.texture(style, model=net, steps=150, progress=False, style_layers=LAYERS, style_statistic="mean_std")
    with torch.no_grad():
        got, want = net(r.image, LAYERS), net(style, LAYERS)
        start = net(initial_image("noise", (32, 32), seed=0), LAYERS)
    for l in LAYERS:
        (mu, sd), (mu_t, sd_t), (mu_0, sd_0) = (statistics.mean_std(x[l]) for x in (got, want, start))
        err = ((mu - mu_t).norm() + (sd - sd_t).norm()) / (mu_t.norm() + sd_t.norm())
        err_0 = ((mu_0 - mu_t).norm() + (sd_0 - sd_t).norm()) / (mu_t.norm() + sd_t.norm())
        assert err < 0.05 and err < 0.1 * err_0, (l, float(err), float(err_0))


def test_engine_errors(net, tiny_image):
    style, other = tiny_image(32, seed=1), tiny_image(32, seed=3)
    kw = dict(model=net, steps=2, progress=False, style_layers=LAYERS)
    with pytest.raises(SettingsError, match="unknown style statistic 'gauss'"):
        sl.texture(style, style_statistic="gauss", **kw)
    with pytest.raises(SettingsError, match="one style image"):
        sl.texture([style, other], style_statistic="mean_std", **kw)
    with pytest.raises(SettingsError, match="blend="):
        sl.texture(style, style_statistic="mean_std", blend=[1.0], **kw)
    with pytest.raises(SettingsError, match="functions="):
        sl.texture(style, style_statistic="mmd_linear", functions={"gram": losses.gram}, **kw)


def test_cli_style_statistic(tmp_path, monkeypatch, make_vgg, tiny_image, capsys):
    from stylelab import config, weights
    from stylelab.cli import command as cli
    from stylelab.cli import common as cli_common
    from stylelab.image import save_image

    assert cli_common.STYLE_STATISTICS == statistics.STATISTICS
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(weights, "load_vgg", lambda *a, **k: make_vgg())
    photo, painting = save_image(tiny_image(32, seed=2), tmp_path / "p.png"), save_image(tiny_image(32, seed=1),
                                                                                          tmp_path / "s.png")
    out = tmp_path / "t.png"
    assert cli.main(["texture", str(painting), "-o", str(out), "--size", "32", "--steps", "3", "--quiet",
                     "--style-statistic", "mean_std"]) == 0, capsys.readouterr().err
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["style_statistic"] == "mean_std"
    out = tmp_path / "x.png"
    assert cli.main(["transfer", str(photo), str(painting), "-o", str(out), "--size", "32", "--steps", "3",
                     "--quiet", "--style-statistic", "mmd_gauss"]) == 0, capsys.readouterr().err
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["style_statistic"] == "mmd_gauss"
    bad = tmp_path / "bad.png"
    code = cli.main(["texture", str(painting), "-o", str(bad), "--size", "32", "--steps", "3",
                     "--style-statistic", "gramm"])
    err = capsys.readouterr().err
    assert code == 2 and "--style-statistic" in err and "invalid choice" in err and not bad.exists()
    # a combination run() refuses: one line, exit 2, nothing written
    code = cli.main(["texture", str(painting), str(photo), "-o", str(bad), "--size", "32", "--steps", "3",
                     "--style-statistic", "mean_std"])
    err = capsys.readouterr().err
    assert code == 2 and "one style image" in err and "Traceback" not in err and not bad.exists()
