"""The benchmark script (benchmarks/bench.py) on a tiny configuration: it runs, its
report has every field, and its analytic FLOP count agrees with FlopCounterMode."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("stylelab_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report(bench):
    return bench.run_benchmark(["vgg16"], [32], device="cpu", reps=1, peak_sizes=(256,), peak_reps=1)


def test_analytic_flops_of_vgg16_at_256_px(bench):
    f = bench.analytic_flops("vgg16", (256, 256))
    assert f["deepest"] == "relu5_1"
    assert f["convs"][-1] == "conv5_1"  # conv5_2 and later are not computed
    # sum over conv1_1 .. conv5_1 of C_in C_out H W, times 2 (mul + add) x 9 (3x3)
    macs = (3 * 64 + 64 * 64) * 256**2 + (64 * 128 + 128 * 128) * 128**2 \
        + (128 * 256 + 2 * 256 * 256) * 64**2 + (256 * 512 + 2 * 512 * 512) * 32**2 + 512 * 512 * 16**2
    assert f["conv_forward"] == f["conv_backward"] == 18 * macs
    gram = 2 * (64**2 * 256**2 + 128**2 * 128**2 + 256**2 * 64**2 + 512**2 * 32**2 + 512**2 * 16**2)
    assert f["gram_forward"] == f["gram_backward"] == gram
    assert f["total"] == 2 * 18 * macs + 2 * gram
    assert round(f["total"] / 1e9, 1) == 79.9


def test_report_of_a_tiny_run(report):
    m = report["machine"]
    for key in ("cpu", "cores", "ram_gib", "torch", "threads", "mkl", "mkldnn", "device", "loadavg_start",
                "loadavg_end"):
        assert key in m
    assert m["device"] == "cpu" and m["threads"] >= 1
    assert report["matmul_peak"]["gflops"] > 0
    json.dumps(report)  # JSON-able
    (row,) = report["results"]
    for key in ("arch", "size", "weights", "s_per_eval", "s_per_eval_median", "gflop_per_eval", "gflops",
                "peak_gflops", "ratio", "flops", "flops_counted", "peak_memory_mib", "memory_method",
                "s_500_steps", "lbfgs_history_mib", "other_processes_cpu"):
        assert key in row, key
    assert row["arch"] == "vgg16" and row["size"] == 32 and row["weights"].startswith("random")
    assert len(row["s_per_eval_all"]) == 1
    assert 0 < row["s_per_eval"] < 30
    assert math.isclose(row["gflops"], row["gflop_per_eval"] / row["s_per_eval"])
    assert math.isclose(row["ratio"], row["gflops"] / row["peak_gflops"])
    assert row["s_500_steps"] == pytest.approx(500 * row["s_per_eval"])
    # the analytic count (convolutions, Gram matrices) against what FlopCounterMode sees
    assert row["flops_counted"] == pytest.approx(row["flops"]["total"], rel=0.03)
    assert row["peak_memory_mib"] is not None and row["peak_memory_mib"] >= 0


def test_markdown_table(bench, report):
    table = bench.markdown(report)
    assert "| arch | size |" in table
    assert "| vgg16 | 32 |" in table


def test_flop_count_matches_flopcountermode_on_a_narrow_network(bench):
    # other widths than the real ones, another architecture and size
    model, objective, start, _ = bench.build("vgg19", 40, torch.device("cpu"), widths=(4, 8, 8, 16, 16))
    counted = bench.counted_flops(objective, start)
    analytic = bench.analytic_flops("vgg19", (40, 40), widths=(4, 8, 8, 16, 16))
    assert counted == pytest.approx(analytic["total"], rel=0.03)


def test_main_writes_json(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--device", "cpu", "--archs", "vgg16", "--sizes", "32", "--reps", "1",
                       "--peak-sizes", "128", "--no-flop-check", "--json", str(out), "--markdown"]) == 0
    text = capsys.readouterr().out
    assert "matmul peak" in text and "| vgg16 | 32 |" in text
    data = json.loads(out.read_text())
    assert data["results"][0]["flops_counted"] is None


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("norm", ["paper", "hw", "chw"])
def test_fast_style_loss_matches_autograd(channels_last, norm):
    """The hot path's style loss (Eq. 6 backward, stylelab.method.transfer._StyleLayerLoss) gives
    losses.style_layer_loss's value and autograd's gradient, in either memory layout,
    also for a target that is not symmetric."""
    from stylelab import losses
    from stylelab.method.objective import _style_layer_loss

    g = torch.Generator().manual_seed(0)
    f = torch.randn(2, 5, 6, 7, generator=g, dtype=torch.float64)
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    f.requires_grad_(True)
    a = torch.randn(5, 5, generator=g, dtype=torch.float64)
    for target in (a @ a.T, a.unsqueeze(0)):
        fast = _style_layer_loss(f, target, norm)
        (g_fast,) = torch.autograd.grad(fast, f)
        ref = losses.style_layer_loss(f, target, norm)
        (g_ref,) = torch.autograd.grad(ref, f)
        torch.testing.assert_close(fast, ref)
        torch.testing.assert_close(g_fast, g_ref)
        assert g_fast.stride() == f.stride()


# ----------------------------------------------------------------------------- precision.py, calibration.py

def _load_script(name):
    spec = importlib.util.spec_from_file_location(f"stylelab_{name}", BENCH.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_precision_benchmark_reports_both_precisions_and_the_overhead():
    precision = _load_script("precision")
    r = precision.run(size=(32, 48), steps=2, reps=1, skip_slow_bf16=True, accuracy_size=32)
    assert set(r["network_s"]) == {"fp32-nchw", "fp32", "bf16"} and set(r["evaluation_s"]) == {"fp32", "bf16"}
    assert all(v > 0 for v in r["network_s"].values()) and all(v > 0 for v in r["evaluation_s"].values())
    assert r["overhead"]["fp32"] == pytest.approx(r["evaluation_s"]["fp32"] / r["network_s"]["fp32"])
    assert r["auto"] in ("fp32", "bf16") and r["auto_reason"] and r["cpu"]
    a = r["accuracy"]
    assert a["steps"] == 2 and a["fp32_loss_fp32"] > 0 and a["bf16_loss_fp32"] > 0
    assert 0 <= a["relative_difference"] < 1 and a["gradient_cosine"] > 0.9
    assert "evaluation / network" in precision.markdown(r)


def test_calibration_judge_scales_by_the_references(make_vgg, tiny_image):
    calibration = _load_script("calibration")
    model = make_vgg()
    photo, painting = tiny_image(32, seed=1), tiny_image(32, seed=2)
    assert calibration.judge(model, photo, photo, painting)["content"] == pytest.approx(0.0, abs=1e-6)
    assert calibration.judge(model, photo, photo, painting)["style"] == pytest.approx(1.0)
    j = calibration.judge(model, painting, photo, painting)
    assert j["content"] == pytest.approx(1.0) and j["style"] == pytest.approx(0.0, abs=1e-6)
    assert 0 <= j["speckle"] <= 1
