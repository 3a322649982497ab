"""What every lesson notebook does besides teaching: settings from its
``parameters`` cell, the network, its output folder, its metrics and its checks.

A notebook starts with a papermill ``parameters`` cell and then::

    lesson = sl.lesson.Lesson("01", profile=profile, size=size, steps=steps, seed=seed,
                              weights=weights, device=device, output_dir=output_dir)
    model = lesson.model()
    photo = lesson.image("tubingen")
    ...
    lesson.save_figure(fig)
    lesson.metric("distance", {...})
    lesson.check("conv1_1 reconstruction is near-exact", d["relu1_1"] < 0.05, f"{d['relu1_1']:.3f}")
    lesson.finish()          # writes metrics.json; fails if any check failed

``output_dir/<notebook>/figure.png`` and ``metrics.json`` are what
``stylelab reproduce`` puts in its gallery.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import platform
import time

import torch

from . import paper
from .. import config, data, plot
from ..control import chroma_tv
from ..errors import SettingsError
from ..networks import precision
from ..networks.weights import describe, load_vgg, resolve


class CheckFailed(AssertionError):
    """A lesson's finding did not hold."""


class Lesson:
    """Settings, outputs, metrics and checks of one lesson notebook."""

    def __init__(self, key: str, *, profile: str = "quick", size: int | None = None, steps: int | None = None,
                 seed: int = 0, weights: str | None = None, device: str | None = None,
                 output_dir: str | os.PathLike = "out", progress: bool = True, **extra):
        if key not in paper.FIGURES:
            raise SettingsError(f"unknown lesson {key!r}; known: {', '.join(paper.FIGURES)}")
        self.figure = paper.FIGURES[key]
        self.profile = paper.lesson_profile(key, profile)  # with the lesson's own sizes, if any
        self.size = int(size or self.profile.size)
        self.steps = int(steps or self.profile.steps)
        if self.size < 16 or self.steps < 1:
            raise SettingsError(f"size must be >= 16 px and steps >= 1 (got {self.size}, {self.steps})")
        self.scales = self.profile.scales(self.size)  # coarse-to-fine sizes, None for one stage
        # the step cap per stage: the profile's final stage may have a lower one (paper.Profile.stage_steps)
        self.stage_steps = self.profile.stage_steps(int(steps) if steps else None, self.size)
        self.tol = self.profile.tol  # the stopping rule (None: run all steps)
        self.tv_weight = self.profile.tv_weight(self.size)  # the profile's TV term at this size (0: none)
        self.chroma_tv_weight = float(self.profile.chroma_tv)  # the profile's chroma prior (0: none)
        self.seed = int(seed)
        self.weights = weights if weights not in ("", "default") else None
        if self.weights is None:
            self.weights = self.profile.weights
        self.device = config.resolve_device(device)
        # the network's arithmetic every run of the lesson gets (stylelab.networks.precision), and why
        self.precision = precision.resolve(os.environ.get(precision.ENV) or None, self.device)
        self.progress = progress
        self.extra = extra
        self.dir = Path(output_dir) / self.figure.notebook
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics: dict = {}
        self.checks: list[dict] = []
        self.started = time.perf_counter()
        torch.manual_seed(self.seed)

    # -- inputs ----------------------------------------------------------------------

    def model(self, pooling: str | None = None, normalized: bool | None = None):
        """The frozen network for this run (cached per process)."""
        return load_vgg(self.weights, pooling=pooling or self.profile.pooling,
                        normalized=self.profile.normalized if normalized is None else normalized,
                        device=self.device, progress=self.progress)

    def image(self, name: str, size: int | None = None) -> torch.Tensor:
        """A sample image at this run's size (longest side)."""
        return data.load(name, size=size or self.size)

    @property
    def schedule(self) -> dict:
        """How long and at which sizes each optimisation runs, as keywords of
        :func:`stylelab.method.transfer.run`: ``steps`` (per stage), ``scales`` (coarse-to-fine,
        None for one size), ``tol`` (the stopping rule, None: all steps) and ``tv_weight``
        (the profile's small total-variation term, :func:`stylelab.teaching.paper.tv_weight`; 0 in the
        paper profile) and, where the profile has one, ``extra_terms`` with its chroma prior
        (:mod:`stylelab.control.chroma_tv`, :data:`stylelab.teaching.paper.CHROMA_TV_WEIGHT`)."""
        return {"steps": self.stage_steps, "scales": self.scales, "tol": self.tol, **self.priors}

    @property
    def priors(self) -> dict:
        """The profile's two priors against colour speckle, neither in the paper, as keywords of
        :func:`stylelab.method.transfer.run`: ``tv_weight`` (:func:`stylelab.method.losses.tv_loss`) and, where
        the profile has one, ``extra_terms`` with the chroma prior (:mod:`stylelab.control.chroma_tv`).
        The paper profile's: ``{"tv_weight": 0.0}``. For a lesson's runs that set their own
        steps and sizes but should have the profile's objective."""
        return {"tv_weight": self.tv_weight, **chroma_tv.extra_terms(self.chroma_tv_weight)}

    def describe_schedule(self) -> str:
        """The schedule in words, for figure titles: "128 → 256 px, ≤ 400 steps each or until converged"."""
        sizes = " → ".join(str(v) for v in self.scales) if self.scales else str(self.size)
        caps = self.stage_steps if isinstance(self.stage_steps, int) else ", ".join(map(str, self.stage_steps))
        steps = f"≤ {caps} steps" if self.tol is not None else f"{caps} steps"
        return (f"{sizes} px, {steps}{' each' if self.scales else ''}" + (" or until converged" if self.tol else "")
                + (f", TV {self.tv_weight:.1e}" if self.tv_weight else "")
                + (f", chroma TV {self.chroma_tv_weight:g}" if self.chroma_tv_weight else ""))

    def convergence(self, results: dict, key: str = "convergence") -> "Table":
        """Record how each optimisation ended ("converged after N steps" or "not converged
        after N steps", its time) as the metric ``key``, and show it as a table."""
        rows = {str(k): {"status": r.status, "steps": r.steps_done, "time (s)": round(r.wall_time, 1)}
                for k, r in results.items()}
        self.metrics.setdefault(key, {}).update(rows)
        return Table([{"run": k, **v} for k, v in rows.items()], title="how each optimisation ended")

    @property
    def settings(self) -> dict:
        ws = resolve(self.weights)
        return {
            "lesson": self.figure.key, "notebook": self.figure.notebook, "profile": self.profile.name,
            "size": self.size, "steps": self.stage_steps, "scales": self.scales, "tol": self.tol,
            "tv_weight": self.tv_weight, "chroma_tv_weight": self.chroma_tv_weight,
            "seed": self.seed, "device": str(self.device),
            "weights": ws.name, "arch": ws.arch, "convention": ws.convention,
            "pooling": self.profile.pooling, "normalized": self.profile.normalized,
            "precision": self.precision.name, "precision_reason": self.precision.reason, **self.extra,
        }

    def setup_report(self) -> dict:
        """Versions, device and the weights in use (for the tour and every metrics file)."""
        ws = resolve(self.weights)
        return {
            "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "threads": torch.get_num_threads(),
            "cpu": precision.cpu_model(), "cpu_bf16_units": precision.cpu_bf16_units(),
            "device": str(self.device),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "weights": describe(ws),
        }

    # -- outputs ---------------------------------------------------------------------

    def path(self, name: str) -> Path:
        return self.dir / name

    def save_figure(self, fig, name: str = "figure.png", dpi: int = 100) -> Path:
        return plot.save_figure(fig, self.path(name), dpi=dpi)

    def metric(self, key: str, value) -> None:
        self.metrics[key] = value

    def check(self, name: str, passed: bool, detail: str = "") -> bool:
        """Record one finding as a verdict; printed at once, asserted in :meth:`finish`."""
        passed = bool(passed)
        self.checks.append({"check": name, "passed": passed, "detail": detail})
        print(f"{'PASS' if passed else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""))
        return passed

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def summary(self) -> "Table":
        """The settings of this run and its run time so far (the notebooks' last cell)."""
        return Table.from_dict({**self.settings, "run time (s)": round(self.elapsed(), 1)},
                               title=f"{self.figure.notebook}: settings and run time")

    def finish(self, strict: bool = True) -> dict:
        """Write ``metrics.json`` (settings, metrics, checks, run time); raise
        :class:`CheckFailed` if a check failed (``strict``)."""
        report = {
            "figure": {"key": self.figure.key, "title": self.figure.title, "paper": self.figure.paper,
                       "figure": self.figure.figure, "description": self.figure.description},
            "settings": self.settings, "setup": self.setup_report(), "metrics": self.metrics,
            "checks": self.checks, "passed": all(c["passed"] for c in self.checks),
            "run_time_s": round(self.elapsed(), 1),
        }
        file = self.path("metrics.json")
        with config.atomic_file(file) as tmp:
            tmp.write_text(json.dumps(report, indent=1, default=_jsonable))
        print(f"{sum(c['passed'] for c in self.checks)}/{len(self.checks)} checks passed; "
              f"run time {report['run_time_s']} s; metrics in {file}")
        failed = [c for c in self.checks if not c["passed"]]
        if strict and failed:
            raise CheckFailed("; ".join(f"{c['check']} ({c['detail']})" for c in failed))
        return report


def _jsonable(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


# --------------------------------------------------------------------------------------
# Tables for the notebooks (no pandas needed)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    return str(value)


class Table:
    """Rows of dicts shown as an HTML table in Jupyter and as aligned text elsewhere.

    The output depends only on the rows (floats with 4 significant digits), so a
    cell that displays a Table of fixed data can be checked by nbval.
    """

    def __init__(self, rows, columns=None, headers: dict | None = None, title: str | None = None):
        self.rows = [dict(r) for r in rows]
        if columns is None:
            columns = []
            for r in self.rows:
                columns += [k for k in r if k not in columns]
        self.columns = list(columns)
        self.headers = {c: (headers or {}).get(c, c) for c in self.columns}
        self.title = title

    @classmethod
    def from_dict(cls, d: dict, key: str = "setting", value: str = "value", title: str | None = None) -> "Table":
        """A two-column table of a (nested) dict; nested keys are joined with dots."""
        rows = []

        def walk(prefix, obj):
            if isinstance(obj, dict) and obj:
                for k, v in obj.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                rows.append({key: prefix, value: obj})

        walk("", d)
        return cls(rows, [key, value], title=title)

    def __len__(self) -> int:
        return len(self.rows)

    def text(self) -> str:
        cells = [[self.headers[c] for c in self.columns]] + [[_cell(r.get(c)) for c in self.columns] for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.title:
            lines.insert(0, self.title)
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(self.headers[c])}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(_cell(r.get(c)))}</td>" for c in self.columns) + "</tr>"
            for r in self.rows
        )
        caption = f"<caption>{escape(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def network_table(arch: str = "vgg19", size: int = 512) -> Table:
    """Every layer of ``arch`` with its paper name, channels, spatial size for a
    ``size`` px square input, receptive field and its names in other conventions."""
    from ..networks.vgg import layer_table

    rows = [{**r, "size": f"{r['height']} x {r['width']}"} for r in layer_table(arch, size)]
    headers = {"paper": "paper name", "channels": "channels", "size": f"size at {size} px",
               "receptive_field": "receptive field (px)", "torchvision_index": "torchvision features.N",
               "pytorch_tutorial": "PyTorch tutorial", "keras": "Keras"}
    return Table(rows, list(headers), headers, title=f"{arch}: {len(rows)} layers, input {size} x {size} px")


#: Colours for :func:`input_convention_table`: RGB in [0, 1].
EXAMPLE_COLOURS = {"black": (0.0, 0.0, 0.0), "white": (1.0, 1.0, 1.0), "pure red": (1.0, 0.0, 0.0),
                   "sky blue": (0.4, 0.6, 0.9), "ImageNet mean": (0.485, 0.456, 0.406)}


def input_convention_table(colours: dict | None = None) -> Table:
    """What the network receives for a pixel of each colour, in each input convention
    (``torch``: RGB, (x - mean) / std; ``caffe``: BGR, 255 x - mean)."""
    from ..networks.vgg import CONVENTIONS, VGG

    colours = EXAMPLE_COLOURS if colours is None else colours
    nets = {c: VGG("vgg16", convention=c, widths=(1, 1, 1, 1, 1)) for c in CONVENTIONS}
    order = {"torch": "R, G, B", "caffe": "B, G, R"}
    rows = []
    for name, rgb in colours.items():
        pixel = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1)
        row = {"colour": name, "RGB in [0, 1]": ", ".join(f"{v:.3f}" for v in rgb)}
        for c, net in nets.items():
            values = net.preprocess(pixel).flatten().tolist()
            row[f"{c} input ({order[c]})"] = ", ".join(f"{round(v, 2) + 0.0:.2f}" for v in values)
        rows.append(row)
    return Table(rows, title="one pixel as the network receives it")
