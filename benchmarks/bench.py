#!/usr/bin/env python
"""How fast is one L-BFGS evaluation of Gatys et al.'s objective on this machine?

For each architecture and image size this reports

* seconds per L-BFGS evaluation, timed through the real engine:
  :func:`stylelab.method.transfer.optimize` on an :class:`~stylelab.method.transfer.Objective`
  built by :func:`~stylelab.method.transfer.make_targets` exactly as :func:`stylelab.method.transfer`
  builds it (content ``relu4_2``, style ``relu1_1`` ... ``relu5_1``, the default
  ``gatys_code`` loss convention). One evaluation = the objective's forward pass to
  ``relu5_1`` + the backward pass to the pixels + the L-BFGS update;
* the FLOPs of one evaluation, counted analytically (see :func:`analytic_flops`) and
  cross-checked with ``torch.utils.flop_counter.FlopCounterMode`` on the same code;
* the achieved GFLOP/s, the machine's float32 matrix-multiply peak measured in the
  same run (``torch.mm``, best of several sizes and repetitions, same thread count)
  and the ratio of the two;
* the peak memory of a short run (CUDA: ``torch.cuda.max_memory_allocated``; CPU: the
  process' peak resident set size, see :class:`PeakMemory`), relative to before the
  network was built, so it includes the weights, the targets and the activations.

The network is random-initialised (seeded): the time does not depend on the weight
values. ``--weights`` uses a real weight set (a registry name, ``env`` for
``STYLELAB_WEIGHTS``) for the architecture it belongs to.

    python benchmarks/bench.py                       # vgg16, vgg19 at 128, 256, 512 px
    python benchmarks/bench.py --sizes 256 --archs vgg16 --reps 10
    python benchmarks/bench.py --markdown --json bench.json
    python benchmarks/bench.py --device cuda
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

from stylelab import config
from stylelab.networks.precision import cpu_model
from stylelab.networks.vgg import BLOCKS, PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, VGG, layers as vgg_layers

# ``stylelab.method.transfer`` is shadowed by the function of that name in the package namespace.
from stylelab.method.conventions import CONVENTIONS, DEFAULT_CONVENTION, layer_weights
from stylelab.method.objective import Objective
from stylelab.method.optimise import initial_image, optimize
from stylelab.method.targets import make_targets

ARCHS = tuple(BLOCKS)
SIZES = (128, 256, 512)
#: Matrix sizes for the peak measurement (square float32 torch.mm).
PEAK_SIZES = (1024, 2048, 3072, 4096)
#: L-BFGS keeps ``history_size`` = 100 pairs of image-sized vectors (see ``optimize``).
LBFGS_HISTORY = 100


# --------------------------------------------------------------------------------------
# Machine


def _ram_gib() -> float | None:
    try:
        import psutil

        return psutil.virtual_memory().total / 2**30
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_info(device: torch.device) -> dict:
    """CPU model, cores, RAM, torch build and threads, the accelerator if any, load."""
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(_ram_gib() or 0, 1) or None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": str(device),
        "device_name": None,
        "loadavg_start": _loadavg(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn_tf32"] = torch.backends.cudnn.allow_tf32
        info["matmul_tf32"] = torch.backends.cuda.matmul.allow_tf32
    elif device.type == "mps":
        info["device_name"] = "Apple MPS"
    else:
        info["device_name"] = info["cpu"]
    return info


def _cpu_jiffies() -> tuple[int, int, float] | None:
    """(all CPUs' total, all CPUs' busy, this process' CPU) in clock ticks (Linux)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    t = os.times()
    return sum(v), sum(v) - v[3] - v[4], (t.user + t.system) * os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """The share of the machine's CPU time that *other* processes used during a block
    (``.share``, 0..1 of all cores; None where /proc/stat is missing). On a shared
    machine this says whether a timing was disturbed."""

    def __enter__(self):
        self._start = _cpu_jiffies()
        self.share = None
        return self

    def __exit__(self, *exc):
        end = _cpu_jiffies()
        if self._start and end and end[0] > self._start[0]:
            total, busy, own = (b - a for a, b in zip(self._start, end))
            self.share = max(0.0, min(1.0, (busy - own) / total))
        return False


def wait_for_idle(max_seconds: float, threshold: float = 0.1, window: float = 2.0, log=None) -> float | None:
    """Wait (at most ``max_seconds``) until other processes use less than ``threshold``
    of the CPUs over a ``window``; return the last share seen."""
    share, t0 = None, time.perf_counter()
    while True:
        with OtherLoad() as other:
            time.sleep(window)
        share = other.share
        if share is None or share < threshold or time.perf_counter() - t0 >= max_seconds:
            return share
        if log:
            log(f"  waiting: other processes use {share:.0%} of the CPUs")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def matmul_peak(device: torch.device, sizes=PEAK_SIZES, reps: int = 3) -> dict:
    """The float32 ``torch.mm`` rate of this device: for each n, the best of ``reps``
    n x n x n products (2 n^3 FLOPs each); ``gflops`` is the best over the sizes."""
    by_size = {}
    for n in sizes:
        g = torch.Generator(device="cpu").manual_seed(n)
        a = torch.randn(n, n, generator=g).to(device)
        b = torch.randn(n, n, generator=g).to(device)
        c = torch.empty(n, n, device=device)
        torch.mm(a, b, out=c)  # warm-up
        _sync(device)
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            torch.mm(a, b, out=c)
            _sync(device)
            best = min(best, time.perf_counter() - t)
        by_size[n] = 2 * n**3 / best / 1e9
        del a, b, c
    return {"gflops": max(by_size.values()), "by_size": {str(k): round(v, 1) for k, v in by_size.items()},
            "reps": reps, "dtype": "float32"}


# --------------------------------------------------------------------------------------
# FLOPs


def analytic_flops(arch: str, size: tuple[int, int], content_layers=(PAPER_CONTENT_LAYER,),
                   style_layers=PAPER_STYLE_LAYERS, widths=None) -> dict:
    """FLOPs (multiply and add counted separately) of one forward + backward pass.

    Counted: every 3x3 convolution up to the deepest requested layer, forward
    2 C_in C_out 9 H W; its backward computes only the gradient of its input (the
    weights are frozen), which costs the same again (conv1_1's too: the image needs
    its gradient). Each style layer's Gram matrix G = F F^T (N x M): 2 N^2 M forward,
    and its backward dE/dF = 4c (G - A) F (Gatys et al., Eq. 6): 2 N^2 M.
    Not counted (together < 0.5 %): bias, ReLU, pooling, the loss arithmetic on
    feature maps and Gram matrices, preprocessing, the L-BFGS vector updates.
    """
    h, w = size
    kw = {} if widths is None else {"widths": tuple(widths)}
    table = vgg_layers(arch, **kw)
    pos = {l.name: i for i, l in enumerate(table)}
    wanted = list(content_layers) + list(style_layers)
    last = max(pos[n] for n in wanted)
    conv_fwd = 0
    per_layer = {}
    for l in table[: last + 1]:
        if l.kind == "conv":
            f = 2 * l.in_channels * l.channels * 9 * (h // l.downsampling) * (w // l.downsampling)
            per_layer[l.name] = f
            conv_fwd += f
    gram_fwd = 0
    for name in style_layers:
        l = table[pos[name]]
        m = (h // l.downsampling) * (w // l.downsampling)
        gram_fwd += 2 * l.channels**2 * m
    gram_bwd = gram_fwd
    total = 2 * conv_fwd + gram_fwd + gram_bwd
    return {"conv_forward": conv_fwd, "conv_backward": conv_fwd, "gram_forward": gram_fwd,
            "gram_backward": gram_bwd, "total": total, "deepest": table[last].name,
            "convs": list(per_layer)}


def counted_flops(objective, image: torch.Tensor) -> int:
    """FLOPs of one objective evaluation + backward as ``FlopCounterMode`` counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    x = image.detach().clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        total, _ = objective(x)
        total.backward()
    return int(counter.get_total_flops())


# --------------------------------------------------------------------------------------
# Memory


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS (glibc), so RSS deltas start clean."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss() -> int | None:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        pass
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _vmhwm() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_vmhwm() -> bool:
    """Linux: reset the kernel's peak-RSS mark to the current RSS (clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory of a block, relative to its start, in bytes (``.peak``).

    CUDA: ``torch.cuda.max_memory_allocated`` (the caching allocator's tensors).
    CPU on Linux: the kernel's peak resident set size (``VmHWM``, reset on entry), so
    the number is exact and includes memory torch allocates outside Python (oneDNN
    scratch pads). Elsewhere: RSS sampled every 2 ms by a thread (psutil), or the
    process-lifetime ``ru_maxrss`` as the last resort (only meaningful for the
    largest configuration of a run). ``.method`` says which.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.peak: int | None = None
        self.method = ""

    def __enter__(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            self.method = "torch.cuda.max_memory_allocated"
            return self
        if self.device.type == "mps":
            self._base = torch.mps.current_allocated_memory()
            self.method = "torch.mps.current_allocated_memory after the run (no peak counter on MPS)"
            return self
        _malloc_trim()
        self._base = _rss()
        if self._base is not None and _vmhwm() is not None and _reset_vmhwm():
            self.method = "peak RSS (Linux VmHWM, reset before the run) - RSS before"
            return self
        self._stop = threading.Event()
        try:
            import psutil  # noqa: F401

            self.method = "peak RSS sampled every 2 ms (psutil) - RSS before"
            self._max = self._base

            def sample():
                while not self._stop.wait(0.002):
                    self._max = max(self._max, _rss())

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        except ImportError:
            import resource

            self.method = "ru_maxrss (process lifetime peak) - RSS before"
            self._thread = None
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._base
        elif self.device.type == "mps":
            torch.mps.synchronize()
            self.peak = torch.mps.current_allocated_memory() - self._base
        elif self.method.startswith("peak RSS (Linux"):
            self.peak = _vmhwm() - self._base
        elif getattr(self, "_thread", None) is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self._max, _rss()) - self._base
        else:
            import resource

            scale = 1 if sys.platform == "darwin" else 1024
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale - (self._base or 0)
        return False


# --------------------------------------------------------------------------------------
# One configuration


def build(arch: str, size: int, device: torch.device, weights=None, seed: int = 0, widths=None):
    """The model, the objective and the white-noise start of ``stylelab.method.transfer``'s
    defaults, for random content and style images of ``size`` x ``size`` pixels."""
    if weights is not None:
        from stylelab.networks.weights import load_vgg

        model = load_vgg(weights, normalized=False, device=device, progress=False)
        source = model.info.get("weights")
    else:
        torch.manual_seed(seed)
        model = VGG(arch, widths=tuple(widths)) if widths else VGG(arch)
        model = model.to(device)
        source = "random init (seed %d)" % seed
    g = torch.Generator().manual_seed(seed)
    content = torch.rand(1, 3, size, size, generator=g)
    style = torch.rand(1, 3, size, size, generator=g)
    content_layers = [PAPER_CONTENT_LAYER]
    style_layers = list(PAPER_STYLE_LAYERS)
    conv = CONVENTIONS[DEFAULT_CONVENTION]
    channels = {l.name: l.channels for l in model.layers}
    w_l = layer_weights(style_layers, conv["style_weights"], channels)
    targets = make_targets(model, (size, size), content, content_layers, [style], style_layers)
    objective = Objective(model, targets, content_layers, w_l, alpha=1.0, beta=1e3, norm=conv["norm"])
    start = initial_image("noise", (size, size), seed=seed)
    return model, objective, start, source


def bench_one(arch: str, size: int, device: torch.device, reps: int = 5, weights=None,
              check_flops: bool = True, widths=None, seed: int = 0) -> dict:
    """Time ``reps`` L-BFGS evaluations of one configuration (after one warm-up).

    The evaluations run inside :func:`stylelab.method.transfer.optimize`; each one's time is
    the difference of consecutive ``history`` time stamps (taken right after the loss
    is read, which synchronises an accelerator), so it spans one backward pass, one
    L-BFGS update and the next forward pass. ``s_per_eval`` is the best of ``reps``.
    """
    with PeakMemory(device) as mem:
        model, objective, start, source = build(arch, size, device, weights, seed, widths)
        t = time.perf_counter()
        res = optimize(objective, start, steps=2, progress=False)  # warm-up; also the memory run
        warm = time.perf_counter() - t
    peak_mem, mem_method = mem.peak, mem.method

    with OtherLoad() as other:
        res = optimize(objective, start, steps=reps + 1, progress=False)
    stamps = [r["time"] for r in res.history]
    per_eval = [b - a for a, b in zip(stamps, stamps[1:])]
    best = min(per_eval)
    flops = analytic_flops(model.arch, (size, size), objective.content_layers, list(objective.style_weights),
                           widths=model.widths)
    counted = counted_flops(objective, start.to(device)) if check_flops else None
    gflop = flops["total"] / 1e9
    return {
        "arch": model.arch, "size": size, "weights": source, "reps": reps,
        "s_per_eval": best, "s_per_eval_median": statistics.median(per_eval), "s_per_eval_all": per_eval,
        "s_first_two_evals": warm, "other_processes_cpu": other.share,
        "gflop_per_eval": gflop, "gflops": gflop / best,
        "flops": flops, "flops_counted": counted,
        "flops_counted_ratio": (counted / flops["total"]) if counted else None,
        "peak_memory_mib": peak_mem / 2**20 if peak_mem is not None else None, "memory_method": mem_method,
        "lbfgs_history_mib": 2 * LBFGS_HISTORY * 3 * size * size * 4 / 2**20,
        "s_500_steps": 500 * best,
    }


# --------------------------------------------------------------------------------------
# The whole run


def run_benchmark(archs=ARCHS, sizes=SIZES, device=None, reps: int = 5, weights=None, threads: int | None = None,
                  peak_sizes=PEAK_SIZES, peak_reps: int = 3, check_flops: bool = True, widths=None,
                  wait_idle: float = 0.0, log=None) -> dict:
    """Benchmark every (arch, size); the matmul peak is measured before and after and
    the best of the two is the reference. Returns a JSON-able report.

    ``wait_idle`` > 0 (seconds): on a shared machine, before each measurement wait up to
    that long for other processes to use < 10 % of the CPUs, and run a configuration
    again (keeping the faster) when they used more while it was timed."""
    if threads:
        torch.set_num_threads(int(threads))
    device = config.resolve_device(device)
    log = log or (lambda *a: None)
    info = machine_info(device)
    t0 = time.perf_counter()
    log(f"matmul peak ({device}, {torch.get_num_threads()} threads) ...")
    if wait_idle:
        wait_for_idle(wait_idle, log=log)
    with OtherLoad() as other:
        peak_before = matmul_peak(device, peak_sizes, peak_reps)
    peak_before["other_processes_cpu"] = other.share
    log(f"  {peak_before['gflops']:.0f} GFLOP/s {peak_before['by_size']}")
    ws_arch = None
    if weights is not None:
        from stylelab.networks.weights import resolve

        ws_arch = resolve(weights).arch
    # A tiny warm-up run first, so that one-time costs (thread pools, oneDNN and MKL
    # initialisation) count neither in the first configuration's time nor its memory.
    bench_one(archs[0], 32, device, 1, check_flops=False, widths=(4, 8, 8, 16, 16))
    rows = []
    for arch in archs:
        for size in sizes:
            w = weights if ws_arch == arch else None
            if wait_idle:
                wait_for_idle(wait_idle, log=log)
            row = bench_one(arch, int(size), device, reps, weights=w, check_flops=check_flops, widths=widths)
            if wait_idle and (row["other_processes_cpu"] or 0) > 0.1:
                log(f"  other processes used {row['other_processes_cpu']:.0%} of the CPUs: again")
                wait_for_idle(wait_idle, log=log)
                again = bench_one(arch, int(size), device, reps, weights=w, check_flops=False, widths=widths)
                if again["s_per_eval"] < row["s_per_eval"]:
                    again["flops_counted"], again["flops_counted_ratio"] = row["flops_counted"], row["flops_counted_ratio"]
                    row = again
            rows.append(row)
            log(f"{arch} {size:4d} px: {row['s_per_eval']:.3f} s/eval (median {row['s_per_eval_median']:.3f}), "
                f"{row['gflop_per_eval']:.1f} GFLOP, {row['gflops']:.0f} GFLOP/s, "
                f"peak mem {row['peak_memory_mib']:.0f} MiB, other processes {_pct(row['other_processes_cpu'])}, "
                f"load {_loadavg()}")
            gc.collect()
    if wait_idle:
        wait_for_idle(wait_idle, log=log)
    with OtherLoad() as other:
        peak_after = matmul_peak(device, peak_sizes, peak_reps)
    peak_after["other_processes_cpu"] = other.share
    log(f"matmul peak again: {peak_after['gflops']:.0f} GFLOP/s {peak_after['by_size']}")
    peak = max(peak_before["gflops"], peak_after["gflops"])
    for row in rows:
        row["peak_gflops"] = peak
        row["ratio"] = row["gflops"] / peak
    info["loadavg_end"] = _loadavg()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]) if sys.argv and sys.argv[0] else None,
        "machine": info,
        "matmul_peak": {"gflops": peak, "before": peak_before, "after": peak_after},
        "results": rows,
        "seconds": time.perf_counter() - t0,
    }


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _fmt_mem(mib) -> str:
    return "n/a" if mib is None else f"{mib:.0f} MiB"


def _fmt_duration(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def markdown(report: dict) -> str:
    """The results as a Markdown table (for BENCHMARKS.md)."""
    m = report["machine"]
    lines = [
        f"Device: {m['device']} ({m['device_name']}); {m['cores']} cores, "
        f"{m['ram_gib']} GiB RAM; torch {m['torch']}, {m['threads']} threads, "
        f"MKL {'yes' if m['mkl'] else 'no'}, oneDNN {'yes' if m['mkldnn'] else 'no'}; "
        f"load average {m['loadavg_start']} -> {m['loadavg_end']}; {report['date']}",
        "",
        "| arch | size | weights | s / eval | GFLOP / eval | GFLOP/s | peak GFLOP/s | ratio | peak memory "
        "| 500 steps | other procs' CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['arch']} | {r['size']} | {'random' if r['weights'].startswith('random') else r['weights']} "
            f"| {r['s_per_eval']:.3f} | {r['gflop_per_eval']:.1f} | {r['gflops']:.0f} "
            f"| {r['peak_gflops']:.0f} | {r['ratio']:.0%} | {_fmt_mem(r['peak_memory_mib'])} "
            f"| {_fmt_duration(r['s_500_steps'])} | {_pct(r['other_processes_cpu'])} |"
        )
    return "\n".join(lines)


def _csv(value: str, cast=str) -> list:
    return [cast(v.strip()) for v in value.split(",") if v.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps (default: stylelab.config.default_device())")
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="image sides in pixels, comma separated")
    p.add_argument("--archs", default=",".join(ARCHS), help="vgg16, vgg19, comma separated")
    p.add_argument("--reps", type=int, default=5, help="timed evaluations per configuration (best is reported)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--weights", default=None,
                   help="a real weight set for its architecture (registry name, path, or 'env' for "
                        "STYLELAB_WEIGHTS); default: random init, which times the same")
    p.add_argument("--peak-sizes", default=",".join(map(str, PEAK_SIZES)), help="matmul sizes for the peak")
    p.add_argument("--no-flop-check", action="store_true", help="skip the FlopCounterMode cross-check")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="shared machine: wait up to SECONDS for other processes to go quiet before each "
                        "measurement, and repeat a configuration they disturbed")
    p.add_argument("--json", default=None, help="write the full report here")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table for BENCHMARKS.md")
    a = p.parse_args(argv)
    for arch in _csv(a.archs):
        if arch not in BLOCKS:
            p.error(f"unknown arch {arch!r}; choose from {', '.join(BLOCKS)}")
    log = lambda *s: print(*s, file=sys.stderr, flush=True)  # noqa: E731
    from stylelab.errors import StylelabError

    try:
        report = run_benchmark(_csv(a.archs), _csv(a.sizes, int), a.device, a.reps, a.weights, a.threads,
                               _csv(a.peak_sizes, int), check_flops=not a.no_flop_check, wait_idle=a.wait_idle,
                               log=log)
    except StylelabError as exc:
        print(f"bench.py: {exc}", file=sys.stderr)
        return 2
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, torch {m['torch']}, "
          f"{m['threads']} threads, MKL {m['mkl']}, oneDNN {m['mkldnn']}, device {m['device']} ({m['device_name']})")
    print(f"load average: {m['loadavg_start']} at start, {m['loadavg_end']} at end "
          f"({m['cores']} cores: above ~0.5 other processes were competing)")
    print(f"matmul peak: {report['matmul_peak']['gflops']:.0f} GFLOP/s float32 "
          f"(before {report['matmul_peak']['before']['by_size']}, after {report['matmul_peak']['after']['by_size']})")
    for r in report["results"]:
        check = (f"FlopCounterMode/analytic {r['flops_counted_ratio']:.4f}" if r["flops_counted_ratio"] else "")
        print(f"{r['arch']:5s} {r['size']:4d} px  {r['s_per_eval']:.3f} s/eval (median {r['s_per_eval_median']:.3f})  "
              f"{r['gflop_per_eval']:.1f} GFLOP  {r['gflops']:.0f} GFLOP/s  {r['ratio']:.0%} of peak  "
              f"mem {_fmt_mem(r['peak_memory_mib'])}  500 steps {_fmt_duration(r['s_500_steps'])}  "
              f"other procs {_pct(r['other_processes_cpu'])}  [{r['weights']}] {check}")
    if report["results"]:
        print(f"memory: {report['results'][0]['memory_method']}")
    if a.markdown:
        print()
        print(markdown(report))
    if a.json:
        path = Path(a.json)
        with config.atomic_file(path) as tmp:
            tmp.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
