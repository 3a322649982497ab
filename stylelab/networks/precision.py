"""Arithmetic precision of the network: float32, or bfloat16 where the chip has units for it.

One L-BFGS evaluation of Gatys et al.'s objective (Eq. 7) is a forward pass of the VGG to
relu5_1 and a backward pass to the pixels; on two CPU cores it already runs near the float32
peak (BENCHMARKS.md), so the lever left is the chip's other arithmetic units:

- CPUs with AMX (Intel Sapphire Rapids and later) or AVX512_BF16 (AMD Zen 4 and later, Intel
  Cooper Lake) run bfloat16 convolutions several times faster than float32;
- CPUs with AVX2 only emulate bfloat16 and run its convolutions 10-500x *slower* (torch issues
  118499, 146508, 183815): there bf16 must never be chosen;
- CUDA GPUs run bf16 (or fp16) autocast on their tensor cores;
- Apple's MPS stays in float32 (and :class:`stylelab.networks.vgg.VGG` keeps NCHW there).

``precision="auto"`` decides once per machine: on a CPU with AMX or AVX512_BF16 a short
measured probe (:func:`probe`, a few VGG-like convolutions forward and backward in both
precisions) picks bf16 only if it is faster, and its answer is cached
(``STYLELAB_CACHE/precision.json``, keyed by CPU model, flags, torch version and threads).

What runs in the low precision is the network only (autocast around its forward pass; the
backward pass follows). The Gram matrices (Eq. 3), the losses (Eqs. 1, 4, 5, 7), the L-BFGS
state and the pixels stay float32, and the loss a result reports is evaluated again in float32
(:func:`stylelab.method.transfer.optimize`). The choice and its reason go into every result's settings.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
import json
from pathlib import Path
import platform
import time

import torch

from ..errors import SettingsError


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: The environment variable that sets the precision when none is given (``fp32`` to rule bf16 out).
ENV = "STYLELAB_PRECISION"
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: bf16 must beat fp32 by at least this factor in the probe for ``auto`` to pick it.
PROBE_MIN_SPEEDUP = 1.3
#: CPU flags (Linux /proc/cpuinfo names) that mean bf16 arithmetic units.
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Precision:
    """The chosen precision: ``name`` ("fp32", "bf16" or "fp16") and why."""

    name: str
    reason: str

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype of the network, None for float32."""
        return _DTYPES[self.name]

    def autocast(self, device: torch.device | str):
        """A context that runs the network in this precision on ``device`` (nothing for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=self.dtype)

    def describe(self) -> dict:
        return {"precision": self.name, "precision_reason": self.reason}


FP32 = Precision("fp32", "float32 (asked for)")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux: /proc/cpuinfo); empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    """The CPU's model name, for reports and the probe's cache key."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_bf16_units(flags: set[str] | None = None) -> list[str]:
    """Which of :data:`BF16_FLAGS` this CPU has (an empty list: AVX2 or older, no bf16 units)."""
    flags = cpu_flags() if flags is None else flags
    return [f for f in BF16_FLAGS if f in flags]


def _probe_net(dtype):
    """Three 3x3 convolutions of VGG's block 2-3 widths at 64 px, forward and backward."""
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(c_out, c_in, 3, 3, generator=g) * 0.05 for c_in, c_out in ((64, 128), (128, 128), (128, 256))]
    x0 = torch.rand(1, 64, 64, 64, generator=g).contiguous(memory_format=torch.channels_last)

    def once():
        x = x0.clone().requires_grad_(True)
        ctx = torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with ctx:
            y = x
            for w in ws:
                y = torch.relu(torch.nn.functional.conv2d(y, w, padding=1))
        y.float().square().mean().backward()

    return once


def probe(reps: int = 3) -> dict:
    """Time the probe network in fp32 and in bf16 (best of ``reps``); ``{"fp32": s, "bf16": s, "speedup": x}``."""
    times = {}
    for name in ("fp32", "bf16"):
        once = _probe_net(_DTYPES[name])
        once()  # warm-up: oneDNN picks and caches its kernels
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            once()
            best = min(best, time.perf_counter() - t)
        times[name] = best
    times["speedup"] = times["fp32"] / times["bf16"] if times["bf16"] > 0 else 0.0
    return times


def _cache_file() -> Path:
    from ..config import cache_dir

    return cache_dir() / "precision.json"


def _cache_key(units: list[str]) -> str:
    return f"{cpu_model()}|{','.join(units)}|torch {torch.__version__}|threads {torch.get_num_threads()}"


def cpu_choice(flags: set[str] | None = None, measure=probe) -> Precision:
    """``auto`` on this CPU: fp32 without bf16 units; with them, the probe's answer (cached)."""
    units = cpu_bf16_units(flags)
    if not units:
        return Precision("fp32", "auto: this CPU has no bfloat16 units (no AMX, no AVX512_BF16), where bf16 "
                                 "convolutions run many times slower than fp32")
    key = _cache_key(units)
    cache: dict = {}
    try:
        path = _cache_file()
    except OSError:
        path = None
    try:
        cache = json.loads(path.read_text()) if path is not None and path.exists() else {}
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key)
    if not (isinstance(entry, dict) and isinstance(entry.get("speedup"), (int, float))):
        entry = {k: round(float(v), 5) for k, v in measure().items()}
        cache[key] = entry
        if path is not None:
            try:
                from ..config import atomic_file

                with atomic_file(path) as tmp:
                    tmp.write_text(json.dumps(cache, indent=1))
            except OSError:
                pass
    speedup = float(entry["speedup"])
    if speedup >= PROBE_MIN_SPEEDUP:
        return Precision("bf16", f"auto: the CPU has {'/'.join(units)}; bf16 convolutions measured "
                                 f"{speedup:.1f}x faster than fp32 here")
    return Precision("fp32", f"auto: the CPU has {'/'.join(units)}, but bf16 measured only {speedup:.2f}x "
                             f"fp32's speed here (needs {PROBE_MIN_SPEEDUP}x)")


def resolve(precision: str | Precision | None, device: torch.device | str) -> Precision:
    """The :class:`Precision` to use for ``precision`` (``"auto"``, ``"fp32"``, ``"bf16"``, ``"fp16"``,
    None = ``"auto"``) on ``device``. Raises :class:`~stylelab.errors.SettingsError` for a name it
    does not know or a precision the device cannot run."""
    if isinstance(precision, Precision):
        return precision
    precision = "auto" if precision is None else precision
    if precision not in PRECISIONS:
        raise SettingsError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    kind = torch.device(device).type
    if precision == "fp32":
        return FP32
    if kind == "mps":
        if precision != "auto":
            raise SettingsError(f"precision {precision!r} is not supported on MPS here; use 'fp32' or 'auto'")
        return Precision("fp32", "auto: MPS runs the network in float32")
    if kind == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        if precision == "auto":
            name = "bf16" if bf16_ok else "fp16"
            return Precision(name, f"auto: CUDA autocast in {name} (tensor cores)")
        if precision == "bf16" and not bf16_ok:
            raise SettingsError("this GPU does not support bfloat16; use precision 'fp16' or 'fp32'")
        return Precision(precision, f"{precision} (asked for), CUDA autocast")
    if kind == "cpu":
        if precision == "auto":
            return cpu_choice()
        if precision == "fp16":
            raise SettingsError("precision 'fp16' needs a CUDA GPU; on a CPU use 'bf16' (with AMX or "
                                "AVX512_BF16) or 'fp32'")
        units = cpu_bf16_units()
        if units:
            return Precision("bf16", f"bf16 (asked for); the CPU has {'/'.join(units)}")
        return Precision("bf16", "bf16 (asked for) on a CPU without bfloat16 units: expect it to be slower "
                                 "than fp32")
    if precision == "auto":
        return Precision("fp32", f"auto: float32 on {kind}")
    raise SettingsError(f"precision {precision!r} is not supported on {kind}; use 'fp32' or 'auto'")
