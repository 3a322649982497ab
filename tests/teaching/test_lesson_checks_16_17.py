"""The checks cells of lessons 16-17 can fail (issue 22): each test executes the lesson's own checks cell,
as stored in the notebook, on numbers shaped like the lesson's: once as a run that shows the finding (every
check passes), once with a planted mistake (the check that guards against it fails). Above all, a network
that returns its input must fail the style check. Fast: nothing is trained; the executed lessons are
tests/teaching/test_notebooks.py::test_notebook_runs."""

from __future__ import annotations

import copy

import torch

from test_lesson_checks_09_15 import FakeLesson, checks_cell


class _Lesson(FakeLesson):
    def __init__(self, profile="quick"):
        super().__init__(profile)
        self.device = torch.device("cpu")


def run_checks(stem: str, namespace: dict, profile="quick") -> dict:
    import stylelab as sl

    lesson = _Lesson(profile)
    ns = {"lesson": lesson, "display": lambda *a, **k: None, "sl": sl, **copy.deepcopy(namespace)}
    exec(compile(checks_cell(stem), f"<{stem} checks>", "exec"), ns)  # noqa: S102 - the notebook's own cell
    return {name: passed for name, passed, _ in lesson.checks}


def failed(result: dict) -> list[str]:
    return [k for k, v in result.items() if not v]


def assert_fails(stem, good, plant, pattern, profile="quick"):
    assert failed(run_checks(stem, good, profile)) == [], failed(run_checks(stem, good, profile))
    bad = copy.deepcopy(good)
    plant(bad)
    names = failed(run_checks(stem, bad, profile))
    assert any(pattern in n for n in names), names


# --------------------------------------------------------------------------------------
# 16: one painting, one network


def _16(ratio=2.5):
    photos = ("chelsea", "tubingen")
    yard = {n: {"photograph": {"style distance": 0.8, "content distance": 0.0, "style loss": 60.0},
                "network (instance norm)": {"style distance": 0.7, "content distance": 0.95, "style loss": 5.0},
                "network (batch norm)": {"style distance": 0.75, "content distance": 0.9, "style loss": 5.5},
                "optimisation": {"style distance": 0.7 / ratio, "content distance": 0.6, "style loss": 0.7}}
            for n in photos}
    results = {n: {"network seconds": 0.05, "optimisation seconds": 120.0} for n in photos}
    reports = {"instance": {"wall_time": 400.0}, "batch": {"wall_time": 300.0}}
    return {"yardstick": yard, "results": results, "ratios": {n: ratio for n in photos}, "big_seconds": 0.2,
            "reports": reports, "nets": {"instance": None, "batch": None}, "compare_norms": True}


def _identity(ns):
    """A network that returns its input: its result is the photograph, by every measure."""
    for n, y in ns["yardstick"].items():
        y["network (instance norm)"] = dict(y["photograph"])
        ns["ratios"][n] = y["photograph"]["style distance"] / y["optimisation"]["style distance"]


def test_16_passes_on_a_run_that_shows_the_finding():
    assert failed(run_checks("16", _16())) == []
    assert failed(run_checks("16", _16(), profile="student")) == []


def test_16_a_network_that_returns_its_input_fails_the_style_check():
    assert_fails("16", _16(), _identity, "lower style loss")
    assert_fails("16", _16(), _identity, "lower style loss", profile="student")

    def half_trained(ns):  # one photograph barely touched
        ns["yardstick"]["tubingen"]["network (instance norm)"]["style loss"] = 58.0
    assert_fails("16", _16(), half_trained, "lower style loss", profile="student")


def test_16_style_far_behind_the_optimisation_fails():
    def behind(ns):
        ns["ratios"]["tubingen"] = 3.5
    assert_fails("16", _16(), behind, "within", profile="student")


def test_16_content_lost_fails():
    def lost(ns):
        ns["yardstick"]["chelsea"]["network (instance norm)"]["content distance"] = 1.3
    assert_fails("16", _16(), lost, "keeps the photograph")

    def unrelated(ns):  # within 2x the optimisation's, but farther than an unrelated image
        ns["yardstick"]["chelsea"]["network (instance norm)"]["content distance"] = 1.05
    assert_fails("16", _16(), unrelated, "keeps the photograph", profile="student")


def test_16_slow_network_fails():
    def slow(ns):
        ns["results"]["chelsea"]["network seconds"] = 2.0
    assert_fails("16", _16(), slow, "faster than the optimisation", profile="student")
    big = lambda ns: ns.update(big_seconds=0.9)  # noqa: E731
    assert_fails("16", _16(), big, "512 x 384", profile="student")
    long = lambda ns: ns["reports"]["batch"].update(wall_time=10 * 60)  # noqa: E731 - 6.7 + 10 min together
    assert_fails("16", _16(), long, "15 minutes", profile="student")


# --------------------------------------------------------------------------------------
# 17: any painting, one network


def _17():
    paintings, unseen = ["starry_night", "the_scream", "composition_vii"], "great_wave"
    rows = [{"photograph": p, "painting": s, "seen in training": s != unseen, "style kept": 0.5 if s != unseen else 0.6}
            for p in ("tubingen", "chelsea") for s in paintings + [unseen]]
    return {"statistic": {"photograph's relu4_1 responses": 2.0, "t = AdaIN (the decoder's input)": 1e-9},
            "rows": rows, "alpha_curve": {0.0: {"style distance": 0.8, "content distance": 0.3},
                                          1.0: {"style distance": 0.5, "content distance": 0.7}},
            "mix_curve": {0.0: {"to starry_night": 0.4, "to the_scream": 0.7},
                          1.0: {"to starry_night": 0.7, "to the_scream": 0.4}},
            "interpolate": ["starry_night", "the_scream"], "alphas": [0.0, 1.0], "seconds": 0.1,
            "report": {"wall_time": 600.0}, "generalisation": {"trained paintings": 0.5, "unseen painting": 0.6, "unseen / trained": 1.2},
            "unseen": unseen}


def test_17_passes_on_a_run_that_shows_the_finding():
    assert failed(run_checks("17", _17())) == []
    assert failed(run_checks("17", _17(), profile="student")) == []


def test_17_a_decoder_that_returns_the_photograph_fails():
    def identity(ns):
        for r in ns["rows"]:
            r["style kept"] = 1.0
    assert_fails("17", _17(), identity, "closer to the painting's style than the photograph")
    assert_fails("17", _17(), identity, "closer to the painting's style than the photograph", profile="student")

    def unseen_only(ns):  # the student profile asks it of every painting, the unseen one included
        for r in ns["rows"]:
            if not r["seen in training"]:
                r["style kept"] = 1.0
    assert_fails("17", _17(), unseen_only, "closer to the painting's style than the photograph", profile="student")


def test_17_broken_adain_fails():
    assert_fails("17", _17(), lambda ns: ns["statistic"].update({"t = AdaIN (the decoder's input)": 0.5}),
                 "means and standard deviations")


def test_17_alpha_and_mix_the_wrong_way_fail():
    def alpha(ns):
        ns["alpha_curve"][0.0], ns["alpha_curve"][1.0] = ns["alpha_curve"][1.0], ns["alpha_curve"][0.0]
    assert_fails("17", _17(), alpha, "alpha trades")

    def mix(ns):
        ns["mix_curve"][0.0], ns["mix_curve"][1.0] = ns["mix_curve"][1.0], ns["mix_curve"][0.0]
    assert_fails("17", _17(), mix, "interpolation")


def test_17_a_decoder_that_does_not_generalise_fails():
    def narrow(ns):
        ns["generalisation"].update({"unseen painting": 0.9, "unseen / trained": 1.8})
    assert_fails("17", _17(), narrow, "never saw", profile="student")


def test_17_slow_or_long_fails():
    assert_fails("17", _17(), lambda ns: ns.update(seconds=0.8), "half a second", profile="student")
    assert_fails("17", _17(), lambda ns: ns["report"].update(wall_time=16 * 60), "15 minutes", profile="student")

