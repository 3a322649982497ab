"""Tests of the helpers that lessons 04-07 use: image statistics (stylelab.metrics),
framing a painting on black and cropping it back (stylelab.image), sweep plots and
panels (stylelab.plot), and the grid's layer weights and per-lesson sizes (stylelab.teaching.paper)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from stylelab import image, metrics, paper, plot  # noqa: E402
from stylelab.errors import ImageError, SettingsError  # noqa: E402


def _blobs(cell: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Random blobs of about ``cell`` px: a texture whose scale we know."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, size // cell, size // cell, generator=g)
    return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------- metrics


def test_luminance_weights_and_shapes():
    x = torch.zeros(1, 3, 4, 5)
    x[:, 1] = 1.0
    y = metrics.luminance(x)
    assert y.shape == (4, 5)
    assert torch.allclose(y, torch.full((4, 5), 0.587))
    assert torch.allclose(metrics.luminance(x[0]), y)
    with pytest.raises(ImageError):
        metrics.luminance(torch.zeros(1, 1, 4, 4))


def test_roughness_counts_neighbour_differences():
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert metrics.roughness(flat) == 0.0
    stripes = flat.clone()
    stripes[..., :, ::2] = 0.0  # columns alternate 0 / 0.5: every horizontal step is 0.5
    # horizontal differences 0.5 (8 x 7 per channel), vertical 0 (7 x 8 per channel)
    assert metrics.roughness(stripes) == pytest.approx(math.sqrt(0.25 * 56 / 112))
    assert metrics.roughness(torch.rand(1, 3, 16, 16)) > metrics.roughness(_blobs(8, 16))


def test_dark_and_clipped_fractions():
    x = torch.full((1, 3, 10, 10), 0.5)
    x[..., :3, :] = 0.0  # 30 % black
    assert metrics.dark_fraction(x) == pytest.approx(0.3)
    assert metrics.dark_fraction(x, threshold=0.6) == pytest.approx(1.0)
    x[..., 9, :] = 1.0  # one white row: 10 % more values at the bounds
    assert metrics.clipped_fraction(x) == pytest.approx(0.4)
    assert metrics.clipped_fraction(torch.full((1, 3, 4, 4), 0.5)) == 0.0


def test_pairwise_pixel_distances_order_and_values():
    a, b, c = (torch.full((1, 3, 4, 4), v) for v in (0.0, 0.5, 1.0))
    assert metrics.pairwise_pixel_distances([a, b, c]) == pytest.approx([0.5, 1.0, 0.5])
    assert metrics.pairwise_pixel_distances([a]) == []


def test_layout_distance_ignores_fine_texture_but_not_layout():
    base = _blobs(32, 64)
    checker = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).float() * 0.2 - 0.1
    textured = (base + checker).clamp(0, 1)  # the same layout with a fine texture laid over it
    moved = torch.flip(base, dims=[-1])  # the layout mirrored
    assert metrics.pixel_distance(textured, base) > 0.05
    assert metrics.layout_distance(textured, base) < 0.01
    assert metrics.layout_distance(moved, base) > 5 * metrics.layout_distance(textured, base)
    # images of another size are resized first, as pixel_distance does
    assert metrics.layout_distance(base, F.interpolate(base, size=(32, 32), mode="area")) < 0.02
    with pytest.raises(SettingsError):
        metrics.layout_distance(base, base, cells=0)


def test_steps_to_converge():
    hist = [{"step": i + 1, "total": v} for i, v in enumerate([100.0, 50.0, 12.0, 10.5, 10.2, 10.0])]
    assert metrics.steps_to_converge(hist, tolerance=0.1) == 4  # 10.5 <= 11 from step 4 on
    assert metrics.steps_to_converge(hist, tolerance=0.25) == 3
    assert metrics.steps_to_converge(hist, tolerance=0.0) == 6
    # a value that rises above the bound again counts
    bumpy = hist + [{"step": 7, "total": 20.0}, {"step": 8, "total": 10.0}]
    assert metrics.steps_to_converge(bumpy, tolerance=0.1) == 8

    class R:
        history = hist

    assert metrics.steps_to_converge(R(), tolerance=0.1) == 4
    with pytest.raises(SettingsError):
        metrics.steps_to_converge([])


# ----------------------------------------------------------------------------- image


def test_on_black_keeps_size_and_darkens_the_rest():
    painting = torch.full((1, 3, 40, 60), 0.8)
    framed = image.on_black(painting, area=0.25)
    assert framed.shape == painting.shape
    assert metrics.dark_fraction(framed) == pytest.approx(0.75, abs=0.02)
    assert framed[0, :, 20, 30].tolist() == pytest.approx([0.8] * 3)  # the centre is the painting
    assert framed[0, :, 0, 0].tolist() == [0.0] * 3
    assert image.on_black(painting[0], area=1.0).shape == painting.shape
    for bad in (0, -0.5, 1.5, "half"):
        with pytest.raises(SettingsError):
            image.on_black(painting, area=bad)


def test_crop_dark_border_undoes_on_black():
    g = torch.Generator().manual_seed(0)
    painting = 0.2 + 0.8 * torch.rand(1, 3, 48, 64, generator=g)
    framed = image.on_black(painting, area=0.25)
    cropped = image.crop_dark_border(framed)
    assert cropped.shape[-2:] == (24, 32)
    assert metrics.dark_fraction(cropped) == 0.0
    assert metrics.pixel_distance(cropped, painting) < 0.15  # the painting, at half size
    # nothing to crop: the image comes back unchanged
    assert torch.equal(image.crop_dark_border(painting), painting)
    with pytest.raises(ImageError):
        image.crop_dark_border(torch.zeros(1, 3, 8, 8))


# ----------------------------------------------------------------------------- plot


def test_panels_shapes_and_errors():
    fig, axes = plot.panels(3, nrows=2)
    assert isinstance(fig, Figure) and len(axes) == 6
    plot.compare_curves({"a": [{"step": 1, "total": 2.0}, {"step": 2, "total": 1.0}]}, ax=axes[0])
    assert axes[0].get_lines()
    for bad in (0, 1.5, True):
        with pytest.raises(SettingsError):
            plot.panels(bad)
    with pytest.raises(SettingsError):
        plot.panels(2, width=0)


def test_sweep_lines_log_axes_and_gaps():
    fig = plot.sweep([10, 100, 1000], {"content loss": [3.0, 2.0, 1.0], "style loss": [1.0, 0.0, float("nan")]},
                     xlabel="beta", ylabel="final loss")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"content loss", "style loss"}
    assert lines["content loss"].get_color() == "tab:blue"  # the loss_curves colour of the term
    ys = lines["style loss"].get_ydata()
    assert ys[0] == 1.0 and math.isnan(ys[1]) and math.isnan(ys[2])
    fig2, axes = plot.panels(2)
    assert plot.sweep([1, 2], {"x": [1, 2]}, logx=False, logy=False, ax=axes[1]) is fig2
    assert axes[1].get_xscale() == "linear"


def test_sweep_errors():
    with pytest.raises(SettingsError):
        plot.sweep([], {"a": []})
    with pytest.raises(SettingsError):
        plot.sweep([1, 2], {})
    with pytest.raises(SettingsError):
        plot.sweep([1, 2], {"a": [1.0]})


# ----------------------------------------------------------------------------- paper


def test_grid_style_weights():
    # the default (calibrated) and the paper's convention keep the printed w_l = 1/L
    full = paper.grid_style_weights(paper.STYLE_LAYER_SETS[-1])
    assert full == pytest.approx({l: 0.2 for l in paper.STYLE_LAYER_SETS[-1]})
    from stylelab.method.conventions import CONVENTIONS, DEFAULT_CONVENTION, layer_weights

    channels = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512, "relu5_1": 512}
    assert full == pytest.approx(layer_weights(list(full), CONVENTIONS[DEFAULT_CONVENTION]["style_weights"], channels))
    assert paper.grid_style_weights(["relu1_1", "relu2_1"]) == {"relu1_1": 0.5, "relu2_1": 0.5}
    # the authors' code: the full row is exactly that convention's weights
    code = paper.grid_style_weights(paper.STYLE_LAYER_SETS[-1], "gatys_code")
    assert code == pytest.approx({"relu1_1": 1 / 64**2, "relu2_1": 1 / 128**2, "relu3_1": 1 / 256**2,
                                  "relu4_1": 1 / 512**2, "relu5_1": 1 / 512**2})
    assert code == pytest.approx(layer_weights(list(code), "gatys_code", channels))
    # one layer gets the five layers' share: five times its 1 / N^2
    assert paper.grid_style_weights(["relu1_1"], "gatys_code") == pytest.approx({"relu1_1": 5 / 64**2})
    two = paper.grid_style_weights(paper.STYLE_LAYER_SETS[1], "gatys_code")
    assert two["relu1_1"] / two["relu2_1"] == pytest.approx((128 / 64) ** 2)
    assert paper.grid_style_weights(["relu1_1", "relu2_1"], "paper") == {"relu1_1": 0.5, "relu2_1": 0.5}
    with pytest.raises(SettingsError):
        paper.grid_style_weights([])
    with pytest.raises(SettingsError):
        paper.grid_style_weights(["conv_4"])
    with pytest.raises(SettingsError):
        paper.grid_style_weights(["relu1_1"], "keras")
    # lesson 04's exercise: the student's paper weights, carried into the convention
    equal = paper.grid_style_weights(paper.STYLE_LAYER_SETS[2], paper_weights=lambda ls: {l: 1 / len(ls) for l in ls})
    assert equal == pytest.approx(paper.grid_style_weights(paper.STYLE_LAYER_SETS[2]))
    skewed = paper.grid_style_weights(["relu1_1", "relu2_1"], "gatys_code",
                                      paper_weights=lambda ls: {ls[0]: 0.75, ls[1]: 0.25})
    assert skewed == pytest.approx({"relu1_1": 0.75 * 5 / 64**2, "relu2_1": 0.25 * 5 / 128**2})
    assert paper.grid_style_weights(["relu1_1", "relu2_1"], paper_weights=lambda ls: {ls[0]: 0.75, ls[1]: 0.25}) \
        == {"relu1_1": 0.75, "relu2_1": 0.25}
    with pytest.raises(SettingsError, match="paper_weights"):
        paper.grid_style_weights(["relu1_1", "relu2_1"], paper_weights=lambda ls: {"relu1_1": 1.0})


def test_lesson_profiles_change_only_their_lessons_quick_profile():
    assert paper.lesson_profile("04", "quick").size < paper.profile("quick").size
    assert paper.lesson_profile("07", "quick").size < paper.profile("quick").size
    assert paper.lesson_profile("06", "student") == paper.profile("student")
    assert paper.lesson_profile("01", "quick").tv == 0 < paper.profile("quick").tv  # reconstructions: no TV
    for key in paper.LESSON_PROFILES:
        assert key in paper.FIGURES
        assert paper.lesson_profile(key, "paper") == paper.profile("paper")
    with pytest.raises(SettingsError):
        paper.lesson_profile("04", "fast")


def test_lesson_uses_its_profile(tmp_path):
    from stylelab.teaching.lesson import Lesson

    quick = paper.lesson_profile("04", "quick")
    lesson = Lesson("04", output_dir=tmp_path, weights="vgg16")
    assert (lesson.size, lesson.steps) == (quick.size, quick.steps)
    assert lesson.settings["size"] == quick.size
    assert Lesson("04", size=64, steps=3, output_dir=tmp_path, weights="vgg16").size == 64  # parameters win
