"""stylelab: Gatys, Ecker & Bethge's neural style transfer as a teaching kit.

    import stylelab as sl
    content = sl.data.load("tubingen", size=256)
    style = sl.data.load("starry_night", size=256)
    result = sl.transfer(content, style, ratio=1e-3, steps=300)
    sl.plot.image_grid([[content, style, result.image]])

Modules: :mod:`~stylelab.vgg` (the network and its layer names),
:mod:`~stylelab.weights` (weight sets, the normalised network),
:mod:`~stylelab.losses` (the paper's equations), :mod:`~stylelab.transfer`
(the optimisation), :mod:`~stylelab.image`, :mod:`~stylelab.data`,
:mod:`~stylelab.plot`, :mod:`~stylelab.exercises` (the lessons' checkers),
:mod:`~stylelab.statistics` (what a style loss matches: Gram, mean/std, MMD),
:mod:`~stylelab.film` (the optimisation as a film); video style transfer (Ruder et al. 2016):
:mod:`~stylelab.clip`, :mod:`~stylelab.flow`, :mod:`~stylelab.video`; the 2017
controls :mod:`~stylelab.colour`, :mod:`~stylelab.masks` (with :mod:`~stylelab.segment`)
and :mod:`~stylelab.scale`; the explorer and the ``stylelab`` command.
"""

from . import (
    colour, config, data, errors, exercises, film, image, lesson, losses, masks, metrics, paper, plot, scale, segment,
    statistics, vgg, weights,
)
from . import clip, flow, video  # video style transfer (Ruder et al. 2016)
from . import features, patchnet  # other networks than the ImageNet VGG: random, trained by stylelab
from . import precision  # fp32, or bf16 where the chip has units for it
from . import chroma_tv  # a smoothness prior on colour only (not in the paper): against rainbow speckle
from .errors import (
    DataError, ImageError, LayerError, NonFiniteLossError, SettingsError, StylelabError, WeightsError,
)
from .image import load_image, save_image, to_pil
from .exercises import ExerciseError
from .losses import gram
from .transfer import (
    CALIBRATION, CONVENTIONS, Objective, Result, make_targets, optimize, reconstruct, run, texture, transfer,
)
from .vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, VGG, layer_table, resolve_layer
from .weights import load_vgg

__version__ = "0.1.0"

__all__ = [
    "colour", "masks", "scale", "segment", "statistics", "film", "clip", "flow", "video", "config", "data", "errors", "exercises", "ExerciseError", "image", "lesson", "losses", "metrics", "paper", "plot", "vgg", "weights",
    "DataError", "ImageError", "LayerError", "NonFiniteLossError", "SettingsError", "StylelabError",
    "WeightsError", "load_image", "save_image", "to_pil", "gram", "Objective", "Result", "make_targets",
    "optimize", "reconstruct", "run", "texture", "transfer", "PAPER_CONTENT_LAYER", "PAPER_STYLE_LAYERS",
    "VGG", "layer_table", "resolve_layer", "load_vgg", "__version__",
]
__all__ += ["features", "patchnet", "precision", "chroma_tv", "CALIBRATION", "CONVENTIONS"]
