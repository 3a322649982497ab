"""Coarse to fine (Gatys et al. 2017, *Controlling Perceptual Factors in Neural Style
Transfer*, the high-resolution procedure): the stages' sizes and steps, and a run that
starts each stage from the previous one's result, upsampled."""

from __future__ import annotations

import time
from typing import Sequence

from ..errors import NonFiniteLossError, SettingsError
from ..image import resize_to
from .optimise import Result, optimize
from .settings import _positive_int


def stage_sizes(scales: Sequence[int] | None, size: tuple[int, int], fixed: bool = False) -> list[tuple[int, int]]:
    """(H, W) of each coarse-to-fine stage: longest side ``scales[i]``, the aspect of ``size``.

    ``None``: one stage of ``size``. With ``fixed`` (the caller chose ``size``) the last
    scale must be its longest side.
    """
    if scales is None:
        return [tuple(size)]
    if isinstance(scales, (str, bytes)) or not hasattr(scales, "__iter__"):
        raise SettingsError(f"scales must be a list of sizes in px, e.g. [128, 256, 512], got {scales!r}")
    scales = [_positive_int("each scale", v) for v in scales]
    if not scales:
        raise SettingsError("scales is empty: give at least one size in px")
    if any(b <= a for a, b in zip(scales, scales[1:])):
        raise SettingsError(f"scales must increase from coarse to fine, got {scales}")
    h, w = size
    if fixed and scales[-1] != max(h, w):
        raise SettingsError(f"the last scale ({scales[-1]} px) must be the image's longest side ({max(h, w)} px)")
    return [(max(1, round(h * s / max(h, w))), max(1, round(w * s / max(h, w)))) for s in scales]


def _stage_steps(steps, n: int) -> list[int]:
    if isinstance(steps, (int, float)) and not isinstance(steps, bool):
        return [_positive_int("steps", steps)] * n
    try:
        out = [_positive_int("steps", v) for v in steps]
    except TypeError:
        raise SettingsError(f"steps must be an integer or one integer per scale, got {steps!r}") from None
    if len(out) != n:
        raise SettingsError(f"{len(out)} step counts given for {n} scales")
    return out


def _coarse_to_fine(objective_at, sizes, stage_steps, start, callback, settings, desc, common, band=None) -> Result:
    """Run the stages of :func:`run`'s ``scales``: each from the previous result, upsampled
    (plus ``band(size, previous_size)``, the detail the coarser stage could not hold)."""
    t_start = time.perf_counter()
    history: list[dict] = []
    stages: list[dict] = []
    image = start
    result = None
    for i, (hw, n) in enumerate(zip(sizes, stage_steps)):
        if i:
            image = resize_to(result.image, hw)  # bicubic, antialiased, clamped to [0, 1]
            if band is not None:
                image = (image + band(hw, sizes[i - 1])).clamp_(0, 1)
        offset, t_offset = len(history), time.perf_counter() - t_start

        def shifted(step, img, rec, _o=offset, _t=t_offset, _i=i, _hw=hw):
            return callback(step + _o, img, {**rec, "step": rec["step"] + _o, "time": rec["time"] + _t,
                                             "stage": _i, "size": list(_hw)})

        try:
            result = optimize(objective_at(hw), image, steps=n, callback=shifted if callback else None,
                              settings=settings, desc=f"{desc} {max(hw)} px ({i + 1}/{len(sizes)})", **common)
        except NonFiniteLossError as exc:  # keep the earlier stages in the error's result
            _add_stage(history, stages, exc.result, i, hw, n, offset, t_offset)
            exc.result = _merged(exc.result, history, stages, sizes, settings, start, t_start)
            raise
        _add_stage(history, stages, result, i, hw, n, offset, t_offset)
        if result.interrupted or result.stopped:
            break
    return _merged(result, history, stages, sizes, settings, start, t_start)


def _add_stage(history, stages, result, i, hw, n, offset, t_offset) -> None:
    for rec in result.history:
        history.append({**rec, "step": rec["step"] + offset, "time": rec["time"] + t_offset,
                        "stage": i, "size": list(hw)})
    stages.append({"stage": i, "size": list(hw), "steps_done": result.steps_done, "steps": n,
                   "converged": result.converged, "best_step": result.best_step + offset,
                   "loss": result.losses.get("total"), "wall_time": round(result.wall_time, 3)})


def _merged(result, history, stages, sizes, settings, start, t_start) -> Result:
    """One Result for all stages: the last stage's best image at the final size."""
    final = result.image if tuple(result.image.shape[-2:]) == sizes[-1] else resize_to(result.image, sizes[-1])
    fp32_losses = result.fp32_losses and {**result.fp32_losses, "step": stages[-1]["best_step"],
                                          "stage": len(stages) - 1, "size": stages[-1]["size"]}
    return Result(final, history, settings, best_step=stages[-1]["best_step"], interrupted=result.interrupted,
                  stopped=result.stopped, wall_time=time.perf_counter() - t_start, init_image=start,
                  converged=result.converged and len(stages) == len(sizes),
                  converged_step=len(history) if result.converged else None, stages=stages,
                  fp32_losses=fp32_losses)
