"""The explorer's feature-extractor menu (issue 12; a part of :class:`stylelab.explorer.app.Explorer`).

Gatys et al. match the responses of the VGG-19 trained on ImageNet (VGG-16 on these
machines). The **network** menu swaps it for another extractor of
:mod:`stylelab.networks.features` (``features.names()``): the other ImageNet VGG, the same layout
with random weights, Ustyuzhaninov et al.'s single layer of random multi-scale filters
(ICLR 2017), or stylelab's small networks trained on patches of the sample images
(``patch-cnn``, ``autoencoder``), so that the question "does the network have to be
trained?" (lesson 14) can be asked of any image and any setting here.

The run loads the extractor with :func:`stylelab.networks.features.load` (pooling and normalisation
from the widgets; the random weights from seed 0, whatever the start image's seed), and
matches the layers ticked, mapped by :func:`stylelab.networks.features.own_layers`: an extractor
without the paper's layers (the filter bank has one, ``relu1_1``) takes its own in place
of the paper's defaults. A trained extractor that is not cached yet is trained on first
use (the status line says so; it is cached after). With a network given to the explorer
(``Explorer(model=...)``) the menu is fixed to it.
"""

from __future__ import annotations

from collections.abc import Mapping
import html
from typing import Any

import ipywidgets as widgets

from ..errors import SettingsError
from .common import _GREY


W = widgets
#: The extractors that are trained by stylelab on first use (then cached).
TRAINED = ("patch-cnn", "autoencoder")
#: The random weights of the random extractors (fixed: the start image has its own seed).
SEED = 0


def _features():
    from ..networks import features

    return features


def _steps() -> int:
    from ..networks import patchnet

    return patchnet.DEFAULT_STEPS


def _trained(name: str) -> bool:
    """Whether :func:`stylelab.networks.features.load` finds the trained network ``name`` in the cache
    (its default recipe, seed :data:`SEED`), or would train it first."""
    from ..networks import patchnet

    return patchnet.cache_path(patchnet.Recipe(name, seed=SEED).check()).is_file()


class ExplorerFeatures:
    """The network menu. Uses the explorer's ``_arch``, ``_model``, ``_device``, ``_weights``
    and ``status``."""

    def _build_features(self) -> widgets.VBox:
        own = f"{self._arch} (the explorer's network)" if self._model is None else "the network given (fixed)"
        names = [n for n in _features().names() if n != self._arch] if self._model is None else []
        self.features = W.Dropdown(options=[(own, "")] + [(n, n) for n in names], value="", description="network",
                                   style={"description_width": "96px"}, layout=W.Layout(width="400px"),
                                   disabled=self._model is not None,
                                   tooltip="whose responses the losses match (stylelab.networks.features): the ImageNet VGG "
                                           "(the paper), random weights, random filters, or small trained networks")
        self.features_note = W.HTML("")
        self.features_note.add_class("stylelab-features-note")
        self.features.observe(self._on_features, "value")
        self._on_features()
        return W.VBox([self.features, self.features_note])

    def _on_features(self, change=None) -> None:
        name = self.features.value
        if not name:
            text = "the paper's kind of network: a VGG trained on ImageNet"
        else:
            text = _features().describe(name)
            if name == "random-filters":
                text += "; one layer, relu1_1: it replaces the paper's default content and style layers"
            elif name in TRAINED:
                text += ("; trained, cached" if _trained(name) else
                         f"; not trained yet: the first Run trains it ({_steps()} steps, about a minute on a CPU; "
                         f"Stop waits for the training), then it is cached")
        self.features_note.value = f"<span style='color:{_GREY};font-size:11px'>{html.escape(text)}</span>"

    def _features_settings(self) -> dict:
        """This module's part of :meth:`~stylelab.explorer.app.Explorer.settings` (None: the explorer's network)."""
        return {"features": self.features.value or None}

    def _features_model(self, s: Mapping[str, Any]):
        """The extractor the settings ``s`` name, loaded (trained first, if it must be)."""
        name = s["features"]
        if name in TRAINED and not _trained(name):
            self.status.value = (f"training the network {name}: {_steps()} steps on patches of the sample images "
                                 f"(about a minute on a CPU; cached after)…")
        else:
            self.status.value = f"loading the network {name}…"
        weights = self._weights if name in ("vgg16", "vgg19") and self._weights_arch() == name else None
        model = _features().load(name, weights=weights, device=self._device, seed=SEED, pooling=s["pooling"],
                                 normalized=bool(s["normalized"]))
        if name in TRAINED:
            self._on_features()  # the note: now trained
        return model

    def _weights_arch(self) -> str | None:
        from ..networks import weights as _weights

        try:
            return _weights.resolve(self._weights).arch if self._weights is not None else None
        except Exception:  # noqa: BLE001  (then the registry's set is used)
            return None

    @staticmethod
    def _own_layers(model, content_layers: list[str], style_layers: list[str]) -> tuple[list[str], list[str]]:
        """The layers the run matches in ``model`` (:func:`stylelab.networks.features.own_layers`); a
        :class:`~stylelab.errors.SettingsError` (one line) for a layer the network lacks."""
        content_layers, style_layers = _features().own_layers(model, content_layers, style_layers)
        have = [l.name for l in model.layers]
        missing = [l for l in dict.fromkeys(content_layers + style_layers) if l not in have]
        if missing:
            name = model.info.get("features") or model.arch
            raise SettingsError(f"the network {name} has no layer {', '.join(missing)} (its layers: "
                                f"{', '.join(have)}); tick the paper's layers (relu4_2; relu1_1 ... relu5_1), "
                                f"which become its own, or layers it has")
        return content_layers, style_layers
