"""Video: style transfer for clips (Ruder, Dosovitskiy & Brox, *Artistic Style Transfer for
Videos*, GCPR 2016) and films of a run.

- :mod:`~stylelab.video.clip`: clips read from videos, GIFs, frame folders, or a synthetic pan
  across an image with its true optical flow;
- :mod:`~stylelab.video.flow`: optical flow (OpenCV), warping, the reliability masks;
- :mod:`~stylelab.video.temporal`: the temporal loss and the frame-by-frame transfer
  (``sl.video.stylise``: this package hands its names on, so the lessons read as before);
- :mod:`~stylelab.video.film`: the optimisation of one image as a film.
"""

from __future__ import annotations

from .._lazy import forward


#: The modules of this folder; any other name is :mod:`stylelab.video.temporal`'s, imported on first use.
__getattr__ = forward(__name__, "temporal", ("clip", "film", "flow", "temporal"))
