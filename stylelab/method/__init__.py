"""The method: Gatys, Ecker & Bethge's style transfer in code, one module per step.

- :mod:`~stylelab.method.losses`: the equations (Eqs. 1-7), Gram matrices, the normalisations;
- :mod:`~stylelab.method.statistics`: what a style loss matches (Gram, mean/std, MMD);
- :mod:`~stylelab.method.conventions`: what an alpha/beta ratio refers to, the layer weights w_l;
- :mod:`~stylelab.method.targets`: P^l and A^l, computed once;
- :mod:`~stylelab.method.objective`: L_total, one forward pass per evaluation;
- :mod:`~stylelab.method.optimise`: the start, L-BFGS/Adam on the pixels, the stopping rule, the Result;
- :mod:`~stylelab.method.coarse_to_fine`: the 2017 high-resolution procedure;
- :mod:`~stylelab.method.settings`: checks on the engine's settings;
- :mod:`~stylelab.method.transfer`: ``run`` and its three uses ``transfer``, ``texture``, ``reconstruct``.

The engine imports none of its extensions: they reach it through targets (``regions=``, a
guide), extra loss terms (``extra_terms=``) and callbacks (``callback=``).
"""
