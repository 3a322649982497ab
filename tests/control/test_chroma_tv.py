"""stylelab.control.chroma_tv: the total-variation prior on the chroma planes only, as an extra term of
the engine and as ``stylelab transfer --chroma-tv``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.autograd import gradcheck

from stylelab import chroma_tv, config, losses, metrics, precision, weights
from stylelab.cli import command as cli
from stylelab.errors import SettingsError
from stylelab.control.transfer import run
from stylelab.networks.vgg import VGG


def test_grey_and_lightness_only_images_score_zero():
    g = torch.Generator().manual_seed(0)
    lightness = torch.rand(1, 1, 16, 16, generator=g).expand(1, 3, 16, 16)
    assert float(chroma_tv.chroma_tv_loss(lightness)) == 0.0
    assert float(losses.tv_loss(lightness)) > 1.0  # the RGB TV penalises the same image
    shifted = lightness + torch.tensor([0.2, 0.1, 0.0]).view(1, 3, 1, 1)  # one constant tint
    assert float(chroma_tv.chroma_tv_loss(shifted)) == pytest.approx(0.0, abs=1e-10)


def test_rainbow_noise_scores_high_and_is_what_the_speckle_measure_sees():
    g = torch.Generator().manual_seed(1)
    base = torch.full((1, 3, 64, 64), 0.5)
    rainbow = (base + 0.05 * torch.randn(1, 3, 64, 64, generator=g)).clamp(0, 1)
    grey_noise = (base + 0.05 * torch.randn(1, 1, 64, 64, generator=g)).clamp(0, 1).expand(1, 3, 64, 64)
    assert float(chroma_tv.chroma_tv_loss(rainbow)) > 10 * float(chroma_tv.chroma_tv_loss(grey_noise))
    assert metrics.speckle(rainbow) > 0.5 > metrics.speckle(grey_noise)


def test_the_planes_and_the_sum():
    x = torch.tensor([0.9, 0.3, 0.1]).view(1, 3, 1, 1).expand(1, 3, 2, 3).clone()
    x[..., 1, 2] = torch.tensor([0.2, 0.2, 0.6])
    uv = chroma_tv.chroma(x)
    assert uv.shape == (1, 2, 2, 3)
    torch.testing.assert_close(uv[0, :, 0, 0], torch.tensor([0.6, 0.5]))
    torch.testing.assert_close(uv[0, :, 1, 2], torch.tensor([0.0, -0.4]))
    # one pixel differs: two neighbours each see the jump in u (0.6) and v (0.9)
    assert float(chroma_tv.chroma_tv_loss(x)) == pytest.approx(2 * (0.6 ** 2 + 0.9 ** 2))


def test_gradcheck():
    x = torch.rand(1, 3, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    assert gradcheck(chroma_tv.chroma_tv_loss, (x,))


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "x", None])
def test_bad_weights_are_refused(bad):
    with pytest.raises(SettingsError, match="chroma TV weight"):
        chroma_tv.term(bad)


def test_not_an_rgb_image_is_refused():
    with pytest.raises(SettingsError, match="RGB"):
        chroma_tv.chroma_tv_loss(torch.rand(1, 1, 8, 8))


def test_as_an_extra_term_it_lowers_the_chroma_variation(make_vgg):
    torch.manual_seed(0)
    model = make_vgg()
    g = torch.Generator().manual_seed(3)
    content, style = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    plain = run(content, style, model=model, steps=15, progress=False, seed=0)
    smooth = run(content, style, model=model, steps=15, progress=False, seed=0,
                 extra_terms={"chroma_tv": chroma_tv.term(10.0)})
    assert smooth.settings["extra_terms"] == ["chroma_tv"]
    assert smooth.settings["extra_term_weights"] == {"chroma_tv": 10.0}
    assert "chroma_tv" in smooth.losses and "chroma_tv" not in plain.losses
    assert float(chroma_tv.chroma_tv_loss(smooth.image)) < 0.5 * float(chroma_tv.chroma_tv_loss(plain.image))


@pytest.fixture
def tiny_cli(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE, precision.ENV):
        monkeypatch.delenv(var, raising=False)

    def fake_load_vgg(*args, **kwargs):
        torch.manual_seed(0)
        return VGG("vgg16", widths=(4, 8, 8, 16, 16))

    monkeypatch.setattr(weights, "load_vgg", fake_load_vgg)


def _cli_transfer(tmp_path, capsys, *extra):
    rng = np.random.default_rng(0)
    for name in ("c.png", "s.png"):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / name)
    out = tmp_path / "out.png"
    code = cli.main(["transfer", str(tmp_path / "c.png"), str(tmp_path / "s.png"), "-o", str(out), "--quiet",
                     "--size", "64", "--stages", "1", "--steps", "2", *extra])
    return code, capsys.readouterr().err, out


def test_cli_chroma_tv(tmp_path, capsys, tiny_cli):
    code, err, out = _cli_transfer(tmp_path, capsys, "--chroma-tv", "0.3")
    assert code == 0, err
    s = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert s["extra_terms"] == ["chroma_tv"] and s["extra_term_weights"] == {"chroma_tv": 0.3}
    code, err, out = _cli_transfer(tmp_path, capsys, "--chroma-tv", "0")  # off
    assert code == 0, err
    assert "extra_terms" not in json.loads(out.with_suffix(".json").read_text())["settings"]
    code, err, _ = _cli_transfer(tmp_path, capsys, "--chroma-tv", "-1")
    assert code == 2 and "--chroma-tv" in err
