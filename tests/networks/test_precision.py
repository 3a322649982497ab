"""Tests for stylelab.networks.precision and the engine's ``precision`` setting, on tiny random networks.

The choice ``auto`` makes on a CPU is tested by forcing the CPU flags and the probe's answer,
so these tests mean the same on an AVX2-only machine and on one with AMX or AVX512_BF16.
"""

from __future__ import annotations

import json

import pytest
import torch

from stylelab import precision as P
from stylelab.errors import SettingsError
from stylelab.method.objective import Objective
from stylelab.method.conventions import layer_weights
from stylelab.method.targets import make_targets
from stylelab.control.transfer import run
from stylelab.networks.vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS

AVX2_ONLY = {"fpu", "sse2", "avx", "avx2", "fma"}
ZEN4 = AVX2_ONLY | {"avx512f", "avx512_bf16"}
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "amx_tile", "amx_bf16"}


def _never(*_):
    raise AssertionError("the probe must not run on a CPU without bf16 units")


def test_avx2_only_cpu_gets_fp32_without_probing():
    p = P.cpu_choice(AVX2_ONLY, measure=_never)
    assert p.name == "fp32" and p.dtype is None
    assert "no bfloat16 units" in p.reason


@pytest.mark.parametrize("flags", [ZEN4, SAPPHIRE_RAPIDS])
def test_bf16_cpu_follows_the_probe(flags, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    fast = P.cpu_choice(flags, measure=lambda: {"fp32": 1.0, "bf16": 0.25, "speedup": 4.0})
    assert fast.name == "bf16" and fast.dtype == torch.bfloat16 and "4.0x" in fast.reason


def test_probe_that_finds_bf16_slow_keeps_fp32(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    slow = P.cpu_choice(ZEN4, measure=lambda: {"fp32": 1.0, "bf16": 10.0, "speedup": 0.1})
    assert slow.name == "fp32" and "0.10x" in slow.reason


def test_probe_answer_is_cached_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    calls = []

    def measure():
        calls.append(1)
        return {"fp32": 1.0, "bf16": 0.4, "speedup": 2.5}

    assert P.cpu_choice(ZEN4, measure=measure).name == "bf16"
    assert P.cpu_choice(ZEN4, measure=measure).name == "bf16"
    assert len(calls) == 1
    cache = json.loads((tmp_path / "precision.json").read_text())
    assert list(cache.values()) == [{"fp32": 1.0, "bf16": 0.4, "speedup": 2.5}]


def test_damaged_probe_cache_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    (tmp_path / "precision.json").write_text('{"broken": ')
    assert P.cpu_choice(ZEN4, measure=lambda: {"fp32": 1.0, "bf16": 0.5, "speedup": 2.0}).name == "bf16"
    (tmp_path / "precision.json").write_text(json.dumps({P._cache_key(["avx512_bf16"]): {"speedup": "fast"}}))
    assert P.cpu_choice(ZEN4, measure=lambda: {"fp32": 1.0, "bf16": 2.0, "speedup": 0.5}).name == "fp32"


def test_resolve_names_and_errors():
    assert P.resolve("fp32", "cpu") is P.FP32
    assert P.resolve(P.FP32, "cpu") is P.FP32
    with pytest.raises(SettingsError, match="unknown precision"):
        P.resolve("float8", "cpu")
    with pytest.raises(SettingsError, match="CUDA"):
        P.resolve("fp16", "cpu")
    assert P.resolve("bf16", "cpu").name == "bf16"


def test_auto_on_this_cpu_matches_its_flags():
    choice = P.resolve("auto", "cpu")
    if not P.cpu_bf16_units():
        assert choice.name == "fp32"
    else:
        assert choice.name in ("fp32", "bf16")


def test_real_probe_returns_timings():
    t = P.probe(reps=1)
    assert t["fp32"] > 0 and t["bf16"] > 0 and t["speedup"] == pytest.approx(t["fp32"] / t["bf16"])


def _objective(model, content, style, precision):
    layers = list(PAPER_STYLE_LAYERS)
    targets = make_targets(model, tuple(content.shape[-2:]), content, [PAPER_CONTENT_LAYER], [style], layers)
    return Objective(model, targets, [PAPER_CONTENT_LAYER], layer_weights(layers), 1.0, 1e3, norm="hw",
                     precision=precision)


def test_bf16_objective_gradient_agrees_with_fp32(make_vgg, tiny_image):
    model = make_vgg()
    content, style = tiny_image(32, seed=1), tiny_image(32, seed=2)
    x0 = tiny_image(32, seed=3)
    grads, values = {}, {}
    for name in ("fp32", "bf16"):
        obj = _objective(model, content, style, P.resolve(name, "cpu"))
        x = x0.clone().requires_grad_(True)
        total, parts = obj(x)
        assert total.dtype == torch.float32 and parts["style"].dtype == torch.float32  # losses in fp32
        total.backward()
        grads[name], values[name] = x.grad.flatten(), float(total.detach())
    cos = torch.nn.functional.cosine_similarity(grads["fp32"], grads["bf16"], dim=0)
    assert cos > 0.99
    assert values["bf16"] == pytest.approx(values["fp32"], rel=0.05)


def test_evaluate_fp32_overrides_the_objective_precision(make_vgg, tiny_image):
    model = make_vgg()
    content, style = tiny_image(32, seed=1), tiny_image(32, seed=2)
    x = tiny_image(32, seed=3)
    exact = _objective(model, content, style, P.FP32).evaluate(x)
    low = _objective(model, content, style, P.resolve("bf16", "cpu"))
    assert low.evaluate(x, fp32=True)["total"] == pytest.approx(exact["total"], rel=1e-6)
    assert low.precision.name == "bf16"  # restored


def test_run_records_precision_and_reports_fp32_losses(make_vgg, tiny_image):
    model = make_vgg()
    content, style = tiny_image(32, seed=1), tiny_image(32, seed=2)
    r = run(content, style, model=model, steps=3, progress=False, precision="bf16")
    assert r.settings["precision"] == "bf16" and r.settings["precision_reason"]
    assert r.fp32_losses is not None and r.fp32_losses["evaluated_in"] == "fp32"
    assert r.losses is r.fp32_losses and r.losses["step"] == r.best_step
    check = _objective(model, content, style, P.FP32)
    r32 = run(content, style, model=model, steps=3, progress=False, precision="fp32")
    assert r32.fp32_losses is None and r32.settings["precision"] == "fp32"
    assert r32.losses["step"] == r32.best_step
    assert check is not None


def test_coarse_to_fine_bf16_reports_fp32_losses_of_the_last_stage(make_vgg, tiny_image):
    model = make_vgg()
    content, style = tiny_image(64, seed=1), tiny_image(64, seed=2)
    r = run(content, style, model=model, steps=2, scales=[32, 64], progress=False, precision="bf16")
    assert r.fp32_losses["stage"] == 1 and r.fp32_losses["step"] == r.best_step


def test_environment_variable_sets_the_default(make_vgg, tiny_image, monkeypatch):
    monkeypatch.setenv(P.ENV, "bf16")
    r = run(tiny_image(32, seed=1), tiny_image(32, seed=2), model=make_vgg(), steps=1, progress=False)
    assert r.settings["precision"] == "bf16"
    monkeypatch.setenv(P.ENV, "fp32")
    r = run(tiny_image(32, seed=1), tiny_image(32, seed=2), model=make_vgg(), steps=1, progress=False)
    assert r.settings["precision"] == "fp32"
    with pytest.raises(SettingsError, match="unknown precision"):
        run(tiny_image(32, seed=1), tiny_image(32, seed=2), model=make_vgg(), steps=1, progress=False,
            precision="half")
