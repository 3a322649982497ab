"""Real-time style transfer (lessons 16-17): networks that stylise in one forward pass, trained
with the lessons' own losses.

- :mod:`~stylelab.realtime.photos`: the photographs they are trained and judged on (shipped in
  scikit-image's and scikit-learn's wheels: ``pip install "stylelab[realtime]"``) and random
  training crops;
- :mod:`~stylelab.realtime.transformer`: Johnson, Alahi & Fei-Fei's image transformation network
  (ECCV 2016), instance or batch normalisation (Ulyanov et al. 2016), and ``stylise``;
- :mod:`~stylelab.realtime.perceptual`: its training loss, Gatys et al.'s content and style terms
  over a batch of photographs, plus total variation;
- :mod:`~stylelab.realtime.adain`: adaptive instance normalisation and its decoder (Huang &
  Belongie, ICCV 2017): any painting in one forward pass;
- :mod:`~stylelab.realtime.training`: training both, seeded, with profiles and a cache;
- :mod:`~stylelab.realtime.saved`: trained networks on disk, loaded with ``weights_only=True``;
- :mod:`~stylelab.realtime.speed`: the median time of one stylisation, as the lessons report it.

The folder builds on :mod:`stylelab.method` and :mod:`stylelab.networks` and on nothing beside
them; the command line (``stylelab train``, ``stylelab stylise``, ``stylelab video --network``),
the explorer's AdaIN mode and the lessons sit on top of it.
"""

from __future__ import annotations
