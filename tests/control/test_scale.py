"""Scale control (stylelab.control.scale) and per-layer blend weights (transfer.make_targets), on tiny networks."""

from __future__ import annotations

import pytest
import torch

from stylelab import scale
from stylelab.errors import LayerError, SettingsError
from stylelab.method.losses import gram
from stylelab.method.optimise import DEFAULT_LR
from stylelab.method.targets import blend_weights, make_targets
from stylelab.control.transfer import run
from stylelab.networks.vgg import PAPER_STYLE_LAYERS

LAYERS = list(PAPER_STYLE_LAYERS)
FAST = dict(steps=3, progress=False, content_layers=["relu4_2"], ratio=1e-3)


@pytest.fixture
def net(make_vgg):
    return make_vgg()


@pytest.fixture
def images(tiny_image):
    return tiny_image(32, seed=1), tiny_image(32, seed=2), tiny_image(32, seed=3)  # content, A (coarse), B (fine)


def _grams(model, image, layers):
    feats = model(image, layers)
    return {l: gram(f) for l, f in feats.items()}


# --------------------------------------------------------------------------------------
# make_targets: per-layer blend weights


def test_per_layer_blend_puts_each_paintings_gram_at_its_layers_exactly(net, images):
    _, a, b = images
    targets = make_targets(net, (32, 32), None, [], [a, b], LAYERS, blend=scale.mix(a, b, "relu3_1")["blend"])
    ga, gb = _grams(net, a, LAYERS), _grams(net, b, LAYERS)
    for l in ("relu1_1", "relu2_1"):
        assert torch.equal(targets.grams[l], gb[l]), l
    for l in ("relu3_1", "relu4_1", "relu5_1"):
        assert torch.equal(targets.grams[l], ga[l]), l
    assert not torch.allclose(ga["relu1_1"], gb["relu1_1"])  # the two paintings differ


def test_per_layer_blend_mixes_per_layer_and_normalises(net, images):
    _, a, b = images
    blend = {"relu1_1": [1, 3], "relu2_1": [2, 2], "relu3_1": [1, 0], "relu4_1": [0, 5], "relu5_1": [0.5, 0.5]}
    targets = make_targets(net, (32, 32), None, [], [a, b], LAYERS, blend=blend)
    ga, gb = _grams(net, a, LAYERS), _grams(net, b, LAYERS)
    for l, (wa, wb) in blend.items():
        s = wa + wb
        torch.testing.assert_close(targets.grams[l], ga[l] * (wa / s) + gb[l] * (wb / s))


def test_a_list_blend_is_the_same_at_every_layer(net, images):
    _, a, b = images
    as_list = make_targets(net, (32, 32), None, [], [a, b], LAYERS, blend=[1, 3])
    as_dict = make_targets(net, (32, 32), None, [], [a, b], LAYERS, blend={l: [1, 3] for l in LAYERS})
    for l in LAYERS:
        torch.testing.assert_close(as_list.grams[l], as_dict.grams[l])
    assert blend_weights(None, 2, LAYERS) == {l: [0.5, 0.5] for l in LAYERS}


def test_blend_dict_accepts_the_papers_names(net, images):
    _, a, b = images
    blend = {"conv1_1": [0, 1], "relu2_1": [0, 1], "relu3_1": [1, 0], "relu4_1": [1, 0], "relu5_1": [1, 0]}
    with pytest.raises(SettingsError, match="relu1_1"):  # conv1_1 is the pre-activation, not the style layer
        make_targets(net, (32, 32), None, [], [a, b], LAYERS, blend=blend)
    blend["block1_conv1"] = blend.pop("conv1_1")  # Keras' name of relu1_1
    targets = make_targets(net, (32, 32), None, [], [a, b], LAYERS, blend=blend)
    assert torch.equal(targets.grams["relu1_1"], _grams(net, b, ["relu1_1"])["relu1_1"])


@pytest.mark.parametrize("blend, message", [
    ({l: [1, 0] for l in LAYERS[:-1]}, "no weights for the style layer"),
    ({**{l: [1, 0] for l in LAYERS}, "relu4_2": [1, 0]}, "not a style layer"),
    ({**{l: [1, 0] for l in LAYERS}, "relu3_1": [1, 0, 1]}, "3 blend weights given for relu3_1 but 2"),
    ({**{l: [1, 0] for l in LAYERS}, "relu3_1": [0, 0]}, "relu3_1 sum to zero"),
    ({**{l: [1, 0] for l in LAYERS}, "relu3_1": [1, -1]}, "finite number >= 0"),
    ({**{l: [1, 0] for l in LAYERS}, "relu3_1": [1, float("nan")]}, "finite number >= 0"),
    ({**{l: [1, 0] for l in LAYERS}, "relu3_1": 1.0}, "one weight per style image"),
])
def test_bad_per_layer_blends(net, images, blend, message):
    _, a, b = images
    with pytest.raises(SettingsError, match=message):
        make_targets(net, (32, 32), None, [], [a, b], LAYERS, blend=blend)


def test_unknown_layer_in_a_blend(net, images):
    _, a, b = images
    with pytest.raises(LayerError, match="relu9_1"):
        make_targets(net, (32, 32), None, [], [a, b], LAYERS, blend={**{l: [1, 0] for l in LAYERS}, "relu9_1": [1, 0]})


def test_run_records_a_per_layer_blend(net, images):
    c, a, b = images
    r = run(c, model=net, **scale.mix(a, b, "relu2_1"), **FAST)
    assert r.settings["blend"] == {"relu1_1": [0.0, 1.0], **{l: [1.0, 0.0] for l in LAYERS[1:]}}
    import json

    json.dumps(r.settings)


# --------------------------------------------------------------------------------------
# scale.split_layers and scale.mix


def test_split_layers():
    assert scale.split_layers("relu3_1") == (["relu1_1", "relu2_1"], ["relu3_1", "relu4_1", "relu5_1"])
    assert scale.split_layers("conv3_1") == (["relu1_1", "relu2_1"], ["relu3_1", "relu4_1", "relu5_1"])
    assert scale.split_layers("relu2_2") == (["relu1_1", "relu2_1"], ["relu3_1", "relu4_1", "relu5_1"])
    assert scale.split_layers("relu1_1") == ([], LAYERS)
    assert scale.split_layers("relu5_2") == (LAYERS, [])
    assert scale.split_layers("relu4_1", ["relu5_1", "relu1_1"]) == (["relu1_1"], ["relu5_1"])


@pytest.mark.parametrize("split, error", [("relu9_1", LayerError), ("relu5_4", LayerError), ("", LayerError),
                                          (None, SettingsError), (3.5, SettingsError), (["relu3_1"], SettingsError)])
def test_bad_splits(split, error, images):
    _, a, b = images
    with pytest.raises(error):
        scale.split_layers(split, arch="vgg16")
    with pytest.raises(error):
        scale.mix(a, b, split, arch="vgg16")


def test_bad_paintings(images):
    _, a, _ = images
    with pytest.raises(SettingsError, match="fine painting"):
        scale.mix(a, a[0], "relu3_1")
    with pytest.raises(SettingsError, match="coarse painting"):
        scale.mix("wave.jpg", a, "relu3_1")


def test_unknown_style_layer_in_mix(images):
    _, a, b = images
    with pytest.raises(LayerError):
        scale.mix(a, b, "relu3_1", style_layers=["relu1_1", "relu6_1"])


@pytest.mark.parametrize("split, alone", [("relu1_1", "coarse"), ("pool5", "fine")])
def test_a_split_at_either_end_is_a_plain_one_style_run(net, images, split, alone):
    c, a, b = images
    plain = run(c, a if alone == "coarse" else b, model=net, **FAST)
    mixed = run(c, model=net, **scale.mix(a, b, split), **FAST)
    assert torch.equal(plain.image, mixed.image)
    assert [r["total"] for r in plain.history] == [r["total"] for r in mixed.history]
    for method in scale.METHODS:
        via = scale.transfer(c, a, b, split, method=method, model=net, **FAST)
        assert torch.equal(plain.image, via.image), method


def test_the_mix_matches_each_paintings_grams_where_asked(net, images, tiny_image):
    """A texture on the mixed targets: its loss per layer is measured against A at the coarse
    layers and B at the fine ones (the history's per-layer terms)."""
    _, a, b = images
    from stylelab.metrics import style_losses
    from stylelab.method.transfer import texture

    kw = scale.mix(a, b, "relu3_1")
    r = texture(kw.pop("styles"), **kw, model=net, steps=30, progress=False, size=(32, 32))
    against_a = style_losses(net, r.image, a, LAYERS)
    against_b = style_losses(net, r.image, b, LAYERS)
    recorded = r.losses["style_layers"]
    for l in ("relu1_1", "relu2_1"):
        assert recorded[l] == pytest.approx(against_b[l], rel=1e-4)
    for l in ("relu3_1", "relu4_1", "relu5_1"):
        assert recorded[l] == pytest.approx(against_a[l], rel=1e-4)


# --------------------------------------------------------------------------------------
# The paper's way: a new style image


def test_new_style_starts_from_the_coarse_painting_and_matches_only_the_fine_layers(net, images):
    _, a, b = images
    r = scale.new_style(a, b, "relu3_1", model=net, steps=5, progress=False)
    assert r.settings["style_layers"] == ["relu1_1", "relu2_1"]
    assert r.settings["content_layers"] == []
    assert torch.equal(r.init_image, a)
    assert r.settings["scale"]["coarse_layers"] == ["relu3_1", "relu4_1", "relu5_1"]
    assert r.history[-1]["style"] < r.history[0]["style"]
    assert r.image.shape == a.shape


def test_new_style_takes_smaller_lbfgs_steps_unless_told(net, images):
    """From a painting, a style-only L-BFGS run at the engine's step size 1 overshoots (scale.NEW_STYLE_LR)."""
    _, a, b = images
    assert scale.NEW_STYLE_LR < 1
    assert scale.new_style(a, b, "relu3_1", model=net, steps=2, progress=False).settings["lr"] == scale.NEW_STYLE_LR
    assert scale.new_style(a, b, "relu3_1", model=net, steps=2, progress=False, lr=1.0).settings["lr"] == 1.0
    adam = scale.new_style(a, b, "relu3_1", model=net, steps=2, progress=False, optimizer="adam")
    assert adam.settings["lr"] == DEFAULT_LR["adam"]  # Adam keeps its own step size


def test_new_style_at_either_end_is_one_painting(net, images):
    _, a, b = images
    assert torch.equal(scale.new_style(a, b, "relu1_1", model=net).image, a)
    assert torch.equal(scale.new_style(a, b, "pool5", model=net).image, b)
    r = scale.new_style(a, b, "relu1_1", model=net, size=(16, 24))
    assert r.image.shape[-2:] == (16, 24) and r.steps_done == 0


def test_transfer_paper_method_uses_the_new_style_image(net, images):
    c, a, b = images
    r = scale.transfer(c, a, b, "relu3_1", method="paper", style_steps=4, model=net, seed=3, **FAST)
    st = scale.new_style(a, b, "relu3_1", model=net, steps=4, seed=3, progress=False, size=(32, 32))
    assert torch.equal(r.style_image, st.image)
    plain = run(c, st.image, model=net, seed=3, **FAST)
    assert torch.equal(r.image, plain.image)
    assert r.settings["scale"]["method"] == "paper" and r.settings["scale"]["style_steps"] == 4


def test_transfer_paper_method_with_scales_makes_the_style_at_the_final_size(net, images, tiny_image):
    c = tiny_image(48, seed=5)
    _, a, b = images
    r = scale.transfer(c, a, b, method="paper", style_steps=2, model=net, scales=[32, 48], **FAST)
    assert r.style_image.shape[-2:] == (48, 48) and r.image.shape[-2:] == (48, 48)


def test_transfer_errors(net, images):
    c, a, b = images
    with pytest.raises(SettingsError, match="method"):
        scale.transfer(c, a, b, method="gram", model=net, **FAST)
    with pytest.raises(SettingsError, match="blend"):
        scale.transfer(c, a, b, model=net, blend=[1, 1], **FAST)
    with pytest.raises(LayerError):
        scale.transfer(c, a, b, "relu7_1", model=net, **FAST)


def test_a_bad_split_fails_before_the_network_is_loaded(images, monkeypatch):
    from stylelab import weights

    c, a, b = images
    monkeypatch.setattr(weights, "load_vgg", lambda *a, **k: pytest.fail("loaded the network"))
    with pytest.raises(LayerError):
        scale.transfer(c, a, b, "relu9_9", weights="vgg19", **FAST)


# --------------------------------------------------------------------------------------
# layout_correlation


def test_layout_correlation(tiny_image):
    a, b = tiny_image(48, seed=1), tiny_image(48, seed=2)
    assert scale.layout_correlation(a, a) == pytest.approx(1.0)
    assert scale.layout_correlation(a, 1 - a) == pytest.approx(-1.0)
    # the palette and brightness do not count: a darker, tinted copy keeps the arrangement
    tinted = (a * torch.tensor([0.5, 0.7, 0.3]).view(1, 3, 1, 1) + 0.1).clamp(0, 1)
    assert scale.layout_correlation(tinted, a) > 0.95
    assert abs(scale.layout_correlation(a, b)) < 0.5
    # a smooth gradient against its mirror image
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 32, 64).contiguous()
    assert scale.layout_correlation(ramp, ramp.flip(-1)) == pytest.approx(-1.0, abs=1e-4)
    assert scale.layout_correlation(ramp, torch.full_like(ramp, 0.5)) == 0.0  # a flat image has no layout
    assert scale.layout_correlation(ramp, ramp[..., ::2])  # resized to the image first == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(SettingsError):
        scale.layout_correlation(a, b, cells=1)


# --------------------------------------------------------------------------------------
# The command line: stylelab transfer CONTENT COARSE --fine-style FINE --split LAYER --mix paper|layers


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """Input pictures, no caller settings, and a tiny random network in place of the real weights."""
    import numpy as np
    from PIL import Image

    from stylelab import config, weights
    from stylelab.cli import command as cli
    from stylelab.networks.vgg import VGG

    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE, cli.ENV_DEBUG):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))

    def fake_load_vgg(*args, **kwargs):
        torch.manual_seed(0)
        return VGG("vgg16", widths=(4, 8, 8, 16, 16))

    monkeypatch.setattr(weights, "load_vgg", fake_load_vgg)
    folder = tmp_path / "in"
    folder.mkdir()
    paths = {}
    for i, name in enumerate(("content", "coarse", "fine")):
        rng = np.random.default_rng(i)
        paths[name] = folder / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(paths[name])
    return paths


def _cli(argv):
    from stylelab.cli import command as cli

    return cli.main([str(a) for a in argv])


@pytest.mark.parametrize("mix", ["paper", "layers"])
def test_cli_fine_style(cli_env, tmp_path, capsys, mix):
    import json

    out = tmp_path / "mixed.png"
    argv = ["transfer", cli_env["content"], cli_env["coarse"], "--fine-style", cli_env["fine"], "--split", "relu2_1",
            "--mix", mix, "-o", out, "--size", "32", "--steps", "3", "--quiet"]
    if mix == "paper":
        argv += ["--mix-steps", "2"]
    assert _cli(argv) == 0, capsys.readouterr().err
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["settings"]["scale"]["method"] == mix
    assert meta["settings"]["scale"]["fine_layers"] == ["relu1_1"]
    assert meta["settings"]["inputs"]["fine_style"] == str(cli_env["fine"])
    if mix == "paper":
        assert meta["settings"]["scale"]["style_steps"] == 2
    else:
        assert meta["settings"]["blend"]["relu1_1"] == [0.0, 1.0]


@pytest.mark.parametrize("extra, message", [
    (["--split", "relu3_1"], "--split need(s) --fine-style"),
    (["--mix", "layers"], "--mix need(s) --fine-style"),
    (["--fine-style", "FINE", "--split", "relu9_1"], "unknown layer 'relu9_1'"),
    (["--fine-style", "FINE", "--blend", "1"], "--blend does not combine"),
    (["--fine-style", "FINE", "--mix", "layers", "--mix-steps", "5"], "needs --mix paper"),
    (["--fine-style", "no_such_painting"], "--fine-style image 'no_such_painting'"),
    (["--fine-style", "FINE", "--mix", "grams"], "invalid choice"),
])
def test_cli_fine_style_errors(cli_env, tmp_path, capsys, extra, message):
    extra = [str(cli_env["fine"]) if a == "FINE" else a for a in extra]
    before = set(tmp_path.rglob("*"))
    code = _cli(["transfer", cli_env["content"], cli_env["coarse"], *extra, "-o", tmp_path / "o.png",
                 "--size", "32", "--steps", "2", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert set(tmp_path.rglob("*")) == before


def test_cli_fine_style_with_two_styles(cli_env, tmp_path, capsys):
    code = _cli(["transfer", cli_env["content"], cli_env["coarse"], cli_env["coarse"], "--fine-style",
                 cli_env["fine"], "-o", tmp_path / "o.png", "--size", "32", "--steps", "2", "--quiet"])
    assert code == 2 and "give one STYLE" in capsys.readouterr().err


def test_cli_fine_style_never_overwrites_it(cli_env, capsys):
    code = _cli(["transfer", cli_env["content"], cli_env["coarse"], "--fine-style", cli_env["fine"],
                 "-o", cli_env["fine"], "--size", "32", "--steps", "2", "--quiet"])
    assert code == 2 and "fine.png" in capsys.readouterr().err


def test_cli_help_documents_the_new_style_steps():
    from stylelab.cli import command as cli

    text = cli.build_parser()._subparsers._group_actions[0].choices["transfer"].format_help()
    assert "--fine-style" in text and "--split" in text
    assert f"(default: {scale.NEW_STYLE_STEPS})" in " ".join(text.split())
    assert f"(default: {scale.DEFAULT_SPLIT}" in " ".join(text.split())


# --------------------------------------------------------------------------------------
# Real weights: the new style image keeps the coarse painting's arrangement, takes the fine one's texture


@pytest.mark.weights
def test_new_style_keeps_the_coarse_arrangement_and_takes_the_fine_texture(real_model, samples):
    from stylelab.metrics import style_distances

    wave, starry = samples("great_wave", 96), samples("starry_night", 96)
    r = scale.new_style(wave, starry, "relu3_1", model=real_model, steps=60, progress=False)
    assert scale.layout_correlation(r.image, wave) > 0.8 > 0.6 > scale.layout_correlation(r.image, starry)
    to_wave = style_distances(real_model, r.image, wave, ["relu1_1", "relu2_1"])
    to_starry = style_distances(real_model, r.image, starry, ["relu1_1", "relu2_1"])
    for l in to_wave:
        assert to_starry[l] < 0.5 * to_wave[l], (l, to_starry[l], to_wave[l])


@pytest.mark.parametrize("method", ["layers", "paper"])
def test_preserve_colour_applies_to_both_methods(make_vgg, tiny_image, method):
    """scale.transfer goes through transfer(): preserve_colour= works with either method."""
    from stylelab import scale

    model = make_vgg()
    content, a, b = tiny_image(32, seed=1), tiny_image(32, seed=2), tiny_image(32, seed=3)
    r = scale.transfer(content, a, b, "relu2_1", method=method, model=model, steps=2, style_steps=2,
                       progress=False, preserve_colour="luminance")
    assert r.settings["preserve_colour"] == "luminance" and r.settings["scale"]["method"] == method
