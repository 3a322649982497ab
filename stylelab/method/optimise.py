"""The image optimisation: the start (white noise, the content, the style), L-BFGS or
Adam on the pixels, the stopping rule, and the :class:`Result` every run returns (the
best image, the history per step, the settings, the wall time). Ctrl-C returns the best
image so far; a NaN/inf loss raises :class:`~stylelab.errors.NonFiniteLossError`."""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import threading
import time
from typing import Callable, Iterable

import torch

from . import losses
from .. import config
from ..errors import NonFiniteLossError, SettingsError
from ..image import resize_to, save_image
from ..networks import precision as _precision
from .objective import Objective, _record
from .settings import _finite_nonneg, _positive_int


INITS = ("noise", "content", "style")
OPTIMIZERS = ("lbfgs", "adam")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
#: Standard deviation of the white-noise start, on [0, 1] pixels, around the mean
#: colour. Gatys et al.'s own code draws N(0, 1) on the 0..255 scale; a faint noise
#: like this gives clean results, full-range uniform noise leaves speckle that
#: L-BFGS removes only slowly.
NOISE_STD = 0.01
#: L-BFGS sees the loss rescaled so that the first loss equals this many times the
#: number of pixels (see :func:`optimize`). torch's L-BFGS keeps a curvature pair only
#: when y.s > 1e-10, and with mean-squared losses y.s shrinks with the image's area, so
#: the scale grows with it. Measured (80 steps, VGG-16): a first loss of ~1 stores no
#: pairs and textures do not move (1.0x lower loss); 0.008/px at 128 px and 0.02/px at
#: 256 px lower the texture loss 120x and 88x; at 128 px a scale of 1e4 (0.8/px) makes
#: the early steps overshoot and leaves speckle that 80 steps do not remove.
LBFGS_SCALE_PER_PIXEL = 0.02
#: The stopping rule's defaults (:func:`optimize`): stop when the lowest loss so far fell
#: by no more than ``DEFAULT_TOL`` (relative) over the last ``DEFAULT_PATIENCE`` evaluations.
#: Measured (benchmarks/convergence.py, BENCHMARKS.md): on plain L-BFGS at 256 px this rule
#: stops at evaluation 697, 5.8 % above the loss after 800; 2e-3 never fired in 800
#: evaluations, and 1e-2 over 10 evaluations stopped at 480, 24 % above it.
DEFAULT_TOL = 1e-2
DEFAULT_PATIENCE = 20


@dataclass
class Result:
    """What an optimisation produced."""

    image: torch.Tensor  # (1, 3, H, W) RGB [0, 1] on the CPU: the lowest-loss image evaluated
    history: list[dict]  # one record per loss evaluation: step, time, total, terms, per-layer terms
    settings: dict  # everything needed to run it again (JSON-able)
    best_step: int = 0
    interrupted: bool = False  # Ctrl-C
    stopped: bool = False  # a callback or the stop event ended it early
    wall_time: float = 0.0
    init_image: torch.Tensor | None = field(default=None, repr=False)
    converged: bool = False  # the stopping rule ended the (last stage of the) run
    converged_step: int | None = None  # the step at which it did
    stages: list[dict] = field(default_factory=list)  # coarse-to-fine: one summary per size
    #: The returned image's losses evaluated again with the network in float32, when the run's
    #: network ran in bf16/fp16 (stylelab.networks.precision); None for a float32 run.
    fp32_losses: dict | None = None

    @property
    def status(self) -> str:
        """"converged after N steps" or "not converged after N steps" (N: evaluations, all stages)."""
        if self.converged:
            return f"converged after {self.converged_step} steps"
        return f"not converged after {self.steps_done} steps"

    @property
    def losses(self) -> dict:
        """The loss record of the returned image (evaluated in float32: :attr:`fp32_losses`
        when the network ran in a lower precision)."""
        if self.fp32_losses is not None:
            return self.fp32_losses
        for r in self.history:
            if r["step"] == self.best_step:
                return r
        return self.history[-1] if self.history else {}

    @property
    def steps_done(self) -> int:
        return len(self.history)

    def to_pil(self):
        from ..image import to_pil

        return to_pil(self.image)

    def summary(self) -> dict:
        """Settings, final losses, time: what a notebook writes to its metrics JSON."""
        return {"settings": self.settings, "losses": self.losses, "best_step": self.best_step,
                "steps_done": self.steps_done, "interrupted": self.interrupted, "stopped": self.stopped,
                "converged": self.converged, "converged_step": self.converged_step, "status": self.status,
                "stages": self.stages, "wall_time": self.wall_time}

    def save(self, path: str | os.PathLike, *, history: bool = True, protect: Iterable = ()) -> Path:
        """Save the image (PNG/JPEG by suffix) and ``<name>.json`` beside it with the
        settings, final losses and (optionally) the whole history."""
        path = save_image(self.image, path, protect=tuple(protect))
        meta = self.summary()
        if history:
            meta["history"] = self.history
        side = path.with_suffix(".json")
        with config.atomic_file(side) as tmp:
            tmp.write_text(json.dumps(meta, indent=1, default=str))
        return path


def initial_image(init, size: tuple[int, int], content: torch.Tensor | None = None,
                  style: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """The starting image: white noise (Gaussian, :data:`NOISE_STD`, around the mean
    colour, seeded: the paper), the
    content image, the (first) style image resized to ``size``, or a given image."""
    h, w = size
    if isinstance(init, torch.Tensor):
        img = init.detach().float()
        if img.dim() == 3:
            img = img.unsqueeze(0)
        return resize_to(img, (h, w)).clamp(0, 1) if tuple(img.shape[-2:]) != (h, w) else img.clamp(0, 1).clone()
    if init == "noise":
        g = torch.Generator().manual_seed(int(seed))
        mean = torch.tensor(losses.IMAGE_MEAN).view(1, 3, 1, 1)
        return (mean + NOISE_STD * torch.randn(1, 3, h, w, generator=g)).clamp(0, 1)
    if init == "content":
        if content is None:
            raise SettingsError("init='content' needs a content image")
        return resize_to(content, (h, w)).clone()
    if init == "style":
        if style is None:
            raise SettingsError("init='style' needs a style image")
        return resize_to(style, (h, w)).clone()
    raise SettingsError(f"unknown init {init!r}; choose one of {INITS} or pass an image tensor")


def optimize(objective: Objective, init: torch.Tensor, *, steps: int = 500, optimizer: str = "lbfgs",
             lr: float | None = None, callback: Callable | None = None, every: int = 10,
             progress: bool = True, stop: threading.Event | Callable[[], bool] | None = None,
             settings: dict | None = None, desc: str = "optimising", tol: float | None = None,
             patience: int = DEFAULT_PATIENCE, make_closure: Callable | None = None) -> Result:
    """Optimise the pixels of ``init`` to minimise ``objective``.

    optimizer: ``"lbfgs"`` (the paper; one loss evaluation per step, no line search)
        or ``"adam"``. lr: step size (L-BFGS 1.0, Adam 0.02 on [0, 1] pixels by default).
    Pixels are clamped to [0, 1] after every step. For L-BFGS the loss is multiplied by
    a constant fixed at the first evaluation, so the result does not depend on the
    overall scale of alpha and beta (torch's L-BFGS skips curvature updates for
    tiny losses); the history records the true loss.
    callback(step, image, record) is called every ``every`` steps and after the last;
        returning True stops the run. ``stop`` (an Event or a function) is checked
        before every step, so a UI can end a run within one evaluation.
    Ctrl-C ends the run and returns the best image so far (``interrupted=True``).

    The stopping rule: with ``tol`` set, the run ends (``converged=True``, at
    ``converged_step``) as soon as the lowest loss so far fell by no more than the
    fraction ``tol`` over the last ``patience`` evaluations,
    ``min L[:n-k] - min L[:n] <= tol * min L[:n-k]`` (k = patience); ``steps`` is then a cap.
    The lowest loss so far, not the last one, so that a single overshooting L-BFGS step
    neither stops the run nor keeps it going. ``tol=None``: run all ``steps`` (the paper).

    make_closure(optimizer, x, loss_fn): builds the closure ``optimizer.step`` calls (the
    lesson 03 exercise); ``loss_fn(x)`` is the recorded, rescaled loss. Default: zero the
    gradients, ``loss = loss_fn(x)``, ``loss.backward()``, return ``loss``.
    """
    steps = _positive_int("steps", steps)
    tol = None if tol is None else _finite_nonneg("tol", tol)
    patience = _positive_int("patience", patience)
    every = _positive_int("every", every)
    if optimizer not in OPTIMIZERS:
        raise SettingsError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise SettingsError(f"learning rate must be a finite number > 0, got {lr!r}")
    dev = next(objective.model.parameters()).device
    x = init.detach().to(dev, torch.float32).clone().clamp_(0, 1).requires_grad_(True)
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=lr, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0)
    else:
        opt = torch.optim.Adam([x], lr=lr)
    should_stop = (stop.is_set if isinstance(stop, threading.Event) else stop) or (lambda: False)

    history: list[dict] = []
    best = {"loss": math.inf, "image": x.detach().clone(), "step": 0}
    t0 = time.perf_counter()
    state = {"step": 0}

    def loss_fn(image):
        total, parts = objective(image)
        state["step"] += 1
        value = float(total.detach())
        rec = _record(state["step"], time.perf_counter() - t0, value, parts)
        history.append(rec)
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"the loss became {value} at step {state['step']}: lower the learning rate or the loss "
                f"weights, or check the images and weights; the best image so far is kept in .result"
            )
        if value < best["loss"]:
            best.update(loss=value, image=image.detach().clone(), step=state["step"])
        if "scale" not in state:
            # L-BFGS is not scale-free in practice: torch's implementation stores a curvature
            # pair only when y.s > 1e-10, so a loss of order 1 (the default convention) turns it
            # into plain gradient descent. The optimiser therefore sees the loss times a
            # constant fixed at the first evaluation (first loss -> 0.02 x pixels); Adam is
            # scale-invariant and sees it unchanged. History records the true values.
            # (See LBFGS_SCALE_PER_PIXEL for the measurements behind the constant.)
            target = LBFGS_SCALE_PER_PIXEL * image.shape[-1] * image.shape[-2]
            state["scale"] = target / value if optimizer == "lbfgs" and value > 0 else 1.0
        return total * state["scale"]

    def closure():
        opt.zero_grad(set_to_none=True)
        scaled = loss_fn(x)
        scaled.backward()
        return scaled

    if make_closure is not None:
        closure = make_closure(opt, x, loss_fn)
        if not callable(closure):
            raise SettingsError(f"make_closure returned {type(closure).__name__}, not a function")

    result_kw = dict(settings=dict(settings or {}), init_image=init.detach().cpu())
    interrupted = stopped = converged = False
    lowest: list[float] = []  # the lowest loss after each evaluation (the stopping rule)
    bar = _progress(steps, desc, progress)
    try:
        for step in range(1, steps + 1):
            if should_stop():
                stopped = True
                break
            n_before = len(history)
            opt.step(closure)
            if make_closure is not None and (len(history) == n_before or x.grad is None):
                raise SettingsError("the closure must compute loss_fn(x) and call backward() (see "
                                    "stylelab.teaching.exercises.check_closure)")
            with torch.no_grad():
                x.clamp_(0, 1)
            rec = history[-1]
            bar.set_postfix(loss=f"{rec['total']:.4g}", refresh=False)
            bar.update(1)
            lowest.append(best["loss"])
            converged = tol is not None and len(lowest) > patience and (
                lowest[-1 - patience] - lowest[-1] <= tol * lowest[-1 - patience])
            if callback is not None and (step % every == 0 or step == steps or converged):
                if callback(step, best["image"].cpu(), rec):
                    stopped = True
                    break
            if converged:
                break
    except KeyboardInterrupt:
        interrupted = True
    except NonFiniteLossError as exc:
        bar.close()
        exc.result = Result(best["image"].cpu(), history, best_step=best["step"],
                            wall_time=time.perf_counter() - t0, **result_kw)
        raise
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    fp32_losses = None
    if getattr(objective, "precision", _precision.FP32).dtype is not None and best["step"]:  # loss in fp32
        fp32_losses = {**objective.evaluate(best["image"], fp32=True), "step": best["step"],
                       "time": history[best["step"] - 1]["time"], "evaluated_in": "fp32"}
    return Result(best["image"].cpu(), history, best_step=best["step"], interrupted=interrupted, stopped=stopped,
                  wall_time=wall, converged=converged, converged_step=len(history) if converged else None,
                  fp32_losses=fp32_losses, **result_kw)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)
