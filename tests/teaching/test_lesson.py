"""The helpers the lesson notebooks call: tables, metrics, figures, paper look-ups
(fast: tiny random networks, no real weights)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import stylelab as sl  # noqa: E402
from stylelab import lesson, metrics, paper, plot  # noqa: E402
from stylelab.errors import SettingsError  # noqa: E402


# --------------------------------------------------------------------------------------
# Tables


def test_table_text_and_html_are_deterministic():
    rows = [{"layer": "conv1_1", "value": 0.123456, "ok": True}, {"layer": "<b>", "value": None}]
    t = lesson.Table(rows, headers={"value": "distance"}, title="t")
    text = t.text()
    assert text.splitlines()[0] == "t"
    assert "distance" in text and "0.1235" in text and "yes" in text
    html = t._repr_html_()
    assert "<td>&lt;b&gt;</td>" in html
    assert "<caption>t</caption>" in html and "<th>distance</th>" in html
    assert html == lesson.Table(rows, headers={"value": "distance"}, title="t")._repr_html_()
    assert repr(t) == text and len(t) == 2


def test_table_escapes_html():
    html = lesson.Table([{"x": "<script>"}])._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_table_from_nested_dict():
    t = lesson.Table.from_dict({"a": 1, "b": {"c": 2.5, "d": [1, 2]}})
    assert [r["setting"] for r in t.rows] == ["a", "b.c", "b.d"]
    assert "1, 2" in t.text()


def test_network_table_is_the_papers_vgg19():
    t = lesson.network_table("vgg19", 512)
    assert len(t) == 37  # 16 conv + 16 relu + 5 pool
    row = {r["paper"]: r for r in t.rows}
    assert row["relu4_2"]["size"] == "64 x 64" and row["relu4_2"]["channels"] == 512
    assert row["conv4_2"]["pytorch_tutorial"] == "conv_10" and row["conv4_2"]["torchvision_index"] == 21
    assert row["conv1_1"]["receptive_field"] == 3
    assert "receptive field (px)" in t.text()


def test_input_convention_table_values():
    t = lesson.input_convention_table()
    rows = {r["colour"]: r for r in t.rows}
    assert rows["black"]["caffe input (B, G, R)"] == "-103.94, -116.78, -123.68"
    assert rows["ImageNet mean"]["torch input (R, G, B)"] == "0.00, 0.00, 0.00"
    assert rows["pure red"]["caffe input (B, G, R)"].endswith("131.32")  # red lands in the last (R) channel


def test_lesson_summary_and_settings(tmp_path):
    les = lesson.Lesson("01", output_dir=tmp_path, weights="vgg16", device="cpu", layers="cvpr")
    s = les.summary()
    keys = [r["setting"] for r in s.rows]
    assert "run time (s)" in keys and "layers" in keys and "profile" in keys
    assert (tmp_path / "01_content_reconstruction").is_dir()


# --------------------------------------------------------------------------------------
# Metrics


def test_style_losses_equal_the_engines_per_layer_losses(make_vgg, tiny_image):
    model = make_vgg()
    style = tiny_image(32, seed=1)
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    for convention in ("gatys_code", "paper"):
        r = sl.texture(style, style_layers=layers, model=model, steps=3, progress=False, convention=convention)
        e = metrics.style_losses(model, r.image, style, layers + ["relu4_1"], convention=convention)
        assert set(e) == set(layers + ["relu4_1"])
        for l in layers:
            assert e[l] == pytest.approx(r.losses["style_layers"][l], rel=1e-4)
    assert metrics.style_losses(model, style, style, layers)["relu1_1"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(SettingsError):
        metrics.style_losses(model, style, style, layers, convention="nope")


def test_style_losses_see_unmatched_layers(make_vgg, tiny_image):
    """A different image has a positive loss at every layer; the reference itself, zero."""
    model = make_vgg()
    a, b = tiny_image(32, seed=1), tiny_image(32, seed=2)
    e = metrics.style_losses(model, a, b)
    assert len(e) == 5 and all(v > 0 for v in e.values())


def test_feature_shapes_match_the_predicted(make_vgg, tiny_image):
    model = make_vgg()
    img = tiny_image(37, 70)  # not multiples of 32: the poolings floor
    computed = metrics.feature_shapes(model, img)
    predicted = metrics.predicted_shapes("vgg16", (37, 70))
    assert set(computed) == set(predicted)
    # the tiny net is narrower than the real one: compare sizes; channels by the widths
    for l in predicted:
        assert computed[l][1:] == predicted[l][1:], l
    assert computed["pool5"][1:] == (1, 2)


def test_predicted_shapes_real_widths():
    p = metrics.predicted_shapes("vgg19", (384, 512), ["relu4_2", "conv5_4"])
    assert p == {"relu4_2": (512, 48, 64), "conv5_4": (512, 24, 32)}


def test_mean_activations_are_one_after_normalisation(make_vgg, tiny_image):
    from stylelab.networks.weights import apply_normalisation, normalisation_scales

    model = make_vgg()
    images = [tiny_image(32, seed=s) for s in range(3)]
    before = metrics.mean_activations(model, images)
    apply_normalisation(model, normalisation_scales(model, images))
    after = metrics.mean_activations(model, images)
    assert all(v == pytest.approx(1.0, rel=1e-3) for v in after.values())
    assert set(before) == set(after) == set(sl.PAPER_STYLE_LAYERS)


# --------------------------------------------------------------------------------------
# Figures


def test_network_input_and_feature_maps_figures(make_vgg, tiny_image):
    img = tiny_image(32, 48)
    for convention in ("torch", "caffe"):
        fig = plot.network_input(make_vgg(convention=convention), img)
        assert isinstance(fig, Figure) and len(fig.axes) == 5
        titles = " ".join(ax.get_title() for ax in fig.axes)
        assert ("255 B" in titles) == (convention == "caffe")
    fig = plot.feature_maps(make_vgg(), img, n=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 15
    with pytest.raises(SettingsError):
        plot.feature_maps(make_vgg(), img, n=0)


def test_with_inset_puts_the_painting_in_the_lower_left():
    image = torch.zeros(1, 3, 40, 60)
    inset = torch.ones(1, 3, 20, 20)
    out = plot.with_inset(image, inset, fraction=0.5)
    assert out.shape == image.shape and image.abs().sum() == 0  # the input is not modified
    assert out[0, :, -1, 0].tolist() == [1.0, 1.0, 1.0]  # lower left
    assert out[0, :, 0, -1].tolist() == [0.0, 0.0, 0.0]  # upper right untouched
    with pytest.raises(SettingsError):
        plot.with_inset(image, inset, fraction=0)


def test_per_layer_plot():
    values = {"a": {"relu1_1": 1.0, "relu2_1": 0.1}, "b": {"relu1_1": 0.5, "relu2_1": 0.0}}
    fig = plot.per_layer(values, xlabels={"relu1_1": "conv1_1"})
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2 and ax.get_xticklabels()[0].get_text() == "conv1_1"
    with pytest.raises(SettingsError):
        plot.per_layer({})


# --------------------------------------------------------------------------------------
# The paper's look-ups


def test_paper_helpers():
    assert paper.paper_name("relu4_2") == "conv4_2" and paper.paper_name("pool3") == "pool3"
    assert paper.reconstruction_layers("2015")[0] == "relu1_1"
    assert paper.reconstruction_layers("CVPR")[-1] == "relu5_2"
    with pytest.raises(SettingsError):
        paper.reconstruction_layers("2016")
    r15, rcv = paper.neckarfront_ratios("2015"), paper.neckarfront_ratios("cvpr")
    assert r15 == {"B": 1e-3, "C": 1e-3, "D": 1e-3, "E": 1e-4, "F": 1e-4}
    assert (rcv["C"], rcv["D"], rcv["E"]) == (8e-4, 5e-3, 5e-4)
    with pytest.raises(SettingsError):
        paper.neckarfront_ratios("x")
    assert [paper.format_ratio(r) for r in (1e-3, 8e-4, 5e-3, 1e-4)] == ["1e-3", "8e-4", "5e-3", "1e-4"]


def test_stage_scales_halve_up_to_the_size():
    assert paper.stage_scales(512, 3) == [128, 256, 512]
    assert paper.stage_scales(128, 2) == [64, 128]
    assert paper.stage_scales(256, 1) is None
    assert paper.PROFILES["paper"].scales() is None  # the paper: one size, every step
    assert paper.PROFILES["paper"].tol is None


def test_lesson_schedule_follows_the_profile(tmp_path):
    quick = lesson.Lesson("03", profile="quick", output_dir=tmp_path)
    tv = paper.TV_WEIGHT
    schedule = dict(quick.schedule)
    prior = schedule.pop("extra_terms")["chroma_tv"]  # the chroma prior (stylelab.control.chroma_tv)
    assert schedule == {"steps": 80, "scales": [64, 128], "tol": None, "tv_weight": tv}
    assert prior.weight == paper.CHROMA_TV_WEIGHT == paper.PROFILES["quick"].chroma_tv
    assert quick.describe_schedule() == f"64 → 128 px, 80 steps each, TV {tv:.1e}, chroma TV {paper.CHROMA_TV_WEIGHT:g}"
    assert quick.settings["chroma_tv_weight"] == paper.CHROMA_TV_WEIGHT
    student = lesson.Lesson("03", profile="student", output_dir=tmp_path)
    assert student.size == 384 and student.schedule["scales"] == [96, 192, 384]
    assert student.schedule["tv_weight"] == paper.TV_WEIGHT == paper.PROFILES["student"].tv
    assert student.schedule["steps"] == [400, 400, 150]  # 03's last stage is capped lower
    assert "≤ 400, 400, 150 steps each" in student.describe_schedule()
    assert lesson.Lesson("03", profile="student", steps=50, output_dir=tmp_path).schedule["steps"] == 50
    assert lesson.Lesson("05", profile="student", output_dir=tmp_path).schedule["steps"] == 400
    assert lesson.Lesson("03", profile="paper", output_dir=tmp_path).schedule["tv_weight"] == 0  # the paper's
    assert lesson.Lesson("01", profile="student", output_dir=tmp_path).schedule["tv_weight"] == 0
    assert "extra_terms" not in lesson.Lesson("01", profile="student", output_dir=tmp_path).schedule  # no prior
    for key in ("01", "02"):  # reconstructions show what a layer keeps: the paper's objective in every profile
        for name in ("quick", "student"):
            assert lesson.Lesson(key, profile=name, output_dir=tmp_path).priors == {"tv_weight": 0.0}, (key, name)
    assert "extra_terms" not in lesson.Lesson("03", profile="paper", output_dir=tmp_path).schedule  # the paper's
    assert student.schedule["tol"] == paper.PROFILES["student"].tol
    priors = student.priors  # the schedule's objective without its steps and sizes (lesson 11's runs)
    assert set(priors) == {"tv_weight", "extra_terms"} and priors["tv_weight"] == paper.TV_WEIGHT
    assert priors["extra_terms"]["chroma_tv"].weight == paper.CHROMA_TV_WEIGHT
    assert lesson.Lesson("03", profile="paper", output_dir=tmp_path).priors == {"tv_weight": 0.0}
    assert "or until converged" in student.describe_schedule()
    mine = lesson.Lesson("03", profile="student", size=384, output_dir=tmp_path)
    assert mine.scales == [96, 192, 384]
    assert mine.settings["scales"] == [96, 192, 384]
    # lessons that run one size in every profile
    for key in ("02", "05"):
        for name in ("quick", "student"):
            assert lesson.Lesson(key, profile=name, output_dir=tmp_path).scales is None
    assert lesson.Lesson("07", profile="student", output_dir=tmp_path).schedule["tol"] is None
    with pytest.raises(SettingsError, match="unknown profile"):
        lesson.Lesson("03", profile="laptop", output_dir=tmp_path)


def test_convergence_records_how_each_run_ended(tmp_path, make_vgg, tiny_image):
    les = lesson.Lesson("03", profile="quick", output_dir=tmp_path)
    model = make_vgg()
    img = tiny_image(32, seed=1)
    runs = {"flat": sl.reconstruct(img, model=model, init=img, steps=30, tol=1e-3, patience=3, progress=False),
            "capped": sl.reconstruct(img, model=model, steps=4, progress=False)}
    table = les.convergence(runs)
    assert les.metrics["convergence"]["flat"]["status"] == "converged after 4 steps"
    assert les.metrics["convergence"]["capped"]["status"] == "not converged after 4 steps"
    assert "converged after 4 steps" in table.text() and len(table) == 2
