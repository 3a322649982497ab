"""stylelab: Gatys, Ecker & Bethge's neural style transfer as a teaching kit.

    import stylelab as sl
    content = sl.data.load("tubingen", size=256)
    style = sl.data.load("starry_night", size=256)
    result = sl.transfer(content, style, ratio=1e-3, steps=300)
    sl.plot.image_grid([[content, style, result.image]])

The package is laid out along the data flow of the method (CONTRIBUTING.md has the map):

- top level: :mod:`~stylelab.image`, :mod:`~stylelab.data` (the sample images),
  :mod:`~stylelab.plot`, :mod:`~stylelab.config`, :mod:`~stylelab.errors`, and
  :mod:`~stylelab.metrics` (what the figures measure);
- :mod:`stylelab.networks`: the VGG with the paper's layer names, its weight sets, other
  feature extractors, the arithmetic (fp32 / bf16);
- :mod:`stylelab.method`: the paper in code: losses, style statistics, targets, the
  objective, the optimiser, coarse to fine, and the entry points ``run``, ``transfer``,
  ``texture``, ``reconstruct``;
- :mod:`stylelab.control`: Gatys et al. 2017's controls (colour, space, scale) and the
  chroma prior;
- :mod:`stylelab.video`: clips, optical flow, the temporal loss (Ruder et al. 2016), films of a run;
- :mod:`stylelab.realtime`: networks that stylise in one forward pass (Johnson et al. 2016, AdaIN),
  their training photographs, training and files;
- :mod:`stylelab.teaching`: lessons, the paper's settings and profiles, exercises, editions;
- :mod:`stylelab.explorer` (the widget explorer) and :mod:`stylelab.cli` (the ``stylelab`` command).

Everything below is imported when first used (``sl.masks`` imports
:mod:`stylelab.control.masks`), so that ``import stylelab`` and ``stylelab --help`` do not
wait for torch. The short names of the flat layout keep working: ``sl.vgg``,
``sl.transfer(...)``, ``from stylelab import load_vgg, gram``.
"""

from __future__ import annotations

import importlib


__version__ = "0.1.0"

#: ``sl.<name>`` -> the module it names.
MODULES = {
    "config": "stylelab.config", "data": "stylelab.data", "errors": "stylelab.errors", "image": "stylelab.image",
    "metrics": "stylelab.metrics", "plot": "stylelab.plot",
    "networks": "stylelab.networks", "method": "stylelab.method", "control": "stylelab.control",
    "video": "stylelab.video", "realtime": "stylelab.realtime", "teaching": "stylelab.teaching", "explorer": "stylelab.explorer",
    "cli": "stylelab.cli",
    "vgg": "stylelab.networks.vgg", "weights": "stylelab.networks.weights",
    "torchvision_weights": "stylelab.networks.torchvision_weights", "features": "stylelab.networks.features",
    "patchnet": "stylelab.networks.patchnet", "precision": "stylelab.networks.precision",
    "losses": "stylelab.method.losses", "statistics": "stylelab.method.statistics",
    "colour": "stylelab.control.colour", "masks": "stylelab.control.masks", "segment": "stylelab.control.segment",
    "scale": "stylelab.control.scale", "chroma_tv": "stylelab.control.chroma_tv",
    "clip": "stylelab.video.clip", "flow": "stylelab.video.flow", "film": "stylelab.video.film",
    "temporal": "stylelab.video.temporal",
    "lesson": "stylelab.teaching.lesson", "lessons": "stylelab.teaching.lessons", "paper": "stylelab.teaching.paper",
    "exercises": "stylelab.teaching.exercises", "course": "stylelab.teaching.course",
    "reproduce": "stylelab.teaching.reproduce",
}

#: ``from stylelab import <name>`` -> (module, attribute).
NAMES = {
    **{name: ("stylelab.errors", name) for name in (
        "DataError", "ImageError", "LayerError", "NonFiniteLossError", "SettingsError", "StylelabError",
        "WeightsError")},
    **{name: ("stylelab.image", name) for name in ("load_image", "save_image", "to_pil")},
    "ExerciseError": ("stylelab.teaching.exercises", "ExerciseError"),
    "gram": ("stylelab.method.losses", "gram"),
    **{name: ("stylelab.method.conventions", name) for name in ("CALIBRATION", "CONVENTIONS")},
    "make_targets": ("stylelab.method.targets", "make_targets"),
    "Objective": ("stylelab.method.objective", "Objective"),
    **{name: ("stylelab.method.optimise", name) for name in ("Result", "optimize")},
    **{name: ("stylelab.method.transfer", name) for name in ("reconstruct", "texture")},
    # run and transfer with the 2017 controls as keywords (regions=, preserve_colour=)
    **{name: ("stylelab.control.transfer", name) for name in ("run", "transfer")},
    **{name: ("stylelab.networks.vgg", name) for name in (
        "PAPER_CONTENT_LAYER", "PAPER_STYLE_LAYERS", "VGG", "layer_table", "resolve_layer")},
    "load_vgg": ("stylelab.networks.weights", "load_vgg"),
}

#: What ``from stylelab import *`` gives: the names of the flat layout, all of them importable
#: with the base install (the explorer, the course editions and the gallery need extras).
__all__ = [
    "colour", "masks", "scale", "segment", "statistics", "film", "clip", "flow", "video", "config", "data", "errors",
    "exercises", "ExerciseError", "image", "lesson", "losses", "metrics", "paper", "plot", "vgg", "weights",
    "features", "patchnet", "precision", "chroma_tv", "DataError", "ImageError", "LayerError", "NonFiniteLossError",
    "SettingsError", "StylelabError", "WeightsError", "load_image", "save_image", "to_pil", "gram", "Objective",
    "Result", "make_targets", "optimize", "reconstruct", "run", "texture", "transfer", "PAPER_CONTENT_LAYER",
    "PAPER_STYLE_LAYERS", "VGG", "layer_table", "resolve_layer", "load_vgg", "CALIBRATION", "CONVENTIONS",
    "__version__",
]


def __getattr__(name: str):
    """Import a module or a public name on first use (PEP 562)."""
    if name in MODULES:
        value = importlib.import_module(MODULES[name])
    elif name in NAMES:
        module, attribute = NAMES[name]
        value = getattr(importlib.import_module(module), attribute)
    else:
        raise AttributeError(f"module 'stylelab' has no attribute {name!r}")
    globals()[name] = value  # the next use is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(MODULES) | set(NAMES))
