#!/usr/bin/env python
"""How fast the real-time explorer (:class:`stylelab.explorer.realtime.RealtimeExplorer`) follows a
slider: the issue's target is a new picture in under half a second at 256 px.

With the real VGG of ``STYLELAB_WEIGHTS`` (``--weights``) as the encoder and a decoder of the student
size (:data:`stylelab.realtime.adain.SLIM`, random weights: it costs what a trained one costs), and
also a trained decoder if one is in the stylelab cache (``realtime/adain-*.pt``, made by
:func:`stylelab.explorer.realtime.student_decoder` or ``stylelab train``; none is trained here), the
explorer makes its first picture (the three images encoded once), then the alpha and mix sliders
are moved ``--updates`` times, waiting for each picture. Printed per decoder: the median and the
slowest latency from setting the slider to the picture shown (the widget's own "updated in" time:
mix + decode + PNG), and the first picture's time (which encodes). It also prints the CPU model and
torch's threads: compare numbers taken in the same run on a shared machine.

    python benchmarks/explorer_realtime.py                  # 256 px, 20 updates
    python benchmarks/explorer_realtime.py --size 512 --updates 40 --threads 2

A benchmark, not a test (nothing asserts the target): ``--json`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from stylelab import config
from stylelab.explorer.realtime import RealtimeExplorer
from stylelab.networks.precision import cpu_model
from stylelab.networks.weights import load_vgg
from stylelab.realtime import adain, saved

TARGET = 0.5  # s, the issue's


def cached_decoders(in_channels: int) -> list[tuple[str, torch.nn.Module]]:
    """Trained AdaIN decoders in the stylelab cache that fit the encoder's relu4_1."""
    folder = config.cache_dir("realtime")
    out = []
    for path in sorted(folder.glob("adain-*.pt")):
        try:
            net, report = saved.read(path, kind="adain")
        except Exception as exc:  # noqa: BLE001
            print(f"  skipping {path.name}: {exc}", file=sys.stderr)
            continue
        if net.in_channels == in_channels:
            steps = report.get("steps_done", "?")
            out.append((f"trained {net.architecture.describe()}, {steps} steps ({path.name})", net))
    return out


def measure(name: str, model, decoder, size: int, updates: int) -> dict:
    started = time.perf_counter()
    ex = RealtimeExplorer(decoder, model, size=size, alpha=1.0, mix=0.0)
    if not ex.wait(600) or ex.last_error:
        raise SystemExit(f"{name}: the first picture failed: {ex.last_error}")
    first = time.perf_counter() - started
    ex.set(alpha=0.9, wait=True)  # warm-up (the decoder's first pass allocates)
    latency, own = [], []
    for i in range(updates):
        change = {"alpha": round(0.05 + 0.9 * ((i * 7) % updates) / updates, 2)} if i % 2 == 0 else \
                 {"mix": round(((i * 3) % updates) / updates, 2)}
        t = time.perf_counter()
        ex.set(**change, wait=True)
        latency.append(time.perf_counter() - t)
        own.append(ex.update_seconds)
        if ex.last_error:
            raise SystemExit(f"{name}: {ex.last_error}")
    h, w = ex.picture.shape[-2:]
    return {"decoder": name, "picture": f"{w}x{h}", "first_picture_s": first,
            "median_s": statistics.median(latency), "max_s": max(latency),
            "median_update_s": statistics.median(own), "updates": updates,
            "photo": ex.settings()["photo"], "paintings": [ex.settings()["painting_a"], ex.settings()["painting_b"]]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--weights", default=None, help="a weight set (default: STYLELAB_WEIGHTS)")
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load_vgg(args.weights, device=args.device, progress=False)
    channels = {l.name: l.channels for l in model.layers}[adain.ENCODER_LAYER]
    torch.manual_seed(0)
    decoders = [(f"random {adain.SLIM.describe()} (student size)", adain.Decoder(adain.SLIM, channels))]
    decoders += cached_decoders(channels)
    if len(decoders) == 1:
        print("no trained AdaIN decoder in the cache (" + str(config.cache_dir("realtime")) + "): "
              "timing the random one only (a trained one of the same size costs the same)")

    dev = next(model.parameters()).device
    print(f"cpu: {cpu_model()} · device {dev} · torch {torch.__version__}, {torch.get_num_threads()} threads · "
          f"encoder {model.arch} ({model.info.get('weights', '?') if hasattr(model, 'info') else '?'})")
    rows = []
    for name, decoder in decoders:
        r = measure(name, model, decoder, args.size, args.updates)
        rows.append(r)
        verdict = "within" if r["median_s"] < TARGET else "OVER"
        print(f"{name}: {r['picture']} px picture; slider update median {r['median_s']:.3f} s, slowest "
              f"{r['max_s']:.3f} s over {r['updates']} updates ({verdict} the {TARGET} s target); the widget's "
              f"own time {r['median_update_s']:.3f} s; first picture (3 encodings) {r['first_picture_s']:.2f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"cpu": cpu_model(), "threads": torch.get_num_threads(), "size": args.size,
                       "device": str(dev), "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
