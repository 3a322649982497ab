"""The explorer's controls for two of the 2017 paper's features (a part of
:class:`stylelab.explorer.app.Explorer`).

Gatys, Ecker, Bethge, Hertzmann & Shechtman, *Controlling Perceptual Factors in Neural
Style Transfer*, CVPR 2017, and the style statistic of Li, Wang, Liu & Hou, *Demystifying
Neural Style Transfer*, IJCAI 2017:

- **spatial control** (:mod:`stylelab.control.masks`, guided Gram matrices): the *regions* menu.
  "sky / town" splits the content image into its sky and the rest with
  :func:`stylelab.control.segment.sky_mask` (as lesson 10 does); the sky takes the main style
  image, the town the **town style**: ``transfer(content, [style, town], regions=...)``.
- **scale control** (:mod:`stylelab.control.scale`): a **fine style** painting gives the fine
  scale (the style layers before **split**), the main style image the coarse scale:
  :func:`stylelab.control.scale.transfer` (``content, coarse=style, fine, split, method=``).

:func:`engine_call` turns a run's settings into the call; :class:`ExplorerControls`
builds the widgets, adds their settings to :meth:`~stylelab.explorer.app.Explorer.settings`
and refuses the combinations the engine refuses, each with one line. The two do not
combine: the scale mix makes one style image for the whole picture (or one set of
targets per layer, with the blend the regions cannot take), the regions need one style per
region (:func:`stylelab.method.transfer.run`: ``regions=`` takes no ``blend=``). Both combine
with *keep colours* (:mod:`stylelab.control.colour`), as the engine's functions do.

- **style statistic** (:mod:`stylelab.method.statistics`): what the style loss matches at each
  style layer: the Gram matrices of Eq. 4 (the paper), the channels' means and standard
  deviations, or the linear or Gaussian MMD between the sets of feature vectors
  (``run(style_statistic=...)``). The others match ONE style image over the whole picture:
  the regions (guided Grams) and the per-layer Gram mix of the fine style do not take them
  (:func:`stylelab.method.transfer.run` refuses), so the one chosen first disables the other, a
  note under the menu says why, and Run refuses what is left with one line. With a fine
  style and the authors' mix, the new style image is made with Grams (as their code does)
  and the transfer then matches the chosen statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import html
from typing import Any

import ipywidgets as widgets
import torch

from ..control import transfer as controlled
from ..control.scale import DEFAULT_SPLIT
from ..errors import SettingsError
from ..method import statistics
from .common import _GREY, _RED, NONE, _pretty


W = widgets
_DW = {"description_width": "96px"}
#: The regions menu: (label, value); "" is the 2016 paper (no spatial control).
REGIONS = (("none (the paper)", ""), ("sky / town", "sky-town"))
#: The split menu's layers (the first coarse layer), where the network has them.
SPLITS = ("relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: What a figure preset resets them to (the 2016 paper's method): see ``PAPER_SETTINGS``.
DEFAULTS = {"regions": "", "fine_style": NONE, "split": DEFAULT_SPLIT, "scale_method": "paper",
            "style_statistic": statistics.DEFAULT_STATISTIC}


def engine_call(s: Mapping[str, Any], content: torch.Tensor | None, style: torch.Tensor | None,
                load: Callable[[str], torch.Tensor]) -> tuple[Callable, tuple, dict]:
    """``(function, positional arguments, extra keywords)`` of the run that the explorer's
    settings ``s`` ask for; ``load(name)`` gives a menu image at the run's size. The
    explorer adds the common keywords (model, layers, α/β, steps, ``preserve_colour``, ...).

    - fine style: :func:`stylelab.control.scale.transfer(content, style, fine, split, method=...)
      <stylelab.control.scale.transfer>`, the main style as the coarse painting; with ``"paper"``
      the new style image gets as many L-BFGS steps as the run (``style_steps``);
    - regions "sky / town": :func:`stylelab.method.transfer.transfer` with ``[style, town style]``
      and ``regions=masks.Regions([sky, 1 - sky])``, the sky from
      :func:`stylelab.control.segment.sky_mask` of the content image (at the run's size);
    - else the paper's :func:`stylelab.method.transfer.transfer(content, style)`;
    - a style statistic other than the Gram matrix adds ``style_statistic=`` (with a style image).
    """
    stat = s.get("style_statistic") or statistics.DEFAULT_STATISTIC
    if stat != statistics.DEFAULT_STATISTIC and style is not None:
        fn, args, extra = engine_call({**s, "style_statistic": None}, content, style, load)
        return fn, args, {**extra, "style_statistic": stat}
    if s.get("fine_style"):
        from ..control import scale

        extra = {"method": s["scale_method"]}
        if s["scale_method"] == "paper":
            extra["style_steps"] = int(s["steps"])
        return scale.transfer, (content, style, load(s["fine_style"]), s["split"]), extra
    if s.get("regions") == "sky-town":
        from ..control import masks, segment

        sky = segment.sky_mask(content)
        share = float(sky.mean())
        if share in (0.0, 1.0):
            raise SettingsError(f"regions sky / town: segment.sky_mask finds {'no' if share == 0 else 'only'} sky in "
                                f"the content image {_pretty(s['content'])}; choose a photograph with sky at the top "
                                f"(tubingen), or set regions to none")
        regions = masks.Regions([sky, 1 - sky], names=["sky", "town"])
        return controlled.transfer, (content, [style, load(s["region_style"])]), {"regions": regions}
    if s.get("regions"):
        raise SettingsError(f"unknown regions {s['regions']!r}; choose one of {[v for _l, v in REGIONS]}")
    return controlled.transfer, (content, style), {}


def check(s: Mapping[str, Any]) -> None:
    """:class:`~stylelab.errors.SettingsError` (one line) for a combination the engine refuses."""
    if s.get("regions"):
        if s["content"] is None:
            raise SettingsError("regions sky / town are found in the content image: choose a content image, "
                                "or set regions to none")
        if s["style"] is None or s["region_style"] is None:
            raise SettingsError("regions sky / town need two styles: the style image for the sky and the town style "
                                "for the rest; choose both, or set regions to none")
    if s.get("fine_style"):
        if s["content"] is None or s["style"] is None:
            raise SettingsError("fine style (scale control) needs a content image and a style image, whose coarse "
                                "scale it keeps; choose both, or set fine style to none")
        if s.get("regions"):
            raise SettingsError("regions and fine style do not combine (the scale mix makes one style for the whole "
                                "picture, the regions need one per region); set one of them to none")
    stat = s.get("style_statistic") or statistics.DEFAULT_STATISTIC
    if stat != statistics.DEFAULT_STATISTIC and s.get("style"):
        if s.get("regions"):
            raise SettingsError(f"the regions match guided Gram matrices, one per region; the style statistic {stat} "
                                f"matches one style image over the whole picture: set regions to none or the "
                                f"style statistic to gram")
        if s.get("fine_style") and s.get("scale_method") == "layers":
            raise SettingsError(f"the per-layer mix matches two paintings' Gram matrices; the style statistic {stat} "
                                f"takes one style image: choose the mix 'a new style image', or the statistic gram")


class ExplorerControls:
    """The regions and scale widgets. Uses the explorer's ``_image_options()``,
    ``_layer_list``, ``style``, ``content``, ``_load`` and ``status``."""

    def _build_controls(self) -> widgets.VBox:
        options = self._image_options()
        names = [n for n in options if n != NONE]
        town = "the_scream" if "the_scream" in names else next((n for n in names if n != self.style.value), NONE)
        self.regions = W.Dropdown(options=list(REGIONS), value="", description="regions", style=_DW,
                                  layout=W.Layout(width="300px"),
                                  tooltip="spatial control: the sky (found in the content image) takes the style "
                                          "image, the rest (the town) the town style")
        self.region_style = W.Dropdown(options=options, value=town, description="town style",
                                       style={"description_width": "72px"}, layout=W.Layout(width="270px"),
                                       disabled=True)
        self.fine_style = W.Dropdown(options=options, value=NONE, description="fine style", style=_DW,
                                     layout=W.Layout(width="300px"),
                                     tooltip="scale control: this painting's fine scale (the style layers before "
                                             "the split), the style image's coarse scale")
        have = {l.name for l in self._layer_list}
        splits = [n for n in SPLITS if n in have]
        self.split = W.Dropdown(options=splits, value=DEFAULT_SPLIT if DEFAULT_SPLIT in splits else splits[0],
                                description="split", style={"description_width": "40px"},
                                layout=W.Layout(width="160px"), disabled=True,
                                tooltip="the first coarse layer: the style layers before it take the fine style")
        self.scale_method = W.Dropdown(options=[("a new style image (the authors' code)", "paper"),
                                                ("per-layer Grams, one run", "layers")],
                                       value="paper", description="mix", style=_DW, layout=W.Layout(width="400px"),
                                       disabled=True)
        self.regions.observe(self._on_controls, "value")
        self.fine_style.observe(self._on_controls, "value")
        return W.VBox([
            W.HTML("<b>Controls (Gatys et al. 2017)</b> "
                   f"<span style='color:{_GREY}'>spatial: a style per region · scale: two paintings</span>"),
            W.HBox([self.regions, self.region_style]),
            W.HBox([self.fine_style, self.split]),
            self.scale_method,
        ], layout=W.Layout(border="1px solid #ddd", padding="4px 8px", margin="0 0 6px 0"))

    def _build_statistic(self) -> widgets.VBox:
        """The style statistic menu and its note (shown in the loss section)."""
        self.style_statistic = W.Dropdown(
            options=[(f"{statistics.REGISTRY[n].title} ({n})", n) for n in statistics.STATISTICS],
            value=statistics.DEFAULT_STATISTIC, description="style statistic", style=_DW,
            layout=W.Layout(width="400px"),
            tooltip="what the style loss matches at each style layer (stylelab.method.statistics): the Gram matrices "
                    "(the paper), or Li et al. 2017's means and standard deviations, linear or Gaussian MMD")
        self.statistic_note = W.HTML("")
        self.statistic_note.add_class("stylelab-statistic-note")
        for w in (self.style_statistic, self.scale_method, self.style):
            w.observe(self._on_controls, "value")
        self._on_controls()
        return W.VBox([self.style_statistic, self.statistic_note])

    def _statistic_note(self) -> tuple[str, str]:
        """(the line under the style statistic menu, its colour)."""
        stat = statistics.REGISTRY[self.style_statistic.value]
        text, colour = f"{stat.equation} ({stat.paper})", _GREY
        if self.style.value == NONE:
            return "no style image: no style loss to match", _GREY
        if stat.name == statistics.DEFAULT_STATISTIC:
            if self.regions.value:
                text += "; the only choice with regions (guided Gram matrices): set regions to none for the others"
            return text, colour
        if self.regions.value:
            return ("the regions match guided Gram matrices: set regions to none, or this menu to gram", _RED)
        text += "; regions are off: they need the Gram matrices"
        if self.fine_style.value != NONE and self.scale_method.value == "layers":
            return ("the per-layer mix of fine style matches Gram matrices: choose the mix 'a new style image' "
                    "(its new style image is made with Grams, the transfer matches this statistic)", _RED)
        return text, colour

    def _control_widgets(self) -> list[widgets.Widget]:
        """The widgets whose change makes the preset menu show no preset."""
        return [self.regions, self.region_style, self.fine_style, self.split, self.scale_method,
                self.style_statistic]

    def _control_fields(self) -> dict[str, widgets.Widget]:
        """Setting -> widget, for the presets (:data:`DEFAULTS` reset them)."""
        return {"regions": self.regions, "fine_style": self.fine_style, "split": self.split,
                "scale_method": self.scale_method, "style_statistic": self.style_statistic}

    def _image_menus(self) -> tuple[widgets.Dropdown, ...]:
        """The extra image menus (an upload is added to them too)."""
        return (self.region_style, self.fine_style)

    def _control_settings(self) -> dict:
        """This module's part of :meth:`~stylelab.explorer.app.Explorer.settings`; None: not used."""
        regions = self.regions.value or None
        fine = None if self.fine_style.value == NONE else self.fine_style.value
        town = None if self.region_style.value == NONE else self.region_style.value
        return {"regions": regions, "region_style": town if regions else None, "fine_style": fine,
                "split": self.split.value if fine else None, "scale_method": self.scale_method.value if fine else None,
                "style_statistic": self.style_statistic.value}

    def _on_controls(self, change=None) -> None:
        self.region_style.disabled = not self.regions.value
        self.split.disabled = self.scale_method.disabled = self.fine_style.value == NONE
        if not hasattr(self, "style_statistic"):  # while the widgets are built
            return
        # The regions and a statistic other than the Gram matrix exclude each other: the one chosen first
        # disables the other (both set from code: Run says why, check()).
        gram = self.style_statistic.value == statistics.DEFAULT_STATISTIC
        self.regions.disabled = not gram and not self.regions.value
        self.style_statistic.disabled = gram and bool(self.regions.value)
        text, colour = self._statistic_note()
        self.statistic_note.value = f"<span style='color:{colour};font-size:11px'>{html.escape(text)}</span>"

    def _engine(self, s: Mapping[str, Any], content, style, images=None) -> Callable:
        """The engine function for settings ``s``, with its images bound: call it with the
        common keywords (see :func:`engine_call`)."""
        fn, args, extra = engine_call(s, content, style, lambda name: self._load(name, s["size"], images))

        def call(**kwargs):
            if s.get("fine_style") and s["scale_method"] == "paper":
                self.status.value = (f"making the new style image: {_pretty(s['style'])} with "
                                     f"{_pretty(s['fine_style'])}'s layers before {s['split']} ({s['steps']} steps)…")
            return fn(*args, **kwargs, **extra)

        return call

    @staticmethod
    def _control_caption(s: Mapping[str, Any]) -> str:
        """A history card's line for the 2017 controls ('' when none is used)."""
        parts = [f"keep colours: {s['preserve_colour']}"] if s.get("preserve_colour") else []
        if s.get("regions"):
            parts.append(f"sky {_pretty(s['style'])} / town {_pretty(s['region_style'])}")
        if s.get("fine_style"):
            parts.append(f"fine {_pretty(s['fine_style'])} before {s['split']} ({s['scale_method']})")
        if s.get("style") and s.get("style_statistic", statistics.DEFAULT_STATISTIC) != statistics.DEFAULT_STATISTIC:
            parts.append(f"style statistic {s['style_statistic']}")
        return " · ".join(parts)
