"""The checks cells of lessons 09-15 can fail (issue 20): each test executes a lesson's own checks cell,
as stored in the notebook, on numbers shaped like the lesson's, once as a run that shows the finding
(every check passes) and once with a planted mistake (the check that guards against it fails). Fast: no
optimisation runs; the executed lessons themselves are tests/teaching/test_notebooks.py::test_notebook_runs."""

from __future__ import annotations

import copy
import types
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


class FakeLesson:
    def __init__(self, profile="quick"):
        self.checks = []
        self.profile = types.SimpleNamespace(name=profile)

    def check(self, name, passed, detail=""):
        self.checks.append((name, bool(passed), detail))

    def summary(self):
        return None

    def finish(self):
        return self.checks


def checks_cell(stem: str) -> str:
    path = next(NOTEBOOKS.glob(f"{stem}*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "checks" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0].source


def run_checks(stem: str, namespace: dict, profile="quick") -> dict:
    lesson = FakeLesson(profile)
    import stylelab as sl
    ns = {"lesson": lesson, "display": lambda *a, **k: None, "sl": sl, **copy.deepcopy(namespace)}
    exec(compile(checks_cell(stem), f"<{stem} checks>", "exec"), ns)  # noqa: S102 - the notebook's own cell
    return {name: passed for name, passed, _ in lesson.checks}


def failed(result: dict) -> list[str]:
    return [k for k, v in result.items() if not v]


def assert_fails(stem, good, plant, pattern, **kw):
    assert failed(run_checks(stem, good, **kw)) == []
    bad = copy.deepcopy(good)
    plant(bad)
    names = failed(run_checks(stem, bad, **kw))
    assert any(pattern in n for n in names), names


# ----------------------------------------------------------------------------- 09


def _09():
    row = lambda ch_mean, ch_layout, lum: {"chroma: photograph (mean colour)": ch_mean,  # noqa: E731
                                           "chroma: photograph (layout)": ch_layout, "luminance style: painting": lum}
    return {"methods": ["luminance", "histogram-cholesky", "histogram-pca"],
            "rows": {"the photograph": row(0, 0, 0.73), "plain": row(0.121, 0.137, 0.43),
                     "luminance": row(0.0001, 0.0001, 0.47), "histogram-cholesky": row(0.004, 0.108, 0.49),
                     "histogram-pca": row(0.004, 0.110, 0.40)}}


def test_09_checks_fail_when_histogram_matching_is_skipped():
    def skip(ns):  # recolouring never applied: the result has the plain run's colours
        ns["rows"]["histogram-pca"] = dict(ns["rows"]["plain"])
    assert_fails("09", _09(), skip, "histogram-pca")


def test_09_checks_fail_when_the_luminance_result_keeps_its_own_chroma():
    def no_recombine(ns):
        ns["rows"]["luminance"]["chroma: photograph (layout)"] = 0.13
    assert_fails("09", _09(), no_recombine, "luminance only")


# ----------------------------------------------------------------------------- 10


def _10():
    dist = {("sky", "sky"): 0.5, ("sky", "town"): 0.94, ("town", "town"): 0.57, ("town", "sky"): 1.0}
    one = {(k, r, p): v for k, base in (("guided", 0.5), ("unguided", 0.7))
           for r in ("sky", "town") for p, v in (("sky", base if r == "sky" else 1.0),
                                                  ("town", base if r == "town" else 1.0))}
    sketch = {("background", "background"): 0.8, ("background", "foreground"): 1.13,
              ("foreground", "foreground"): 0.74, ("foreground", "background"): 1.11}
    return {"dist": dist, "seam": {"result": 1.1, "photograph": 2.17}, "sketch_dist": sketch, "one_dist": one}


def test_10_checks_fail_for_swapped_regions_a_seam_and_an_unguided_result():
    def swapped(ns):  # the masks handed to the wrong paintings
        d = ns["dist"]
        d["sky", "sky"], d["sky", "town"] = d["sky", "town"], d["sky", "sky"]
    assert_fails("10", _10(), swapped, "inside the sky")

    def seam(ns):  # a hard cut: worse than the photograph's own skyline
        ns["seam"]["result"] = 2.5
    assert_fails("10", _10(), seam, "no seam")

    def unguided(ns):  # the guide ignored: the guided run is the unguided one
        for key in list(ns["one_dist"]):
            if key[0] == "guided":
                ns["one_dist"][key] = ns["one_dist"][("unguided",) + key[1:]]
    assert_fails("10", _10(), unguided, "one painting")


# ----------------------------------------------------------------------------- 11


def _11():
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    d = lambda pairs: {l: {"to A": a, "to B": b} for l, (a, b) in zip(layers, pairs)}  # noqa: E731
    return {"fine_layers": layers[:2], "coarse_layers": layers[2:], "name": lambda l: l.replace("relu", "conv"),
            "dist": {"per-layer mix": d([(0.47, 0.3), (0.55, 0.39), (0.66, 0.55), (0.82, 0.84), (0.59, 1.26)]),
                     "new style image": d([(0.71, 0.09), (0.7, 0.1), (1.1, 0.24), (1.3, 0.7), (1.2, 1.0)]),
                     "coarse to fine": d([(0.7, 0.14), (0.68, 0.24), (1.0, 0.34), (1.0, 0.73), (1.08, 0.94)])},
            "layout": {"new style image": {"with A": 0.9, "with B": 0.42}},
            "coarse_to_a": {"coarse to fine": {"conv3_1": 1.01, "conv4_1": 1.0, "conv5_1": 1.08},
                            "B alone (coarse to fine)": {"conv3_1": 1.06, "conv4_1": 1.15, "conv5_1": 1.18}},
            "runs": {"coarse to fine (+ detail band)": {"loss at the full size": 2153.0, "plain, same time: loss": 2112.0}}}


def test_11_checks_fail_for_a_new_style_image_that_lost_the_arrangement_or_kept_a_texture():
    def lost(ns):  # e.g. started from white noise instead of painting A
        ns["layout"]["new style image"]["with A"] = 0.1
    assert_fails("11", _11(), lost, "arrangement")

    def all_layers(ns):  # the objective matched A's Grams at the fine layers too
        for l in ns["fine_layers"]:
            ns["dist"]["new style image"][l] = {"to A": 0.1, "to B": 0.7}
    assert_fails("11", _11(), all_layers, "new style image: B's fine scale")

    def b_alone(ns):  # the new style image never used: the transfer is B's alone
        ns["coarse_to_a"]["coarse to fine"] = dict(ns["coarse_to_a"]["B alone (coarse to fine)"])
    assert_fails("11", _11(), b_alone, "coarse statistics")

    def stalled(ns):  # e.g. the coarse stages' result thrown away: the last stage far behind plain
        ns["runs"]["coarse to fine (+ detail band)"]["loss at the full size"] = 2 * 2112.0
    assert_fails("11", _11(), stalled, "same loss")
    assert_fails("11", _11(), stalled, "same loss", profile="student")  # checked in every profile


# ----------------------------------------------------------------------------- 12


def _12():
    return {"ts": [0, 0.25, 0.5, 0.75, 1.0], "painting_a": "starry_night", "painting_b": "the_scream",
            "third": "composition_vii", "title": lambda n: n,
            "rows": {**{f"t = {t:g}": {"style: starry_night": a, "style: the_scream": b, "style: composition_vii": c}
                        for t, a, b, c in ((0, 0.31, 1.02, 0.91), (0.25, 0.4, 0.84, 0.81), (0.5, 0.64, 0.64, 0.8),
                                           (0.75, 0.87, 0.58, 0.88), (1.0, 0.98, 0.64, 0.97))},
                     "three-way mix": {"style: starry_night": 0.65, "style: the_scream": 0.66,
                                       "style: composition_vii": 0.6}}}


def test_12_checks_fail_when_the_blend_weights_are_ignored_or_reversed():
    def ignored(ns):  # blend= ignored: every t gives the same mix
        for t in ns["ts"]:
            ns["rows"][f"t = {t:g}"] = dict(ns["rows"]["t = 0.5"])
    assert_fails("12", _12(), ignored, "along the row")

    def reversed_weights(ns):  # b = (t, 1 - t): the row runs the wrong way
        rows = [dict(ns["rows"][f"t = {t:g}"]) for t in ns["ts"]]
        for t, r in zip(ns["ts"], reversed(rows)):
            ns["rows"][f"t = {t:g}"] = r
    assert_fails("12", _12(), reversed_weights, "along the row")


# ----------------------------------------------------------------------------- 13


def _13():
    steps = lambda s: types.SimpleNamespace(steps=s)  # noqa: E731
    row = lambda te, sd: {"temporal error (RMS)": te, "style distance (mean)": sd}  # noqa: E731
    return {"table": {"independent": row(0.22, 0.44), "prev_warped": row(0.044, 0.4), "temporal": row(0.034, 0.46)},
            "results": {"independent": steps([50] * 4), "prev_warped": steps([0, 20, 20, 20]),
                        "temporal": steps([0, 20, 20, 20])},
            "long_table": {"temporal": {"disoccluded error (RMS)": 0.169, "temporal error (RMS)": 0.0523},
                           "longterm": {"disoccluded error (RMS)": 0.121, "temporal error (RMS)": 0.0524}}}


def test_13_checks_fail_without_the_temporal_or_the_long_term_loss():
    def no_temporal(ns):  # the temporal term never added: method 3 is method 2
        ns["table"]["temporal"] = dict(ns["table"]["prev_warped"])
    assert_fails("13", _13(), no_temporal, "temporal loss lowers")

    def no_long_term(ns):  # c_long never used: the long-term run is method 3
        ns["long_table"]["longterm"] = dict(ns["long_table"]["temporal"])
    assert_fails("13", _13(), no_long_term, "long-term loss")


# ----------------------------------------------------------------------------- 14


def _14():
    layers = {"conv1_1": 0.3, "conv2_1": 0.49, "conv3_1": 0.68}
    y = {"white noise (the start)": {"style distance": 1.0, "content distance": 0.99,
                                     **{l: 0.999 for l in layers}}}
    for k, s in (("ImageNet VGG", 0.4), ("random-vgg", 0.94), ("random-filters", 0.84), ("patch-cnn", 0.99),
                 ("autoencoder", 0.97)):
        y[f"texture: {k}"] = {"style distance": s, "content distance": 1.0, **layers}
        y[f"transfer: {k}"] = {"style distance": s + 0.1, "content distance": 0.9}
    return {"yardstick": y, "nets": {k: None for k in ("ImageNet VGG", "random-vgg", "random-filters", "patch-cnn",
                                                       "autoencoder")}}


def test_14_checks_fail_for_a_yardstick_that_is_not_the_imagenet_vgg_or_filters_without_relu():
    def swapped(ns):  # the random VGG measured as the ImageNet one
        y = ns["yardstick"]
        y["texture: ImageNet VGG"], y["texture: random-vgg"] = y["texture: random-vgg"], y["texture: ImageNet VGG"]
        y["transfer: ImageNet VGG"], y["transfer: random-vgg"] = y["transfer: random-vgg"], y["transfer: ImageNet VGG"]
    assert_fails("14", _14(), swapped, "ImageNet VGG")

    def flat_filters(ns):  # a filter bank that makes nothing: its texture stays white noise
        ns["yardstick"]["texture: random-filters"].update({"conv1_1": 0.99, "conv2_1": 0.99, "conv3_1": 0.99,
                                                           "style distance": 0.999})
    assert_fails("14", _14(), flat_filters, "random filters")


# ----------------------------------------------------------------------------- 15


def _15():
    tex = lambda fell: types.SimpleNamespace(losses={"style": fell}, history=[{"style": 1.0}])  # noqa: E731
    stats = ["gram", "mean_std", "mmd_linear", "mmd_gauss"]
    own = {"gram": 0.15, "mean_std": 0.03, "mmd_linear": 0.021, "mmd_gauss": 0.019}
    cross = {f"texture: {n}": {f"{m} loss": (own[n] if m == n else 0.25) for m in stats} for n in stats}
    return {"identity": {"relu2_1": {"relative_difference": 1e-15}},
            "distances": {"white noise (the start)": {"mean": 1.0}, "the photograph": {"mean": 0.81},
                          **{f"texture: {n}": {"mean": 0.33} for n in stats},
                          "transfer: gram": {"mean": 0.31}, "transfer: mean_std": {"mean": 0.35}},
            "textures": {n: tex(own[n]) for n in stats}, "cross": cross,
            "transfers": {"gram": None, "mean_std": None}}


def test_15_checks_fail_for_a_wrong_identity_or_a_texture_that_did_not_move():
    def off_by_four(ns):  # E_l compared with MMD^2 / N^2 instead of / (4 N^2)
        ns["identity"]["relu2_1"]["relative_difference"] = 3.0
    assert_fails("15", _15(), off_by_four, "MMD")

    def stuck(ns):  # a statistic whose loss has no gradient: the texture stays white noise
        ns["textures"]["mmd_gauss"].losses["style"] = 1.0
        ns["distances"]["texture: mmd_gauss"]["mean"] = 0.99
        ns["cross"]["texture: mmd_gauss"]["mmd_gauss loss"] = 1.0
    assert failed(run_checks("15", _15())) == []
    bad = _15()
    stuck(bad)
    names = failed(run_checks("15", bad))
    assert any("fivefold" in n for n in names) and any("white-noise" in n for n in names), names
