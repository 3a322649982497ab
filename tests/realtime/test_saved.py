"""Tests for stylelab.realtime.saved: trained networks on disk, read only with
torch.load(weights_only=True), every refusal a one-line WeightsError."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from stylelab.errors import WeightsError
from stylelab.realtime import adain, saved, transformer


def _johnson(seed=0, norm="instance"):
    torch.manual_seed(seed)
    return transformer.TransformNet(transformer.Architecture((4, 8, 8), 1, norm))


def _decoder(seed=0):
    torch.manual_seed(seed)
    return adain.Decoder(adain.Architecture((8, 8, 8), 1), in_channels=16)


def _refused(path, match=None, **kwargs) -> str:
    with pytest.raises(WeightsError) as info:
        saved.read(path, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert "weights_only=False" not in msg and "weights_only = False" not in msg
    if match is not None:
        assert match in msg, msg
    return msg


def _payload(tmp_path, net=None):
    path = saved.save(net or _johnson(), {"note": "test"}, tmp_path / "net.pt")
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_round_trip_johnson(tmp_path, tiny_image, norm):
    net = _johnson(norm=norm)
    if norm == "batch":  # running statistics are part of the state
        with torch.no_grad():
            net.train()(tiny_image(24, batch=2))
    path = saved.save(net, {"status": "done", "steps_done": 3}, tmp_path / "deep" / "er" / "j.pt")
    assert path.is_file()
    back, report = saved.read(path)
    assert isinstance(back, transformer.TransformNet) and not back.training
    assert report["network"] == "johnson" and report["status"] == "done" and report["steps_done"] == 3
    assert report["architecture"] == {"widths": [4, 8, 8], "blocks": 1, "norm": norm}
    image = tiny_image(37, 29, seed=3)
    assert torch.equal(transformer.stylise(back, image), transformer.stylise(net, image))
    assert not list(path.parent.glob("*.tmp*"))  # written atomically


def test_round_trip_adain(tmp_path, make_vgg, tiny_image):
    model = make_vgg()
    dec = _decoder()
    path = saved.save(dec, {"status": "done"}, tmp_path / "a.pt")
    back, report = saved.read(path, kind="adain")
    assert isinstance(back, adain.Decoder) and back.in_channels == 16
    assert report["architecture"] == {"widths": [8, 8, 8], "repeats": 1, "in_channels": 16}
    photo, style = tiny_image(32), tiny_image(32, seed=1)
    assert torch.equal(adain.stylise(model, back, photo, style), adain.stylise(model, dec, photo, style))


def test_written_file_loads_with_weights_only(tmp_path):
    obj = _payload(tmp_path)
    assert obj["format"] == saved.FORMAT and obj["version"] == saved.VERSION
    assert isinstance(obj["report"], str) and json.loads(obj["report"])["network"] == "johnson"
    assert all(isinstance(v, torch.Tensor) for v in obj["state_dict"].values())


def test_save_refuses_other_modules(tmp_path):
    with pytest.raises(WeightsError):
        saved.save(torch.nn.Conv2d(3, 3, 3), {}, tmp_path / "x.pt")


class _Planted:
    """A pickle that runs a command when it is loaded without weights_only."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch", "pickle", "inside"])
def test_planted_pickle_is_refused_and_never_runs(tmp_path, how):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pt"
    if how == "torch":
        torch.save(_Planted(marker), path)
    elif how == "pickle":
        with open(path, "wb") as f:
            pickle.dump(_Planted(marker), f)
    else:  # a good-looking file with the payload hidden in the state dict
        obj = _payload(tmp_path)
        obj["state_dict"]["body.0.1.weight"] = _Planted(marker)
        torch.save(obj, path)
    msg = _refused(path)
    assert "refusing" in msg or "not a network" in msg or "damaged" in msg
    assert not marker.exists()


def test_truncated_file(tmp_path):
    path = saved.save(_johnson(), {}, tmp_path / "net.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _refused(path)
    path.write_bytes(b"")
    _refused(path)
    path.write_bytes(b"not a pytorch file at all\n" * 10)
    _refused(path)


def test_missing_file_and_folder(tmp_path):
    _refused(tmp_path / "nope.pt", "not found")
    _refused(tmp_path, "folder")


def test_foreign_state_dict(tmp_path, make_vgg):
    path = tmp_path / "vgg.pt"
    torch.save(make_vgg().state_dict(), path)
    _refused(path, saved.FORMAT)
    torch.save([1, 2, 3], path)
    _refused(path)


@pytest.mark.parametrize("version", [0, 2, None, "1"])
def test_wrong_format_version(tmp_path, version):
    obj = _payload(tmp_path)
    obj["version"] = version
    torch.save(obj, tmp_path / "v.pt")
    _refused(tmp_path / "v.pt", "version")


def _with_report(tmp_path, **changes):
    obj = _payload(tmp_path)
    report = json.loads(obj["report"])
    report.update(changes)
    obj["report"] = json.dumps(report)
    torch.save(obj, tmp_path / "r.pt")
    return tmp_path / "r.pt"


def test_unknown_kind(tmp_path):
    _refused(_with_report(tmp_path, network="cyclegan"), "cyclegan")


def test_damaged_report(tmp_path):
    obj = _payload(tmp_path)
    obj["report"] = "{not json"
    torch.save(obj, tmp_path / "r.pt")
    _refused(tmp_path / "r.pt")
    obj["report"] = json.dumps({"network": "johnson"})  # no architecture
    torch.save(obj, tmp_path / "r.pt")
    _refused(tmp_path / "r.pt")


def test_mismatched_shapes(tmp_path):
    path = _with_report(tmp_path, architecture={"widths": [4, 8, 16], "blocks": 1, "norm": "instance"})
    _refused(path, "not a network saved by stylelab train")
    path = _with_report(tmp_path, architecture={"widths": [4, 8, 8], "blocks": 2, "norm": "instance"})
    _refused(path)  # missing keys
    obj = _payload(tmp_path)
    obj["state_dict"]["body.0.1.weight"] = torch.zeros(1, 2, 3)
    torch.save(obj, tmp_path / "s.pt")
    _refused(tmp_path / "s.pt")


def test_bad_architecture_in_report(tmp_path):
    _refused(_with_report(tmp_path, architecture={"widths": [4, 8, 8], "blocks": 1, "norm": "layer"}))


def test_nan_weights(tmp_path):
    net = _johnson()
    with torch.no_grad():
        net.body[0][1].weight[0, 0, 0, 0] = float("nan")
    path = saved.save(net, {}, tmp_path / "nan.pt")
    _refused(path, "non-finite")
    with torch.no_grad():
        net.body[0][1].weight[0, 0, 0, 0] = float("inf")
    _refused(saved.save(net, {}, tmp_path / "inf.pt"), "non-finite")


def test_kind_mismatch(tmp_path):
    j = saved.save(_johnson(), {}, tmp_path / "j.pt")
    a = saved.save(_decoder(), {}, tmp_path / "a.pt")
    _refused(j, "johnson", kind="adain")
    _refused(a, "adain", kind="johnson")
    assert isinstance(saved.read(j, kind="johnson")[0], transformer.TransformNet)


def test_report_cannot_override_the_network(tmp_path):
    # the saved report's network/architecture come from the network, not the caller's report
    path = saved.save(_johnson(), {"network": "adain", "architecture": {}}, tmp_path / "j.pt")
    net, report = saved.read(path)
    assert report["network"] == "johnson" and isinstance(net, transformer.TransformNet)
