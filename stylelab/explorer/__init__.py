"""The widget explorer (lesson 08): :class:`~stylelab.explorer.app.Explorer`, one module per
panel (:mod:`~stylelab.explorer.widgets` the settings, :mod:`~stylelab.explorer.images` the
images and uploads, :mod:`~stylelab.explorer.controls` the 2017 controls,
:mod:`~stylelab.explorer.features` other networks, :mod:`~stylelab.explorer.film` the film,
:mod:`~stylelab.explorer.history` the runs so far) and what they share
(:mod:`~stylelab.explorer.common`); the real-time mode, AdaIN behind sliders, is
:mod:`~stylelab.explorer.realtime`.

    from stylelab.explorer import Explorer, RealtimeExplorer
    Explorer().display()
    RealtimeExplorer().display()
"""

from __future__ import annotations

from .._lazy import forward


#: The modules of this folder; any other name is :mod:`stylelab.explorer.app`'s, imported on first use.
__getattr__ = forward(__name__, "app", ("app", "common", "controls", "features", "film", "history", "images", "realtime", "widgets"))
