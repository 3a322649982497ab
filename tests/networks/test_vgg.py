"""Tests for stylelab.networks.vgg: layer names in every convention, the table, the extractor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stylelab import config, vgg
from stylelab.errors import LayerError, SettingsError
from stylelab.networks.vgg import VGG, layer_names, layer_table, resolve_layer, resolve_layers

# --------------------------------------------------------------------------------------
# Layer names and indices


def test_vgg16_layer_names():
    convs = layer_names("vgg16", "conv")
    assert convs == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
                     "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]
    assert layer_names("vgg16", "relu") == [c.replace("conv", "relu") for c in convs]
    assert layer_names("vgg16", "pool") == ["pool1", "pool2", "pool3", "pool4", "pool5"]
    # torchvision's vgg16().features has 31 modules: 13 conv + 13 relu + 5 pool
    assert len(layer_names("vgg16")) == 31


def test_vgg19_layer_names():
    convs = layer_names("vgg19", "conv")
    assert len(convs) == 16
    assert convs[-1] == "conv5_4"
    assert "conv3_4" in convs and "conv4_4" in convs
    assert len(layer_names("vgg19", "relu")) == 16
    assert len(layer_names("vgg19", "pool")) == 5
    assert len(layer_names("vgg19")) == 37
    # forward order: conv, relu, ..., pool at the end of each block
    names = layer_names("vgg19")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-1] == "pool5"


def test_paper_layers_exist_in_both_architectures():
    for arch in ("vgg16", "vgg19"):
        names = layer_names(arch)
        assert vgg.PAPER_CONTENT_LAYER in names
        assert all(n in names for n in vgg.PAPER_STYLE_LAYERS)
        assert all(n in names for n in vgg.CVPR_RECONSTRUCTION_LAYERS)
    assert vgg.PAPER_CONTENT_LAYER == "relu4_2"
    assert vgg.PAPER_STYLE_LAYERS == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@pytest.mark.parametrize("arch, name, index", [
    ("vgg19", "conv1_1", 0), ("vgg19", "relu1_1", 1), ("vgg19", "pool1", 4), ("vgg19", "conv2_1", 5),
    ("vgg19", "conv3_1", 10), ("vgg19", "pool3", 18), ("vgg19", "conv4_1", 19),
    ("vgg19", "conv4_2", 21), ("vgg19", "relu4_2", 22), ("vgg19", "conv5_1", 28), ("vgg19", "relu5_1", 29),
    ("vgg19", "conv5_4", 34), ("vgg19", "pool5", 36),
    ("vgg16", "conv4_1", 17), ("vgg16", "conv4_2", 19), ("vgg16", "relu4_2", 20), ("vgg16", "pool3", 16),
    ("vgg16", "conv5_1", 24), ("vgg16", "conv5_3", 28), ("vgg16", "pool5", 30),
])
def test_torchvision_indices(arch, name, index):
    row = {r["paper"]: r for r in layer_table(arch, None)}[name]
    assert row["torchvision_index"] == index
    assert resolve_layer(index, arch) == name
    assert resolve_layer(str(index), arch) == name
    assert resolve_layer(f"features.{index}", arch) == name


def test_pytorch_tutorial_conv_4_is_conv2_2_not_conv4_2():
    """The tutorial numbers convolutions globally: its content layer conv_4 is conv2_2."""
    for arch in ("vgg16", "vgg19"):
        assert resolve_layer("conv_4", arch) == "conv2_2"
        assert resolve_layer("relu_4", arch) == "relu2_2"
        assert resolve_layer("conv_1", arch) == "conv1_1"
        assert resolve_layer("conv_5", arch) == "conv3_1"
    assert resolve_layer("conv_10", "vgg19") == "conv4_2"
    assert resolve_layer("conv_9", "vgg16") == "conv4_2"
    assert resolve_layer("conv_16", "vgg19") == "conv5_4"
    with pytest.raises(LayerError):
        resolve_layer("conv_14", "vgg16")  # VGG-16 has 13 convolutions


@pytest.mark.parametrize("arch, tutorial, paper", [
    # the tutorial names a pooling after the number of convolutions before it
    ("vgg19", "pool_2", "pool1"), ("vgg19", "pool_4", "pool2"), ("vgg19", "pool_8", "pool3"),
    ("vgg19", "pool_12", "pool4"), ("vgg19", "pool_16", "pool5"),
    ("vgg16", "pool_2", "pool1"), ("vgg16", "pool_4", "pool2"), ("vgg16", "pool_7", "pool3"),
    ("vgg16", "pool_10", "pool4"), ("vgg16", "pool_13", "pool5"),
])
def test_pytorch_tutorial_pool_names(arch, tutorial, paper):
    assert resolve_layer(tutorial, arch) == paper
    row = {r["paper"]: r for r in layer_table(arch, None)}[paper]
    assert row["pytorch_tutorial"] == tutorial


def test_keras_names():
    table = {r["paper"]: r for r in layer_table("vgg19", None)}
    assert table["conv4_2"]["keras"] == "block4_conv2"
    assert table["relu4_2"]["keras"] == "block4_conv2"
    assert table["pool3"]["keras"] == "block3_pool"
    # Keras fuses conv + relu: its layer output is the rectified response
    assert resolve_layer("block4_conv2") == "relu4_2"
    assert resolve_layer("block1_conv1", "vgg16") == "relu1_1"
    assert resolve_layer("block5_conv4", "vgg19") == "relu5_4"
    assert resolve_layer("block3_pool") == "pool3"
    with pytest.raises(LayerError):
        resolve_layer("block5_conv4", "vgg16")


def test_resolve_layer_accepts_paper_names_and_whitespace():
    assert resolve_layer("relu4_2") == "relu4_2"
    assert resolve_layer(" conv3_1 ") == "conv3_1"
    assert resolve_layer("pool4", "vgg16") == "pool4"


@pytest.mark.parametrize("bad", ["conv6_1", "conv4_5", "relu", "Conv4_2", "features.99", 99, -1, True, ""])
def test_resolve_layer_unknown_lists_valid_names(bad):
    with pytest.raises(LayerError) as info:
        resolve_layer(bad, "vgg19")
    msg = str(info.value)
    assert "valid names" in msg
    for name in ("conv1_1", "relu4_2", "conv5_4", "pool5"):
        assert name in msg


def test_layer_error_is_a_value_error():
    with pytest.raises(ValueError):
        resolve_layer("nope")


def test_resolve_layers_keeps_order_and_drops_repeats():
    assert resolve_layers(["relu4_2", "block4_conv2", 22, "relu1_1"], "vgg19") == ["relu4_2", "relu1_1"]
    assert resolve_layers("conv_4", "vgg19") == ["conv2_2"]
    assert resolve_layers(21, "vgg19") == ["conv4_2"]


def test_unknown_architecture():
    with pytest.raises(SettingsError):
        vgg.layers("vgg11")
    with pytest.raises(SettingsError):
        VGG("vgg13")


# --------------------------------------------------------------------------------------
# The table: spatial sizes and receptive fields


def test_layer_table_sizes_512():
    table = {r["paper"]: r for r in layer_table("vgg19", 512)}
    expected = {"conv1_1": 512, "relu1_2": 512, "pool1": 256, "conv2_1": 256, "pool2": 128,
                "conv3_1": 128, "conv4_2": 64, "relu4_2": 64, "pool4": 32, "conv5_1": 32, "pool5": 16}
    for name, side in expected.items():
        assert (table[name]["height"], table[name]["width"]) == (side, side), name
    assert table["conv4_2"]["channels"] == 512
    assert table["conv1_1"]["channels"] == 64
    assert table["relu3_1"]["channels"] == 256
    assert set(table["conv1_1"]) == {"paper", "kind", "torchvision_index", "pytorch_tutorial", "keras",
                                     "channels", "receptive_field", "downsampling", "height", "width"}


def test_layer_table_rectangular_and_no_size():
    table = {r["paper"]: r for r in layer_table("vgg16", (384, 512))}
    assert (table["relu4_2"]["height"], table["relu4_2"]["width"]) == (48, 64)
    assert (table["pool5"]["height"], table["pool5"]["width"]) == (12, 16)
    assert "height" not in layer_table("vgg16", None)[0]


@pytest.mark.parametrize("arch, name, rf", [
    # worked by hand: a 3x3 conv adds 2 * (stride so far), a 2x2/2 pooling adds 1 * (stride so far)
    ("vgg16", "conv1_1", 3), ("vgg16", "relu1_1", 3), ("vgg16", "conv1_2", 5), ("vgg16", "pool1", 6),
    ("vgg16", "conv2_1", 10), ("vgg16", "conv2_2", 14), ("vgg16", "pool2", 16), ("vgg16", "conv3_1", 24),
    ("vgg16", "pool3", 44), ("vgg16", "conv4_2", 76), ("vgg16", "pool4", 100), ("vgg16", "conv5_1", 132),
    ("vgg16", "pool5", 212),  # the well-known receptive field of VGG-16
    ("vgg19", "pool3", 52), ("vgg19", "conv4_2", 84), ("vgg19", "conv5_1", 156), ("vgg19", "pool5", 268),
])
def test_receptive_fields(arch, name, rf):
    table = {r["paper"]: r for r in layer_table(arch, None)}
    assert table[name]["receptive_field"] == rf


def test_downsampling():
    table = {r["paper"]: r for r in layer_table("vgg19", None)}
    assert table["conv1_1"]["downsampling"] == 1
    assert table["pool1"]["downsampling"] == 2
    assert table["conv2_1"]["downsampling"] == 2
    assert table["relu4_2"]["downsampling"] == 8
    assert table["conv5_1"]["downsampling"] == 16
    assert table["pool5"]["downsampling"] == 32


@pytest.mark.parametrize("names, need", [
    (["relu1_1"], 1), (["pool1"], 2), (["conv2_1"], 2), (["relu3_1"], 4), (["relu4_2"], 8),
    (["relu5_1"], 16), (["pool5"], 32), (["relu1_1", "relu5_1"], 16),
])
def test_min_input_size(names, need):
    assert vgg.min_input_size(names, "vgg19") == need


# --------------------------------------------------------------------------------------
# The extractor


def test_forward_returns_exactly_the_requested_layers(tiny_vgg, tiny_image):
    x = tiny_image(32)
    out = tiny_vgg(x, ["relu4_2", "block1_conv1", "pool2", 0])  # aliases resolve to paper names
    assert set(out) == {"relu4_2", "relu1_1", "pool2", "conv1_1"}
    assert out["relu4_2"].shape == (1, 16, 4, 4)
    assert out["relu1_1"].shape == (1, 4, 32, 32)
    assert out["pool2"].shape == (1, 8, 8, 8)
    assert out["conv1_1"].shape == (1, 4, 32, 32)


def test_forward_rectangular_and_batch(make_vgg, tiny_image):
    model = make_vgg()
    x = torch.cat([tiny_image(24, 40, seed=1), tiny_image(24, 40, seed=2)])
    out = model(x, ["relu3_1"])
    assert out["relu3_1"].shape == (2, 8, 6, 10)
    # the batch entries are independent
    single = model(x[1:], ["relu3_1"])["relu3_1"]
    torch.testing.assert_close(out["relu3_1"][1:], single, rtol=1e-5, atol=1e-6)


def test_forward_no_layers(tiny_vgg, tiny_image):
    with pytest.raises(LayerError):
        tiny_vgg(tiny_image(16), [])


def test_forward_unknown_layer(tiny_vgg, tiny_image):
    with pytest.raises(LayerError, match="valid names"):
        tiny_vgg(tiny_image(16), ["conv4_2", "conv9_9"])


def test_forward_bad_image_shape(tiny_vgg):
    with pytest.raises(SettingsError):
        tiny_vgg(torch.rand(1, 1, 16, 16), ["relu1_1"])
    with pytest.raises(SettingsError):
        tiny_vgg(torch.rand(3, 16, 16), ["relu1_1"])


def _spy_convs(monkeypatch, model):
    """Record the names of the convolutions computed (by the identity of their weight)."""
    by_weight = {id(conv.weight): name for name, conv in model.convs.items()}
    calls: list[str] = []
    real = F.conv2d

    def spy(x, weight, *args, **kwargs):
        name = by_weight.get(id(weight))
        for prepared in model.__dict__.get("_prepared", {}).values():  # channels-last / bf16 copies
            name = name or next((n for n, (w, _) in prepared.items() if w is weight), None)
        calls.append(name or "?")
        return real(x, weight, *args, **kwargs)

    monkeypatch.setattr(F, "conv2d", spy)
    return calls


def test_forward_stops_after_the_deepest_requested_layer(make_vgg, tiny_image, monkeypatch):
    model = make_vgg()
    calls = _spy_convs(monkeypatch, model)
    model(tiny_image(32), ["relu2_1"])
    assert calls == ["conv1_1", "conv1_2", "conv2_1"]
    calls.clear()
    model(tiny_image(32), ["relu1_1", "conv3_1"])
    assert calls == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
    calls.clear()
    model(tiny_image(32), ["relu5_3"])
    assert calls == layer_names("vgg16", "conv")


def test_inplace_relu_does_not_corrupt_requested_conv_output(tiny_vgg, tiny_image):
    out = tiny_vgg(tiny_image(16), ["conv1_1", "relu1_1", "conv2_2", "relu2_2"])
    for block in ("1_1", "2_2"):
        conv, relu = out[f"conv{block}"], out[f"relu{block}"]
        assert (conv < 0).any(), "the test needs negative pre-activations"
        torch.testing.assert_close(relu, conv.clamp(min=0))
        assert relu.data_ptr() != conv.data_ptr()


def test_conv_output_alone_equals_the_one_requested_with_its_relu(make_vgg, tiny_image):
    model = make_vgg()
    x = tiny_image(16)
    alone = model(x, ["conv3_1"])["conv3_1"]
    both = model(x, ["conv3_1", "relu3_1"])
    torch.testing.assert_close(alone, both["conv3_1"])


def test_forward_matches_a_plain_sequential_computation(make_vgg, tiny_image):
    """The extractor computes conv -> relu -> ... -> pool on the preprocessed image."""
    model = make_vgg(pooling="max")
    x = tiny_image(16)
    h = model.preprocess(x)
    for name in ("conv1_1", "conv1_2"):
        h = F.relu(F.conv2d(h, model.convs[name].weight, model.convs[name].bias, padding=1))
    h = F.max_pool2d(h, 2)
    h = F.conv2d(h, model.convs["conv2_1"].weight, model.convs["conv2_1"].bias, padding=1)
    torch.testing.assert_close(model(x, ["conv2_1"])["conv2_1"], h, rtol=1e-4, atol=1e-4 * h.abs().max())


def test_avg_and_max_pooling_differ(make_vgg, tiny_image):
    avg, mx = make_vgg(pooling="avg"), make_vgg(pooling="max")
    x = tiny_image(16)
    a, m = avg(x, ["relu1_2", "pool1"]), mx(x, ["relu1_2", "pool1"])
    torch.testing.assert_close(a["relu1_2"], m["relu1_2"])  # same weights before the pooling
    torch.testing.assert_close(a["pool1"], F.avg_pool2d(a["relu1_2"], 2))
    torch.testing.assert_close(m["pool1"], F.max_pool2d(m["relu1_2"], 2))
    assert not torch.allclose(a["pool1"], m["pool1"])
    assert (m["pool1"] >= a["pool1"] - 1e-6).all()
    assert not torch.allclose(avg(x, ["relu3_1"])["relu3_1"], mx(x, ["relu3_1"])["relu3_1"])


def test_bad_pooling_and_convention():
    with pytest.raises(SettingsError):
        VGG("vgg16", pooling="median", widths=(4, 4, 4, 4, 4))
    with pytest.raises(SettingsError):
        VGG("vgg16", convention="bgr", widths=(4, 4, 4, 4, 4))
    with pytest.raises(SettingsError):
        VGG("vgg16", widths=(4, 4, 4, 4))


def test_caffe_convention_preprocess(make_vgg, tiny_image):
    model = make_vgg(convention="caffe")
    x = tiny_image(8)
    bgr = x[:, [2, 1, 0]] * 255.0
    mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    torch.testing.assert_close(model.preprocess(x), bgr - mean)
    # a pure red pixel becomes (B, G, R) = (-103.939, -116.779, 255 - 123.68)
    red = torch.zeros(1, 3, 1, 1)
    red[0, 0] = 1.0
    torch.testing.assert_close(model.preprocess(red).flatten(),
                               torch.tensor([-103.939, -116.779, 255.0 - 123.68]))


def test_torch_convention_preprocess(make_vgg, tiny_image):
    model = make_vgg(convention="torch")
    x = tiny_image(8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(model.preprocess(x), (x - mean) / std)


@pytest.mark.parametrize("convention", ["torch", "caffe"])
def test_forward_applies_the_convention(make_vgg, tiny_image, convention):
    model = make_vgg(convention=convention)
    x = tiny_image(8)
    conv = model.convs["conv1_1"]
    expected = F.conv2d(model.preprocess(x), conv.weight, conv.bias, padding=1)
    # (the extractor may use another memory layout, so the rounding may differ a little)
    torch.testing.assert_close(model(x, ["conv1_1"])["conv1_1"], expected, rtol=1e-4, atol=1e-4 * expected.abs().max())
    assert not torch.allclose(expected, F.conv2d(x, conv.weight, conv.bias, padding=1))
    assert model.info["convention"] == convention


def test_preprocess_does_not_modify_the_input(tiny_vgg, tiny_image):
    x = tiny_image(16)
    before = x.clone()
    tiny_vgg(x, ["relu1_1", "relu2_1"])
    assert torch.equal(x, before)


def test_frozen_and_in_eval_mode(tiny_vgg, tiny_image):
    assert not tiny_vgg.training
    assert all(not p.requires_grad for p in tiny_vgg.parameters())
    # gradients reach only the image
    x = tiny_image(16).requires_grad_(True)
    tiny_vgg(x, ["relu3_1"])["relu3_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_vgg.parameters())


def test_a_fresh_vgg_is_frozen():
    model = VGG("vgg16", widths=(2, 2, 2, 2, 2))
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert set(dict(model.named_parameters())) == {
        f"convs.{n}.{p}" for n in layer_names("vgg16", "conv") for p in ("weight", "bias")}


def test_parameter_shapes_follow_widths(make_vgg):
    model = make_vgg(arch="vgg19", widths=(2, 3, 4, 5, 6))
    assert model.convs["conv1_1"].weight.shape == (2, 3, 3, 3)
    assert model.convs["conv2_1"].weight.shape == (3, 2, 3, 3)
    assert model.convs["conv5_4"].weight.shape == (6, 6, 3, 3)
    assert model.convs["conv4_1"].weight.shape == (5, 4, 3, 3)


@pytest.mark.parametrize("layer, side, need", [("relu5_1", 15, 16), ("conv4_2", 7, 8), ("pool5", 31, 32),
                                               ("pool1", 1, 2)])
def test_image_too_small_for_the_deepest_layer(make_vgg, tiny_image, layer, side, need):
    model = make_vgg()
    with pytest.raises(LayerError) as info:
        model(tiny_image(side), ["relu1_1", layer])
    msg = str(info.value)
    assert f"{need} px" in msg
    assert layer in msg
    # exactly the minimum works
    out = model(tiny_image(need), ["relu1_1", layer])
    assert out[layer].shape[-2:] == (1, 1)


def test_image_too_small_on_one_side(make_vgg):
    model = make_vgg()
    with pytest.raises(LayerError, match="16 px"):
        model(torch.rand(1, 3, 64, 12), ["relu5_1"])


def test_device_cpu(tiny_vgg, tiny_image):
    dev = config.resolve_device("cpu")
    assert dev == torch.device("cpu")
    model = tiny_vgg.to(dev)
    out = model(tiny_image(16), ["relu2_1"])
    assert out["relu2_1"].device.type == "cpu"


def test_resolve_device_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SettingsError, match="CUDA"):
        config.resolve_device("cuda")
    with pytest.raises(SettingsError):
        config.resolve_device("cuda:1")
    with pytest.raises(SettingsError):
        config.resolve_device("gpu")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)
        with pytest.raises(SettingsError, match="MPS"):
            config.resolve_device("mps")


def test_default_device_from_env(monkeypatch):
    monkeypatch.setenv(config.ENV_DEVICE, "cpu")
    assert config.resolve_device(None) == torch.device("cpu")
    assert config.resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(config.ENV_DEVICE, "cuda")
    with pytest.raises(SettingsError):
        config.default_device()


def test_prepared_weights_follow_changes_of_the_parameters(make_vgg, tiny_image):
    """The channels-last / low-precision weight copies are made once and dropped when a weight changes."""
    model = make_vgg()
    x = tiny_image(32)
    first = model(x, ["relu2_1"])["relu2_1"].clone()
    cached = dict(model.__dict__.get("_prepared", {}))
    model(x, ["relu2_1"])
    assert model.__dict__.get("_prepared", {}).keys() == cached.keys()  # reused, not rebuilt
    with torch.no_grad():
        model.convs["conv1_1"].weight.mul_(2.0)  # in place, as the normalisation rescales
    again = model(x, ["relu2_1"])["relu2_1"]
    assert not torch.allclose(again, first)
    fresh = make_vgg()
    with torch.no_grad():
        fresh.convs["conv1_1"].weight.mul_(2.0)
    torch.testing.assert_close(again, fresh(x, ["relu2_1"])["relu2_1"])


def test_bf16_autocast_uses_bf16_weights_once(make_vgg, tiny_image):
    model = make_vgg()
    x = tiny_image(32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x, ["relu3_1"])["relu3_1"]
    assert low.dtype == torch.bfloat16
    prepared = next(iter(model.__dict__["_prepared"].values()))
    assert all(w.dtype == torch.bfloat16 for w, _ in prepared.values())
    exact = model(x, ["relu3_1"])["relu3_1"]
    assert exact.dtype == torch.float32
    torch.testing.assert_close(low.float(), exact, rtol=0.05, atol=0.05 * float(exact.abs().max()))


def test_a_network_being_trained_gets_gradients_in_its_parameters(make_vgg, tiny_image):
    model = make_vgg()
    for p in model.parameters():
        p.requires_grad_(True)
    model(tiny_image(32), ["relu2_1"])["relu2_1"].sum().backward()
    assert model.convs["conv1_1"].weight.grad is not None and model.convs["conv2_1"].weight.grad.abs().sum() > 0
