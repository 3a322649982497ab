"""The networks: the VGG with the paper's layer names (:mod:`~stylelab.networks.vgg`), its
weight sets, loading and Gatys et al.'s normalisation (:mod:`~stylelab.networks.weights`,
:mod:`~stylelab.networks.torchvision_weights`), the other feature extractors of lesson 14
(:mod:`~stylelab.networks.features`, :mod:`~stylelab.networks.patchnet`), and the arithmetic
the network runs in (:mod:`~stylelab.networks.precision`: fp32, or bf16 where the chip has
units for it). Nothing here knows about losses or optimisation."""
