"""Tests for stylelab.networks.weights: the registry, safe loading, key formats, downloads,
and the paper's normalised network (on tiny random networks)."""

from __future__ import annotations

import builtins
import dataclasses
import enum
import hashlib
import sys
import types
from pathlib import Path

import pytest
import torch

from stylelab import config, torchvision_weights, weights
from stylelab.errors import DataError, WeightsError
from stylelab.networks.vgg import TORCH_MEAN, TORCH_STD, VGG, layers
from stylelab.networks.weights import WeightSet

VGG16_CONVS = [l for l in layers("vgg16") if l.kind == "conv"]


# --------------------------------------------------------------------------------------
# A full-shape VGG-16 state dict with random values (what loading validates against)


@pytest.fixture(scope="session")
def vgg16_state() -> dict[str, torch.Tensor]:
    """torchvision-format keys (``features.N.weight``), real VGG-16 shapes, random values."""
    g = torch.Generator().manual_seed(16)
    state = {}
    for l in VGG16_CONVS:
        state[f"features.{l.index}.weight"] = torch.randn(l.channels, l.in_channels, 3, 3, generator=g) * 0.01
        state[f"features.{l.index}.bias"] = torch.randn(l.channels, generator=g) * 0.01
    return state


@pytest.fixture(scope="session")
def vgg16_file(vgg16_state, tmp_path_factory) -> Path:
    """The random VGG-16 state dict written once per session (about 59 MB)."""
    path = tmp_path_factory.mktemp("weights") / "vgg16-random.pth"
    torch.save(vgg16_state, path)
    return path


def _rename(state, fmt):
    out = {}
    for l in VGG16_CONVS:
        for part in ("weight", "bias"):
            t = state[f"features.{l.index}.{part}"]
            key = {"bare": f"{l.index}.{part}", "paper": f"{l.name}.{part}", "module": f"convs.{l.name}.{part}",
                   "keras": f"{l.keras}.{part}"}[fmt]
            out[key] = t
    return out


# --------------------------------------------------------------------------------------
# Key formats and validation


@pytest.mark.parametrize("fmt", ["torchvision", "bare", "paper", "module", "keras"])
def test_to_paper_names_accepts_every_format(vgg16_state, fmt):
    state = vgg16_state if fmt == "torchvision" else _rename(vgg16_state, fmt)
    out = weights.to_paper_names(state, "vgg16")
    assert set(out) == {f"convs.{l.name}.{p}" for l in VGG16_CONVS for p in ("weight", "bias")}
    # features.19 is conv4_2 in VGG-16
    assert torch.equal(out["convs.conv4_2.weight"], vgg16_state["features.19.weight"])
    assert torch.equal(out["convs.conv1_1.bias"], vgg16_state["features.0.bias"])
    assert torch.equal(out["convs.conv5_3.weight"], vgg16_state["features.28.weight"])


def test_to_paper_names_converts_to_float32(vgg16_state):
    state = {k: v.double() for k, v in vgg16_state.items()}
    out = weights.to_paper_names(state, "vgg16")
    assert all(t.dtype == torch.float32 for t in out.values())


def test_missing_keys_are_named(vgg16_state):
    state = dict(vgg16_state)
    del state["features.28.weight"]
    del state["features.28.bias"]
    del state["features.0.bias"]
    with pytest.raises(WeightsError) as info:
        weights.to_paper_names(state, "vgg16", source="mine.pth")
    msg = str(info.value)
    assert "mine.pth" in msg
    assert "features.28.weight (conv5_3)" in msg
    assert "features.28.bias (conv5_3)" in msg
    assert "features.0.bias (conv1_1)" in msg


def test_many_missing_keys_are_summarised():
    with pytest.raises(WeightsError, match=r"and 20 more"):
        weights.to_paper_names({}, "vgg16")


def test_wrong_shape_names_layer_expected_and_got(vgg16_state):
    state = dict(vgg16_state)
    state["features.19.weight"] = torch.zeros(512, 512, 5, 5)
    with pytest.raises(WeightsError) as info:
        weights.to_paper_names(state, "vgg16")
    msg = str(info.value)
    assert "conv4_2" in msg
    assert "(512, 512, 3, 3)" in msg  # expected
    assert "(512, 512, 5, 5)" in msg  # got


def test_vgg16_weights_do_not_fit_vgg19(vgg16_state):
    with pytest.raises(WeightsError):
        weights.to_paper_names(vgg16_state, "vgg19")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights(vgg16_state, bad):
    state = dict(vgg16_state)
    t = state["features.7.weight"].clone()
    t[0, 0, 1, 1] = bad
    state["features.7.weight"] = t
    with pytest.raises(WeightsError, match="NaN or infinite") as info:
        weights.to_paper_names(state, "vgg16")
    assert "conv2_2" in str(info.value)


def test_entry_that_is_not_a_tensor(vgg16_state):
    state = dict(vgg16_state)
    state["features.0.bias"] = [0.0] * 64
    with pytest.raises(WeightsError, match="not a tensor"):
        weights.to_paper_names(state, "vgg16")


# --------------------------------------------------------------------------------------
# Reading files safely


def test_read_state_dict_roundtrip(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"a": torch.ones(2)}, path)
    assert torch.equal(weights.read_state_dict(path)["a"], torch.ones(2))


def test_read_state_dict_unwraps_state_dict_key(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {"a": torch.ones(2)}, "epoch": 3}, path)
    assert list(weights.read_state_dict(path)) == ["a"]


@pytest.mark.parametrize("obj", [[torch.zeros(2)], torch.zeros(3), {1: torch.zeros(1)}])
def test_read_state_dict_not_a_dict(tmp_path, obj):
    path = tmp_path / "w.pth"
    torch.save(obj, path)
    with pytest.raises(WeightsError, match="does not hold a state dict"):
        weights.read_state_dict(path)


def test_read_state_dict_missing_empty_directory_garbage(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        weights.read_state_dict(tmp_path / "nope.pth")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        weights.read_state_dict(empty)
    with pytest.raises(WeightsError, match="directory"):
        weights.read_state_dict(tmp_path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(WeightsError):
        weights.read_state_dict(garbage)
    truncated = tmp_path / "truncated.pth"
    torch.save({"a": torch.zeros(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(WeightsError):
        weights.read_state_dict(truncated)


class _Payload:
    """Unpickling this would create a file: a stand-in for malicious code in a .pth."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": _Payload(marker)}, path)
    with pytest.raises(WeightsError, match="refusing to load"):
        weights.read_state_dict(path)
    assert not marker.exists()
    with pytest.raises(WeightsError):
        weights.load_vgg(str(path), arch="vgg16", convention="caffe", normalized=False, device="cpu")
    assert not marker.exists()
    # the payload is live: an unsafe load would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


# --------------------------------------------------------------------------------------
# load_vgg with a local file


def test_load_vgg_from_local_file(vgg16_file, vgg16_state):
    model = weights.load_vgg(str(vgg16_file), arch="vgg16", convention="caffe", normalized=False, device="cpu")
    assert isinstance(model, VGG)
    assert (model.arch, model.convention, model.pooling) == ("vgg16", "caffe", "avg")
    assert model.info["normalized"] is False
    assert model.info["path"] == str(vgg16_file)
    assert torch.equal(model.convs["conv4_2"].weight, vgg16_state["features.19.weight"])
    assert torch.equal(model.convs["conv3_3"].bias, vgg16_state["features.14.bias"])
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    # cached per process: the same settings give the same (frozen) object
    again = weights.load_vgg(str(vgg16_file), arch="vgg16", convention="caffe", normalized=False, device="cpu")
    assert again is model
    other = weights.load_vgg(str(vgg16_file), arch="vgg16", convention="caffe", normalized=False,
                             pooling="max", device="cpu")
    assert other is not model and other.pooling == "max"


def test_load_vgg_normalized_uses_the_sample_images(vgg16_file, monkeypatch, tmp_path):
    """normalized=True rescales on the sample images (here: two tiny stand-ins)."""
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    sizes = []

    def fake_samples(size):
        sizes.append(size)
        g = torch.Generator().manual_seed(0)
        return [torch.rand(1, 3, 32, 32, generator=g) for _ in range(2)]

    monkeypatch.setattr(weights, "_sample_images", fake_samples)
    model = weights.load_vgg(str(vgg16_file), arch="vgg16", convention="caffe", pooling="max", device="cpu")
    assert sizes == [256]
    assert model.info["normalized"] is True
    imgs = fake_samples(32)
    feats = [model(x, ["relu1_1", "relu3_1"]) for x in imgs]
    for name in ("relu1_1", "relu3_1"):
        mean = sum(f[name].mean(dim=(0, 2, 3)) for f in feats) / len(feats)
        alive = mean > 1e-3
        assert alive.sum() > 0
        torch.testing.assert_close(mean[alive], torch.ones(int(alive.sum())), atol=1e-3, rtol=0)


def test_load_vgg_missing_local_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        weights.load_vgg(str(tmp_path / "none.pth"), arch="vgg16", convention="caffe", device="cpu")


def test_load_vgg_wrong_architecture(vgg16_file):
    with pytest.raises(WeightsError):
        weights.load_vgg(str(vgg16_file), arch="vgg19", convention="caffe", normalized=False, device="cpu")


def test_load_vgg_not_downloaded(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsError, match="not downloaded"):
        weights.load_vgg("vgg19", download_missing=False, device="cpu")


# --------------------------------------------------------------------------------------
# STYLELAB_WEIGHTS and resolve()


def test_from_env_unset(monkeypatch):
    monkeypatch.delenv(config.ENV_WEIGHTS, raising=False)
    assert weights.from_env() is None
    monkeypatch.setenv(config.ENV_WEIGHTS, "   ")
    assert weights.from_env() is None


def test_from_env_parses(monkeypatch):
    monkeypatch.setenv(config.ENV_WEIGHTS, "vgg16:caffe:/data/vgg16.pth")
    ws = weights.from_env()
    assert (ws.arch, ws.convention, ws.path) == ("vgg16", "caffe", "/data/vgg16.pth")
    assert ws.name == "local:vgg16.pth"


def test_from_env_path_with_colons(monkeypatch):
    monkeypatch.setenv(config.ENV_WEIGHTS, "vgg19:torch:/mnt/c:/models/v:1/vgg19.pth")
    ws = weights.from_env()
    assert (ws.arch, ws.convention) == ("vgg19", "torch")
    assert ws.path == "/mnt/c:/models/v:1/vgg19.pth"


@pytest.mark.parametrize("value", ["vgg16", "vgg16:/data/x.pth", "vgg16::/data/x.pth", ":caffe:/x.pth",
                                   "vgg16:caffe:", "vgg13:caffe:/x.pth", "vgg16:bgr:/x.pth"])
def test_from_env_malformed(monkeypatch, value):
    monkeypatch.setenv(config.ENV_WEIGHTS, value)
    with pytest.raises(WeightsError):
        weights.from_env()
    with pytest.raises(WeightsError):
        weights.resolve(None)


def test_resolve_registry_and_default(monkeypatch):
    monkeypatch.delenv(config.ENV_WEIGHTS, raising=False)
    assert set(weights.names()) == {"vgg19", "vgg16", "vgg19-caffe", "vgg16-caffe"}
    for name in weights.names():
        ws = weights.resolve(name)
        assert ws is weights.REGISTRY[name]
        assert ws.url and ws.sha256
    assert weights.resolve(None).name == "vgg19"
    assert weights.resolve("default").name == "vgg19"
    assert weights.resolve("vgg19-caffe").convention == "caffe"
    assert weights.resolve("vgg16").arch == "vgg16"
    ws = weights.resolve("vgg16")
    assert weights.resolve(ws) is ws


def test_resolve_default_prefers_env(monkeypatch):
    monkeypatch.setenv(config.ENV_WEIGHTS, "vgg16:caffe:/data/vgg16.pth")
    assert weights.resolve(None).path == "/data/vgg16.pth"
    assert weights.resolve("env").path == "/data/vgg16.pth"
    assert weights.resolve("vgg19").name == "vgg19"  # an explicit name still wins


def test_resolve_env_unset(monkeypatch):
    monkeypatch.delenv(config.ENV_WEIGHTS, raising=False)
    with pytest.raises(WeightsError, match=config.ENV_WEIGHTS):
        weights.resolve("env")


@pytest.mark.parametrize("name", ["vgg21", "VGG19", "alexnet", "resnet50"])
def test_resolve_unknown_name(name):
    with pytest.raises(WeightsError, match="registered"):
        weights.resolve(name)


def test_resolve_path_needs_arch_and_convention(tmp_path):
    with pytest.raises(WeightsError, match="architecture"):
        weights.resolve("/data/vgg.pth")
    with pytest.raises(WeightsError):
        weights.resolve("my-weights.pth", arch="vgg16")
    ws = weights.resolve("/data/vgg.pth", arch="vgg16", convention="torch")
    assert (ws.arch, ws.convention, ws.path) == ("vgg16", "torch", "/data/vgg.pth")
    with pytest.raises(WeightsError):
        weights.resolve("/data/vgg.pth", arch="vgg11", convention="torch")
    with pytest.raises(WeightsError):
        weights.resolve("/data/vgg.pth", arch="vgg16", convention="rgb")


def test_describe(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    d = weights.describe("vgg19")
    assert d["name"] == "vgg19" and d["present"] is False
    assert d["cached_at"].startswith(str(tmp_path / "torch"))
    assert d["cached_at"].endswith("vgg19-dcbb9e9d.pth")


# --------------------------------------------------------------------------------------
# Downloads and hashes (no network: torch.hub's downloader is replaced)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """TORCH_HOME in tmp; ``hub.calls`` records (url, dst) of every download attempt."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    class Hub:
        calls: list = []
        behaviour = None

    def fake(url, dst, hash_prefix=None, progress=True):
        Hub.calls.append((url, dst, hash_prefix))
        return Hub.behaviour(url, dst, hash_prefix)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake)
    return Hub


def test_download_hash_mismatch(hub):
    def mismatch(url, dst, prefix):  # what torch.hub raises on a bad hash (and it leaves no file)
        raise RuntimeError(f'invalid hash value (expected "{prefix}", got "0123abcd")')

    hub.behaviour = mismatch
    with pytest.raises(WeightsError, match="hash"):
        weights.download("vgg16")
    assert hub.calls[0][2] == "397923af"
    assert not weights.cache_path(weights.REGISTRY["vgg16"]).exists()


def test_download_offline(hub):
    def offline(url, dst, prefix):
        raise OSError("Name or service not known")

    hub.behaviour = offline
    with pytest.raises(WeightsError, match=config.ENV_WEIGHTS):
        weights.download("vgg19")
    with pytest.raises(WeightsError):
        weights.load_vgg("vgg19", device="cpu", progress=False)


def test_download_once_into_torch_hub(hub, tmp_path):
    def ok(url, dst, prefix):
        Path(dst).write_bytes(b"x")

    hub.behaviour = ok
    path = weights.download("vgg16-caffe", progress=False)
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-00b39a1b.pth"
    assert hub.calls[0][0] == weights.REGISTRY["vgg16-caffe"].url
    weights.download("vgg16-caffe", progress=False)
    assert len(hub.calls) == 1  # already there: not fetched again


def test_download_local_set(hub, tmp_path):
    f = tmp_path / "w.pth"
    ws = weights.local(f, "vgg16", "caffe")
    with pytest.raises(WeightsError, match="not found"):
        weights.download(ws)
    f.write_bytes(b"x")
    assert weights.download(ws) == f
    assert hub.calls == []


def test_verify(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    f = tmp_path / "weights.pth"
    f.write_bytes(b"some weights")
    digest = hashlib.sha256(b"some weights").hexdigest()
    good = WeightSet("t", "vgg16", "caffe", path=str(f), sha256=digest)
    assert weights.verify(good) is True
    assert weights.verify(dataclasses.replace(good, sha256=digest[:8])) is True  # a prefix, as torch hub uses
    assert weights.verify(dataclasses.replace(good, sha256="0" * 64)) is False
    assert weights.verify(dataclasses.replace(good, sha256=None)) is True  # nothing to check against
    assert weights.verify(dataclasses.replace(good, path=str(tmp_path / "missing.pth"))) is False
    assert weights.verify("vgg19") is False  # not downloaded (TORCH_HOME is empty)
    assert weights.sha256_of(f) == digest


# --------------------------------------------------------------------------------------
# The normalised network (Gatys et al., CVPR 2016, section 2)


def _images(n=3, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 3, size, size, generator=g) for _ in range(n)]


def _relu_means(model, images):
    relus = [l.name for l in model.layers if l.kind == "relu"]
    feats = [model(x, relus) for x in images]
    return {n: torch.stack([f[n].mean(dim=(0, 2, 3)) for f in feats]).mean(0) for n in relus}


@pytest.mark.parametrize("pooling", ["avg", "max"])
@pytest.mark.parametrize("convention", ["torch", "caffe"])
def test_normalised_mean_activation_is_one(make_vgg, pooling, convention):
    model = make_vgg(pooling=pooling, convention=convention)
    images = _images()
    scales = weights.normalisation_scales(model, images)
    before = _relu_means(model, images)
    for name, m in scales.items():
        alive = before[name] > 1e-12
        torch.testing.assert_close(m[alive], before[name][alive])
        assert (m[~alive] == 1).all()  # dead filters are left alone
    weights.apply_normalisation(model, scales)
    assert model.info["normalized"] is True
    after = _relu_means(model, images)
    assert set(after) == {l.name for l in model.layers if l.kind == "relu"}
    n_checked = 0
    for name, mean in after.items():
        alive = before[name] > 1e-6
        n_checked += int(alive.sum())
        torch.testing.assert_close(mean[alive], torch.ones(int(alive.sum())), atol=1e-4, rtol=0)
        assert (mean[~alive] < 1e-5).all()
    assert n_checked > 100


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_normalised_features_are_rescaled_per_channel(make_vgg, pooling):
    """Each filter's response is divided by one positive factor, the same at every
    position and for every image, including images not used for the means."""
    original = make_vgg(pooling=pooling)
    normed = make_vgg(pooling=pooling)
    scales = weights.normalisation_scales(original, _images())
    weights.apply_normalisation(normed, scales)
    names = [l.name for l in original.layers]  # conv, relu and pool outputs
    for x in _images(2, size=32, seed=7):
        a, b = original(x, names), normed(x, names)
        for l in original.layers:
            if l.kind == "pool":  # a pooling keeps the scaling of its block's last ReLU
                m = scales[[k for k in scales if k.startswith(f"relu{l.block}_")][-1]]
            else:  # conv3_1 and relu3_1 are both divided by relu3_1's mean
                m = scales[f"relu{l.name[4:]}"]
            assert (m > 0).all()
            torch.testing.assert_close(b[l.name] * m.view(1, -1, 1, 1), a[l.name], rtol=1e-4, atol=1e-5)


def test_normalisation_scales_weight_images_by_area(make_vgg):
    """The mean is over all positions: a big image counts more than a small one."""
    model = make_vgg()
    small, big = _images(1, size=16, seed=1)[0], _images(1, size=48, seed=2)[0]
    scales = weights.normalisation_scales(model, [small, big])
    f_s, f_b = model(small, ["relu1_1"])["relu1_1"], model(big, ["relu1_1"])["relu1_1"]
    pooled = torch.cat([f_s.flatten(2), f_b.flatten(2)], dim=2).mean(dim=(0, 2))
    torch.testing.assert_close(scales["relu1_1"], pooled)


def test_normalize_caches_the_means(make_vgg, monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    wfile = tmp_path / "fake.pth"
    wfile.write_bytes(b"stand-in for a state dict")
    ws = WeightSet("fake", "vgg16", "torch", path=str(wfile))
    sample_calls, scale_calls = [], []
    real_scales = weights.normalisation_scales

    def fake_samples(size):
        sample_calls.append(size)
        return _images(2, size=size)

    def counting_scales(model, images):
        scale_calls.append(len(images))
        return real_scales(model, images)

    monkeypatch.setattr(weights, "_sample_images", fake_samples)
    monkeypatch.setattr(weights, "normalisation_scales", counting_scales)

    first = weights.normalize(make_vgg(), ws, size=32)
    assert (sample_calls, scale_calls) == ([32], [2])
    cached = list((tmp_path / "cache" / "normalisation").glob("vgg16-avg-*.pt"))
    assert len(cached) == 1
    assert not list((tmp_path / "cache" / "normalisation").glob(".*tmp"))

    second = weights.normalize(make_vgg(), ws, size=32)
    assert (sample_calls, scale_calls) == ([32], [2])  # read from the cache
    for (n1, p1), (n2, p2) in zip(first.named_parameters(), second.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)

    weights.normalize(make_vgg(pooling="max"), ws, size=32)  # another pooling: computed again
    assert scale_calls == [2, 2]
    weights.normalize(make_vgg(), ws, size=24)  # another size: computed again
    assert scale_calls == [2, 2, 2]

    cached[0].write_bytes(b"damaged")  # a damaged entry is recomputed, not an error
    third = weights.normalize(make_vgg(), ws, size=32)
    assert scale_calls == [2, 2, 2, 2]
    assert torch.equal(third.convs["conv3_1"].weight, first.convs["conv3_1"].weight)

    weights.normalize(make_vgg(), ws, size=32, cache=False)
    assert scale_calls == [2, 2, 2, 2, 2]
    weights.normalize(make_vgg(), ws, images=_images(1))  # explicit images: never cached
    assert scale_calls == [2, 2, 2, 2, 2, 1]


def test_normalize_without_sample_images(make_vgg, monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    wfile = tmp_path / "fake.pth"
    wfile.write_bytes(b"x")
    ws = WeightSet("fake", "vgg16", "torch", path=str(wfile))

    def no_data(name, size=None):
        raise DataError("offline")

    monkeypatch.setattr("stylelab.data.load", no_data)
    with pytest.raises(WeightsError, match="normalize=False") as info:
        weights.normalize(make_vgg(), ws, size=32)
    assert isinstance(info.value.__cause__, DataError)


# --------------------------------------------------------------------------------------
# torchvision's weights (``torchvision:vgg16``), with a stand-in for torchvision: the
# main environment has none (tests/networks/test_torchvision.py checks against the real one)


@pytest.fixture
def fake_torchvision(monkeypatch, tmp_path, vgg16_state):
    """A ``torchvision`` module whose ``models.VGG16_Weights`` behaves like torchvision's
    weight enum; ``get_state_dict`` records its keyword arguments, writes the file into
    torch hub's cache as torchvision would, and returns the random VGG-16 state dict."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls: list[dict] = []
    features_mean, features_std = (0.48235, 0.45882, 0.40784), (1 / 255,) * 3

    class Preset:  # what ``member.transforms()`` gives: an object with mean and std
        def __init__(self, mean, std):
            self.mean, self.std = list(mean), list(std)

    class VGG16_Weights(enum.Enum):
        IMAGENET1K_V1 = ("https://download.pytorch.org/models/vgg16-397923af.pth", TORCH_MEAN, TORCH_STD)
        IMAGENET1K_FEATURES = ("https://download.pytorch.org/models/vgg16_features-amdegroot-88682ab5.pth",
                               features_mean, features_std)
        DEFAULT = ("https://download.pytorch.org/models/vgg16-397923af.pth", TORCH_MEAN, TORCH_STD)  # an alias

        @property
        def url(self):
            return self.value[0]

        def transforms(self):
            return Preset(self.value[1], self.value[2])

        def get_state_dict(self, *args, **kwargs):
            calls.append(kwargs)
            path = Path(torch.hub.get_dir()) / "checkpoints" / self.url.rsplit("/", 1)[-1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"cached by the fake torchvision")
            return dict(vgg16_state)

    package = types.ModuleType("torchvision")
    package.models = types.ModuleType("torchvision.models")
    package.models.VGG16_Weights = VGG16_Weights
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.models", package.models)
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("stylelab downloaded itself"))
    package.calls = calls
    package.Weights = VGG16_Weights
    return package


@pytest.mark.parametrize("name, member", [
    ("torchvision:vgg16", "VGG16_Weights.IMAGENET1K_V1"),
    ("torchvision:VGG19", "VGG19_Weights.IMAGENET1K_V1"),
    (" torchvision:VGG16_Weights.IMAGENET1K_FEATURES", "VGG16_Weights.IMAGENET1K_FEATURES"),
    ("torchvision:VGG19_Weights.DEFAULT", "VGG19_Weights.DEFAULT"),
])
def test_torchvision_names_parse_without_torchvision(name, member, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # parsing never imports it
    assert torchvision_weights.is_torchvision_name(name)
    assert torchvision_weights.parse(name) == member


@pytest.mark.parametrize("name, match", [
    ("torchvision:", "unknown torchvision weights"),
    ("torchvision:resnet50", "unknown torchvision weights"),
    ("torchvision:vgg16.pth", "unknown torchvision weights"),
    ("torchvision:VGG11_Weights.IMAGENET1K_V1", "VGG-16 or VGG-19"),
    ("torchvision:VGG16_BN_Weights.IMAGENET1K_V1", "batch normalisation"),
])
def test_torchvision_bad_names(name, match):
    with pytest.raises(WeightsError, match=match):
        torchvision_weights.parse(name)
    with pytest.raises(WeightsError, match=match):  # before torchvision is even imported
        weights.resolve(name)


def test_other_names_are_not_torchvision_names():
    assert not any(torchvision_weights.is_torchvision_name(n) for n in ("vgg16", "/data/torchvision:x.pth", None))


@pytest.mark.parametrize("how", ["missing", "broken"])
def test_torchvision_missing_or_broken_is_a_clear_error(how, monkeypatch):
    if how == "missing":
        monkeypatch.setitem(sys.modules, "torchvision", None)  # import raises ModuleNotFoundError
    else:  # installed for another torch: importing it fails inside torchvision
        monkeypatch.delitem(sys.modules, "torchvision", raising=False)
        monkeypatch.delitem(sys.modules, "torchvision.models", raising=False)
        real_import = builtins.__import__

        def broken(name, *args, **kwargs):
            if name.split(".")[0] == "torchvision":
                raise RuntimeError("operator torchvision::nms does not exist\n(more lines)")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", broken)
    for call in (lambda: weights.resolve("torchvision:vgg19"),
                 lambda: weights.load_vgg("torchvision:vgg16", device="cpu")):
        with pytest.raises(WeightsError) as info:
            call()
        msg = str(info.value)
        assert 'pip install "stylelab[torchvision]"' in msg
        if how == "missing":
            assert "is not installed (ModuleNotFoundError" in msg
        else:
            assert "failed to import (RuntimeError: operator torchvision::nms does not exist)" in msg
        assert "\n" not in msg


def test_resolve_torchvision_weight_set(fake_torchvision, tmp_path):
    ws = weights.resolve("torchvision:vgg16")
    assert ws.name == "torchvision:VGG16_Weights.IMAGENET1K_V1"
    assert (ws.arch, ws.convention, ws.torchvision) == ("vgg16", "torch", "VGG16_Weights.IMAGENET1K_V1")
    assert ws.url == weights.REGISTRY["vgg16"].url and ws.sha256 == "397923af"
    # the same file as the registry's vgg16, in the same cache torchvision uses
    assert weights.cache_path(ws) == tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert weights.resolve("torchvision:VGG16_Weights.DEFAULT") == ws  # an alias names the same member
    assert weights.describe(ws)["torchvision"] == "VGG16_Weights.IMAGENET1K_V1"
    assert fake_torchvision.calls == []  # resolving downloads nothing


def test_torchvision_weights_in_another_convention_are_refused(fake_torchvision):
    with pytest.raises(WeightsError, match="no input convention"):
        weights.resolve("torchvision:VGG16_Weights.IMAGENET1K_FEATURES")


def test_torchvision_unknown_member(fake_torchvision):
    with pytest.raises(WeightsError, match="IMAGENET1K_V1, IMAGENET1K_FEATURES, DEFAULT"):
        weights.resolve("torchvision:VGG16_Weights.IMAGENET9K")
    with pytest.raises(WeightsError, match="no weights VGG19_Weights"):  # the fake has no VGG-19
        weights.resolve("torchvision:vgg19")


def test_load_vgg_through_torchvision(fake_torchvision, vgg16_state):
    with pytest.raises(WeightsError, match="stylelab weights download torchvision:VGG16_Weights.IMAGENET1K_V1"):
        weights.load_vgg("torchvision:vgg16", download_missing=False, device="cpu")
    model = weights.load_vgg("torchvision:vgg16", pooling="max", normalized=False, device="cpu", progress=False)
    # torchvision's own download and cache, hash-checked, read without unpickling code
    assert fake_torchvision.calls == [{"progress": False, "check_hash": True, "weights_only": True,
                                       "map_location": "cpu"}]
    assert (model.arch, model.convention, model.pooling) == ("vgg16", "torch", "max")
    assert torch.equal(model.convs["conv4_2"].weight, vgg16_state["features.19.weight"])
    assert model.info["weights"] == "torchvision:VGG16_Weights.IMAGENET1K_V1"
    assert model.info["source"] == fake_torchvision.Weights.IMAGENET1K_V1.url


def test_download_torchvision_weights_uses_torchvision(fake_torchvision, tmp_path):
    path = weights.download("torchvision:vgg16", progress=False)
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth" and path.is_file()
    assert len(fake_torchvision.calls) == 1
    weights.download("torchvision:vgg16", progress=False)
    assert len(fake_torchvision.calls) == 1  # cached: not fetched again


@pytest.mark.parametrize("error, match", [
    (OSError("<urlopen error [Errno -2] Name or service not known>"), "could not download .* offline"),
    (RuntimeError('invalid hash value (expected "397923af", got "0123abcd")'), "invalid hash value"),
])
def test_torchvision_download_errors(fake_torchvision, monkeypatch, error, match):
    def fail(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(fake_torchvision.Weights, "get_state_dict", fail)
    with pytest.raises(WeightsError, match=match):
        weights.load_vgg("torchvision:vgg16", normalized=False, device="cpu", progress=False)


def test_from_torchvision_model_state(vgg16_state):
    model = weights.from_torchvision(vgg16_state, pooling="max", normalized=False)
    assert (model.arch, model.convention, model.pooling) == ("vgg16", "torch", "max")
    assert torch.equal(model.convs["conv5_3"].weight, vgg16_state["features.28.weight"])
    # a torchvision ``features`` module's state dict: bare indices
    bare = {k[len("features."):]: v for k, v in vgg16_state.items()}
    assert torch.equal(weights.from_torchvision(bare, normalized=False).convs["conv1_1"].bias,
                       vgg16_state["features.0.bias"])


def test_from_torchvision_refuses_other_networks(vgg16_state):
    with pytest.raises(WeightsError, match="batch-normalised"):
        weights.from_torchvision({**vgg16_state, "features.1.running_mean": torch.zeros(64)}, normalized=False)
    with pytest.raises(WeightsError, match="12 convolutions"):
        weights.from_torchvision({k: v for k, v in vgg16_state.items() if not k.startswith("features.28.")},
                                 normalized=False)
