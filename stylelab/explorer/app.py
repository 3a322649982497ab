"""The explorer: Gatys et al.'s method behind sliders, for a notebook.

    from stylelab.explorer.app import Explorer
    explorer = Explorer()          # nothing is loaded yet: the network loads on the first Run
    explorer.display()

Choose a content and a style image (a sample or an upload), the size, alpha/beta,
the content layer, the style layers and their weights, what the style loss matches
(the style statistic), the network whose features it matches, the start image, the
optimiser, coarse-to-fine stages, the stopping rule, the pooling and the regularisers,
or load a figure's settings from the preset menu, then press Run (with *record a film* ticked, the run is also kept as a
film of the image as it forms, :mod:`stylelab.explorer.film`).
The optimisation runs in a background thread, so the notebook stays responsive:
the progress bar, the current image and the loss curves update while it runs, and
Stop ends it before the next step, keeping the best image so far. Every finished
(or stopped) run is kept with its settings, shown side by side in the history, can
be compared with another run and saved as PNG with its settings as JSON beside it.

Settings are read from the widgets once, when Run is pressed (:meth:`Explorer.run`),
into a frozen snapshot: changing a widget during a run changes the next run, never
the running one. Errors a student can cause (no style layer ticked, an unreadable
upload, a first stage too small for the deepest layer, out of memory, a diverging
loss) appear as one red line in the widget, never as a traceback.

Everything the widgets do is also a method, so the explorer can be scripted and
tested without a browser: :meth:`~Explorer.apply_preset`, :meth:`~Explorer.run`,
:meth:`~Explorer.stop`, :meth:`~Explorer.wait`, :meth:`~Explorer.save`,
:meth:`~Explorer.add_upload`, :meth:`~Explorer.compare`, :meth:`~Explorer.save_film`.

The explorer is split into flat modules: this one (settings, presets and profiles,
running), :mod:`stylelab.explorer.widgets` (the widgets and their layout),
:mod:`stylelab.explorer.images` (the image menus, uploads, loading),
:mod:`stylelab.explorer.history` (the large view, the history, Save, the
comparison), :mod:`stylelab.explorer.controls` (the 2017 regions and scale controls,
the style statistic), :mod:`stylelab.explorer.features` (the network menu),
:mod:`stylelab.explorer.film` (a run's film) and
:mod:`stylelab.explorer.common` (what they share).

The real-time mode, AdaIN behind sliders, is :class:`~stylelab.explorer.realtime.RealtimeExplorer`
(:mod:`stylelab.explorer.realtime`; ``RealtimeExplorer().display()``), handed on from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import copy
import html
import logging
import os
from pathlib import Path
import threading
import traceback
from types import MappingProxyType
from typing import Any

import ipywidgets as widgets
import torch

from .. import data
from ..control import chroma_tv
from ..errors import NonFiniteLossError, SettingsError, StylelabError
from ..method import coarse_to_fine, conventions, optimise
from ..networks import weights as _weights
from ..networks.vgg import VGG
from ..networks.vgg import layers as _vgg_layers
from ..networks.vgg import min_input_size
from ..teaching import paper
from .common import (
    _GREEN, _GREY, _RED, CUSTOM, NONE, PAPER_SETTINGS, PREVIEW_WIDTH, STAGES, UPLOAD_PREFIX, Run, RunSpec, _freeze,
    _guarded, _is_oom, _thaw, n_stages, png_bytes, scales_text
)
from .controls import ExplorerControls
from .controls import check as _check_controls
from .features import ExplorerFeatures
from .film import ExplorerFilm
from .history import ExplorerHistory
from .images import ExplorerImages
from .realtime import RealtimeExplorer
from .widgets import ExplorerWidgets


__all__ = ["Explorer", "RealtimeExplorer", "Run", "RunSpec", "NONE", "UPLOAD_PREFIX"]

log = logging.getLogger(__name__)


class Explorer(ExplorerWidgets, ExplorerImages, ExplorerHistory, ExplorerControls, ExplorerFeatures, ExplorerFilm):
    """An ipywidgets explorer of Gatys et al.'s style transfer.

    model: a :class:`~stylelab.networks.vgg.VGG` to use (tests pass a tiny random one); else the
        network is loaded on the first Run from ``weights`` (None: ``STYLELAB_WEIGHTS``,
        else VGG-19) with the pooling and normalisation chosen in the widget, on ``device``.
    images: extra in-memory images ``{name: (1, 3, H, W) tensor}`` offered in the image
        menus (uploads are added the same way); samples: offer the sample images of
        :mod:`stylelab.data` (True), a list of their names, or none (False).
    profile: a name of :data:`stylelab.teaching.paper.PROFILES` (``"quick"``, ``"student"``,
        ``"paper"``): the initial size, steps, coarse-to-fine stages and stopping rule;
        ``size``, ``steps``, ``stages`` override them, and ``tol`` too: a tolerance turns
        the stopping rule on, False turns it off, True uses
        :data:`stylelab.method.transfer.DEFAULT_TOL`.
    output_dir: where Save writes ``run-NNN.png`` and ``run-NNN.json``.
    every: update the image and the curves every k steps (a widget too).
    history_size: how many runs the history row shows (all are kept in :attr:`runs`).

    The widgets are attributes (``ratio``, ``content``, ``style``, ``style_layers`` (a
    dict layer -> Checkbox), ``layer_weights`` (layer -> FloatText), ``stages``,
    ``stop_early``, ``tol``, ``style_statistic``, ``features``, ``film``, ``film_frames``,
    ``film_format``, ``film_view``, ``run_button``, ``stop_button``, ``preview``, ``curves``,
    ``progress``, ``message``, ``history_box``, ...); :attr:`widget` is the whole box.
    """

    def __init__(self, model: VGG | None = None, *, weights=None, device=None,
                 output_dir: str | os.PathLike = "explorer-out", profile: str = "quick",
                 size: int | None = None, steps: int | None = None, seed: int = 0, every: int = 5,
                 images: Mapping[str, torch.Tensor] | None = None, samples: bool | Sequence[str] = True,
                 history_size: int = 6, content: str | None = None, style: str | None = None,
                 stages: int | None = None, tol: float | bool | None = None):
        self._model = model
        self._weights = weights
        self._device = device
        self.output_dir = Path(output_dir)
        self.history_size = int(history_size)
        self.runs: list[Run] = []
        self.last_error: str | None = None
        self.last_traceback: str | None = None
        self._images: dict[str, torch.Tensor] = {}
        self._sample_cache: dict[tuple[str, int], torch.Tensor] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._busy = False
        self._counter = 0
        self._applying = 0  # > 0 while a preset / profile sets widgets
        self._comparing = 0  # > 0 while the comparison menus are set from code
        self._cards: dict[int, widgets.Widget] = {}
        self._shown_run: Run | None = None
        self._live_records: list[dict] | None = None
        self._init_error: str | None = None

        if samples is True:
            self._samples = list(data.names())
        elif samples:
            self._samples = [data.info(n).name for n in samples]
        else:
            self._samples = []
        for name, img in (images or {}).items():
            self._images[str(name)] = self._check_tensor(img, str(name))

        self._arch, self._layer_list = self._layers()
        prof = paper.profile(profile)
        stages = prof.stages if stages is None else stages
        if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
            raise SettingsError(f"stages must be a whole number >= 1, got {stages!r}")
        self._build(prof, size=size or prof.size, steps=steps or prof.steps, seed=seed, every=every,
                    content=content, style=style, stages=stages, tol=_initial_tol(tol, prof))
        if self._init_error:
            self._error(self._init_error)

    # ------------------------------------------------------------------ set-up

    def _layers(self):
        if self._model is not None:
            return self._model.arch, list(self._model.layers)
        try:
            arch = _weights.resolve(self._weights).arch
        except StylelabError as exc:  # shown in the widget; Run will report it again
            self._init_error = str(exc)
            arch = "vgg19"
        return arch, list(_vgg_layers(arch))

    # ------------------------------------------------------------------ display

    def display(self) -> None:
        """Show the explorer in the notebook."""
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ messages

    def _message(self, text: str, colour: str, details: str | None = None) -> None:
        body = f"<span style='color:{colour}'>{html.escape(text)}</span>"
        if details:
            body += ("<details><summary style='color:#555'>details</summary><pre style='font-size:11px'>"
                     f"{html.escape(details)}</pre></details>")
        self.message.value = body

    def _info(self, text: str) -> None:
        self._message(text, _GREY)

    def _error(self, text: str, details: str | None = None) -> None:
        self.last_error = text
        self._message("⚠ " + text, _RED, details)

    def _report(self, exc: BaseException, size: int | None = None) -> None:
        """Turn an exception into a one-line message in the widget."""
        if _is_oom(exc):
            where = f" at {size} px" if size else ""
            self._error(f"out of memory{where}: choose a smaller size (the 'quick' profile), fewer or "
                        f"shallower style layers, or free memory and try again")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        elif isinstance(exc, StylelabError):
            self._error(str(exc))
        else:
            self.last_traceback = "".join(traceback.format_exception(exc))
            log.debug("explorer: unexpected error", exc_info=exc)
            self._error(f"unexpected error: {type(exc).__name__}: {exc}", details=self.last_traceback)

    # ------------------------------------------------------------------ settings

    def settings(self) -> dict:
        """The settings the widgets show now, as a plain JSON-able dict."""
        style_layers = [n for n, cb in self.style_layers.items() if cb.value]
        stages = int(self.stages.value)
        return {
            "content": None if self.content.value == NONE else self.content.value,
            "style": None if self.style.value == NONE else self.style.value,
            "size": int(self.size.value),
            "preserve_colour": self.preserve_colour.value or None,  # stylelab.control.colour; None: the paper
            "ratio": float(self.ratio.value),
            "content_layer": None if self.content_layer.value == NONE else self.content_layer.value,
            "style_layers": style_layers,
            "layer_weights": {n: float(self.layer_weights[n].value) for n in style_layers},
            "convention": self.convention.value,
            "tv_weight": float(self.tv_weight.value),
            "chroma_tv": float(self.chroma_tv.value),
            "gamma": float(self.gamma.value),
            "init": self.init.value,
            "seed": int(self.seed.value),
            "optimizer": self.optimizer.value,
            "lr": float(self.lr.value),
            "steps": int(self.steps.value),  # with stages or tol: the most per stage
            "stages": stages,
            "scales": paper.stage_scales(int(self.size.value), stages),  # None: one size
            "tol": float(self.tol.value) if self.stop_early.value else None,  # None: run every step
            "every": int(self.every.value),
            "pooling": self.pooling.value,
            "normalized": bool(self.normalized.value) if self._model is None else None,
            "preset": self.preset.value or None,
            "profile": self.profile.value,
            **self._control_settings(),  # regions, fine style, style statistic: stylelab.explorer.controls
            **self._features_settings(),  # the network: stylelab.explorer.features
            **self._film_settings(),  # record a film: stylelab.explorer.film
        }

    def _snapshot(self) -> RunSpec:
        s = self.settings()
        if s["content"] is None and s["style"] is None:
            raise SettingsError("choose a content image, a style image, or both")
        if s["style"] is not None and not s["style_layers"]:
            raise SettingsError("no style layer selected: tick at least one style layer (the paper uses "
                                "relu1_1 ... relu5_1), or set style to (none)")
        if s["style"] is None and s["content_layer"] is None:
            raise SettingsError("no content layer selected: choose one (the paper uses relu4_2), "
                                "or choose a style image")
        if s["preserve_colour"] and (s["content"] is None or s["style"] is None):
            raise SettingsError("keep colours needs a content image (whose colours are kept) and a style image; "
                                "set it to 'no', or choose both images")
        if s["init"] == "content" and s["content"] is None:
            raise SettingsError("'start from content' needs a content image")
        if s["init"] == "style" and s["style"] is None:
            raise SettingsError("'start from style' needs a style image")
        _check_controls(s)  # regions, fine style
        self._check_stages(s, self._known_shape(s))
        images = {k: self._images[s[k]] for k in ("content", "style") if s[k] in self._images}
        self._counter += 1
        return RunSpec(self._counter, _freeze(s), MappingProxyType(images))

    @staticmethod
    def _chosen_layers(s: Mapping[str, Any]) -> list[str]:
        """The layers a run with settings ``s`` matches."""
        return ([s["content_layer"]] if s["content"] and s["content_layer"] else []) + (
            list(s["style_layers"]) if s["style"] else [])

    def _stage_problem(self, s: Mapping[str, Any], shape: tuple[int, int] | None):
        """(first stage (H, W), deepest layer, px it needs) when the first coarse-to-fine
        stage is too small for the deepest chosen layer, else None. ``shape``: the image's
        (H, W) (any size: only its aspect counts); None checks the longest side only."""
        layers = self._chosen_layers(s)
        if not s["scales"] or not layers:
            return None
        need = min_input_size(layers, self._arch)
        first = coarse_to_fine.stage_sizes(s["scales"], shape)[0] if shape else (s["scales"][0],) * 2
        if min(first) >= need:
            return None
        return first, max(layers, key=lambda n: min_input_size([n], self._arch)), need

    def _check_stages(self, s: Mapping[str, Any], shape: tuple[int, int] | None) -> None:
        problem = self._stage_problem(s, shape)
        if problem:
            (h, w), deepest, need = problem
            first = f"{w}×{h} px" if shape else f"{max(h, w)} px on its longer side"
            raise SettingsError(f"{len(s['scales'])} stages are too many for {s['size']} px: the first stage "
                                f"({first}) is too small for {deepest}, which needs at least {need} px on "
                                f"each side; choose fewer stages, a larger size or shallower layers")

    def _set(self, widget: widgets.Widget, value) -> None:
        if widget.value != value:
            widget.value = value

    @_guarded
    def _on_setting_changed(self, change) -> None:
        if not self._applying and self.preset.value != CUSTOM:
            self._applying += 1
            try:
                self.preset.value = CUSTOM
            finally:
                self._applying -= 1

    # ------------------------------------------------------------------ presets, profile

    def presets(self) -> list[str]:
        return [v for _label, v in self.preset.options if v]

    def apply_preset(self, name: str) -> bool:
        """Set the widgets to a figure's settings (:func:`stylelab.teaching.paper.presets`).
        Returns False (and shows why) if the preset cannot be applied here."""
        try:
            self._apply_preset(name)
            return True
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return False

    def _apply_preset(self, name: str) -> None:
        table = paper.presets()
        if name not in table:
            raise SettingsError(f"unknown preset {name!r}")
        p = table[name]
        options = self._image_options()
        for key in ("content", "style"):
            if key in p and p[key] is not None and p[key] not in options:
                raise SettingsError(f"preset {name!r} needs the image {p[key]!r}, which this explorer "
                                    f"does not offer")
        layers = {l.name for l in self._layer_list}
        missing = [l for l in p.get("content_layers") or [] if l not in layers]
        missing += [l for l in p.get("style_layers") or [] if l not in self.style_layers]
        if missing:
            raise SettingsError(f"preset {name!r} needs layers {missing} that this explorer's {self._arch} "
                                f"does not offer")
        self._applying += 1
        try:
            if "content" in p:
                self._set(self.content, p["content"] or NONE)
            if "style" in p:
                self._set(self.style, p["style"] or NONE)
            if p.get("ratio") is not None:
                self._set(self.ratio, float(p["ratio"]))
            if "content_layers" in p:
                cl = list(p["content_layers"] or [])
                self._set(self.content_layer, cl[0] if cl else NONE)
            if "style_layers" in p:
                chosen = set(p["style_layers"] or [])
                for n, cb in self.style_layers.items():
                    self._set(cb, n in chosen)
                for wt in self.layer_weights.values():
                    self._set(wt, 1.0)
            # The paper's settings unless the preset says otherwise; size, steps and seed stay.
            merged = {**PAPER_SETTINGS, **{k: v for k, v in p.items() if v is not None}}
            merged.setdefault("lr", optimise.DEFAULT_LR[merged["optimizer"]])
            simple = {"init": self.init, "seed": self.seed, "optimizer": self.optimizer, "lr": self.lr,
                      "steps": self.steps, "pooling": self.pooling, "tv_weight": self.tv_weight,
                      "chroma_tv": self.chroma_tv, "gamma": self.gamma, "convention": self.convention,
                      "preserve_colour": self.preserve_colour,
                      "features": self.features, **self._control_fields()}
            if self._model is None:
                simple["normalized"] = self.normalized
            for key, w in simple.items():
                if key in merged:
                    self._set(w, merged[key])
            self._set(self.preset, name)
        finally:
            self._applying -= 1
        self._info(f"preset: {name}")

    @_guarded
    def _on_preset(self, change) -> None:
        if change["new"] and not self._applying:
            self.apply_preset(change["new"])

    @_guarded
    def _on_profile(self, change) -> None:
        prof = paper.profile(change["new"])
        self._applying += 1  # a size switch, not a change of the figure's settings
        try:
            self.size.value = min(max(prof.size, self.size.min), self.size.max)
            self.steps.value = prof.steps
            if prof.stages not in [v for _label, v in self.stages.options]:
                self.stages.options = [(str(n), n) for n in sorted({*STAGES, prof.stages})]
            self.stages.value = prof.stages
            self.stop_early.value = prof.tol is not None
            if prof.tol is not None:
                self.tol.value = prof.tol
            self.tv_weight.value = prof.tv_weight(self.size.value)
            self.chroma_tv.value = float(prof.chroma_tv)
        finally:
            self._applying -= 1
        scales = prof.scales(self.size.value)
        text = f"profile {prof.name}: {self.size.value} px"
        text += f" in {len(scales)} stages ({scales_text(scales)})" if scales else ""
        text += f", {prof.steps} steps" + (" at most per stage" if scales or prof.tol is not None else "")
        text += f", stopping when the loss stops falling (tol {prof.tol:.2g})" if prof.tol is not None else ""
        text += f", TV {self.tv_weight.value:.1e}" if prof.tv else ""
        text += f", chroma TV {self.chroma_tv.value:g}" if prof.chroma_tv else ""
        self._info(f"{text} ({prof.description})")

    @_guarded
    def _on_optimizer(self, change) -> None:
        self.lr.value = optimise.DEFAULT_LR[change["new"]]

    # ------------------------------------------------------------------ running

    @property
    def running(self) -> bool:
        return self._busy

    def run(self, wait: bool = False, timeout: float | None = None) -> Run | None:
        """Start a run with the settings the widgets show now (what the Run button does).

        The settings are snapshotted here; the optimisation runs in a background
        thread. With ``wait=True`` block until it ends and return its :class:`Run`
        (None if it failed: the message says why). Never raises for a user error.
        """
        if self._busy:
            self._info("a run is in progress: press Stop first")
            return None
        try:
            spec = self._snapshot()
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return None
        self._busy = True
        self.last_error = None
        self._stop_event = threading.Event()
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.progress.max = spec.settings["steps"] * n_stages(spec.settings)
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.status.value = "starting"
        self._info(f"run #{spec.number} started")
        self._thread = threading.Thread(target=self._worker, args=(spec, self._stop_event),
                                        name=f"stylelab-explorer-run-{spec.number}", daemon=True)
        self._thread.start()
        if wait:
            self.wait(timeout)
            return next((r for r in self.runs if r.number == spec.number), None)
        return None

    def stop(self) -> None:
        """End the current run before its next step (what the Stop button does); the
        best image so far is kept in the history."""
        if self._busy:
            self._stop_event.set()
            self.stop_button.disabled = True
            self.status.value = "stopping…"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run ends; True if nothing is running any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _get_model(self, s: Mapping[str, Any]) -> VGG:
        if s.get("features"):  # another extractor (stylelab.explorer.features)
            return self._features_model(s)
        if self._model is not None:
            if self._model.pooling == s["pooling"]:
                return self._model
            model = copy.copy(self._model)  # shares the frozen weights; only the pooling differs
            model.pooling = s["pooling"]
            return model
        from ..networks.weights import load_vgg

        return load_vgg(self._weights, pooling=s["pooling"], normalized=s["normalized"], device=self._device,
                        progress=False)

    def _worker(self, spec: RunSpec, stop_event: threading.Event) -> None:
        s = spec.settings
        result = None
        status = "finished"
        try:
            self.status.value = "loading the images…"
            content = self._load(s["content"], s["size"], spec.images) if s["content"] else None
            style = self._load(s["style"], s["size"], spec.images) if s["style"] else None
            self._check_stages(s, tuple((content if content is not None else style).shape[-2:]))
            if self._model is None:
                self.status.value = "loading the network (downloaded on first use)…"
            model = self._get_model(s)
            kwargs = self._run_kwargs(s, model, content is not None, style is not None)
            records: list[dict] = []
            self._live_records = records
            self._shown_run = None
            self.status.value = "running"
            try:
                engine = self._engine(s, content, style, spec.images)  # the 2017 controls choose the function
                callback = self._film_recorder(s, self._live_view(s, records))  # a Film only if asked for
                result = engine(callback=callback, every=1, progress=False, stop=stop_event,
                                desc=f"explorer run {spec.number}", **kwargs)
                status = "stopped" if (result.stopped or result.interrupted) else "finished"
            except NonFiniteLossError as exc:
                result, status = exc.result, "diverged"
                self._report(exc)
            if result is not None and result.history:
                result.settings["explorer"] = _thaw(s)
                run = Run(spec.number, s, result, status)
                self.runs.append(run)
                self._show(run)
                self._add_card(run)
                if status in ("finished", "stopped"):
                    self._message(self._outcome(run), _GREEN)
                self._film_finish(run, callback)  # stylelab.explorer.film: encode and show it
            elif status == "stopped":
                self._info(f"run #{spec.number} stopped before its first step")
        except Exception as exc:  # noqa: BLE001
            self._report(exc, size=s["size"])
            status = "error"
        finally:
            self._live_records = None
            self._busy = False
            self.progress.bar_style = {"finished": "success", "stopped": "warning"}.get(status, "danger")
            self.status.value = status
            self.run_button.disabled = False
            self.stop_button.disabled = True

    def _live_view(self, s: Mapping[str, Any], records: list[dict]):
        """The engine's callback (every step): progress and status line every step, the
        image and the curves every ``every`` steps of a stage and at each new stage's start."""
        n, cap, every = n_stages(s), s["steps"], s["every"]
        live = {"stage": 0, "start": 0}  # the current stage, the step before its first

        def callback(step, image, record):
            records.append(record)
            stage = record.get("stage", 0)
            if stage != live["stage"]:
                live.update(stage=stage, start=step - 1)
            k = step - live["start"]  # the step within the stage
            self.progress.value = stage * cap + k
            where = f"stage {stage + 1}/{n} · {max(record['size'])} px · " if n > 1 else ""
            self.status.value = f"{where}step {k}/{cap} · {record['time']:.1f} s · loss {record['total']:.3g}"
            if k % every == 0 or k == cap or (k == 1 and stage):
                try:  # a coarse stage's image is smaller: the preview shows it as large, blockier
                    self.preview.value = png_bytes(image, PREVIEW_WIDTH // 2)
                    self._draw_curves(records)
                except Exception as exc:  # noqa: BLE001  (drawing must not end the run)
                    log.debug("explorer: drawing failed", exc_info=exc)
            return False

        return callback

    @staticmethod
    def _outcome(run: Run) -> str:
        """The message after a run: how far it got and whether the loss stopped falling."""
        s, r = run.settings, run.result
        n = n_stages(s)
        if run.status == "stopped":
            last = r.stages[-1] if r.stages else None
            where = f" (stage {last['stage'] + 1}/{n}, {max(last['size'])} px)" if last and n > 1 else ""
            return (f"run #{run.number} stopped after {r.steps_done} of {s['steps'] * n} steps{where} in "
                    f"{r.wall_time:.1f} s: {'converged' if r.converged else 'not converged'}, "
                    f"loss {run.final_loss:.4g}")
        stages = f" ({n} stages, {scales_text(s['scales'])})" if n > 1 else ""
        return f"run #{run.number} finished{stages}: {r.status} in {r.wall_time:.1f} s, loss {run.final_loss:.4g}"

    def _run_kwargs(self, s: Mapping[str, Any], model: VGG, has_content: bool, has_style: bool) -> dict:
        content_layers = [s["content_layer"]] if (has_content and s["content_layer"]) else []
        style_layers = list(s["style_layers"]) if has_style else []
        content_layers, style_layers = self._own_layers(model, content_layers, style_layers)  # e.g. random filters
        style_weights = None
        if style_layers:
            channels = {l.name: l.channels for l in model.layers}
            base = conventions.layer_weights(style_layers, conventions.CONVENTIONS[s["convention"]]["style_weights"],
                                          channels)
            style_weights = {l: base[l] * s["layer_weights"].get(l, 1.0) for l in style_layers}
        extra = chroma_tv.extra_terms(s.get("chroma_tv", 0.0))
        return dict(model=model, content_layers=content_layers, style_layers=style_layers,
                    style_weights=style_weights, ratio=s["ratio"], tv_weight=s["tv_weight"], gamma=s["gamma"],
                    convention=s["convention"], init=s["init"], seed=s["seed"], optimizer=s["optimizer"],
                    steps=s["steps"], lr=s["lr"], scales=list(s["scales"]) if s["scales"] else None,
                    tol=s["tol"], preserve_colour=s["preserve_colour"], **extra)


def _initial_tol(tol: float | bool | None, prof: paper.Profile) -> float | None:
    """The constructor's ``tol``: None the profile's, False off, True the engine's default."""
    if tol is None:
        return prof.tol
    if tol is False:
        return None
    if tol is True:
        return optimise.DEFAULT_TOL
    if isinstance(tol, (int, float)) and tol > 0:
        return float(tol)
    raise SettingsError(f"tol must be a number > 0, True, False or None, got {tol!r}")
