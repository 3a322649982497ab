"""stylelab.networks.patchnet: the patch classifier and the autoencoder stylelab trains, their data,
the seeded training, and the cache checked by sha256 (tiny networks and images)."""

from __future__ import annotations

import pytest
import torch

import stylelab as sl
from stylelab import patchnet
from stylelab.errors import SettingsError, WeightsError

TINY = (4, 8, 8, 8, 8)


def _data(patch=16, n=3, size=64, seed=0):
    """Three images that differ in colour (and a little noise): class k is image k."""
    g = torch.Generator().manual_seed(seed)
    images = []
    for k in range(n):
        base = torch.zeros(1, 3, size, size)
        base[:, k % 3] = 0.8
        images.append((base + 0.1 * torch.rand(1, 3, size, size, generator=g)).clamp(0, 1))
    return patchnet.Patches(images, [f"image{k}" for k in range(n)], patch)


def _train(kind="patch-cnn", steps=3, data=None, **kw):
    return patchnet.train(kind, steps=steps, batch=4, patch=16, widths=TINY, image_size=64, progress=False,
                          data=data or _data(), **kw)


# --------------------------------------------------------------------------------------
# Settings and data


@pytest.mark.parametrize("change, message", [
    ({"kind": "resnet"}, "unknown network"), ({"steps": 0}, "steps must be"), ({"patch": 24}, "multiple of 16"),
    ({"dataset": "mnist"}, "unknown dataset"), ({"dataset": "cifar10", "patch": 16}, "use patch=32"),
    ({"lr": 0}, "lr must be"), ({"widths": (4, 8)}, "widths must be"), ({"patch": 64, "image_size": 64}, "does not fit"),
])
def test_recipe_checks(change, message):
    with pytest.raises(SettingsError, match=message):
        patchnet.Recipe(**{"kind": "patch-cnn", **change}).check()


def test_recipe_key_changes_with_every_setting():
    base = patchnet.Recipe("patch-cnn").check()
    assert base.key() == patchnet.Recipe("patch-cnn").check().key()
    assert len({base.key(), patchnet.Recipe("autoencoder").key(), patchnet.Recipe("patch-cnn", steps=7).key(),
                patchnet.Recipe("patch-cnn", seed=1).key()}) == 4


def test_patches_come_from_the_right_part_and_class():
    data = _data(patch=16, size=64)
    x, y = data.batch(32, torch.Generator().manual_seed(0), "train")
    assert x.shape == (32, 3, 16, 16) and set(y.tolist()) <= {0, 1, 2}
    for img, k in zip(x, y):  # each patch has its image's colour
        assert int(img.mean(dim=(1, 2)).argmax()) == int(k) % 3
    assert data.parts["train"][0].shape[-1] == 48 and data.parts["test"][0].shape[-1] == 16
    with pytest.raises(SettingsError, match="larger than"):
        patchnet.Patches([torch.rand(1, 3, 64, 64)], ["a"], 32)


# --------------------------------------------------------------------------------------
# Training


def test_training_is_seeded_and_deterministic():
    a, ra = _train(steps=4)
    b, rb = _train(steps=4)
    c, _ = _train(steps=4, seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert ra == rb


def test_the_classifier_learns_to_tell_the_images_apart():
    net, report = _train(steps=150)
    assert report["chance"] == pytest.approx(1 / 3)
    assert report["test_accuracy"] > 0.9  # colours this different: nearly every test patch


def test_the_autoencoder_reconstructs_better_after_training():
    data = _data()
    _, before = _train("autoencoder", steps=1, data=data)
    # 800 steps: at 400 the loss sat on a plateau on one CPU (AMD EPYC Zen 3: 0.45 of the start) and had
    # left it on others; by 800 it is at 0.04 here
    net, after = _train("autoencoder", steps=800, data=data)
    x, _ = data.batch(2, torch.Generator().manual_seed(0), "test")
    assert net(x).shape == x.shape
    assert after["test_mse"] < 0.25 * before["test_mse"]


def test_encoders_have_the_papers_layer_names():
    net, _ = _train(steps=1)
    out = net.features(torch.rand(1, 3, 32, 32), ["relu1_1", "relu4_2", "relu5_1"])
    assert [v.shape[1] for v in out.values()] == [4, 8, 8]
    assert net.features.arch == "patchnet"


def test_cifar10_needs_torchvision():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(SettingsError, match=r"stylelab\[torchvision\]"):
            patchnet.train("patch-cnn", dataset="cifar10", steps=1)
    else:
        pytest.skip("torchvision is installed: CIFAR-10 would be downloaded")


# --------------------------------------------------------------------------------------
# Saving, reading, the cache


def test_save_and_read_round_trip(tmp_path):
    net, report = _train(steps=2)
    path = patchnet.save(net, report, tmp_path / "net.pt")
    assert patchnet.sidecar(path).read_text().split()[1] == "net.pt"
    back, r = patchnet.read(path)
    assert r == report
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in net.state_dict().items())
    assert not list(tmp_path.glob(".*tmp"))


def test_a_changed_file_is_an_error_and_left_alone(tmp_path):
    net, report = _train(steps=2)
    path = patchnet.save(net, report, tmp_path / "net.pt")
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match its sha256 sidecar"):
        patchnet.read(path)
    assert path.read_bytes() == bytes(data)
    patchnet.sidecar(path).unlink()
    with pytest.raises(WeightsError, match="no sha256 sidecar"):
        patchnet.read(path)
    with pytest.raises(WeightsError, match="not found"):
        patchnet.read(tmp_path / "missing.pt")


def test_a_file_that_is_not_a_network_is_refused(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"state_dict": {"a": torch.zeros(1)}}, path)
    patchnet.sidecar(path).write_text(f"{patchnet._sha256(path)}  x.pt\n")
    with pytest.raises(WeightsError, match="not a network saved by"):
        patchnet.read(path)


@pytest.fixture
def counted(monkeypatch):
    """patchnet.load on the tiny data set, counting the trainings."""
    calls = []
    real = patchnet.train

    def train(kind, **kw):
        calls.append(kind)
        return real(kind, **{**kw, "data": _data()})

    monkeypatch.setattr(patchnet, "train", train)
    return calls


def test_load_trains_once_then_reads_the_cache(counted):
    kw = dict(steps=2, batch=4, patch=16, widths=TINY, image_size=64, normalized=False, progress=False, device="cpu")
    a = patchnet.load("patch-cnn", **kw)
    b = patchnet.load("patch-cnn", **kw)
    assert counted == ["patch-cnn"] and a is b
    assert a.info["features"] == "patch-cnn" and "2 steps" in a.info["weights"]
    assert not any(p.requires_grad for p in a.parameters())
    r = sl.texture(torch.rand(1, 3, 32, 32), model=a, steps=2, progress=False)
    assert r.settings["style_layers"] == list(sl.PAPER_STYLE_LAYERS)


def test_a_damaged_cache_entry_is_an_error_not_a_retraining(counted):
    kw = dict(steps=3, batch=4, patch=16, widths=TINY, image_size=64, normalized=False, progress=False, device="cpu")
    patchnet.load("autoencoder", **kw)
    path = patchnet.cache_path(patchnet.Recipe("autoencoder", steps=3, batch=4, patch=16, widths=TINY,
                                               image_size=64).check())
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    patchnet._LOADED.clear()
    with pytest.raises(WeightsError, match="delete both files"):
        patchnet.load("autoencoder", **kw)
    assert counted == ["autoencoder"]


def test_load_from_a_path_checks_the_kind(tmp_path):
    net, report = _train(steps=2)
    path = patchnet.save(net, report, tmp_path / "cnn.pt")
    with pytest.raises(WeightsError, match="holds a patch-cnn, not a autoencoder"):
        patchnet.load("autoencoder", path=path, normalized=False, device="cpu")
    model = patchnet.load("patch-cnn", path=path, normalized=False, device="cpu")
    assert model.info["path"] == str(path)
