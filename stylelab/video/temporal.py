"""Style transfer for videos: Ruder, Dosovitskiy & Brox, "Artistic style transfer for
videos" (GCPR 2016), on top of Gatys et al.'s engine (:mod:`stylelab.method.transfer`).

    clip = sl.clip.synthetic("tubingen", frames=8, size=128)      # or sl.clip.read("walk.mp4", 128)
    out = sl.video.stylise(clip, style, method="temporal", steps_first=200, steps=80)
    sl.clip.write("walk-starry.mp4", out.frames, clip.fps)
    sl.video.temporal_error(out.frames, clip.flows, clip.masks)    # with the true flow

Three methods (:data:`METHODS`), each frame a Gatys et al. transfer (Eq. 7 of their paper)
of the clip's frame:

``independent``  every frame on its own from white noise (a new seed each frame): the
    baseline; the optimisation lands in a different local minimum each time, so the
    texture flickers.
``prev_warped``  Ruder et al. Sec. 3.1: frame i starts from the stylised frame i-1 warped
    along the optical flow, omega(x^(i-1)) (:func:`stylelab.video.flow.warp`); fewer steps suffice.
``temporal``     and Ruder et al.'s short-term temporal loss (Sec. 3.2):
    L = alpha L_content + beta L_style + gamma L_temporal(x, omega, c), the squared
    difference to omega where the flow is reliable (c from the forward-backward check,
    :func:`stylelab.video.flow.consistency`), added through the engine's ``extra_terms``.

And a fourth, not in :data:`METHODS` (the command's choices) but in :data:`ALL_METHODS`:

``longterm``     Ruder et al.'s long-term temporal loss (Sec. 3.3): the short-term loss against
    every earlier frame i-j, j in ``long_term`` (default :data:`LONG_TERM`, their {1, 2, 4}),
    each warped to frame i along the flow estimated between frames i and i-j, with the weights
    c_long^(i-j,i) = max(c^(i-j,i) - sum_{k in J, k < j} c^(i-k,i), 0): a pixel counts against the
    nearest earlier frame that saw it. Where frame i-1 did not show a pixel (the trail a moving
    object uncovers) an earlier frame may have: the short-term loss leaves such pixels free.
    Needs estimated flows (the synthetic clip's true flows join consecutive frames only).
    Ruder et al.'s multi-pass algorithm (Sec. 3.4) is not implemented.

Frame 0 is the same in all three (white noise, ``steps_first`` steps). The flows are
estimated on the clip's frames (OpenCV, :mod:`stylelab.video.flow`) unless ``flow="true"`` and the
clip carries its true flows (:func:`stylelab.video.clip.synthetic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time

import torch

from . import flow as _flow
from ..errors import SettingsError


METHODS = ("independent", "prev_warped", "temporal")
#: :data:`METHODS` and Ruder et al.'s long-term loss (:func:`stylise`'s ``method="longterm"``).
ALL_METHODS = METHODS + ("longterm",)
LABELS = {"independent": "1 independent", "prev_warped": "2 warped start", "temporal": "3 + temporal loss",
          "longterm": "4 + long-term loss"}
#: The earlier frames i - j the long-term loss compares frame i with (Ruder et al. Sec. 3.3: J = {1, 2, 4}).
LONG_TERM = (1, 2, 4)
#: gamma, the temporal loss's weight, in the engine's default convention (calibrated: alpha 1,
#: which the engine multiplies by stylelab.method.transfer.CALIBRATION = 200) on [0, 1] pixels. Ruder et
#: al. use gamma = 200 with alpha = 1, beta = 20, 0..255 pixels and the paper's sums; the losses
#: here are means, so the number is not theirs. Measured on the synthetic Neckarfront pan (lesson
#: 13, 96-128 px) in the authors' code's convention (alpha 1): 1e3 ... 1e4 lowered the temporal
#: error by a clear factor against prev_warped while the style distance stayed within 10 %; 2e3
#: there is 2e3 x 200 = 4e5 here (the same weight relative to the content term).
DEFAULT_TEMPORAL_WEIGHT = 4e5
DEFAULT_STEPS_FIRST = 300
DEFAULT_STEPS = 100


@dataclass
class VideoResult:
    """The stylised frames, one record per frame (steps, seconds, losses), the flows and
    reliability masks used (``flows[i]``, ``masks[i]``: frame i -> i-1; None for frame 0 and
    for ``independent``), and whether Ctrl-C ended it (then ``frames`` are those finished)."""

    frames: list[torch.Tensor]
    method: str
    records: list[dict]
    settings: dict
    flows: list = field(default_factory=list, repr=False)
    masks: list = field(default_factory=list, repr=False)
    interrupted: bool = False

    @property
    def steps(self) -> list[int]:
        return [r["steps"] for r in self.records]

    @property
    def seconds(self) -> list[float]:
        return [r["time"] for r in self.records]

    def summary(self) -> dict:
        return {"method": self.method, "frames": len(self.frames), "interrupted": self.interrupted,
                "settings": self.settings, "records": self.records}


def _check(method, temporal_weight, steps_first, steps, flow):
    if method not in ALL_METHODS:
        raise SettingsError(f"unknown video method {method!r}; choose one of {ALL_METHODS}")
    from ..method.settings import _finite_nonneg, _positive_int

    _positive_int("steps_first", steps_first)
    _positive_int("steps", steps)
    _finite_nonneg("temporal_weight", temporal_weight)
    if flow not in _flow.METHODS + ("true",):
        raise SettingsError(f"unknown flow {flow!r}; choose one of {_flow.METHODS + ('true',)}")


def flows_of(clip, i: int, method: str = "dis", earlier: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(backward flow i -> ``earlier``, reliability c) of frame ``i`` (``earlier`` default i-1):
    estimated (``method`` of :func:`stylelab.video.flow.estimate`, c from Ruder et al.'s check) or,
    with ``"true"``, the clip's true flow and mask (consecutive frames only)."""
    earlier = i - 1 if earlier is None else earlier
    if not 0 <= earlier < i:
        raise SettingsError(f"the earlier frame must come before frame {i}, got {earlier}")
    if method == "true":
        if clip.flows is None:
            raise SettingsError("flow='true' needs a clip that knows its flow (stylelab.video.clip.synthetic)")
        if earlier != i - 1:
            raise SettingsError("the true flow joins consecutive frames only: the long-term loss needs "
                                "estimated flows (flow='dis' or 'farneback')")
        return clip.flows[i], clip.masks[i]
    a, b = clip.frames[i], clip.frames[earlier]
    backward = _flow.estimate(a, b, method)
    forward = _flow.estimate(b, a, method)
    return backward, _flow.consistency(forward, backward)


def stylise(clip, style: torch.Tensor, method: str = "temporal", *, model=None, weights=None, device=None,
            steps_first: int = DEFAULT_STEPS_FIRST, steps: int = DEFAULT_STEPS,
            temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT, flow: str = "dis", seed: int = 0,
            first: torch.Tensor | None = None, progress: bool = True, on_frame=None,
            long_term: tuple[int, ...] = LONG_TERM, **run_kwargs) -> VideoResult:
    """Stylise every frame of ``clip`` (:class:`stylelab.video.clip.Clip`) in the style of ``style``
    with one of :data:`METHODS` (see the module).

    steps_first: L-BFGS steps of frame 0 and, for ``independent``, of every frame; steps: of
    every later frame of ``prev_warped`` and ``temporal``. temporal_weight: gamma of Ruder et
    al.'s short-term loss (Sec. 3.2). flow: ``"dis"``, ``"farneback"`` or ``"true"`` (see :func:`flows_of`).
    seed: frame i from white noise uses ``seed + i``. first: a stylised frame 0 to start from
    (e.g. another method's: all three share it) instead of computing it.
    long_term: the gaps j of ``method="longterm"`` (Ruder et al.'s J; must include 1).
    on_frame(i, image, record): called after each frame. Other keywords go to
    :func:`stylelab.method.transfer.run` (``ratio``, ``style_layers``, ...).
    Ctrl-C stops after the frame in progress is dropped: ``interrupted`` is set and the
    finished frames are returned.
    """
    from tqdm.auto import tqdm

    from ..method.transfer import run
    from ..networks.weights import load_vgg

    _check(method, temporal_weight, steps_first, steps, flow)
    gaps = sorted({int(j) for j in long_term}) if method == "longterm" else [1]
    if method == "longterm" and (gaps[0] != 1 or any(j < 1 for j in gaps)):
        raise SettingsError(f"long_term must be gaps >= 1 that include 1 (Ruder et al.: 1, 2, 4), got {long_term!r}")
    if method == "longterm" and flow == "true" and len(gaps) > 1:
        raise SettingsError("the long-term loss needs estimated flows (flow='dis' or 'farneback'): the true flow "
                            "joins consecutive frames only")
    for k in ("init", "steps", "extra_terms", "content", "styles", "scales"):
        if k in run_kwargs:
            raise SettingsError(f"stylise() sets {k} itself; it cannot be passed on to run()")
    if len(clip) == 0:
        raise SettingsError("the clip has no frames")
    if model is None:
        model = load_vgg(weights, device=device)
    dev = next(model.parameters()).device
    settings = {"method": method, "steps_first": steps_first, "steps": steps, "flow": flow, "seed": seed,
                "temporal_weight": temporal_weight if method in ("temporal", "longterm") else None,
                "long_term": gaps if method == "longterm" else None,
                "size": list(clip.size), "frames": len(clip), "fps": clip.fps, "source": clip.source,
                **{k: v for k, v in run_kwargs.items() if isinstance(v, (int, float, str, list, tuple, type(None)))}}
    frames, records, flows, masks = [], [], [], []
    interrupted = False
    bar = tqdm(total=len(clip), desc=f"video: {method}", unit="frame", disable=not progress, dynamic_ncols=True)
    try:
        for i, frame in enumerate(clip.frames):
            t0 = time.perf_counter()
            w = c = None
            extra = None
            if i == 0 and first is not None:
                image = first.detach().cpu().clone()
                records.append({"frame": 0, "steps": 0, "time": 0.0, "reused": True})
                frames.append(image)
                flows.append(None)
                masks.append(None)
                bar.update(1)
                continue
            if i == 0 or method == "independent":
                init, n, s = "noise", steps_first, seed + i
            else:
                w, c = flows_of(clip, i, flow)
                init, n, s = _flow.warp(frames[-1], w).clamp(0, 1), steps, seed
                if method == "temporal":
                    omega, cw = init.to(dev), c.to(dev)
                    extra = {"temporal": lambda x, _o=omega, _c=cw: temporal_weight * _flow.temporal_loss(x, _o, _c)}
                elif method == "longterm":
                    pairs = long_term_targets(clip, frames, i, gaps, flow, first=(w, c))
                    pairs = [(o.to(dev), cl.to(dev)) for o, cl in pairs]
                    extra = {"temporal": lambda x, _p=pairs: temporal_weight * sum(
                        _flow.temporal_loss(x, o, cl) for o, cl in _p)}
            result = run(frame, style, model=model, init=init, steps=n, seed=s, extra_terms=extra,
                         progress=progress, desc=f"frame {i + 1}/{len(clip)}", **run_kwargs)
            if result.interrupted:
                interrupted = True
                break
            rec = {"frame": i, "steps": result.steps_done, "time": round(time.perf_counter() - t0, 3),
                   "loss": result.losses.get("total"), "content": result.losses.get("content"),
                   "style": result.losses.get("style")}
            if "temporal" in result.losses:
                rec["temporal"] = result.losses["temporal"]
            if c is not None:
                rec["reliable"] = round(float(c.mean()), 4)
            frames.append(result.image)
            flows.append(w)
            masks.append(c)
            records.append(rec)
            bar.update(1)
            if on_frame is not None:
                on_frame(i, result.image, rec)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    return VideoResult(frames, method, records, settings, flows, masks, interrupted)


def long_term_weights(cs) -> list[torch.Tensor]:
    """Ruder et al.'s c_long (Sec. 3.3) from the reliabilities ``cs`` = [c^(i-j,i) for j in J,
    ascending]: c_long^(i-j,i) = max(c^(i-j,i) - sum of the earlier gaps' c, 0)."""
    out, seen = [], None
    for c in cs:
        out.append(c.clone() if seen is None else (c - seen).clamp_min(0))
        seen = c.clone() if seen is None else seen + c
    return out


def long_term_targets(clip, frames, i: int, gaps, flow: str = "dis", first=None) -> list:
    """(omega_j, c_long_j) for frame ``i``: each earlier stylised frame ``frames[i - j]`` warped to
    frame i along the flow i -> i-j, with the long-term weights (:func:`long_term_weights`).
    ``first``: (flow, c) of the gap 1 if already estimated."""
    flows, cs = [], []
    for j in gaps:
        if i - j < 0:
            break
        w, c = first if (j == 1 and first is not None) else flows_of(clip, i, flow, i - j)
        flows.append((j, w))
        cs.append(c)
    return [(_flow.warp(frames[i - j], w).clamp(0, 1), cl) for (j, w), cl in zip(flows, long_term_weights(cs))]


def disoccluded_error(frames, clip, gap: int = 2, flow: str = "dis") -> dict:
    """What :func:`temporal_error` cannot see: for each frame i >= ``gap``, the RMS difference
    between frame i and frame i-``gap`` warped to it (flow i -> i-gap estimated with ``flow``),
    over the pixels frame i-1 did **not** show (the clip's true mask if it has one, else Ruder
    et al.'s check) that frame i-gap did (the estimated check between i and i-gap): the pixels
    only the long-term loss constrains. Returns {"errors": [...], "pixels": [...], "frames": [...]},
    frames with no such pixel left out."""
    out = {"errors": [], "pixels": [], "frames": []}
    for i in range(gap, len(frames)):
        if clip.masks is not None:
            hidden = 1 - clip.masks[i]
        else:
            hidden = 1 - flows_of(clip, i, flow)[1]
        w, c = flows_of(clip, i, flow, i - gap)
        region = (hidden * c).to(frames[i])
        n = float(region.sum())
        if n < 1:
            continue
        diff = (frames[i] - _flow.warp(frames[i - gap], w.to(frames[i]))).pow(2) * region
        out["errors"].append(float((diff.sum() / (3 * n)).sqrt()))
        out["pixels"].append(int(n))
        out["frames"].append(i)
    return out


def temporal_error(frames, flows, masks) -> list[float]:
    """The temporal error of each frame i >= 1: the RMS difference between frame i and frame
    i-1 warped by ``flows[i]`` (i -> i-1; the TRUE flow, to measure), over the pixels with
    ``masks[i]`` = 1 and the three colour channels. Ruder et al. (Sec. 5, Table 1) report the
    mean squared version, averaged over pixels and frames, on the MPI Sintel clips."""
    if flows is None or masks is None:
        raise SettingsError("the temporal error needs the clip's true flows and masks (stylelab.video.clip.synthetic)")
    out = []
    for i in range(1, min(len(frames), len(flows))):
        m = masks[i].to(frames[i])
        diff = (frames[i] - _flow.warp(frames[i - 1], flows[i].to(frames[i]))).pow(2) * m
        out.append(float((diff.sum() / (3 * m.sum().clamp_min(1))).sqrt()))
    return out


def side_by_side(videos: dict, gap: int = 4, caption: bool = True, scale: int = 1) -> list:
    """One picture per frame with the clips of ``videos`` (label -> frames) side by side,
    each labelled under it, enlarged ``scale`` times (nearest pixel); for :func:`stylelab.video.clip.write`."""
    from PIL import Image, ImageDraw

    from ..image import to_pil
    from .film import _font

    if not videos:
        raise SettingsError("no clips to put side by side")
    n = min(len(v) for v in videos.values())
    first = [to_pil(v[0]) for v in videos.values()]
    w, h = first[0].size[0] * scale, first[0].size[1] * scale
    font = _font(max(10, min(14, w // 10)))
    cap = font.getbbox("Ag")[3] + 8 if caption else 0
    width = len(videos) * w + (len(videos) - 1) * gap
    out = []
    for k in range(n):
        canvas = Image.new("RGB", (width, h + cap), "white")
        draw = ImageDraw.Draw(canvas)
        for j, (label, frames) in enumerate(videos.items()):
            canvas.paste(to_pil(frames[k]).resize((w, h), Image.Resampling.NEAREST), (j * (w + gap), 0))
            if caption:
                draw.text((j * (w + gap) + 3, h + 3), label, fill=(0, 0, 0), font=font)
        out.append(canvas)
    return out
