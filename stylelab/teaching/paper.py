"""The paper's figures and settings, and the two run profiles of the lessons.

Everything a notebook, the explorer or ``stylelab reproduce`` needs to know
about Gatys et al.'s figures lives here once: which images, which layers, which
alpha/beta, and a short description of what each figure shows (paraphrased; read
the papers for the original captions):

- Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style", arXiv:1508.06576 (2015).
- Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks",
  CVPR 2016.

Layer names are stylelab's: the paper's ``conv4_2`` is the rectified response
``relu4_2`` (see :mod:`stylelab.networks.vgg`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..networks.vgg import (
    CVPR_RECONSTRUCTION_LAYERS, PAPER_CONTENT_LAYER, PAPER_RECONSTRUCTION_LAYERS, PAPER_STYLE_LAYERS
)


PAPER_2015 = 'Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style", arXiv:1508.06576, 2015'
PAPER_CVPR = 'Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016'
PAPER_2017 = ('Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling Perceptual Factors in Neural Style '
              'Transfer", CVPR 2017')
PAPER_LI_2017 = 'Li, Wang, Liu & Hou, "Demystifying Neural Style Transfer", IJCAI 2017'
PAPER_RUDER_2016 = 'Ruder, Dosovitskiy & Brox, "Artistic Style Transfer for Videos", GCPR 2016'
PAPER_JOHNSON_2016 = ('Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and '
                      'Super-Resolution", ECCV 2016')
PAPER_ULYANOV_2016 = ('Ulyanov, Vedaldi & Lempitsky, "Instance Normalization: The Missing Ingredient for Fast '
                      'Stylization", arXiv:1607.08022, 2016')
PAPER_HUANG_2017 = ('Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance '
                    'Normalization", ICCV 2017')
PAPER_USTYUZHANINOV_2017 = ('Ustyuzhaninov, Brendel, Gatys & Bethge, "What does it take to generate natural '
                            'textures?", ICLR 2017')

#: The growing style layer sets of Fig. 1 (style row) and the rows of Fig. 3.
STYLE_LAYER_SETS = tuple(PAPER_STYLE_LAYERS[: k + 1] for k in range(len(PAPER_STYLE_LAYERS)))


@dataclass(frozen=True)
class Panel:
    """One style of the Neckarfront figure."""

    panel: str  # the paper's panel letter
    style: str  # sample image name (stylelab.data)
    ratio_2015: float  # alpha/beta in the 2015 paper's Fig. 2
    ratio_cvpr: float  # alpha/beta in the CVPR 2016 paper's Fig. 3
    note: str = ""


#: Fig. 2 (2015) / Fig. 3 (CVPR 2016): the Neckarfront in five styles.
#: 2015 ratios as printed: 1e-3 for B, C, D and 1e-4 for E, F. The CVPR ratios, as
#: printed in its Fig. 3 caption: 1e-3 (B), 8e-4 (C), 5e-3 (D), 5e-4 (E, F).
NECKARFRONT = (
    Panel("B", "shipwreck", 1e-3, 1e-3),
    Panel("C", "starry_night", 1e-3, 8e-4),
    Panel("D", "the_scream", 1e-3, 5e-3),
    Panel("E", "woman_with_hat", 1e-4, 5e-4,
          note="the paper used Picasso's Femme nue assise (1910), still under copyright; "
               "Matisse's Woman with a Hat (1905) stands in"),
    Panel("F", "composition_vii", 1e-4, 5e-4),
)

#: Fig. 3 (2015): alpha/beta of the grid's columns.
GRID_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class Figure:
    """A figure of the papers that a notebook reproduces."""

    key: str  # notebook number, "01"
    notebook: str  # file stem
    title: str
    paper: str
    figure: str  # "Fig. 1 (2015)"
    description: str  # what the figure shows, paraphrased
    settings: dict = field(default_factory=dict)


FIGURES = {
    f.key: f
    for f in (
        Figure("00", "00_tour", "The network and its names", PAPER_2015, "Fig. 1 (2015), network",
               "The VGG network seen as a stack of filter banks: at each layer the input is represented by "
               "feature maps whose number grows and whose size shrinks along the hierarchy.",
               {"layers": "conv1_1 ... pool5"}),
        Figure("01", "01_content_reconstruction", "Content reconstructions", PAPER_2015, "Fig. 1 (2015), content row",
               "The photograph reconstructed from white noise by matching only the responses of one layer: "
               "conv1_1 ... conv3_1 reproduce it almost perfectly, conv4_1 and conv5_1 keep the layout "
               "and objects but lose the exact pixels.",
               {"content": "tubingen", "layers": list(PAPER_RECONSTRUCTION_LAYERS),
                "cvpr_layers": list(CVPR_RECONSTRUCTION_LAYERS), "init": "noise"}),
        Figure("02", "02_style_reconstruction", "Style reconstructions (textures)", PAPER_2015, "Fig. 1 (2015), style row",
               "Textures synthesised from white noise by matching the Gram matrices of growing layer sets "
               "{conv1_1}, {conv1_1, conv2_1}, ... up to conv5_1: the matched structures grow in scale "
               "and complexity as layers are added; the global arrangement is lost.",
               {"style": "starry_night", "layer_sets": [list(s) for s in STYLE_LAYER_SETS], "init": "noise"}),
        Figure("03", "03_neckarfront", "The Neckarfront in five styles", PAPER_2015, "Fig. 2 (2015) / Fig. 3 (CVPR)",
               "The content of the Neckarfront photograph (conv4_2) combined with the style (conv1_1 ... "
               "conv5_1, w_l = 1/5) of five paintings, from white noise.",
               {"content": "tubingen", "content_layer": PAPER_CONTENT_LAYER,
                "style_layers": list(PAPER_STYLE_LAYERS),
                "panels": [asdict(p) for p in NECKARFRONT]}),
        Figure("04", "04_ratio_grid", "Content versus style: the alpha/beta x layer grid", PAPER_2015,
               "Fig. 3 (2015)",
               "Composition VII on the Neckarfront. Rows: style matched on growing layer sets; columns: "
               "alpha/beta from 1e-5 to 1e-2. More layers give larger, smoother structures; a larger "
               "alpha/beta keeps more of the photograph.",
               {"content": "tubingen", "style": "composition_vii", "ratios": list(GRID_RATIOS),
                "layer_sets": [list(s) for s in STYLE_LAYER_SETS]}),
        Figure("05", "05_initialisation", "Initialisation", PAPER_CVPR, "Fig. 6 (CVPR)",
               "Starting from the content image, the style image or white noise with different seeds: "
               "the final losses are similar; each result keeps traces of its start.",
               {"ratio": 1e-3, "inits": ["content", "style", "noise x4"]}),
        Figure("06", "06_content_layer", "The content layer", PAPER_CVPR, "Fig. 5 (CVPR)",
               "Content matched at conv2_2 keeps the photograph's detail and lays the painting's texture "
               "over it; matched at conv4_2 the picture is re-painted in the painting's style.",
               {"ratio": 1e-3, "content_layers": ["relu2_2", "relu4_2"]}),
        Figure("07", "07_settings", "The settings that matter", PAPER_CVPR, "section 2 and later work",
               "Pooling, the normalised network, L-BFGS versus Adam, regularisers, style layer choices, a "
               "failure case, and how the loss normalisations of popular implementations rescale alpha/beta.",
               {}),
        Figure("09", "09_colour", "Colour preservation", PAPER_2017, "colour control (2017), Fig. 3",
               "Style transfer that keeps the photograph's colours: a luminance-only transfer (the style's "
               "luminance matched to the photograph's, the photograph's chroma put back) and colour histogram "
               "matching (the painting recoloured to the photograph's RGB mean and covariance, with A from "
               "the Cholesky factors or the eigenvalue square roots; the symmetric Monge-Kantorovich map shown "
               "among the recoloured paintings), next to the plain transfer in the painting's colours.",
               {"content": "tubingen", "style": "composition_vii", "ratio": 1e-4,
                "preserve_colour": ["luminance", "histogram-cholesky", "histogram-pca"]}),
        Figure("10", "10_space", "Spatial control: a style per region", PAPER_2017, "spatial control (2017)",
               "Guided Gram matrices: the photograph's sky is painted in one painting's style and the town in "
               "another's, each region matched only to its own statistics; one painting's sky given to the "
               "sky and its ground to the town, against the unguided transfer; and a line drawing coloured "
               "region by region from a reference image, its lines laid over the result.",
               {"content": "tubingen", "styles": ["starry_night", "the_scream"], "ratio": 1e-3,
                "sketch": "great_wave", "sketch_reference": "tubingen", "sketch_ratio": 1e-4,
                "method": "downsample"}),
        Figure("11", "11_scale", "Scale control: coarse structure from one painting, fine texture from another",
               PAPER_2017, "scale control (2017), Fig. 4",
               "A new style made of the coarse scale of one painting and the fine scale of another: the first "
               "painting re-textured until its fine-layer Gram matrices match the second's (the authors' "
               "way), next to a texture on per-layer mixed Grams; the photograph painted in the new style "
               "(beside the photograph painted in the fine painting alone) coarse to fine, with and without "
               "the photograph's detail band, against a plain run given the same wall time.",
               {"content": "tubingen", "coarse": "great_wave", "fine": "starry_night", "split": "relu3_1",
                "ratio": 1e-3}),
        Figure("12", "12_several_styles", "Several styles: blending Gram matrices", PAPER_CVPR,
               "beyond the papers: blended style targets",
               "Not a figure of the papers: the style targets of two paintings mixed, A^l = (1 - t) A^l_1 + "
               "t A^l_2 (J. Johnson's neural-style calls it style blending), in a row from one painting's style "
               "to the other's in five steps, and a mix of three paintings.",
               {"content": "tubingen", "styles": ["starry_night", "the_scream"], "third": "composition_vii",
                "blend": [0.0, 0.25, 0.5, 0.75, 1.0]}),
        Figure("15", "15_statistics", "What the statistics match: Gram, mean/std and MMD", PAPER_LI_2017,
               "beyond the papers: other style statistics",
               "Not a figure of Gatys et al.: textures of one painting matched with the Gram matrices (Eqs. 3-4), "
               "the channels' means and standard deviations, the linear-kernel MMD (means only) and a "
               "Gaussian-kernel MMD (stylelab.method.statistics); transfers with the Gram and the mean/std loss; and "
               "Li et al.'s identity, the Gram loss E_l = MMD^2 / (4 N_l^2) with the kernel k(x, y) = (x^T y)^2, "
               "as a number.",
               {"style": "starry_night", "content": "tubingen",
                "statistics": ["gram", "mean_std", "mmd_linear", "mmd_gauss"]}),
        Figure("13", "13_video", "Video: style transfer that does not flicker", PAPER_RUDER_2016,
               "Ruder et al. 2016, Sec. 3 and Table 1",
               "A clip made from the Neckarfront (a slow camera pan and zoom with a moving ball, so the true "
               "optical flow is known) stylised frame by frame from white noise, from the previous stylised frame "
               "warped along the optical flow, and with Ruder et al.'s temporal loss as well: the same frames side "
               "by side, their films, and the temporal error against the true flow; then, on a clip with a faster "
               "ball, Ruder et al.'s long-term loss against the short-term one on the pixels the previous frame "
               "did not show.",
               {"content": "tubingen", "style": "starry_night",
                "methods": ["independent", "prev_warped", "temporal", "longterm"]}),
        Figure("14", "14_which_network", "Which network? ImageNet VGG, random weights, trained by stylelab",
               PAPER_USTYUZHANINOV_2017, "beyond the papers: other feature extractors",
               "Not a figure of Gatys et al.: a texture of one painting and a transfer onto the Neckarfront with "
               "five networks (the ImageNet VGG, the same VGG with random weights, one layer of random multi-scale "
               "filters, and a small patch classifier and an autoencoder that stylelab trains in minutes), each "
               "result judged by the ImageNet VGG's style and content distances.",
               {"style": "starry_night", "content": "tubingen",
                "networks": ["imagenet", "random-vgg", "random-filters", "patch-cnn", "autoencoder"],
                "optimizer": "adam"}),
        Figure("16", "16_real_time", "One painting, one network: style transfer in one forward pass",
               PAPER_JOHNSON_2016, "Johnson et al. 2016, Figs. 1 and 6; Ulyanov et al. 2016, Fig. 1",
               "Not a figure of Gatys et al.: an image transformation network trained with the lessons' own "
               "perceptual loss (content and style terms over random crops of photographs, plus total variation) "
               "stylises a photograph it never saw in one forward pass; beside it the optimisation of the same "
               "photograph, their times and their content and style distances; and the same network with batch "
               "normalisation in place of instance normalisation.",
               {"style": "starry_night", "ratio": 1e-3, "held_out": ["tubingen", "chelsea"],
                "norms": ["instance", "batch"]}),
        Figure("17", "17_any_style", "Any painting, one network: adaptive instance normalisation",
               PAPER_HUANG_2017, "Huang & Belongie 2017, Figs. 4, 8 and 9",
               "Not a figure of Gatys et al.: a decoder trained once on photographs and a handful of paintings "
               "stylises a photograph with any painting in one forward pass by giving its relu4_1 responses the "
               "painting's channel means and standard deviations (AdaIN); the content-style trade-off alpha, the "
               "interpolation between two paintings, and a painting the decoder never saw.",
               {"held_out_style": "great_wave", "alpha": [0.0, 0.25, 0.5, 0.75, 1.0],
                "interpolate": ["starry_night", "the_scream"]}),
    )
}


@dataclass(frozen=True)
class Profile:
    """How large and how long the lessons run.

    ``stages`` > 1 optimises coarse-to-fine (:func:`stylelab.method.transfer.run`'s ``scales``):
    at size / 2^(stages-1), ..., size / 2, size. ``steps`` is then the cap per stage, and
    ``tol`` (the stopping rule, :func:`stylelab.method.transfer.optimize`) ends each stage earlier
    once the loss stops falling; ``tol=None`` runs every step.
    """

    name: str
    size: int  # longest side of the generated image, px
    steps: int  # L-BFGS evaluations per optimisation (per stage with stages > 1)
    weights: str | None  # None: STYLELAB_WEIGHTS if set, else vgg19
    pooling: str = "avg"
    normalized: bool = True
    description: str = ""
    stages: int = 1  # coarse-to-fine stages, each twice the size of the one before
    tol: float | None = None  # the stopping rule's tolerance (None: run all steps)
    tv: float = 0.0  # total-variation weight (:data:`TV_WEIGHT`); 0: the paper's objective
    chroma_tv: float = 0.0  # the chroma prior's weight (:data:`CHROMA_TV_WEIGHT`, stylelab.control.chroma_tv); 0: none
    final_steps: int | None = None  # the cap of the last coarse-to-fine stage (None: ``steps``)

    def scales(self, size: int | None = None) -> list[int] | None:
        """The coarse-to-fine sizes for an image of ``size`` px (default: the profile's);
        None for a single stage."""
        return stage_scales(size or self.size, self.stages)

    def stage_steps(self, steps: int | None = None, size: int | None = None) -> int | list[int]:
        """The step cap of each optimisation: ``steps`` (default: the profile's) for one size, or
        one per coarse-to-fine stage with the last stage capped at ``final_steps`` (where the
        profile sets one and ``steps`` was not given): the last stage costs 4x the one before."""
        n = steps or self.steps
        scales = self.scales(size)
        if not scales or self.final_steps is None or steps is not None:
            return n
        return [n] * (len(scales) - 1) + [min(n, self.final_steps)]

    def tv_weight(self, size: int | None = None) -> float:
        """The total-variation weight of this profile's runs (the same at every size, ``size`` is
        accepted for callers that pass it: the measured weight held at 256 and at 384 px)."""
        return float(self.tv)


#: The total-variation weight of the student and quick profiles and of ``stylelab transfer``'s
#: default. Measured (benchmarks/calibration.py, BENCHMARKS.md, "Calibration"): on the Neckarfront
#: with The Starry Night at 256 px it took the speckle measure from 0.46 to 0.15 and left the
#: content and style distances in the paper's bands (1e-4: 0.35; 1e-2 blurs the strokes away); at
#: 384 px it took The Shipwreck's to 0.14. The TV term is a sum over pixels while the calibrated
#: losses are means, so its share of the objective grows with the image's area; scaling the weight
#: down by the area (0.44e-3 at 384 px) left The Starry Night as speckled as no TV, so it is kept.
TV_WEIGHT = 1e-3

#: The weight of the chroma prior (:mod:`stylelab.control.chroma_tv`, total variation of the colour-difference
#: planes only) in the student and quick profiles and ``stylelab transfer``'s default. The TV term
#: above left a fine rainbow grain where a stage stopped unconverged (03's panel C at 384 px: speckle
#: 0.41) and on a photograph the kit never saw (0.44 at 256 px; TV 4e-3: 0.40). Measured (BENCHMARKS.md,
#: "Speckle and the chroma prior"), 0.3 beside TV 1e-3: 03's panels at 384 px speckle 0.00-0.01 with
#: content and style in the paper's bands (B moved into them: 0.45 / 0.34, from 0.75 / 0.53), the
#: coffee cup at 256 px 0.44 -> 0.11 with content and style unchanged; 0.03 was too weak (0.32).
CHROMA_TV_WEIGHT = 0.3


def stage_scales(size: int, stages: int) -> list[int] | None:
    """``stages`` sizes halving from ``size``: (512, 3) -> [128, 256, 512]; None for one stage."""
    if stages <= 1:
        return None
    return [max(1, round(size / 2 ** k)) for k in range(stages - 1, -1, -1)]


PROFILES = {
    "quick": Profile("quick", size=128, steps=80, weights=None, stages=2, tv=TV_WEIGHT, chroma_tv=CHROMA_TV_WEIGHT,
                     description="for tests and a first look: each notebook in about a minute or two on a 2-core "
                                 "CPU; small images, coarse-to-fine from 64 px, few L-BFGS steps, the student "
                                 "profile's small total-variation term and chroma prior"),
    "student": Profile("student", size=256, steps=400, weights=None, stages=3, tol=1e-2, tv=TV_WEIGHT,
                       chroma_tv=CHROMA_TV_WEIGHT,
                       description="for students on a laptop: 256 px (03's figure 384 px), coarse-to-fine, each "
                                   "stage until the loss stops falling (at most 400 steps), a small total-variation "
                                   "term and a chroma prior against colour speckle (the paper has neither; lesson 07 "
                                   "compares)"),
    "paper": Profile("paper", size=512, steps=1000, weights="vgg19",
                     description="the paper's settings: 512 px, VGG-19, average pooling, the normalised network, "
                                 "L-BFGS run to convergence (use a GPU)"),
}


def profile(name: str) -> Profile:
    from ..errors import SettingsError

    if name not in PROFILES:
        raise SettingsError(f"unknown profile {name!r}; choose one of {tuple(PROFILES)}")
    return PROFILES[name]


#: Per-lesson changes to a profile. Lessons that run many optimisations use smaller
#: images (and their own step counts) in the quick profile, so that each notebook stays
#: within about two minutes on a 2-core CPU; the paper profile is never changed.
LESSON_PROFILES = {
    # textures: style-only L-BFGS overshoots now and then, 80 steps can stop short; one size, because a
    # coarse stage copies the painting's layout (at 64 px a conv4_1 unit sees the whole painting: the
    # conv4_2 distance of the {conv1_1..conv4_1} texture to the painting fell from > 0.8 to 0.75)
    # No smoothness prior either: a texture shows what each layer set's Grams keep, and the priors add
    # structure of their own (the student-profile {conv1_1} texture with them came out as large smooth
    # blobs where the Grams of conv1_1 alone ask for the painting's fine colour grain)
    "02": {"quick": {"steps": 160, "stages": 1, "tv": 0.0, "chroma_tv": 0.0},
           "student": {"stages": 1, "tv": 0.0, "chroma_tv": 0.0}},
    # content reconstructions show what a layer keeps: no smoothness prior added to that
    "01": {"quick": {"tv": 0.0, "chroma_tv": 0.0}, "student": {"tv": 0.0, "chroma_tv": 0.0}},
    # the headline figure larger: 96 -> 192 -> 384, the 384 px stage (4x the cost of the one before) at most 150 steps
    "03": {"student": {"size": 384, "stages": 3, "final_steps": 150}},
    "04": {"quick": {"size": 96, "steps": 60, "stages": 1}},  # 20 grid cells and a beta sweep, from the photograph
    # six starts: the lesson is about the start, so every profile runs one size from it
    "05": {"quick": {"steps": 100, "stages": 1}, "student": {"stages": 1}},
    "06": {"quick": {"steps": 120}},  # two runs; content at conv2_2 converges slowly
    # about twenty small experiments on the optimiser and the loss: one size, fixed step counts
    "07": {"quick": {"size": 96, "steps": 60, "stages": 1}, "student": {"stages": 1, "tol": None}},
    "10": {"quick": {"size": 96, "steps": 60}},  # two guided runs, 48 -> 96 px
    # a texture, a new style image, then coarse to fine (64 -> 128 px) against a plain run of the same time
    "11": {"quick": {"steps": 50}},
    # four transfers; one size, from white noise (the plain run's colours must be the painting's)
    "09": {"quick": {"size": 96, "steps": 80, "stages": 1}},
    # six transfers: one size, from the photograph (the notebook's init), few steps
    "12": {"quick": {"size": 96, "steps": 60, "stages": 1}},
    # four textures and two transfers, one size (the Gaussian MMD's sample is per size)
    "15": {"quick": {"size": 96, "steps": 60, "stages": 1}, "student": {"stages": 1}},
    # a clip: steps is the first frame's (and every independent frame's); one size, few frames in quick
    "13": {"quick": {"size": 96, "steps": 50, "stages": 1}, "student": {"size": 192, "steps": 300, "stages": 1,
                                                                       "tol": None}},
    # ten runs with five networks (a 55 px filter bank among them) and two trainings: one small size. No chroma
    # prior: the lesson compares what each network's Grams capture, and a colour-smoothness term of its own
    # outweighs the weak networks' losses (with it, the random filter bank's texture fell behind white noise's
    # at the VGG yardstick: 1.06 against 0.94 for the random VGG)
    "14": {"quick": {"size": 80, "steps": 60, "stages": 1, "chroma_tv": 0.0},
           "student": {"size": 160, "steps": 300, "stages": 1, "tol": None, "chroma_tv": 0.0}},
    # the network's training has profiles of its own (stylelab.realtime.training.PROFILES); these sizes are the
    # held-out photographs' and the optimisation's it is compared with (two, one size in quick)
    "16": {"quick": {"size": 96, "steps": 60, "stages": 1}},
    # no optimisation: the size of the photographs and paintings the decoder stylises
    "17": {"quick": {"size": 96}},
}


def lesson_profile(key: str, name: str) -> Profile:
    """The profile ``name`` with lesson ``key``'s changes (:data:`LESSON_PROFILES`)."""
    from dataclasses import replace

    return replace(profile(name), **LESSON_PROFILES.get(key, {}).get(name, {}))


#: Run time of each lesson notebook in the ``student`` profile, in minutes, as measured with
#: ``stylelab reproduce --profile student`` on a 2-core CPU (a KVM guest of an AMD EPYC or an
#: AVX-512 Intel Xeon, torch 2.13 CPU; BENCHMARKS.md); None: not measured yet. The calibration of
#: 2026-12-05 (the ``calibrated`` convention, the TV term, 03 at 384 px) changed what every lesson
#: runs, so the earlier times (01 7.8, 02 6.2, 03 61.3, 05 13.7, 06 5.0, 09 11.1, 10 3.2, 11 9.5
#: minutes, with the authors' code's weights) no longer apply; lessons are re-timed one by one.
#: Each notebook's introduction and the README's table state these numbers, and
#: tests/teaching/test_notebooks.py checks that they agree.
STUDENT_MINUTES: dict[str, float | None] = {
    "00": 0.15, "01": 6.4, "02": 7.0, "03": 15.8, "04": None, "05": 9.7, "06": 7.6, "07": None,
    "09": 9.8, "10": 12.3, "11": 14.7, "12": None, "13": None, "14": None, "15": None,
    "16": 17.1, "17": 8.8,
}


def student_time(key: str) -> str:
    """The sentence each lesson's introduction carries about its run time in the student profile."""
    minutes = STUDENT_MINUTES.get(key)
    if minutes is None:
        when = ("not measured yet on a 2-core CPU with the calibrated settings of 2026-12-05 (the README's "
                "table lists the lessons that are)")
    else:
        amount = f"{round(minutes * 60)} seconds" if minutes < 1 else f"{minutes:g} minutes"
        when = f"**{amount}** on a 2-core CPU (measured)"
    return f'**Run time** with `profile = "student"`, the profile for a laptop: {when}.'


def presets() -> dict[str, dict]:
    """Named settings of the figures, for the explorer's preset menu.

    Each value holds ``content``/``style`` sample names and keyword arguments of
    :func:`stylelab.method.transfer.run` (``ratio``, ``content_layers``, ``style_layers``, ...).
    """
    out: dict[str, dict] = {}
    for p in NECKARFRONT:
        name = p.style.replace("_", " ").title()
        out[f"Fig. 2{p.panel} {name}, α/β = {p.ratio_2015:g}"] = {
            "content": "tubingen", "style": p.style, "ratio": p.ratio_2015,
            "content_layers": [PAPER_CONTENT_LAYER], "style_layers": list(PAPER_STYLE_LAYERS), "init": "noise",
        }
    for row, layers in enumerate(STYLE_LAYER_SETS, start=1):
        for r in GRID_RATIOS:
            out[f"Fig. 3 row {row}, α/β = {r:g}"] = {
                "content": "tubingen", "style": "composition_vii", "ratio": r,
                "content_layers": [PAPER_CONTENT_LAYER], "style_layers": list(layers), "init": "noise",
            }
    for layer in PAPER_RECONSTRUCTION_LAYERS:
        out[f"Fig. 1 content from {layer}"] = {
            "content": "tubingen", "style": None, "content_layers": [layer], "style_layers": [], "init": "noise",
        }
    for layers in STYLE_LAYER_SETS:
        out[f"Fig. 1 style up to {layers[-1]}"] = {
            "content": None, "style": "starry_night", "content_layers": [], "style_layers": list(layers),
            "init": "noise",
        }
    # Lessons 05 and 06 (CVPR Figs. 6 and 5): the painting is the lesson's if it names one.
    for key, layers_, inits in (("06", FIGURES["06"].settings["content_layers"], ["noise"]),
                                ("05", [PAPER_CONTENT_LAYER], ["content", "style", "noise"])):
        fig = FIGURES[key]
        ratio = fig.settings.get("ratio", 1e-3)
        base = {"content": fig.settings.get("content", "tubingen"), "style": fig.settings.get("style", "starry_night"),
                "ratio": ratio, "style_layers": list(PAPER_STYLE_LAYERS)}
        number = fig.figure.split(" (")[0]  # "Fig. 6"
        for layer in layers_:
            for init in inits:
                what = f"content at {layer}" if key == "06" else f"start from {init}"
                out[f"{number} (CVPR) {what}, α/β = {ratio:g}"] = {**base, "content_layers": [layer], "init": init}
    return out


def paper_name(layer: str) -> str:
    """The name the papers print for one of stylelab's layers: ``relu4_2`` -> ``conv4_2``
    (Caffe's in-place ReLU: the paper's conv4_2 is the rectified response)."""
    return "conv" + layer[4:] if layer.startswith("relu") else layer


def reconstruction_layers(which: str = "2015") -> tuple[str, ...]:
    """The layers of the content reconstructions in Fig. 1: ``"2015"`` conv1_1 ... conv5_1
    (arXiv paper), ``"cvpr"`` conv1_2 ... conv5_2 (CVPR paper)."""
    from ..errors import SettingsError

    options = {"2015": PAPER_RECONSTRUCTION_LAYERS, "cvpr": CVPR_RECONSTRUCTION_LAYERS}
    if str(which).lower() not in options:
        raise SettingsError(f"layers must be '2015' (conv1_1 ... conv5_1) or 'cvpr' (conv1_2 ... conv5_2), got {which!r}")
    return tuple(options[str(which).lower()])


def neckarfront_ratios(which: str = "2015") -> dict[str, float]:
    """alpha/beta per panel letter of the Neckarfront figure: ``"2015"`` (Fig. 2) or ``"cvpr"`` (Fig. 3)."""
    from ..errors import SettingsError

    which = str(which).lower()
    if which not in ("2015", "cvpr"):
        raise SettingsError(f"ratios must be '2015' (arXiv Fig. 2) or 'cvpr' (CVPR Fig. 3), got {which!r}")
    return {p.panel: (p.ratio_2015 if which == "2015" else p.ratio_cvpr) for p in NECKARFRONT}


def format_ratio(ratio: float) -> str:
    """alpha/beta as the figures print it: 0.001 -> ``"1e-3"``, 0.0008 -> ``"8e-4"``."""
    mantissa, exponent = f"{ratio:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def grid_style_weights(layers, convention: str = "calibrated", paper_weights=None) -> dict[str, float]:
    """The style layer weights w_l of one row of the 2015 paper's Fig. 3 (lesson 04).

    The paper weights the layers of a row equally, w_l = 1 / (number of layers L): that is
    what ``convention="paper"`` and the default ``"calibrated"`` return (both keep the printed
    w_l). In the authors' code the five layers' w_l = 1/5 became w_l = 1 / N_l^2
    (``convention="gatys_code"``). There a row keeps both: the code's 1 / N_l^2 per layer
    and the paper's 1 / L share, scaled so that the full row (L = 5) is exactly that
    convention's: w_l = (5 / L) / N_l^2.

    paper_weights(layers) -> {layer: w_l}: the paper's weights to start from instead of 1 / L
    (lesson 04's exercise); ``"gatys_code"`` then gives w_l * 5 / N_l^2.
    """
    from ..errors import SettingsError
    from ..networks.vgg import layers as _layers

    layers = list(layers)
    if not layers:
        raise SettingsError("a row needs at least one style layer")
    channels = {l.name: l.channels for l in _layers("vgg19")}
    unknown = [l for l in layers if l not in channels]
    if unknown:
        raise SettingsError(f"unknown layer(s) {unknown}; use the paper's names, e.g. relu1_1")
    paper = {l: 1.0 / len(layers) for l in layers} if paper_weights is None else dict(paper_weights(layers))
    if set(paper) != set(layers):
        raise SettingsError(f"paper_weights gave weights for {sorted(paper)}, not for the row's layers {layers}")
    if convention in ("paper", "calibrated"):
        return {l: float(paper[l]) for l in layers}
    if convention != "gatys_code":
        raise SettingsError(f"unknown loss convention {convention!r}; choose 'calibrated', 'gatys_code' or 'paper'")
    return {l: float(paper[l]) * len(PAPER_STYLE_LAYERS) / channels[l] ** 2 for l in layers}
