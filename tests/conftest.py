"""Shared fixtures for the engine tests.

Two kinds of test (see CONTRIBUTING.md):

* fast unit tests on tiny, seeded, random-initialised networks
  (``VGG("vgg16", widths=(4, 8, 8, 16, 16))``) and images of 16-48 px;
* real-weight tests, marked ``weights``, that check the paper's findings as numbers
  on the network named by ``STYLELAB_WEIGHTS`` (and the sample images, from
  ``STYLELAB_DATA_DIR`` or a download). Without ``STYLELAB_WEIGHTS`` they are
  skipped with a reason, except when the environment variable ``CI`` is set: then
  they fail, so that a CI run can never pass by silently skipping them.

Tests marked ``slow`` are skipped unless a ``-m`` expression is given (``-m slow``).

Every test runs with ``STYLELAB_CACHE`` and ``TORCH_HOME`` pointing into a
temporary folder of the test session, so no test writes to the user's caches.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

from stylelab import config
from stylelab.errors import DataError, WeightsError
from stylelab.networks.vgg import VGG

#: The channel widths of the tiny test networks (the real ones: 64, 128, 256, 512, 512).
TINY_WIDTHS = (4, 8, 8, 16, 16)


# --------------------------------------------------------------------------------------
# Environment: never the user's caches; real-weight tests skip or (in CI) fail.


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` locally; in CI (env ``CI`` set) fail with it instead."""
    if _ci():
        pytest.fail(f"{reason} -- CI is set, so real-weight tests must run, not be skipped", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run only when asked for with ``-m`` (e.g. ``-m slow``,
    ``-m "weights"``): the default run stays fast."""
    if config.getoption("markexpr", ""):
        return
    skip = pytest.mark.skip(reason="slow test: select it with -m slow (or -m 'slow or not slow')")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("weights") is not None and not os.environ.get(config.ENV_WEIGHTS, "").strip():
        skip_or_fail(
            f"real-weight test: set {config.ENV_WEIGHTS}=ARCH:CONVENTION:PATH (e.g. "
            f"vgg16:caffe:/path/vgg16.pth) and {config.ENV_DATA_DIR} to run it"
        )


@pytest.fixture(scope="session", autouse=True)
def _private_caches(tmp_path_factory):
    """STYLELAB_CACHE and TORCH_HOME in a session temporary folder, for every test."""
    root = tmp_path_factory.mktemp("caches")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.ENV_CACHE, str(root / "stylelab"))
        mp.setenv("TORCH_HOME", str(root / "torch"))
        yield root


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    """One intra-op thread unless ``STYLELAB_TEST_THREADS`` says otherwise.

    The tiny networks gain nothing from threads, and on a machine shared with other
    jobs OpenMP threads that wait for each other make a forward pass 10-1000x slower
    (measured on a busy 2-core machine: 0.3 ms vs 0.3 s for a tiny net, 0.12 s vs
    1.4 s for VGG-16 at 64 px).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("STYLELAB_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(previous)


# --------------------------------------------------------------------------------------
# Random numbers and images


@pytest.fixture
def seed() -> int:
    return 1234


@pytest.fixture
def rng(seed) -> torch.Generator:
    """A seeded CPU generator (tests never depend on the global RNG)."""
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def tiny_image():
    """``tiny_image(h=32, w=None, seed=0, batch=1, dtype=float32)``: a random RGB image in [0, 1]."""

    def make(h: int = 32, w: int | None = None, seed: int = 0, batch: int = 1,
             dtype: torch.dtype = torch.float32) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.rand(batch, 3, h, w or h, generator=g).to(dtype)

    return make


# --------------------------------------------------------------------------------------
# Tiny random networks


def build_tiny_vgg(arch: str = "vgg16", convention: str = "torch", pooling: str = "avg",
                   widths: tuple[int, ...] = TINY_WIDTHS, seed: int = 0) -> VGG:
    """A seeded VGG with narrow layers and He-initialised weights.

    PyTorch's default initialisation shrinks the activations by about 3x per layer,
    so deep layers of a random net would be nearly zero; He initialisation keeps
    them of order 1 all the way to conv5_x, which the normalisation and gradient
    tests need.
    """
    with torch.random.fork_rng(devices=[]):
        model = VGG(arch, pooling=pooling, convention=convention, widths=widths)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv in model.convs.values():
            fan_in = conv.weight[0].numel()
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=g) * 0.1)
    return model.freeze()


@pytest.fixture
def make_vgg():
    """Factory: ``make_vgg(arch="vgg16", convention="torch", pooling="avg", widths=..., seed=0)``."""
    return build_tiny_vgg


@pytest.fixture(params=["torch", "caffe"])
def tiny_vgg(request) -> VGG:
    """A tiny seeded VGG-16, once per input convention."""
    return build_tiny_vgg("vgg16", convention=request.param)


# --------------------------------------------------------------------------------------
# Real weights and the sample images (tests marked ``weights``)


@pytest.fixture(scope="session")
def real_model():
    """``load_vgg()`` with the weights of ``STYLELAB_WEIGHTS``, normalised (the paper's network)."""
    from stylelab.networks.weights import load_vgg

    if not os.environ.get(config.ENV_WEIGHTS, "").strip():
        skip_or_fail(f"{config.ENV_WEIGHTS} is not set")
    try:
        return load_vgg(progress=False)
    except WeightsError as exc:
        if isinstance(exc.__cause__, DataError):  # the sample images are not available
            skip_or_fail(f"sample images unavailable for the normalised network: {exc}")
        raise


@pytest.fixture(scope="session")
def samples():
    """``samples(name, size=64)``: a sample image (longest side ``size``), loaded once per session.

    Returns a fresh copy each time, so a test may modify it.
    """
    from stylelab import data

    cache: dict[tuple[str, int], torch.Tensor] = {}

    def load(name: str, size: int = 64) -> torch.Tensor:
        key = (name, size)
        if key not in cache:
            try:
                cache[key] = data.load(name, size=size)
            except DataError as exc:
                skip_or_fail(f"sample image {name!r} unavailable (set {config.ENV_DATA_DIR}): {exc}")
        return cache[key].clone()

    return load
