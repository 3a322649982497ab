"""The explorer's widgets and their layout (a part of :class:`stylelab.explorer.app.Explorer`).

:class:`ExplorerWidgets` creates every widget as an attribute of the explorer, wires
the events to the explorer's handlers and lays the sections out: the images, the
loss, the optimisation (with the coarse-to-fine stages and the stopping rule) on the
left; Run/Stop, the film option, progress, the image, the loss curves and the film on
the right; the history
and the comparison below.
"""

from __future__ import annotations

import ipywidgets as widgets

from ..method import conventions, optimise
from ..networks.vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS
from ..teaching import paper
from .common import _GREY, _RED, CUSTOM, INPUT_THUMB, NONE, PREVIEW_WIDTH, STAGES, _placeholder, scales_text


W = widgets
_DW = {"description_width": "96px"}  # the width of the widgets' descriptions
_TB = {"button_width": "70px"}


def _labelled(text: str, control: widgets.Widget, width: str = "96px") -> widgets.HBox:
    """A control with a label beside it (ToggleButtons' own description wraps above them)."""
    control.layout = W.Layout(width="auto")
    label = W.Label(text, layout=W.Layout(width=width, justify_content="flex-end", margin="0 8px 0 0"))
    return W.HBox([label, control], layout=W.Layout(width="auto", align_items="center"))


def _section(title: str, *children) -> widgets.VBox:
    return W.VBox([W.HTML(f"<b>{title}</b>"), *children],
                  layout=W.Layout(border="1px solid #ddd", padding="4px 8px", margin="0 0 6px 0"))


class ExplorerWidgets:
    """Builds the explorer's widgets. Uses the explorer's ``_image_options()``,
    ``_layer_list``, ``_arch``, ``_model`` and its event handlers (``_on_...``)."""

    def _build(self, prof, *, size, steps, seed, every, content, style, stages, tol) -> None:
        self._initial_tv = prof.tv_weight(size)  # the profile's TV weight at this size (0: the paper's)
        self._initial_chroma = float(prof.chroma_tv)  # the profile's chroma prior (stylelab.control.chroma_tv; 0: none)
        self.preset = W.Dropdown(options=[("— a figure of the paper —", CUSTOM)]
                                 + [(n, n) for n in paper.presets()], value=CUSTOM, description="preset",
                                 style=_DW, layout=W.Layout(width="440px"))
        self.profile = W.ToggleButtons(options=list(paper.PROFILES), value=prof.name, style=_TB,
                                       tooltips=[p.description for p in paper.PROFILES.values()])
        left = W.VBox([self._build_images(size, content, style), self._build_controls(), self._build_loss(),
                       self._build_optimisation(seed, steps, every, stages, tol)],
                      layout=W.Layout(width="600px", flex="0 0 auto"))
        right = self._build_output(steps)
        self._build_history()
        self._connect()
        self.widget = W.VBox([
            W.HTML("<h3 style='margin:0 0 4px 0'>stylelab explorer: Gatys, Ecker &amp; Bethge's "
                   "style transfer</h3>"),
            W.HBox([self.preset, _labelled("profile", self.profile)]),
            W.HBox([left, right]),
            W.HTML("<b>History</b> <span style='color:#555'>(newest first; Save writes PNG + JSON)</span>"),
            self.history_box,
            W.HBox([self.compare_a, self.compare_b]),
            self.compare_view,
        ])
        self.widget.add_class("stylelab-explorer")
        self._refresh_thumb("content")
        self._refresh_thumb("style")
        self._refresh_stages()
        self._on_stop_early()

    def _build_images(self, size, content, style) -> widgets.VBox:
        options = self._image_options()
        names = [n for n in options if n != NONE]
        content = content or ("tubingen" if "tubingen" in names else (names[0] if names else NONE))
        style = style or ("starry_night" if "starry_night" in names
                          else next((n for n in names if n != content), NONE))
        self.content = W.Dropdown(options=options, value=content, description="content",
                                  style=_DW, layout=W.Layout(width="300px"))
        self.style = W.Dropdown(options=options, value=style, description="style",
                                style=_DW, layout=W.Layout(width="300px"))
        self.content_upload = W.FileUpload(accept="image/*", multiple=False, description="upload",
                                           layout=W.Layout(width="110px"))
        self.style_upload = W.FileUpload(accept="image/*", multiple=False, description="upload",
                                         layout=W.Layout(width="110px"))
        self.content_thumb = W.Image(format="png", layout=W.Layout(width=f"{INPUT_THUMB}px"))
        self.style_thumb = W.Image(format="png", layout=W.Layout(width=f"{INPUT_THUMB}px"))
        self.size = W.IntSlider(value=int(size), min=32, max=1024, step=16, description="size (px)",
                                style=_DW, continuous_update=False, layout=W.Layout(width="400px"))
        # Colour preservation (Gatys et al. 2017; stylelab.control.colour): "" is the 2016 paper's transfer.
        self.preserve_colour = W.Dropdown(
            options=[("no (the paper)", ""), ("luminance only", "luminance"),
                     ("histogram (symmetric A)", "histogram-pca"), ("histogram (Cholesky A)", "histogram-cholesky")],
            value="", description="keep colours", style=_DW, layout=W.Layout(width="300px"),
            tooltip="keep the content's colours: transfer on the luminance only, or recolour the style to the "
                    "content's colour mean and covariance first")
        gap = W.HTML(layout=W.Layout(width="100px"))
        return _section(
            "Images",
            W.HBox([W.VBox([self.content, W.HBox([gap, self.content_upload])]), self.content_thumb]),
            W.HBox([W.VBox([self.style, W.HBox([gap, self.style_upload])]), self.style_thumb]),
            self.size,
            self.preserve_colour,
        )

    def _build_loss(self) -> widgets.VBox:
        self.ratio = W.FloatLogSlider(value=1e-3, base=10, min=-6, max=1, step=0.1, description="α/β",
                                      readout_format=".2e", style=_DW, continuous_update=False,
                                      layout=W.Layout(width="400px"))
        layer_names = [l.name for l in self._layer_list]
        self.content_layer = W.Dropdown(
            options=[NONE, *layer_names],
            value=PAPER_CONTENT_LAYER if PAPER_CONTENT_LAYER in layer_names else NONE,
            description="content layer", style=_DW, layout=W.Layout(width="230px"))
        self.convention = W.Dropdown(
            options=[("calibrated", "calibrated"), ("authors' code", "gatys_code"), ("paper's equations", "paper")],
            value=conventions.DEFAULT_CONVENTION, description="loss scale", style=_DW,
            layout=W.Layout(width="250px"),
            tooltip="calibrated: w_l = 1/L on the normalised network, α scaled so the figures' α/β give their "
                    "look; gatys_code: MSE-normalised losses, w_l ∝ 1/N_l² (the authors' code, for the network "
                    "as trained); paper: Eqs. 1, 4, 5 as printed, w_l = 1/L")
        relus = [l for l in self._layer_list if l.kind == "relu"]
        self.style_layers: dict[str, widgets.Checkbox] = {}
        self.layer_weights: dict[str, widgets.BoundedFloatText] = {}
        rows = []
        for block in sorted({l.block for l in relus}):
            cells = [W.HTML(f"<span style='color:{_GREY}'>block {block}</span>", layout=W.Layout(width="52px"))]
            for l in (l for l in relus if l.block == block):
                cb = W.Checkbox(value=l.name in PAPER_STYLE_LAYERS, description=l.name, indent=False,
                                layout=W.Layout(width="74px"))
                wt = W.BoundedFloatText(value=1.0, min=0.0, max=1e6, step=0.5, layout=W.Layout(width="52px"),
                                        tooltip=f"weight of {l.name}: multiplies w_l (1 = the convention's)")
                self.style_layers[l.name] = cb
                self.layer_weights[l.name] = wt
                cells.append(W.HBox([cb, wt], layout=W.Layout(width="134px")))
            rows.append(W.HBox(cells))
        self.tv_weight = W.BoundedFloatText(value=self._initial_tv, min=0.0, max=1e12, step=1e-4,
                                            description="TV weight", style=_DW, layout=W.Layout(width="200px"),
                                            tooltip="total variation prior (not in the paper: 0); the quick and "
                                                    "student profiles set a small one against colour speckle")
        self.chroma_tv = W.BoundedFloatText(value=self._initial_chroma, min=0.0, max=1e12, step=0.05,
                                            description="chroma TV", style=_DW, layout=W.Layout(width="200px"),
                                            tooltip="total variation of the colour planes only (stylelab.control.chroma_tv, "
                                                    "not in the paper: 0); the quick and student profiles set one "
                                                    "against rainbow speckle")
        self.gamma = W.BoundedFloatText(value=0.0, min=0.0, max=1e12, step=1.0, description="L2 weight γ",
                                        style=_DW, layout=W.Layout(width="200px"),
                                        tooltip="L2 pixel prior (not in the paper: 0)")
        return _section(
            "Loss  L = α L_content + β Σ w_l E_l (+ regularisers)",
            self.ratio,
            W.HBox([self.content_layer, self.convention]),
            W.HTML(f"<span style='color:{_GREY}'>style layers and their weights (× the convention's w_l)</span>"),
            *rows,
            self._build_statistic(),  # what the style loss matches: stylelab.explorer.controls
            W.HBox([self.tv_weight, self.chroma_tv, self.gamma]),
        )

    def _build_optimisation(self, seed, steps, every, stages, tol) -> widgets.VBox:
        self.init = W.ToggleButtons(options=list(optimise.INITS), value="noise", style=_TB)
        self.seed = W.BoundedIntText(value=int(seed), min=0, max=2**31 - 1, description="seed", style=_DW,
                                     layout=W.Layout(width="180px"))
        self.optimizer = W.ToggleButtons(options=[("L-BFGS", "lbfgs"), ("Adam", "adam")], value="lbfgs",
                                         style=_TB)
        self.lr = W.BoundedFloatText(value=optimise.DEFAULT_LR["lbfgs"], min=1e-6, max=100.0, step=0.01,
                                     description="learning rate", style=_DW, layout=W.Layout(width="200px"))
        self.steps = W.BoundedIntText(value=int(steps), min=1, max=100_000, description="steps", style=_DW,
                                      layout=W.Layout(width="180px"),
                                      tooltip="loss evaluations; with stages or the stopping rule: the most "
                                              "per stage")
        self.every = W.BoundedIntText(value=int(every), min=1, max=10_000, description="update every",
                                      style=_DW, layout=W.Layout(width="180px"),
                                      tooltip="refresh the image and the curves every k steps")
        # Coarse-to-fine (Gatys et al. 2017): each stage twice the size of the one before.
        options = sorted({*STAGES, int(stages)})
        self.stages = W.ToggleButtons(options=[(str(n), n) for n in options], value=int(stages),
                                      style={"button_width": "36px"},
                                      tooltips=["one size (the paper)" if n == 1 else
                                                f"{n} stages, each twice the size of the one before" for n in options])
        self.stage_sizes = W.HTML(value="")
        self.stage_sizes.add_class("stylelab-stage-sizes")
        # The stopping rule (stylelab.method.transfer.optimize): steps become the most per stage.
        self.stop_early = W.Checkbox(value=tol is not None, description="stop when the loss stops falling",
                                     indent=False, layout=W.Layout(width="250px"),
                                     tooltip=f"end each stage once the lowest loss fell by less than the "
                                             f"tolerance over {optimise.DEFAULT_PATIENCE} steps; steps is "
                                             f"then the most per stage")
        self.tol = W.FloatLogSlider(value=tol if tol is not None else optimise.DEFAULT_TOL, base=10, min=-5,
                                    max=-1, step=0.1, description="tolerance", readout_format=".1e",
                                    continuous_update=False, style={"description_width": "64px"},
                                    layout=W.Layout(width="300px"))
        self.pooling = W.ToggleButtons(options=["avg", "max"], value="avg", style=_TB,
                                       tooltips=["average pooling (the paper)", "max pooling (as trained)"])
        self.normalized = W.Checkbox(value=True, description="normalised network (mean activation 1)",
                                     indent=False)
        if self._model is not None:
            self.normalized.disabled = True
            self.normalized.description = "normalised network (fixed: a model was given)"
        return _section(
            "Optimisation",
            W.HBox([_labelled("start from", self.init), self.seed]),
            W.HBox([_labelled("optimiser", self.optimizer), self.lr]),
            W.HBox([self.steps, self.every]),
            W.HBox([_labelled("coarse to fine", self.stages), self.stage_sizes],
                   layout=W.Layout(align_items="center")),
            W.HBox([self.stop_early, self.tol], layout=W.Layout(align_items="center")),
            W.HBox([_labelled("pooling", self.pooling), self.normalized]),
            self._build_features(),  # the network: stylelab.explorer.features
        )

    def _build_output(self, steps) -> widgets.VBox:
        self.run_button = W.Button(description="Run", button_style="success", icon="play",
                                   tooltip="optimise an image with these settings")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                    tooltip="end the run before the next step, keeping the best image so far")
        self.progress = W.IntProgress(value=0, min=0, max=int(steps), description="", bar_style="",
                                      layout=W.Layout(width="300px"))
        self.status = W.Label(value="ready")
        self.status.add_class("stylelab-status")
        self.message = W.HTML(value="")
        self.message.add_class("stylelab-message")
        self.preview = W.Image(value=_placeholder("press Run"), format="png",
                               layout=W.Layout(width=f"{PREVIEW_WIDTH}px"))
        self.preview.add_class("stylelab-preview")
        self.curves = W.Image(value=b"", format="png", layout=W.Layout(width="400px", display="none"))
        self.curves.add_class("stylelab-curves")
        self.per_layer = W.Checkbox(value=False, description="per-layer curves", indent=False)
        film_row, film_view = self._build_film()  # stylelab.explorer.film
        return W.VBox([
            W.HBox([self.run_button, self.stop_button]),
            film_row,
            W.HBox([self.progress, self.status]),
            self.message,
            self.preview,
            self.per_layer,
            self.curves,
            film_view,
        ], layout=W.Layout(flex="1 1 auto", padding="0 0 0 12px"))

    def _build_history(self) -> None:
        self.history_box = W.HBox([], layout=W.Layout(overflow="auto hidden", width="100%"))
        self.history_box.add_class("stylelab-history")
        self.compare_a = W.Dropdown(options=[], description="compare", style={"description_width": "60px"},
                                    layout=W.Layout(width="280px"))
        self.compare_b = W.Dropdown(options=[], description="with", style={"description_width": "40px"},
                                    layout=W.Layout(width="260px"))
        self.compare_view = W.VBox([])
        self.compare_view.add_class("stylelab-compare")

    def _connect(self) -> None:
        self.run_button.on_click(lambda _b: self.run())
        self.stop_button.on_click(lambda _b: self.stop())
        self.preset.observe(self._on_preset, "value")
        self.profile.observe(self._on_profile, "value")
        self.content.observe(lambda c: self._on_image_choice("content", c), "value")
        self.style.observe(lambda c: self._on_image_choice("style", c), "value")
        self.content_upload.observe(lambda c: self._on_upload("content", c), "value")
        self.style_upload.observe(lambda c: self._on_upload("style", c), "value")
        self.optimizer.observe(self._on_optimizer, "value")
        self.per_layer.observe(self._on_per_layer, "value")
        self.compare_a.observe(self._on_compare, "value")
        self.compare_b.observe(self._on_compare, "value")
        self.stop_early.observe(self._on_stop_early, "value")
        for w in self._setting_widgets():
            w.observe(self._on_setting_changed, "value")
        for w in (self.size, self.stages, self.content, self.style, self.content_layer,
                  *self.style_layers.values()):
            w.observe(self._refresh_stages, "value")

    def _setting_widgets(self) -> list[widgets.Widget]:
        return [self.content, self.style, self.size, self.ratio, self.content_layer, self.convention,
                *self.style_layers.values(), *self.layer_weights.values(), self.tv_weight, self.chroma_tv, self.gamma,
                self.init, self.seed, self.optimizer, self.lr, self.steps, self.stages, self.stop_early,
                self.tol, self.pooling, self.normalized, self.preserve_colour, self.features,
                *self._control_widgets()]

    def _refresh_stages(self, change=None) -> None:
        """The stage sizes beside the stages control; in red when the first stage is
        smaller than the deepest chosen layer needs (Run says so in full)."""
        try:
            size = int(self.size.value)
            scales = paper.stage_scales(size, int(self.stages.value))
            text, colour = scales_text(scales, size), _GREY
            if scales:
                s = self.settings()
                problem = self._stage_problem(s, self._known_shape(s))
                if problem:
                    text, colour = f"{text}: the first stage is too small for {problem[1]}", _RED
            else:
                text += " (the paper)"
            self.stage_sizes.value = f"<span style='color:{colour}'>{text}</span>"
        except Exception:  # noqa: BLE001  (a hint only; Run checks the settings)
            self.stage_sizes.value = ""

    def _on_stop_early(self, change=None) -> None:
        self.tol.disabled = not self.stop_early.value
