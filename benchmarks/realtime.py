#!/usr/bin/env python
"""Real-time style transfer against the optimisation, side by side on one machine (issue 22's targets).

For one photograph (the Neckarfront, 512 x 384 by default) this reports

* the time of one forward pass of Johnson et al.'s transformation network, the student's slim one
  and the paper's (median of ``--reps`` passes after a warm-up; random weights: the time does not
  depend on their values), in float32 and, where the CPU has bf16 units, in bfloat16;
* the time of one AdaIN stylisation (encoder to relu4_1, AdaIN, the slim decoder) and of the
  explorer's slider update (AdaIN and the decoder only, the responses cached);
* the student-profile optimisation of the same photograph (``sl.transfer`` with the student profile's
  schedule: coarse to fine, the stopping rule, the TV term and the chroma prior), its wall time, and
  the speed-up of the network over it.

    python benchmarks/realtime.py                      # 512 x 384, the optimisation included (minutes)
    python benchmarks/realtime.py --no-optimise        # the networks only (seconds)
    python benchmarks/realtime.py --size 256 --markdown

Needs real VGG weights (``STYLELAB_WEIGHTS``) and the sample images (``STYLELAB_DATA_DIR``).
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

import stylelab as sl
from stylelab.networks import precision as _precision
from stylelab.networks.weights import load_vgg
from stylelab.realtime import adain, speed, transformer
from stylelab.teaching import paper


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="longest side of the photograph (default 512: 512 x 384)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--painting", default="starry_night")
    ap.add_argument("--no-optimise", action="store_true", help="skip the optimisation (it takes minutes)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args(argv)

    dev = sl.config.resolve_device(args.device)
    torch.manual_seed(0)
    photo = sl.data.load("tubingen", args.size)
    style = sl.data.load(args.painting, args.size)
    h, w = photo.shape[-2:]
    out = {"machine": {"cpu": _precision.cpu_model(), "bf16_units": _precision.cpu_bf16_units(),
                       "threads": torch.get_num_threads(), "device": str(dev), "torch": torch.__version__,
                       "python": platform.python_version()},
           "image": f"{w}x{h}", "network_seconds": {}}
    precisions = [_precision.FP32]
    if dev.type == "cpu" and _precision.cpu_bf16_units():
        precisions.append(_precision.Precision("bf16", "bf16 (asked for)"))
    elif dev.type == "cuda":
        precisions.append(_precision.resolve("auto", dev))
    for name, arch in (("slim", transformer.SLIM), ("paper", transformer.PAPER)):
        net = transformer.TransformNet(arch).to(dev).eval()
        for p in precisions:
            key = f"johnson {name} ({arch.describe()}), {p.name}"
            out["network_seconds"][key] = speed.median_seconds(lambda: transformer.stylise(net, photo, p), args.reps)
    model = load_vgg(device=dev, progress=False)
    decoder = adain.Decoder(adain.SLIM).to(dev).eval()
    out["network_seconds"]["adain slim, fp32 (encoder + AdaIN + decoder)"] = speed.median_seconds(
        lambda: adain.stylise(model, decoder, photo, style), args.reps)
    fc, fs = adain.encode(model, adain.pad8(photo.to(dev))[0]), adain.encode(model, style.to(dev))
    out["network_seconds"]["adain slim, fp32 (slider update: AdaIN + decoder)"] = speed.median_seconds(
        lambda: adain.decode(decoder, adain.mix(fc, [fs], alpha=0.5)), args.reps)
    if not args.no_optimise:
        lesson = paper.lesson_profile("03", "student")
        r = sl.transfer(photo, style, ratio=1e-3, model=model, progress=False, steps=lesson.stage_steps(None, args.size),
                        scales=lesson.scales(args.size), tol=lesson.tol, tv_weight=lesson.tv_weight(args.size),
                        **sl.chroma_tv.extra_terms(lesson.chroma_tv))
        out["optimisation"] = {"seconds": r.wall_time, "status": r.status, "schedule": {
            "scales": lesson.scales(args.size), "steps": lesson.stage_steps(None, args.size), "tol": lesson.tol}}
        slim = out["network_seconds"][f"johnson slim ({transformer.SLIM.describe()}), fp32"]
        out["speedup_slim_fp32"] = r.wall_time / slim
    if args.markdown:
        print(f"{out['machine']['cpu']}, {out['machine']['threads']} threads, torch {out['machine']['torch']}, "
              f"{dev}, photograph {out['image']}\n")
        print("| what | seconds per image |\n|---|---|")
        for k, v in out["network_seconds"].items():
            print(f"| {k} | {v:.3f} |")
        if "optimisation" in out:
            print(f"| student-profile optimisation ({out['optimisation']['status']}) | {out['optimisation']['seconds']:.1f} |")
            print(f"\nspeed-up of the slim network (fp32) over the optimisation: {out['speedup_slim_fp32']:,.0f}x")
    else:
        print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
