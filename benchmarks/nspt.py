#!/usr/bin/env python
"""Run the peer implementation neural-style-pt as a baseline, and time its iterations.

neural-style-pt (PyPI ``neural-style==0.5.7``, ProGamerGov's PyTorch port of Johnson's
``neural-style``) needs torchvision, which stylelab's environment does not have, so it
lives in a virtual environment of its own, outside the repository:

    python3 -m venv /work/nspt-venv
    /work/nspt-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 neural-style==0.5.7

This script runs with stylelab's python and starts neural-style-pt as a subprocess with
that venv's python (``--nspt-python`` or ``NSPT_PYTHON``, default /work/nspt-venv/bin/python):

    python benchmarks/nspt.py --size 128 --iterations 50 --threads 1 --json nspt.json

Defaults: images ``$STYLELAB_DATA_DIR/tubingen.jpg`` and ``starry_night.jpg``, weights
``$STYLELAB_WEIGHTS`` (``vgg16:caffe:/path``; only Caffe-convention weights fit,
neural-style-pt feeds BGR 0..256 minus the mean). neural-style-pt picks VGG-16 or 19
by substrings of the *lower-cased model path* ("19" before "16"; "sod", "pruning",
"fcn32s" select other models), so the weights are symlinked as ``vgg16.pth`` (or
``vgg19.pth``) into a fresh run folder under ``--workdir`` (``NSPT_WORKDIR``, default
``<tmp>/stylelab-nspt``) and passed by that relative name. It loads them with
``strict=False`` (``-disable_check``, needed: the file has no classifier); the launcher
first checks that every ``features.*`` tensor is in the file, since a missing one would
otherwise be silently left random. ``--threads`` sets OMP/MKL_NUM_THREADS and
``torch.set_num_threads`` (neural-style-pt has no flag for it).

What is timed: neural-style-pt's stdout is read line by line (``python -u``); the clock
starts when the line "Running optimization with L-BFGS" arrives, printed right before
``optimizer.step(feval)``, after model loading, image loading, target capture and the
random init. The time of iteration n is when its "Iteration n" report arrives, printed
at the end of loss evaluation n (after its backward pass, and after the image save on
the last one): n forward+backward passes and n-1 L-BFGS updates. Iteration 1 is the loss
of the initial image. ``load_time`` is process start to the start line.

neural-style-pt's objective (neural_style/neural_style.py of 0.5.7; see OBJECTIVE and
:func:`nspt_objective_kwargs` for it in stylelab's terms):

- preprocess (l. 347-355): PIL ``Resize`` (bilinear, antialiased) to longest side
  ``-image_size`` (other side truncated with int()), ``ToTensor() * 256`` (not 255),
  RGB->BGR, minus (103.939, 116.779, 123.68). The style image is resized to its *own*
  aspect ratio at longest side ``image_size * style_scale`` (l. 86), not to the content's.
- content (l. 415-428): ``content_weight`` (5) x MSE(F, P) at relu4_2 (mean over C*H*W).
- style (l. 431-463): ``style_weight`` (100) x MSE(G/(C*H*W), A/(C*Hs*Ws)) per layer
  (mean over C*C), relu1_1..relu5_1, each layer weight 1, summed.
- total = content + style (+ TV, off with ``-tv_weight 0``; its default 1e-3 is an L1 TV).
- init random (l. 209-211): ``randn(C, H, W) * 0.001`` in the preprocessed space, i.e.
  the mean colour plus tiny noise; ``-seed`` seeds it (we pass ``--seed``, default 0).
  The variable is the preprocessed image itself: never clamped during optimisation.
- L-BFGS (l. 278-294): ``torch.optim.LBFGS(max_iter=num_iterations,
  tolerance_change=-1, tolerance_grad=-1)`` and torch's defaults: lr 1, history_size 100
  (``-lbfgs_num_correction``), no line search, max_eval = 1.25 max_iter; one
  ``step`` call runs all iterations, one loss evaluation each; the first step length is
  min(1, 1/|g|_1). Without a line search the loss is not monotone: with these
  settings it barely moves for ~20 iterations, then spikes 100-1000x for one iteration
  (iteration 26 at 64 and 128 px) before falling again.
- the saved image (l. 359-366): /256, clamped to [0, 1], then ``*255`` truncated to
  uint8 by ``ToPILImage``: its loss differs a little from the last reported one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_PYTHON = "/work/nspt-venv/bin/python"
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
OBJECTIVE = ("neural-style-pt 0.5.7: 5 * MSE(F, P) at relu4_2 + sum over relu1_1..relu5_1 of "
             "100 * MSE(G/(C*H*W), A/(C*Hs*Ws)), Gram matrices of the style image at its own aspect "
             "ratio, longest side = image_size; caffe VGG input BGR*256 - mean; avg pooling; no TV; "
             "L-BFGS (lr 1, history 100, no line search, no tolerances) from randn*0.001 around the "
             "mean colour, pixels unclamped")

# Runs in the neural-style-pt venv: argv = threads, then neural-style's own arguments.
LAUNCHER = r"""
import json, sys, importlib.metadata as md
import torch
torch.set_num_threads(int(sys.argv[1]))
args = sys.argv[2:]
model, pooling = args[args.index("-model_file") + 1], args[args.index("-pooling") + 1]
from neural_style.loader.CaffeLoader import modelSelector
cnn, _ = modelSelector(model.lower(), pooling)
need = {k for k in cnn.state_dict() if k.startswith("features.")}
missing = sorted(need - set(torch.load(model, weights_only=True)))
if missing:
    sys.exit(f"{model} lacks {len(missing)} tensors neural-style-pt needs, e.g. {missing[:3]}")
print("NSPT-INFO " + json.dumps({"torch": torch.__version__, "neural_style": md.version("neural-style"),
      "threads": torch.get_num_threads()}), flush=True)
sys.argv = ["neural-style"] + args
from neural_style.neural_style import main
main()
"""

_START = re.compile(r"^Running optimization with")
_ITER = re.compile(r"^Iteration (\d+) / \d+")
_TERM = re.compile(r"^\s*(Content|Style) \d+ loss: (\S+)")
_TOTAL = re.compile(r"^\s*Total loss: (\S+)")


def nspt_objective_kwargs() -> dict:
    """neural-style-pt's default objective as :func:`stylelab.method.transfer.run` keywords.

    ``norm="chw"`` makes stylelab's content term the MSE and each style layer the MSE
    of G/(C H W) (see stylelab.method.losses); with alpha 5, beta 100 and w_l = 1 that is
    neural-style-pt's loss. ``style_scale="own"``: load the style image at longest side
    ``size`` yourself (``load_image(path, size=size)``), as neural-style-pt does. What
    stays different: stylelab scales pixels by 255, neural-style-pt by 256, and resizes
    with Lanczos, not bilinear. Fed neural-style-pt's own tensors (bilinear resize, pixels
    x 256/255) these keywords give its loss to float precision (ratio 1 + 2e-7 at 64 px);
    stylelab's own loading gives a loss 15% higher on the same image at 64 px (Lanczos
    +17%, the 255 scale -1.4%), so compare the two engines' images on one objective.
    """
    return dict(pooling="avg", normalized=False, norm="chw", alpha=5.0, beta=100.0,
                style_weights=[1.0] * len(STYLE_LAYERS), content_layers=["relu4_2"],
                style_layers=list(STYLE_LAYERS), style_scale="own", tv_weight=0.0, gamma=0.0)


def _weights_from(spec: str | None) -> tuple[str, str]:
    """``ARCH:CONVENTION:PATH`` (default ``$STYLELAB_WEIGHTS``) -> (arch, path)."""
    spec = spec or os.environ.get("STYLELAB_WEIGHTS", "")
    parts = spec.split(":", 2)
    if len(parts) != 3 or parts[0] not in ("vgg16", "vgg19"):
        raise ValueError(f"weights must be vgg16|vgg19:caffe:PATH (or set STYLELAB_WEIGHTS), got {spec!r}")
    if parts[1] != "caffe":
        raise ValueError(f"neural-style-pt expects Caffe-convention weights, got {parts[1]!r}")
    return parts[0], str(Path(parts[2]).expanduser().resolve())


def _image(path: str | None, name: str) -> str:
    if path:
        return str(Path(path).resolve())
    data = os.environ.get("STYLELAB_DATA_DIR")
    if not data:
        raise ValueError(f"give the {name} image path or set STYLELAB_DATA_DIR")
    return str(Path(data, name).resolve())


def run_nspt(size: int, iterations: int, *, threads: int = 1, content: str | None = None,
             style: str | None = None, weights: str | None = None, output_image: str | None = None,
             nspt_python: str | None = None, workdir: str | None = None, seed: int = 0,
             extra_args: list[str] | tuple = (), log=None) -> dict:
    """Run neural-style-pt once and return its per-iteration trace (see the module docstring).

    weights: ``ARCH:caffe:PATH`` (default ``$STYLELAB_WEIGHTS``). extra_args are appended to
    neural-style's command line (e.g. ``["-init", "image", "-init_image", png]``).
    log(line) receives every output line. Raises RuntimeError if neural-style-pt fails.
    """
    arch, wpath = _weights_from(weights)
    content, style = _image(content, "tubingen.jpg"), _image(style, "starry_night.jpg")
    python = nspt_python or os.environ.get("NSPT_PYTHON", DEFAULT_PYTHON)
    root = Path(workdir or os.environ.get("NSPT_WORKDIR") or Path(tempfile.gettempdir(), "stylelab-nspt"))
    root.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    (run_dir / f"{arch}.pth").symlink_to(wpath)  # a name neural-style-pt's model selector reads right
    out = str(Path(output_image).resolve()) if output_image else str(run_dir / "out.png")
    args = ["-model_file", f"{arch}.pth", "-disable_check", "-pooling", "avg", "-tv_weight", "0",
            "-gpu", "c", "-backend", "nn", "-optimizer", "lbfgs", "-init", "random", "-seed", str(seed),
            "-print_iter", "1", "-save_iter", "0", "-num_iterations", str(iterations),
            "-image_size", str(size), "-content_image", content, "-style_image", style,
            "-output_image", out, *map(str, extra_args)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [python, "-u", "-c", LAUNCHER, str(threads), *args]

    trace, lines, info, rec = [], [], {}, None
    t_launch = time.perf_counter()
    t0 = load_time = None
    with subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        for line in proc.stdout:
            now = time.perf_counter()
            line = line.rstrip("\n")
            lines.append(line)
            if log:
                log(line)
            if line.startswith("NSPT-INFO "):
                info = json.loads(line[10:])
            elif t0 is None and _START.match(line):
                t0, load_time = now, now - t_launch
            elif (m := _ITER.match(line)) and t0 is not None:
                rec = {"iteration": int(m[1]), "time": now - t0, "content_layers": [], "style_layers": []}
            elif (m := _TERM.match(line)) and rec is not None:
                rec["content_layers" if m[1] == "Content" else "style_layers"].append(float(m[2]))
            elif (m := _TOTAL.match(line)) and rec is not None:
                rec.update(total=float(m[1]), content=sum(rec["content_layers"]), style=sum(rec["style_layers"]))
                trace.append(rec)
                rec = None
    if proc.returncode != 0:
        raise RuntimeError(f"neural-style-pt exited with {proc.returncode}:\n" + "\n".join(lines[-20:]))
    settings = {"threads": threads, "seed": seed, "arch": arch, "weights": wpath, "content_image": content,
                "style_image": style, "nspt_python": python, "command": [python, "-u", "-c", "<LAUNCHER>",
                                                                         str(threads), *args], **info}
    return {"size": size, "iterations": iterations, "trace": trace, "output_image": out,
            "load_time": load_time, "wall_time": time.perf_counter() - t_launch,
            "settings": settings, "objective": OBJECTIVE}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=128, help="longest side in pixels (-image_size)")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--content", help="default $STYLELAB_DATA_DIR/tubingen.jpg")
    p.add_argument("--style", help="default $STYLELAB_DATA_DIR/starry_night.jpg")
    p.add_argument("--weights", help="ARCH:caffe:PATH, default $STYLELAB_WEIGHTS")
    p.add_argument("--output-image", help="default out.png in the run folder")
    p.add_argument("--nspt-python", help=f"default $NSPT_PYTHON or {DEFAULT_PYTHON}")
    p.add_argument("--workdir", help="folder for run folders, default $NSPT_WORKDIR or <tmp>/stylelab-nspt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the result here (else print it)")
    p.add_argument("-v", "--verbose", action="store_true", help="echo neural-style-pt's output")
    a = p.parse_args(argv)
    res = run_nspt(a.size, a.iterations, threads=a.threads, content=a.content, style=a.style,
                   weights=a.weights, output_image=a.output_image, nspt_python=a.nspt_python,
                   workdir=a.workdir, seed=a.seed, log=(lambda s: print(s, file=sys.stderr)) if a.verbose else None)
    text = json.dumps(res, indent=1)
    if a.json:
        Path(a.json).write_text(text)
        t = res["trace"]
        print(f"{len(t)} iterations at {a.size} px: total {t[0]['total']:.6g} -> {t[-1]['total']:.6g} "
              f"in {t[-1]['time']:.2f} s; wrote {a.json}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
