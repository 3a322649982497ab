"""stylelab.networks.features: the feature extractors by name, the random VGG, Ustyuzhaninov et al.'s
random filter bank, and run()'s ``features=`` (tiny networks and images; the real-weight
findings are lesson 14's, one small real-weight test at the end)."""

from __future__ import annotations

import pytest
import torch

import stylelab as sl
from stylelab import features, vgg, weights
from stylelab.errors import LayerError, SettingsError
from stylelab.method.optimise import initial_image

TINY = (4, 8, 8, 16, 16)


def _images(tiny_image, n=3, size=32):
    return [tiny_image(size, seed=k) for k in range(n)]


def _bank(tiny_image, filters=2, sizes=(3, 5), seed=0, normalized=True):
    return features.random_filters(filters, sizes=sizes, seed=seed, normalized=normalized, device="cpu",
                                   images=_images(tiny_image) if normalized else None)


# --------------------------------------------------------------------------------------
# Names


def test_names_and_descriptions():
    assert features.names() == ("vgg16", "vgg19", "random-vgg", "random-filters", "patch-cnn", "autoencoder")
    for n in features.names():
        assert features.describe(n)
    with pytest.raises(SettingsError, match="unknown feature extractor 'resnet'.*random-vgg"):
        features.describe("resnet")
    with pytest.raises(SettingsError, match="unknown feature extractor"):
        features.load("resnet")


def test_the_cli_lists_the_same_names():
    from stylelab.cli import command as cli
    from stylelab.cli import options as cli_options

    assert cli_options._FEATURES == features.names()


def test_options_that_do_not_apply_are_errors():
    with pytest.raises(SettingsError, match="takes no option.*steps"):
        features.load("random-vgg", steps=3)


def test_arch_of_each_extractor():
    assert features.arch_of("vgg16") == "vgg16"
    assert features.arch_of("random-vgg", weights.resolve("vgg16")) == "vgg16"
    assert features.arch_of("random-filters") == "random-filters"
    assert features.arch_of("patch-cnn") == features.arch_of("autoencoder") == "patchnet"


def test_register_layers_refuses_a_vgg_name():
    with pytest.raises(SettingsError, match="VGG layout"):
        vgg.register_layers("vgg16", ())


# --------------------------------------------------------------------------------------
# The random VGG


def test_random_vgg_is_seeded_and_has_the_papers_names(tiny_image):
    imgs = _images(tiny_image)
    a = features.random_vgg("vgg16", seed=0, widths=TINY, images=imgs, device="cpu")
    b = features.random_vgg("vgg16", seed=0, widths=TINY, images=imgs, device="cpu")
    c = features.random_vgg("vgg16", seed=1, widths=TINY, images=imgs, device="cpu")
    assert torch.equal(a.convs["conv3_1"].weight, b.convs["conv3_1"].weight)
    assert not torch.allclose(a.convs["conv3_1"].weight, c.convs["conv3_1"].weight)
    assert a.info["features"] == "random-vgg" and a.info["normalized"] and a.info["weights"] == "random (seed 0)"
    out = a(tiny_image(32), ["relu1_1", "relu4_2"])
    assert set(out) == {"relu1_1", "relu4_2"} and out["relu4_2"].shape[1] == TINY[3]
    with pytest.raises(SettingsError, match="unknown architecture"):
        features.random_vgg("vgg13", images=imgs)


def test_random_vgg_is_normalised_to_mean_activation_one(tiny_image):
    imgs = _images(tiny_image)
    raw = features.random_vgg("vgg16", seed=0, widths=TINY, normalized=False, device="cpu")
    means_raw = weights.normalisation_scales(raw, imgs)
    model = features.random_vgg("vgg16", seed=0, widths=TINY, images=imgs, device="cpu")
    means = weights.normalisation_scales(model, imgs)
    for layer in ("relu1_1", "relu3_1", "relu5_1"):
        alive = means_raw[layer] != 1.0  # dead filters (mean 0) are left as they are
        assert torch.allclose(means[layer][alive], torch.ones(int(alive.sum())), rtol=1e-3)
    # without it the layers' scales drift apart (the reason it is applied)
    assert float(means_raw["relu5_1"].mean()) != pytest.approx(1.0, rel=0.2)


# --------------------------------------------------------------------------------------
# The random filter bank


def test_filter_bank_layers_and_shapes(tiny_image):
    bank = _bank(tiny_image, filters=3, sizes=(3, 5, 7), normalized=False)
    assert bank.arch == "random-filters" and [l.name for l in bank.layers] == ["conv1_1", "relu1_1"]
    assert bank.layers[1].channels == 9
    out = bank(tiny_image(20, 24), ["relu1_1", "conv1_1"])
    assert out["conv1_1"].shape == (1, 9, 20, 24)
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp_min(0))
    with pytest.raises(LayerError, match="unknown layer 'relu2_1'"):
        bank(tiny_image(20), ["relu2_1"])
    with pytest.raises(SettingsError, match="shape"):
        bank(torch.rand(1, 1, 8, 8), ["relu1_1"])


def test_filter_bank_is_seeded_and_checks_its_settings(tiny_image):
    a = features.RandomFilters(2, (3, 5), seed=0)
    b = features.RandomFilters(2, (3, 5), seed=0)
    c = features.RandomFilters(2, (3, 5), seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.banks, b.banks))
    assert not torch.allclose(a.banks[1], c.banks[1])
    assert not any(p.requires_grad for p in a.parameters())
    for bad in (0, 2.5, True):
        with pytest.raises(SettingsError, match="filters must be"):
            features.RandomFilters(bad)
    with pytest.raises(SettingsError, match="odd"):
        features.RandomFilters(2, (3, 4))


def test_filter_bank_normalised_mean_activation_one(tiny_image):
    bank = _bank(tiny_image, filters=4, sizes=(3, 7))
    means = weights.normalisation_scales(bank, _images(tiny_image))["relu1_1"]
    assert torch.allclose(means, torch.ones_like(means), rtol=1e-3)
    assert bank.info["normalized"]


# --------------------------------------------------------------------------------------
# The engine with another network


def test_own_layers_replace_only_the_papers_defaults():
    c, s = features.own_layers("random-filters", ["relu4_2"], list(sl.PAPER_STYLE_LAYERS))
    assert (c, s) == (["relu1_1"], ["relu1_1"])
    c, s = features.own_layers("random-filters", ["conv1_1"], ["relu1_1"])
    assert (c, s) == (["conv1_1"], ["relu1_1"])
    c, s = features.own_layers("vgg16", ["relu4_2"], list(sl.PAPER_STYLE_LAYERS))
    assert (c, s) == (["relu4_2"], list(sl.PAPER_STYLE_LAYERS))


def test_texture_with_the_filter_bank_matches_its_one_layer(tiny_image):
    bank = _bank(tiny_image)
    style = tiny_image(24, seed=5)
    r = sl.texture(style, model=bank, steps=15, progress=False)
    assert r.settings["style_layers"] == ["relu1_1"] and r.settings["arch"] == "random-filters"
    assert r.settings["weights"] == "random filters (seed 0)"
    assert r.losses["style"] < 0.2 * r.history[0]["style"]


def test_transfer_with_the_filter_bank_and_features_given_as_an_object(tiny_image):
    bank = _bank(tiny_image)
    photo, style = tiny_image(24, seed=3), tiny_image(24, seed=4)
    a = sl.transfer(photo, style, features=bank, steps=5, progress=False)
    b = sl.transfer(photo, style, model=bank, steps=5, progress=False)
    assert a.settings["content_layers"] == ["relu1_1"] == a.settings["style_layers"]
    assert torch.equal(a.image, b.image)


def test_features_and_model_together_is_an_error(tiny_image, make_vgg):
    with pytest.raises(SettingsError, match="not both"):
        sl.texture(tiny_image(32), features="random-vgg", model=make_vgg(), steps=1, progress=False)
    with pytest.raises(SettingsError, match="unknown feature extractor"):
        sl.texture(tiny_image(32), features="alexnet", steps=1, progress=False)


def test_a_vgg_model_still_works_unchanged(tiny_image, make_vgg):
    model = make_vgg()
    r = sl.texture(tiny_image(32), model=model, steps=3, progress=False)
    assert r.settings["style_layers"] == list(sl.PAPER_STYLE_LAYERS)


def test_random_vgg_by_name_in_run(tiny_image, monkeypatch):
    """features="random-vgg" reaches features.load with run()'s network settings."""
    seen = {}
    imgs = _images(tiny_image)

    def fake_load(name, **kw):
        seen.update(kw, name=name)
        return features.random_vgg("vgg16", widths=TINY, images=imgs, device="cpu")

    monkeypatch.setattr(features, "load", fake_load)
    r = sl.texture(tiny_image(32), features="random-vgg", pooling="max", steps=2, progress=False)
    assert seen["name"] == "random-vgg" and seen["pooling"] == "max"
    assert r.settings["weights"] == "random (seed 0)"


# --------------------------------------------------------------------------------------
# Real weights: the ImageNet VGG by name, and the random VGG in its layout


@pytest.mark.weights
def test_real_extractors_by_name():
    env = weights.from_env()
    model = features.load(env.arch, device="cpu")
    assert model.arch == env.arch and model.info["weights"] == env.name
    rnd = features.load("random-vgg", device="cpu")
    assert rnd.arch == env.arch and rnd.info["features"] == "random-vgg"
    means = weights.normalisation_scales(rnd, weights.sample_images(64))
    # normalised on the sample images at 128 px: at 64 px the means are close to 1, not 1e-3 apart
    for layer in ("relu1_1", "relu5_1"):
        assert 0.3 < float(means[layer].median()) < 3
    style = sl.data.load("starry_night", size=64)
    bank = features.load("random-filters", filters=4, device="cpu")
    r = sl.texture(style, model=bank, steps=30, optimizer="adam", progress=False)
    noise = initial_image("noise", tuple(style.shape[-2:]))
    # lesson 14's finding at conv1_1: the one-layer random texture is far closer to the painting than white noise
    d, d0 = (sl.metrics.style_distances(model, img, style, ["relu1_1"])["relu1_1"] for img in (r.image, noise))
    assert d < 0.5 * d0


# --------------------------------------------------------------------------------------
# The command line: --features


@pytest.fixture
def cli_bank(monkeypatch, tiny_image):
    """features.load replaced by a tiny filter bank; returns the calls."""
    calls = []
    bank = _bank(tiny_image)

    def fake_load(name, **kw):
        calls.append((name, kw))
        return bank

    monkeypatch.setattr(features, "load", fake_load)
    return calls


def _picture(path, seed=0):
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    arr = (torch.rand(24, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
    Image.fromarray(arr).save(path)
    return path


def test_cli_texture_and_transfer_with_features(tmp_path, cli_bank, monkeypatch, capsys):
    import json

    from stylelab.cli import command as cli

    monkeypatch.delenv("STYLELAB_WEIGHTS", raising=False)
    style, photo = _picture(tmp_path / "style.png", 1), _picture(tmp_path / "photo.png", 2)
    out = tmp_path / "t.png"
    assert cli.main(["texture", str(style), "--features", "random-filters", "--steps", "2", "--quiet",
                     "-o", str(out)]) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["settings"]["style_layers"] == ["relu1_1"] and meta["settings"]["arch"] == "random-filters"
    assert cli_bank[-1][0] == "random-filters"
    out2 = tmp_path / "x.png"
    assert cli.main(["transfer", str(photo), str(style), "--features", "random-filters", "--steps", "2", "--quiet",
                     "-o", str(out2)]) == 0
    meta = json.loads(out2.with_suffix(".json").read_text())
    assert meta["settings"]["content_layers"] == ["relu1_1"]
    capsys.readouterr()


def test_cli_features_errors(tmp_path, cli_bank, capsys):
    from stylelab.cli import command as cli

    style = _picture(tmp_path / "style.png")
    assert cli.main(["texture", str(style), "--features", "alexnet", "-o", str(tmp_path / "t.png")]) == 2
    assert "invalid choice: 'alexnet'" in capsys.readouterr().err
    code = cli.main(["texture", str(style), "--features", "random-filters", "--style-layers", "relu3_1",
                     "-o", str(tmp_path / "t.png")])
    assert code == 2 and "unknown layer 'relu3_1'" in capsys.readouterr().err
    assert not (tmp_path / "t.png").exists() and not cli_bank
