#!/usr/bin/env python
"""Where does the paper's look lie? The sweep behind ``stylelab.method.transfer.CALIBRATION``.

The ratios printed under Gatys et al.'s figures (alpha/beta = 1e-3 for Fig. 2 B-D, 1e-4 for E-F)
give the figures' look only with the loss, layer weights and network the figures were made with.
This script runs the Neckarfront with the paintings of Fig. 2 in the ``hw`` normalisation with
w_l = 1/5 on the normalised network (the ``calibrated`` convention without its factor) at several
*effective* ratios K x alpha/beta, and judges each result by the kit's own measures:

- content: the conv4_2 distance to the photograph, relative to the painting's own (the painting
  scores 1; the paper's look lies between about 0.35 and 0.65: the town readable, re-painted);
- style: the mean relative Gram distance to the painting, relative to the photograph's own (the
  photograph scores 1; the paper's look: at most 0.5);
- speckle (:func:`stylelab.metrics.speckle`, below 0.3 clean).

The factor K for which the printed 1e-3 falls into both bands on panels B-D is
``CALIBRATION``; BENCHMARKS.md records the sweep.

    python benchmarks/calibration.py --size 256 --effective 0.1,0.2,0.3,1 --panels B,C,D
    python benchmarks/calibration.py --size 256 --tv 0,1e-3 --panels C --json out.json --save-dir out/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import stylelab as sl

from stylelab.method import conventions


def judge(model, image, photo, painting) -> dict:
    """The three measures of one result (see the module's docstring)."""
    c = sl.metrics.content_distance(model, image, photo, sl.PAPER_CONTENT_LAYER)
    c_paint = sl.metrics.content_distance(model, painting, photo, sl.PAPER_CONTENT_LAYER)
    s = sl.metrics.style_distance(model, image, painting)
    s_photo = sl.metrics.style_distance(model, photo, painting)
    return {"content": c / c_paint, "style": s / s_photo, "speckle": sl.metrics.speckle(image)}


def sweep(panels, printed, tvs, size: int, stages: int, steps: int, tol, weights=None, save_dir=None,
          log=print) -> list[dict]:
    model = sl.weights.load_vgg(weights, device="cpu")
    photo = sl.data.load("tubingen", size)
    by_panel = {p.panel: p for p in sl.paper.NECKARFRONT}
    scales = sl.paper.stage_scales(size, stages)
    rows = []
    for letter in panels:
        p = by_panel[letter]
        painting = sl.data.load(p.style, size)
        for k in printed:
            for tv in tvs:
                t = time.perf_counter()
                r = sl.transfer(photo, painting, ratio=k, convention="calibrated", model=model, scales=scales,
                                steps=steps, tol=tol, tv_weight=tv, progress=False, precision="auto")
                row = {"panel": letter, "painting": p.style, "printed_ratio": k,
                       "effective_ratio": k * conventions.CALIBRATION, "tv": tv,
                       "steps": r.steps_done, "seconds": round(time.perf_counter() - t, 1),
                       **judge(model, r.image, photo, painting)}
                rows.append(row)
                log(json.dumps(row))
                if save_dir:
                    Path(save_dir).mkdir(parents=True, exist_ok=True)
                    sl.image.save_image(r.image, Path(save_dir) / f"{letter}_{k:g}_tv{tv:g}.png")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--panels", default="B,C,D,E,F")
    p.add_argument("--effective", default="0.1,0.2,0.3,1",
                   help="effective ratios K x alpha/beta, the balance in the hw normalisation with w_l = 1/5 "
                        "(each is run as the printed ratio effective / CALIBRATION)")
    p.add_argument("--printed", default=None, help="printed ratios instead of --effective")
    p.add_argument("--tv", default="0")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--stages", type=int, default=2)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--tol", type=float, default=None)
    p.add_argument("--weights", default=None)
    p.add_argument("--save-dir", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    cal = conventions.CALIBRATION
    if args.printed:
        values = [float(v) for v in args.printed.split(",")]
    else:
        values = [float(v) / cal for v in args.effective.split(",")]
    rows = sweep(args.panels.split(","), values, [float(v) for v in args.tv.split(",")], args.size, args.stages,
                 args.steps, args.tol, args.weights, args.save_dir)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
