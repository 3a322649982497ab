"""Gatys, Ecker, Bethge, Hertzmann & Shechtman, *Controlling Perceptual Factors in Neural
Style Transfer* (CVPR 2017), on top of the method: colour (:mod:`~stylelab.control.colour`),
space (:mod:`~stylelab.control.masks`, with :mod:`~stylelab.control.segment` for masks and line
drawings), scale (:mod:`~stylelab.control.scale`); the chroma prior against rainbow speckle
(:mod:`~stylelab.control.chroma_tv`, not in the papers); and :mod:`~stylelab.control.transfer`,
the ``stylelab.transfer`` / ``stylelab.run`` that take the controls as keywords."""
