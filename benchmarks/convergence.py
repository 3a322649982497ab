#!/usr/bin/env python
"""Time to quality: the loss of the displayed image against wall time and evaluations.

For Gatys et al.'s objective (the Neckarfront and *The Starry Night*, alpha/beta = 1e-3,
content relu4_2, style relu1_1..relu5_1, the default loss convention, VGG-16 with
STYLELAB_WEIGHTS) at each ``--sizes`` px, in one process, one after the other:

- ``plain``: L-BFGS at the final size from white noise, ``--plain-steps`` evaluations
  (the paper's method; the reference the targets are measured against);
- ``c2f``: coarse-to-fine, ``--stages`` sizes halving up to the final one, each stage
  stopped by the stopping rule (``--tol``, ``--patience``) or at ``--plain-steps``;
- ``adam``: Adam (lr 0.02) at the final size, ``--adam-steps`` evaluations;
- ``nspt``: neural-style-pt 0.5.7 (benchmarks/nspt.py, its own virtual environment) on
  its own objective, ``--nspt-iterations``, and stylelab (plain and coarse-to-fine) on
  the same objective (:func:`nspt.nspt_objective_kwargs`, images resized as
  neural-style-pt resizes them), each until it reaches neural-style-pt's final
  reported loss or runs as long as neural-style-pt did.

stylelab's engine clamps the pixels to [0, 1] after every step, so every evaluated
image is displayable: its history is the loss of the displayed image. (The last
row of each table also scores the 8-bit PNG that is saved.) neural-style-pt never
constrains its pixels; its trace is the loss it reports for the unconstrained image.

    python benchmarks/convergence.py --sizes 256,512 --json conv.json --plot conv.png --markdown

The stopping rule's defaults are chosen from the ``plain`` runs: for each (tol, k) the
table says at which evaluation the rule would have stopped, and how far that loss was
above the loss after all ``--plain-steps``.

This is a benchmark, not a test: CI does not run it. Results: ../BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

RATIO = 1e-3


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _bilinear(path: str, size: int) -> torch.Tensor:
    """An image resized as neural-style-pt resizes it (PIL bilinear, the short side truncated)."""
    import numpy as np
    from PIL import Image

    img = Image.open(path).convert("RGB")
    w, h = img.size
    f = size / max(w, h)
    img = img.resize((size, int(h * f)) if w >= h else (int(w * f), size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)


def trace(result, final_hw) -> list[dict]:
    """(evaluation, time, loss) of the records at the final size, with all evaluations
    counted and their cost in final-size evaluations (pixels / final pixels)."""
    out, evals, equiv = [], 0, 0.0
    area = final_hw[0] * final_hw[1]
    for rec in result.history:
        size = rec.get("size", list(final_hw))
        evals += 1
        equiv += size[0] * size[1] / area
        if tuple(size) == tuple(final_hw):
            out.append({"eval": evals, "equiv": round(equiv, 2), "time": rec["time"], "loss": rec["total"]})
    return out


def time_to(points: list[dict], loss: float, key: str = "time"):
    """The first ``key`` at which the lowest loss so far is <= ``loss`` (None: never)."""
    best = math.inf
    for p in points:
        best = min(best, p["loss"])
        if best <= loss:
            return p[key]
    return None


def rule_table(losses: list[float], tols=(1e-2, 5e-3, 2e-3, 1e-3, 5e-4), patiences=(10, 20, 40)) -> list[dict]:
    """Where the stopping rule (tol, k) would have stopped a run with this loss history."""
    lowest, m = [], math.inf
    for v in losses:
        m = min(m, v)
        lowest.append(m)
    final = lowest[-1]
    rows = []
    for k in patiences:
        for tol in tols:
            stop = next((n for n in range(k, len(lowest)) if lowest[n - k] - lowest[n] <= tol * lowest[n - k]), None)
            rows.append({"tol": tol, "k": k, "stops_at": None if stop is None else stop + 1,
                         "loss_then": None if stop is None else lowest[stop],
                         "above_final": None if stop is None else lowest[stop] / final - 1})
    return rows


def run_configs(size: int, args, model, log) -> dict:
    import stylelab as sl

    from stylelab.method import conventions, objective, optimise, targets
    from stylelab.method import transfer as engine

    photo = sl.data.load("tubingen", size=size)
    painting = sl.data.load("starry_night", size=size)
    hw = tuple(photo.shape[-2:])
    scales = sl.paper.stage_scales(size, args.stages)
    out = {"size": size, "hw": list(hw), "runs": {}}

    def record(name, result, extra=None):
        pts = trace(result, hw)
        saved = Path(args.images) / f"{name}-{size}.png" if args.images else None
        png_loss = None
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            sl.image.save_image(result.image, saved)
        out["runs"][name] = {"points": pts, "final": pts[-1]["loss"] if pts else None,
                             "best": min(p["loss"] for p in pts) if pts else None,
                             "wall_time": result.wall_time, "evals": result.steps_done,
                             "status": result.status, "stages": result.stages, "png": str(saved) if saved else None,
                             **(extra or {})}
        log(f"  {name:>12s}: {out['runs'][name]['best']:.4g} after {result.steps_done} evals, "
            f"{result.wall_time:.0f} s ({result.status})")
        return out["runs"][name]

    common = dict(ratio=RATIO, model=model, progress=args.progress, seed=0)
    log(f"{size} px ({hw[1]}x{hw[0]}), scales {scales}")
    plain = None
    if args.plain_steps:  # 0: neural-style-pt's comparison only
        plain = record("plain", sl.transfer(photo, painting, steps=args.plain_steps, **common))
        record("c2f", sl.transfer(photo, painting, scales=scales, steps=args.plain_steps, tol=args.tol,
                                  patience=args.patience, **common))
    if args.adam_steps and args.plain_steps:
        record("adam", sl.transfer(photo, painting, steps=args.adam_steps, optimizer="adam", **common))
    # Scored on the Objective: the PNGs as saved (8-bit), at the final size.
    objective = objective.Objective(model, targets.make_targets(model, hw, photo, ["relu4_2"], [painting], list(sl.PAPER_STYLE_LAYERS)),
                            ["relu4_2"], conventions.layer_weights(list(sl.PAPER_STYLE_LAYERS), "gatys_code",
                                                         {l.name: l.channels for l in model.layers}),
                            1.0, 1.0 / RATIO, 0.0, 0.0, "hw")
    for name, r in out["runs"].items():
        if r["png"]:
            r["png_loss"] = objective.evaluate(sl.image.load_image(r["png"]))["total"]
    if plain is not None:
        target = plain["best"]
        for name, r in out["runs"].items():
            r["time_to_plain_final"] = time_to(r["points"], target)
            r["equiv_to_plain_final"] = time_to(r["points"], target, "equiv")
        out["rule"] = rule_table([p["loss"] for p in plain["points"]])

    if args.nspt_iterations:
        from nspt import nspt_objective_kwargs, run_nspt

        data = Path(os.environ.get("STYLELAB_DATA_DIR", "."))
        log(f"  neural-style-pt: {args.nspt_iterations} iterations at {size} px ...")
        ns = run_nspt(size, args.nspt_iterations, threads=args.threads, log=None)
        pts = [{"eval": p["iteration"], "time": p["time"], "loss": p["total"]} for p in ns["trace"]]
        ns_final = pts[-1]["loss"]
        out["nspt"] = {"points": pts, "final": ns_final, "time": pts[-1]["time"], "load_time": ns.get("load_time")}
        log(f"  {'nspt':>12s}: {ns_final:.6g} after {len(pts)} iterations, {pts[-1]['time']:.0f} s")
        content = _bilinear(str(data / "tubingen.jpg"), size)
        style = _bilinear(str(data / "starry_night.jpg"), size)
        kw = nspt_objective_kwargs()
        nmodel = sl.weights.load_vgg(None, pooling=kw.pop("pooling"), normalized=kw.pop("normalized"),
                                     progress=False)
        nhw = tuple(content.shape[-2:])
        budget = pts[-1]["time"]
        for name, extra in (("nspt-objective plain", {}),
                            ("nspt-objective c2f", {"scales": sl.paper.stage_scales(size, args.stages),
                                                    "tol": args.tol, "patience": args.patience})):
            t0 = time.perf_counter()

            def stop_when(step, image, rec, t0=t0):
                final_size = tuple(rec.get("size", nhw)) == nhw  # a coarse stage's loss is another image's
                return (final_size and rec["total"] <= ns_final) or time.perf_counter() - t0 > budget

            r = engine.run(content, style, model=nmodel, init="noise", seed=0, steps=100_000 if not extra else 2000,
                      progress=args.progress, callback=stop_when, every=1, **kw, **extra)
            pts_s = trace(r, nhw)
            out["runs"][name] = {"points": pts_s, "best": min((p["loss"] for p in pts_s), default=None),
                                 "wall_time": r.wall_time,
                                 "evals": r.steps_done, "time_to_nspt_final": time_to(pts_s, ns_final),
                                 "status": r.status}
            log(f"  {name:>12s}: {out['runs'][name]['best']} after {r.steps_done} evals, {r.wall_time:.0f} s; "
                f"reached nspt's final loss at {out['runs'][name]['time_to_nspt_final']} s")
    return out


def markdown(report: dict) -> str:
    lines = []
    m = report["machine"]
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} threads; "
                 f"load average {m['load_before']} before, {m['load_after']} after.\n")
    for s in report["sizes"]:
        lines.append(f"### {s['size']} px ({s['hw'][1]}x{s['hw'][0]})\n")
        own = {name: r for name, r in s["runs"].items() if not name.startswith("nspt")}
        if own:
            lines.append("| run | evaluations | wall time | best loss | saved PNG's loss | time to plain's final loss "
                         "| status |")
            lines.append("|---|---|---|---|---|---|---|")
        plain_t = s["runs"]["plain"]["wall_time"] if "plain" in s["runs"] else None
        for name, r in own.items():
            t = r.get("time_to_plain_final")
            tt = f"{t:.0f} s ({t / plain_t:.2f} of plain's)" if t is not None else "not reached"
            png = f"{r['png_loss']:.4g}" if r.get("png_loss") is not None else ""
            lines.append(f"| {name} | {r['evals']} | {r['wall_time']:.0f} s | {r['best']:.4g} | {png} | {tt} "
                         f"| {r['status']} |")
        if "nspt" in s:
            n = s["nspt"]
            lines.append("")
            lines.append(f"neural-style-pt: {len(n['points'])} iterations in {n['time']:.0f} s, final reported loss "
                         f"{n['final']:.6g} (unconstrained image).\n")
            lines.append("| run | evaluations | wall time | best loss | time to neural-style-pt's final loss |")
            lines.append("|---|---|---|---|---|")
            for name in ("nspt-objective plain", "nspt-objective c2f"):
                r = s["runs"][name]
                t = r["time_to_nspt_final"]
                tt = f"{t:.0f} s ({t / n['time']:.2f} of its time)" if t is not None else "not reached"
                best = f"{r['best']:.6g}" if r["best"] is not None else "(never at the final size)"
                lines.append(f"| {name.split()[-1]} | {r['evals']} | {r['wall_time']:.0f} s | {best} | {tt} |")
        if "rule" not in s:
            continue
        lines.append("")
        lines.append("Stopping rule on the plain run (stop when the lowest loss fell by no more than tol over k "
                     "evaluations):\n")
        lines.append("| k | tol | stops at | loss then | above the final loss |")
        lines.append("|---|---|---|---|---|")
        for r in s["rule"]:
            if r["stops_at"] is None:
                lines.append(f"| {r['k']} | {r['tol']:g} | never | | |")
            else:
                lines.append(f"| {r['k']} | {r['tol']:g} | {r['stops_at']} | {r['loss_then']:.4g} | "
                             f"{100 * r['above_final']:.1f} % |")
        lines.append("")
    return "\n".join(lines)


def plot(report: dict, path: str) -> None:
    """Per size: stylelab's runs against wall time and evaluations; with neural-style-pt, a
    third panel of its objective against wall time (its reported loss and stylelab's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(report["sizes"])
    own = any(not name.startswith("nspt") for s in report["sizes"] for name in s["runs"])
    nspt = any("nspt" in s for s in report["sizes"])
    ncols = 2 * own + nspt
    fig, axes = plt.subplots(n, ncols, figsize=(5.5 * ncols, 3.6 * n), squeeze=False)
    for row, s in zip(axes, report["sizes"]):
        panels = [(row[0], "time", "wall time (s)", "loss of the displayed image"),
                  (row[1], "equiv", "evaluations (in final-size evaluations)", "loss of the displayed image")
                  ] if own else []
        for name, r in s["runs"].items():
            if name.startswith("nspt"):
                continue
            for ax, key, _, _ in panels:
                ax.plot([p[key] for p in r["points"]], [p["loss"] for p in r["points"]], label=name)
        if nspt:
            ax = row[-1]
            panels.append((ax, "time", "wall time (s)", "neural-style-pt's objective"))
            if "nspt" in s:
                ns = s["nspt"]
                ax.plot([p["time"] for p in ns["points"]], [p["loss"] for p in ns["points"]],
                        label="neural-style-pt (reported, unconstrained)", color="k")
                ax.axhline(ns["final"], color="k", lw=0.6, ls=":")
                # its one-iteration spikes (100-1000x) would flatten everything else
                ax.set_ylim(0.8 * ns["final"], 3 * ns["points"][0]["loss"])
                for name in ("nspt-objective plain", "nspt-objective c2f"):
                    if name in s["runs"]:
                        r = s["runs"][name]
                        ax.plot([p["time"] for p in r["points"]], [p["loss"] for p in r["points"]],
                                label=f"stylelab {name.split()[-1]} (displayed)")
        for ax, _, xl, yl in panels:
            ax.set_yscale("log")
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            ax.set_title(f"{s['size']} px")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="256,512")
    p.add_argument("--plain-steps", type=int, default=1000,
                   help="0: no plain, coarse-to-fine or Adam run on stylelab's objective (neural-style-pt's only)")
    p.add_argument("--adam-steps", type=int, default=300)
    p.add_argument("--stages", type=int, default=3)
    p.add_argument("--tol", type=float, default=None, help="default: stylelab.method.transfer.DEFAULT_TOL")
    p.add_argument("--patience", type=int, default=None, help="default: stylelab.method.transfer.DEFAULT_PATIENCE")
    p.add_argument("--nspt-iterations", type=int, default=500, help="0: skip neural-style-pt")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", metavar="DIR", help="save each run's image here")
    p.add_argument("--json")
    p.add_argument("--plot")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    import stylelab as sl

    from stylelab.method import conventions, objective, optimise, targets
    from stylelab.method import transfer as engine

    a.tol = optimise.DEFAULT_TOL if a.tol is None else a.tol
    a.patience = optimise.DEFAULT_PATIENCE if a.patience is None else a.patience
    log = lambda *s: print(*s, file=sys.stderr, flush=True)  # noqa: E731
    model = sl.weights.load_vgg(None, progress=False)
    report = {"machine": {"cpu": _cpu(), "cores": os.cpu_count(), "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "load_before": os.getloadavg()[0]},
              "settings": {k: v for k, v in vars(a).items()}, "sizes": []}
    for size in [int(v) for v in a.sizes.split(",")]:
        report["sizes"].append(run_configs(size, a, model, log))
        if a.json:
            Path(a.json).write_text(json.dumps(report, indent=1))
    report["machine"]["load_after"] = os.getloadavg()[0]
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))
    if a.plot:
        plot(report, a.plot)
    if a.markdown:
        print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
