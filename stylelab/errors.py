"""The exceptions stylelab raises for bad input.

Every error a user can cause (a missing file, an unknown layer, a corrupt weights
file, a diverging optimisation) is a subclass of :class:`StylelabError`, so a
caller (the CLI, the explorer) can show a one-line message instead of a traceback.
"""

from __future__ import annotations


class StylelabError(Exception):
    """Base class of every error stylelab raises on purpose."""


class ImageError(StylelabError, ValueError):
    """An image file is missing, unreadable, corrupt or of an unusable size."""


class DataError(StylelabError, ValueError):
    """A sample image is unknown, missing from the offline folder or fails its hash check."""


class LayerError(StylelabError, ValueError):
    """A layer name is unknown, or the image is too small for the deepest layer requested."""


class WeightsError(StylelabError, ValueError):
    """A weights file is unknown, missing, corrupt, unsafe, or does not fit the architecture."""


class SettingsError(StylelabError, ValueError):
    """A hyper-parameter is out of range (negative weights, steps < 1, non-finite values, ...)."""


class NonFiniteLossError(StylelabError, RuntimeError):
    """The loss became NaN or infinite during optimisation.

    ``result`` holds the best image found before that happened and the history,
    so nothing computed so far is lost.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result
