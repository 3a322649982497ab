#!/usr/bin/env python
"""fp32 against bf16 on this machine: the network alone, a full evaluation, and the loss it reaches.

For VGG-16 at one image size (default 512 x 384, random weights unless ``--weights``), side by side
in one run:

1. **network**: the forward pass to relu5_1 and the backward pass to the pixels alone (sum of the
   relu5_1 responses as the loss), in fp32 NCHW, fp32 channels-last and bf16 autocast +
   channels-last;
2. **evaluation**: one full L-BFGS evaluation of Gatys et al.'s objective through the engine
   (:func:`stylelab.method.transfer.optimize` on the :class:`~stylelab.method.transfer.Objective` that
   :func:`stylelab.method.transfer.run` builds: content relu4_2, five Grams, the loss, the L-BFGS
   update), in fp32 and in bf16; the **overhead** is evaluation / network in the same precision
   (the issue's target: at most 1.5x);
3. **accuracy**: ``--steps`` L-BFGS steps from the same white-noise start in fp32 and in bf16, each
   final image's loss evaluated with the network in fp32; the relative difference (target: within
   3 % after 200 steps) and the cosine of the two precisions' gradients at the start.

It also prints the CPU model, its bf16 flags, the probe of :mod:`stylelab.networks.precision` and what
``precision="auto"`` chooses here. On a CPU without AMX or AVX512_BF16, bf16 is emulated and
10-500x slower: ``--skip-slow-bf16`` (the default there) then times one bf16 evaluation only and
runs the accuracy part at ``--accuracy-size`` px.

    python benchmarks/precision.py                       # 512 x 384, 200 steps
    python benchmarks/precision.py --size 256 --steps 50 --json out.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

import torch

from stylelab import precision as P
from stylelab.networks.vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, VGG

T = importlib.import_module("stylelab.method.transfer")


def _model(weights, device):
    if weights:
        from stylelab.networks.weights import load_vgg

        return load_vgg(weights, device=device, progress=False)
    torch.manual_seed(0)
    return VGG("vgg16").to(device)


def _images(h: int, w: int):
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g)


def network_time(model, h: int, w: int, mode: str, reps: int) -> float:
    """Best-of-``reps`` seconds of the forward pass to relu5_1 and the backward pass to the pixels."""
    x0 = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    best = float("inf")
    for i in range(reps + 1):
        x = x0.clone().requires_grad_(True)
        t = time.perf_counter()
        ctx = P.Precision("bf16", "").autocast("cpu") if mode == "bf16" else P.FP32.autocast("cpu")
        with ctx:
            y = _to_relu5_1(model, x, channels_last=mode != "fp32-nchw")
        y.float().sum().backward()
        if i:
            best = min(best, time.perf_counter() - t)
    return best


def _to_relu5_1(model, image, channels_last: bool):
    """:meth:`stylelab.networks.vgg.VGG.forward` to relu5_1, with the memory layout chosen here."""
    x = model.preprocess(image)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    for l in model.layers[: model._pos["relu5_1"] + 1]:
        if l.kind == "conv":
            conv = model.convs[l.name]
            x = torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)
        elif l.kind == "relu":
            x = torch.relu(x)
        else:
            x = torch.nn.functional.avg_pool2d(x, 2, 2)
    return x


def evaluation_time(model, content, style, precision: str, reps: int) -> tuple[float, object]:
    """Best-of-``reps`` seconds per L-BFGS evaluation through the engine, and the objective."""
    objective = _objective(model, content, style, precision)
    start = T.initial_image("noise", tuple(content.shape[-2:]), seed=0)
    res = T.optimize(objective, start, steps=reps + 1, progress=False)
    stamps = [r["time"] for r in res.history]
    return min(b - a for a, b in zip(stamps, stamps[1:])), objective


def _objective(model, content, style, precision: str):
    conv = T.CONVENTIONS[T.DEFAULT_CONVENTION]
    layers = list(PAPER_STYLE_LAYERS)
    channels = {l.name: l.channels for l in model.layers}
    targets = T.make_targets(model, tuple(content.shape[-2:]), content, [PAPER_CONTENT_LAYER], [style], layers)
    return T.Objective(model, targets, [PAPER_CONTENT_LAYER], T.layer_weights(layers, conv["style_weights"], channels),
                       alpha=conv["content_scale"], beta=1e3, norm=conv["norm"],
                       precision=P.resolve(precision, "cpu"))


def accuracy(model, h: int, w: int, steps: int) -> dict:
    """fp32 and bf16 runs of ``steps`` L-BFGS steps; final losses evaluated in fp32."""
    content, style = _images(h, w)
    start = T.initial_image("noise", (h, w), seed=0)
    out = {"size": [h, w], "steps": steps}
    grads = {}
    for name in ("fp32", "bf16"):
        obj = _objective(model, content, style, name)
        x = start.clone().requires_grad_(True)
        obj(x)[0].backward()
        grads[name] = x.grad.flatten()
        t = time.perf_counter()
        res = T.optimize(obj, start, steps=steps, progress=False)
        out[f"{name}_seconds"] = round(time.perf_counter() - t, 2)
        out[f"{name}_loss_fp32"] = obj.evaluate(res.image, fp32=True)["total"]
    out["relative_difference"] = abs(out["bf16_loss_fp32"] - out["fp32_loss_fp32"]) / out["fp32_loss_fp32"]
    out["gradient_cosine"] = float(torch.nn.functional.cosine_similarity(grads["fp32"], grads["bf16"], dim=0))
    return out


def run(size=(384, 512), steps: int = 200, reps: int = 3, weights=None, skip_slow_bf16=None,
        accuracy_size: int = 128, threads: int | None = None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    h, w = size
    units = P.cpu_bf16_units()
    if skip_slow_bf16 is None:
        skip_slow_bf16 = not units
    auto = P.resolve("auto", "cpu")
    report = {"cpu": P.cpu_model(), "bf16_units": units, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "auto": auto.name, "auto_reason": auto.reason,
              "probe": P.probe(), "size": [h, w], "skip_slow_bf16": skip_slow_bf16}
    model = _model(weights, "cpu")
    content, style = _images(h, w)
    bf16_reps = 1 if skip_slow_bf16 else reps
    net = {"fp32-nchw": network_time(model, h, w, "fp32-nchw", reps),
           "fp32": network_time(model, h, w, "fp32", reps),
           "bf16": network_time(model, h, w, "bf16", bf16_reps)}
    ev = {"fp32": evaluation_time(model, content, style, "fp32", reps)[0],
          "bf16": evaluation_time(model, content, style, "bf16", bf16_reps)[0]}
    report["network_s"] = net
    report["evaluation_s"] = ev
    report["overhead"] = {k: ev[k] / net[k] for k in ev}
    report["bf16_speedup_evaluation"] = ev["fp32"] / ev["bf16"]
    if skip_slow_bf16:
        ah = max(32, round(accuracy_size * h / max(h, w)))
        aw = max(32, round(accuracy_size * w / max(h, w)))
    else:
        ah, aw = h, w
    report["accuracy"] = accuracy(model, ah, aw, steps)
    return report


def markdown(r: dict) -> str:
    n, e, o = r["network_s"], r["evaluation_s"], r["overhead"]
    a = r["accuracy"]
    lines = [
        f"CPU: {r['cpu']}; bf16 units: {', '.join(r['bf16_units']) or 'none'}; torch {r['torch']}, "
        f"{r['threads']} threads; auto chooses **{r['auto']}** ({r['auto_reason']})",
        f"probe: fp32 {r['probe']['fp32'] * 1e3:.1f} ms, bf16 {r['probe']['bf16'] * 1e3:.1f} ms "
        f"({r['probe']['speedup']:.2f}x)",
        "",
        f"| {r['size'][1]}x{r['size'][0]} px, VGG-16 to relu5_1 | fp32 NCHW | fp32 channels-last | bf16 channels-last |",
        "|---|---|---|---|",
        f"| network forward + backward (s) | {n['fp32-nchw']:.3f} | {n['fp32']:.3f} | {n['bf16']:.3f} |",
        f"| full evaluation (s) | | {e['fp32']:.3f} | {e['bf16']:.3f} |",
        f"| evaluation / network | | {o['fp32']:.2f} | {o['bf16']:.2f} |",
        "",
        f"bf16 evaluation {r['bf16_speedup_evaluation']:.2f}x fp32's. Accuracy ({a['size'][1]}x{a['size'][0]} px, "
        f"{a['steps']} L-BFGS steps, losses evaluated in fp32): fp32 {a['fp32_loss_fp32']:.5g}, bf16 "
        f"{a['bf16_loss_fp32']:.5g}, difference {a['relative_difference'] * 100:.2f} %; gradient cosine at the "
        f"start {a['gradient_cosine']:.5f}.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="512x384", help="WxH of the image (default 512x384)")
    p.add_argument("--steps", type=int, default=200, help="L-BFGS steps of the accuracy runs (default 200)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions, best reported (default 3)")
    p.add_argument("--weights", default=None, help="a weight set (e.g. env); default: random weights")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--accuracy-size", type=int, default=128,
                   help="longest side of the accuracy runs where bf16 is emulated (default 128)")
    p.add_argument("--skip-slow-bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="time bf16 once and run the accuracy part small (default: on CPUs without bf16 units)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    r = run((h, w), args.steps, args.reps, args.weights, args.skip_slow_bf16, args.accuracy_size, args.threads)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
