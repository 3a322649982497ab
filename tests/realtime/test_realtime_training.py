"""Tests for stylelab.realtime.training on the tiny random VGG: seeding, the cache and its key,
the report, Ctrl-C, divergence, the profiles, and that a trained network beats the identity on
the style check the lessons use."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stylelab import config, metrics
from stylelab.errors import SettingsError
from stylelab.realtime import adain, saved, training, transformer

TINY = dict(profile="quick", widths=(4, 8, 8), depth=1, steps=3, crop=32, size=48, batch=2, progress=False)
TINY_ADAIN = dict(profile="quick", widths=(8, 8, 8), depth=1, steps=3, crop=32, size=48, batch=2, progress=False)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache for this test alone (conftest's is shared by the session)."""
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    return tmp_path / "cache" / "realtime"


@pytest.fixture
def model(make_vgg):
    return make_vgg()


@pytest.fixture
def images(tiny_image):
    return {"p1": tiny_image(48, seed=1), "p2": tiny_image(40, 56, seed=2)}, {"s": tiny_image(48, seed=3)}


def _state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_network_other_seed_other(model, images, cache):
    photos, style = images
    a, _ = training.johnson(model, style, photos, seed=5, cache=False, **TINY)
    b, _ = training.johnson(model, style, photos, seed=5, cache=False, **TINY)
    c, _ = training.johnson(model, style, photos, seed=6, cache=False, **TINY)
    assert _same(_state(a), _state(b))
    assert not _same(_state(a), _state(c))
    assert not cache.exists() or not list(cache.iterdir())  # cache=False writes nothing


def test_second_call_loads_from_cache(model, images, cache):
    photos, style = images
    net, report = training.johnson(model, style, photos, cache=True, **TINY)
    assert "cached" not in report and report["status"] == "done"
    path = training.cache_path(training.recipe_of(report))
    assert path.is_file() and path.parent == cache
    again, report2 = training.johnson(model, style, photos, cache=True, **TINY)
    assert report2["cached"] == str(path)
    assert _same(_state(net), _state(again))
    assert training.recipe_of(report2) == training.recipe_of(report)
    # another recipe (a different seed) is trained, not read
    _, report3 = training.johnson(model, style, photos, cache=True, seed=1, **TINY)
    assert "cached" not in report3


def test_changed_image_changes_the_key(model, images, cache):
    photos, style = images
    kw = {**TINY, "steps": 1}
    _, r1 = training.johnson(model, style, photos, cache=False, **kw)
    changed = {**photos, "p1": photos["p1"].clone()}
    changed["p1"][0, 0, 0, 0] = 1.0 - changed["p1"][0, 0, 0, 0]
    _, r2 = training.johnson(model, style, changed, cache=False, **kw)
    restyled = {"s": style["s"].flip(-1)}
    _, r3 = training.johnson(model, restyled, photos, cache=False, **kw)
    keys = {training.recipe_of(r).key() for r in (r1, r2, r3)}
    assert len(keys) == 3
    assert r1["recipe"]["images"] != r2["recipe"]["images"] != r3["recipe"]["images"]
    # and the key depends on every setting
    rec = training.recipe_of(r1)
    assert rec.key() == training.recipe_of(r1).key()
    assert rec.key() != training.Recipe(**{**rec.__dict__, "lr": rec.lr * 2}).key()


def test_report(model, images, cache):
    photos, style = images
    net, report = training.johnson(model, style, photos, cache=False, **{**TINY, "steps": 6})
    assert report["status"] == "done" and report["steps_done"] == 6
    assert report["wall_time"] > 0 and report["seconds_per_step"] > 0
    hist = report["history"]
    assert hist and [h["step"] for h in hist] == sorted(h["step"] for h in hist)
    assert {"step", "seconds", "content", "style", "tv", "total"} <= set(hist[0])
    assert report["recipe"]["steps"] == 6 and report["recipe"]["widths"] == (4, 8, 8)
    assert report["network"] == "johnson" and report["parameters"] == sum(p.numel() for p in net.parameters())
    assert training.minutes(report) == pytest.approx(report["wall_time"] / 60)
    assert not net.training


def test_interrupted_at_step_two_is_not_cached(model, images, cache):
    photos, style = images
    steps_seen = []

    def stop(step, net, terms):
        steps_seen.append(step)
        if step == 2:
            raise KeyboardInterrupt

    net, report = training.johnson(model, style, photos, cache=True, callback=stop, **{**TINY, "steps": 5})
    assert steps_seen == [1, 2]
    assert report["status"] == "interrupted" and report["steps_done"] == 1
    assert isinstance(net, transformer.TransformNet)
    assert not training.cache_path(training.recipe_of(report)).exists()
    assert not list(cache.glob("*.pt"))
    # the next call trains again (nothing was cached), and caches the finished network
    _, report2 = training.johnson(model, style, photos, cache=True, **{**TINY, "steps": 5})
    assert "cached" not in report2 and report2["status"] == "done"
    assert training.cache_path(training.recipe_of(report2)).is_file()


def test_non_finite_loss_raises(model, images, cache):
    photos, style = images

    def poison(step, net, terms):
        with torch.no_grad():
            for p in net.parameters():
                p.fill_(float("nan"))

    with pytest.raises(SettingsError, match="step 2"):
        training.johnson(model, style, photos, cache=True, callback=poison, **TINY)
    assert not list(cache.glob("*.pt"))


def test_profiles_and_overrides(model, images, cache):
    photos, style = images
    with pytest.raises(SettingsError):
        training.profile("johnson", "nope")
    with pytest.raises(SettingsError):
        training.profile("cyclegan", "quick")
    with pytest.raises(SettingsError, match="nope"):
        training.profile("adain", "quick", nope=1)
    assert training.profile("johnson", "quick", steps=7)["steps"] == 7
    with pytest.raises(SettingsError):
        training.johnson(model, style, photos, cache=False, nope=3, **TINY)
    with pytest.raises(SettingsError):
        training.johnson(model, style, photos, cache=False, **{**TINY, "profile": "nope"})


@pytest.mark.parametrize("change", [dict(crop=64), dict(steps=0), dict(batch=0), dict(lr=2.0), dict(crop=16),
                                    dict(norm="layer"), dict(widths=(4, 8))])
def test_bad_recipes(model, images, cache, change):
    photos, style = images
    with pytest.raises(SettingsError):
        training.johnson(model, style, photos, cache=False, **{**TINY, **change})


def test_bad_images(model, images, cache, tiny_image):
    photos, style = images
    with pytest.raises(SettingsError):
        training.johnson(model, {}, photos, cache=False, **TINY)
    with pytest.raises(SettingsError):
        training.johnson(model, {**style, "t": tiny_image(48)}, photos, cache=False, **TINY)
    with pytest.raises(SettingsError):
        training.johnson(model, style, {"p": tiny_image(48)[0]}, cache=False, **TINY)


def test_adain_decoder_trains_on_the_encoders_width_and_caches(model, images, cache, tiny_image):
    photos, styles = images
    dec, report = training.adain_decoder(model, photos, styles, cache=True, **TINY_ADAIN)
    assert isinstance(dec, adain.Decoder) and report["status"] == "done"
    assert dec.in_channels == model.layers[model._pos["relu4_1"]].channels == 16
    again, report2 = training.adain_decoder(model, photos, styles, cache=True, **TINY_ADAIN)
    assert "cached" in report2 and _same(_state(dec), _state(again))
    back, _ = saved.read(training.cache_path(training.recipe_of(report)), kind="adain")
    assert back.in_channels == 16
    out = adain.stylise(model, again, tiny_image(37), tiny_image(32, seed=4))
    assert out.shape == (1, 3, 37, 37)


class _Identity(nn.Module):
    def forward(self, x):
        return x


def _uniformish(colour, size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.tensor(colour).view(1, 3, 1, 1)
    return (base + 0.05 * torch.randn(1, 3, size, size, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trained_network_beats_the_identity_on_the_style_check(model, seed):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 48), indexing="ij")
    g = torch.Generator().manual_seed(0)
    photos = {"noise": torch.rand(1, 3, 48, 48, generator=g), "ramp": torch.stack([xx, yy, 1 - xx])[None]}
    style = _uniformish((0.9, 0.5, 0.1))
    net, report = training.johnson(model, {"orange": style}, photos, cache=False, seed=seed,
                                   **{**TINY, "steps": 30, "lr": 4e-3})
    assert report["status"] == "done"
    for photo in photos.values():
        trained = metrics.style_distance(model, transformer.stylise(net, photo), style)
        identity = metrics.style_distance(model, _Identity()(photo), style)
        assert trained < 0.8 * identity, (trained, identity)
