"""stylelab's VGG against torchvision's, layer by layer, on the same weights.

torchvision installs only beside its own torch (2.14.1), and stylelab pins torch
2.13.0, so these tests need a second environment (``.ci/torchvision-env`` builds
``.venv-torchvision``). Two ways in:

* in that environment, ``pytest tests/networks/test_torchvision.py`` runs the tests below
  directly;
* in the main environment, :func:`test_in_the_torchvision_environment` runs this file
  with the interpreter named by ``STYLELAB_TORCHVISION_PYTHON`` and fails if any of
  its tests fails or is skipped. Without that variable it skips with a reason, and
  fails when ``CI`` is set (like the real-weight tests, see conftest.py).

No weights are downloaded: torchvision's ``vgg16()``/``vgg19()`` are built with
``weights=None`` from a fixed seed (random, but the *same* weights on both sides),
which is all an equivalence test needs.
"""

from __future__ import annotations

import os
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from stylelab import weights
from stylelab.errors import WeightsError
from stylelab.networks.vgg import TORCH_MEAN, TORCH_STD

try:
    import torchvision
    from torchvision import models as tv_models
except Exception as exc:  # not installed here (the main environment), or broken
    torchvision = None
    _WHY = f"torchvision is not importable here ({type(exc).__name__}: {exc})"
else:
    _WHY = ""

ENV_PYTHON = "STYLELAB_TORCHVISION_PYTHON"
ROOT = Path(__file__).resolve().parents[2]
ARCHS = ("vgg16", "vgg19")
#: The tests that must *pass* in the torchvision environment (none may skip there).
REQUIRED = ("test_same_features_layer_by_layer", "test_enum_and_torch_hub_cache",
            "test_enum_download_is_hash_checked", "test_features_enum_is_refused")

needs_torchvision = pytest.mark.skipif(
    torchvision is None,
    reason=f"{_WHY}; test_in_the_torchvision_environment runs it with ${ENV_PYTHON}",
)


# --------------------------------------------------------------------------------------
# The wrapper (main environment)


def test_in_the_torchvision_environment(tmp_path):
    """Run this file with ``$STYLELAB_TORCHVISION_PYTHON``; every required test must pass."""
    if torchvision is not None:
        pytest.skip("torchvision is importable here: the tests of this file run in this process")
    python = os.environ.get(ENV_PYTHON, "").strip()
    if not python:
        from conftest import skip_or_fail

        skip_or_fail(f"the torchvision equivalence tests need {ENV_PYTHON}=<python with torch 2.14.1, "
                     f"torchvision 0.29.1, pytest, stylelab -e . --no-deps> (build it with .ci/torchvision-env)")
    if not Path(python).is_file():
        pytest.fail(f"{ENV_PYTHON}={python} is not a file", pytrace=False)
    report = tmp_path / "junit.xml"
    start = time.monotonic()
    # `python -m pytest` from the repository root puts the root first on sys.path: the
    # stylelab tested is this checkout's, whatever that interpreter has installed. The
    # child does not see ENV_PYTHON, so an interpreter without torchvision cannot recurse.
    env = {k: v for k, v in os.environ.items() if k != ENV_PYTHON}
    proc = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         str(Path(__file__).relative_to(ROOT))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    took = time.monotonic() - start
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"torchvision tests failed with {python} (exit {proc.returncode}):\n{tail}"
    outcome = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kids = {child.tag for child in case}
        outcome[case.get("name")] = next((k for k in ("failure", "error", "skipped") if k in kids), "passed")
    for name in REQUIRED:
        runs = {k: v for k, v in outcome.items() if k.split("[")[0] == name}
        assert runs and all(v == "passed" for v in runs.values()), \
            f"{name} did not pass with {python}: {runs or 'not collected'}\n{tail}"
    print(f"torchvision environment: {len(outcome)} tests in {took:.1f} s")


# --------------------------------------------------------------------------------------
# The equivalence (torchvision environment)


def _torchvision_vgg(arch: str, seed: int = 0):
    """torchvision's ``vgg16()``/``vgg19()`` with random weights from a fixed seed."""
    torch.manual_seed(seed)
    return getattr(tv_models, arch)(weights=None).eval()


def _image(seed: int = 7) -> torch.Tensor:
    """A deterministic batch of two RGB images in [0, 1], not square (64 x 80 px)."""
    return torch.rand(2, 3, 64, 80, generator=torch.Generator().manual_seed(seed))


def _torch_input(x: torch.Tensor) -> torch.Tensor:
    """What torchvision's ImageNet transforms feed its VGG: (x - mean) / std."""
    return (x - torch.tensor(TORCH_MEAN).view(1, 3, 1, 1)) / torch.tensor(TORCH_STD).view(1, 3, 1, 1)


def _assert_close(got: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    assert got.shape == ref.shape, f"{what}: shape {tuple(got.shape)} != torchvision's {tuple(ref.shape)}"
    # float32 sums in another order (stylelab runs channels-last on the CPU): relative to the
    # layer's largest value the two differ by at most 4e-6 (measured, VGG-19 at 64 x 80 px);
    # average instead of max pooling, or one layer off, differs by O(1).
    scale = ref.abs().max().clamp_min(1e-12)
    err = ((got - ref).abs().max() / scale).item()
    assert err < 2e-5, f"{what}: max |stylelab - torchvision| is {err:.2e} of the layer's max"


@needs_torchvision
@pytest.mark.parametrize("arch", ARCHS)
def test_same_features_layer_by_layer(arch):
    """Every conv, relu and pool output of stylelab's VGG (max pooling, not normalised,
    torch convention) equals torchvision's ``features[:index + 1]`` on the same weights."""
    tv = _torchvision_vgg(arch)
    net = weights.from_torchvision(tv, pooling="max", normalized=False)
    assert net.arch == arch and net.convention == "torch" and net.pooling == "max"
    kinds = {torch.nn.Conv2d: "conv", torch.nn.ReLU: "relu", torch.nn.MaxPool2d: "pool"}
    assert [kinds[type(m)] for m in tv.features] == [l.kind for l in net.layers]
    assert [l.index for l in net.layers] == list(range(len(tv.features)))
    x = _image()
    xin = _torch_input(x)
    with torch.no_grad():
        for l in net.layers:
            ref = tv.features[: l.index + 1](xin)
            got = net(x, [l.name])[l.name]
            _assert_close(got, ref, f"{arch} {l.name} (features.{l.index})")


def _write_to_hub_cache(tv, member, torch_home: Path) -> Path:
    """The model's features (plus one classifier entry, which stylelab ignores) saved
    where torch hub caches the enum's file: $TORCH_HOME/hub/checkpoints/<file name>."""
    state = {k: v for k, v in tv.state_dict().items() if k.startswith("features.")}
    state["classifier.6.bias"] = tv.classifier[6].bias.detach().clone()
    path = torch_home / "hub" / "checkpoints" / member.url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@needs_torchvision
@pytest.mark.parametrize("arch", ARCHS)
def test_enum_and_torch_hub_cache(arch, tmp_path, monkeypatch):
    """``load_vgg("torchvision:<arch>")`` goes through torchvision's weight enum
    (``get_state_dict``) and finds the file in torch hub's cache, downloading nothing.

    torch hub checks a file's hash prefix only while downloading it, never a file
    already in the cache (torch.hub.load_state_dict_from_url), so a random state
    dict stored under the enum's file name is what torchvision itself would load.
    """
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    member = getattr(tv_models, f"{arch.upper()}_Weights").IMAGENET1K_V1
    tv = _torchvision_vgg(arch, seed=1)
    path = _write_to_hub_cache(tv, member, tmp_path / "torch")

    def no_download(*args, **kwargs):
        raise AssertionError(f"nothing may be downloaded: {args}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    calls = []
    original = type(member).get_state_dict

    def spy(self, *args, **kwargs):
        calls.append((self, kwargs))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(member), "get_state_dict", spy)
    ws = weights.resolve(f"torchvision:{arch}")
    assert (ws.arch, ws.convention, ws.torchvision) == (arch, "torch", f"{arch.upper()}_Weights.IMAGENET1K_V1")
    assert weights.cache_path(ws) == path
    net = weights.load_vgg(f"torchvision:{arch}", pooling="max", normalized=False, device="cpu", progress=False)
    assert [c[0] for c in calls] == [member]
    assert calls[0][1]["weights_only"] is True and calls[0][1]["check_hash"] is True
    assert net.info["source"] == member.url and net.info["path"] == str(path)
    features = tv.features
    for l in net.layers:
        if l.kind == "conv":
            assert torch.equal(net.convs[l.name].weight, features[l.index].weight), l.name
            assert torch.equal(net.convs[l.name].bias, features[l.index].bias), l.name
    x = _image(seed=3)
    with torch.no_grad():
        _assert_close(net(x, ["pool5"])["pool5"], features(_torch_input(x)), f"{arch} pool5 via the enum")


@needs_torchvision
def test_enum_download_is_hash_checked(tmp_path, monkeypatch):
    """With an empty cache, torchvision downloads the enum's URL with the hash prefix of its
    file name (stylelab passes check_hash=True); a failed download is a WeightsError."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    seen = []

    def offline(url, dst, hash_prefix=None, progress=True):
        seen.append((url, hash_prefix))
        raise OSError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError, match="could not download"):
        weights.load_vgg("torchvision:vgg19", normalized=False, device="cpu", progress=False)
    assert seen == [("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "dcbb9e9d")]


@needs_torchvision
def test_features_enum_is_refused():
    """VGG16_Weights.IMAGENET1K_FEATURES wants RGB in 0..255 minus a mean: no stylelab convention."""
    with pytest.raises(WeightsError, match="input convention"):
        weights.resolve("torchvision:VGG16_Weights.IMAGENET1K_FEATURES")
    assert weights.resolve("torchvision:VGG16_Weights.DEFAULT").name == "torchvision:VGG16_Weights.IMAGENET1K_V1"
