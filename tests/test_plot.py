"""Tests of stylelab.plot: grids, loss curves, GIFs, atomic saves (headless, fast)."""

from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from PIL import Image  # noqa: E402

from stylelab import plot  # noqa: E402
from stylelab.errors import ImageError, SettingsError  # noqa: E402


def _tensor(h=24, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g)


def _history(n=20, with_time=True):
    records = []
    for i in range(n):
        rec = {
            "step": i,
            "total": 100.0 * math.exp(-0.2 * i) + 1.0,
            "content": 10.0 * math.exp(-0.1 * i) + 0.5,
            "style": 90.0 * math.exp(-0.3 * i) + 0.5,
            "tv": 0.0,
            "l2": 0.0,
            "content_layers": {"relu4_2": 5.0 / (i + 1)},
            "style_layers": {name: (k + 1) * 3.0 / (i + 1) for k, name in
                             enumerate(["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])},
        }
        if with_time:
            rec["time"] = 0.05 * i
        records.append(rec)
    return records


def _data_lines(ax):
    return [ln for ln in ax.get_lines() if isinstance(ln, Line2D)]


# ----------------------------------------------------------------------------- _as_array


def test_as_array_accepts_all_image_types():
    t = _tensor(8, 10)
    a4 = plot._as_array(t)
    a3 = plot._as_array(t[0])
    assert a4.shape == (8, 10, 3) and a4.dtype == np.float32
    np.testing.assert_allclose(a4, a3)
    np.testing.assert_allclose(a4, t[0].permute(1, 2, 0).numpy())

    u8 = (np.arange(8 * 10 * 3) % 256).astype(np.uint8).reshape(8, 10, 3)
    from_u8 = plot._as_array(u8)
    assert from_u8.max() <= 1.0 and from_u8.dtype == np.float32
    np.testing.assert_allclose(plot._as_array(Image.fromarray(u8)), from_u8)

    grey = plot._as_array(Image.fromarray(u8[:, :, 0], mode="L"))
    assert grey.shape == (8, 10, 3)

    # out-of-range and NaN values are made displayable
    wild = np.full((4, 4, 3), 2.0, dtype=np.float32)
    wild[0, 0, 0] = np.nan
    out = plot._as_array(wild)
    assert out.max() == 1.0 and out[0, 0, 0] == 0.0


@pytest.mark.parametrize("bad", [torch.rand(2, 3, 4, 4), torch.rand(5, 4, 4), np.zeros((4, 4, 7)), "img.png"])
def test_as_array_rejects_non_images(bad):
    with pytest.raises(ImageError):
        plot._as_array(bad)


# ----------------------------------------------------------------------------- image_grid


def test_grid_row_and_column_titles():
    images = [[_tensor(seed=r * 3 + c) for c in range(3)] for r in range(2)]
    fig = plot.image_grid(images, row_titles=["conv1_1", "conv2_1"], col_titles=["A", "B", "C"],
                          suptitle="Style reconstructions")
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert len(axes) == 6
    grid = np.array(axes).reshape(2, 3)
    assert grid[0, 0].get_ylabel() == "conv1_1"
    assert grid[1, 0].get_ylabel() == "conv2_1"
    assert [ax.get_ylabel() for ax in grid[:, 1:].ravel()] == [""] * 4
    assert [ax.get_title() for ax in grid[0]] == ["A", "B", "C"]
    assert [ax.get_title() for ax in grid[1]] == ["", "", ""]
    for ax in axes:
        assert len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0
        assert len(ax.get_images()) == 1
    assert fig._suptitle.get_text() == "Style reconstructions"
    fig.canvas.draw()  # lays out and renders without error


def test_grid_mixed_inputs_and_aspect_ratios():
    u8 = np.random.default_rng(0).integers(0, 256, size=(20, 40, 3), dtype=np.uint8)
    images = [_tensor(24, 24), _tensor(16, 32)[0], Image.fromarray(u8), u8.astype(np.float32) / 255.0]
    fig = plot.image_grid(images, ncols=2, titles=["tensor", "chw", "pil", "array"])
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes] == ["tensor", "chw", "pil", "array"]
    shapes = [ax.get_images()[0].get_array().shape for ax in fig.axes]
    assert shapes == [(24, 24, 3), (16, 32, 3), (20, 40, 3), (20, 40, 3)]
    fig.canvas.draw()


def test_grid_flat_list_defaults_to_one_row():
    fig = plot.image_grid([_tensor(seed=i) for i in range(4)])
    assert len(fig.axes) == 4
    positions = {round(ax.get_position().y0, 3) for ax in fig.axes}
    assert len(positions) == 1


def test_grid_none_panels_are_blank_but_keep_labels():
    images = [[None, _tensor()], [_tensor(), None, _tensor()]]  # ragged rows are padded
    titles = [[None, "b"], ["c", None, None]]
    fig = plot.image_grid(images, row_titles=["first", "second"], col_titles=["x", "y", "z"], titles=titles)
    grid = np.array(fig.axes).reshape(2, 3)
    assert [len(ax.get_images()) for ax in grid.ravel()] == [0, 1, 0, 1, 0, 1]
    assert grid[0, 0].get_ylabel() == "first"  # a blank first cell still carries its row title
    assert grid[0, 0].get_title() == "x"
    assert grid[0, 1].get_title() == "y\nb"
    assert grid[1, 0].get_title() == "c"
    fig.canvas.draw()


def test_grid_batch_tensor_is_a_flat_list():
    fig = plot.image_grid(torch.rand(6, 3, 8, 8), ncols=3)
    assert len(fig.axes) == 6


def test_grid_validates_titles():
    imgs = [[_tensor(), _tensor()]]
    with pytest.raises(SettingsError):
        plot.image_grid(imgs, row_titles=["a", "b"])
    with pytest.raises(SettingsError):
        plot.image_grid(imgs, col_titles=["a", "b", "c"])
    with pytest.raises(SettingsError):
        plot.image_grid([])
    with pytest.raises(SettingsError):
        plot.image_grid(imgs, panel_size=0)


def test_show_image():
    fig = plot.show_image(_tensor(), title="content")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "content"
    other = Figure()
    ax = other.subplots()
    assert plot.show_image(np.zeros((5, 5, 3)), ax=ax) is other


# ----------------------------------------------------------------------------- curves


def test_loss_curves_plots_nonzero_terms_on_log_scale():
    fig = plot.loss_curves(_history(), terms=("total", "content", "style", "tv", "l2"))
    (ax,) = fig.axes
    lines = _data_lines(ax)
    assert [ln.get_label() for ln in lines] == ["total", "content", "style"]  # tv, l2 are all zero
    assert all(len(ln.get_xdata()) == 20 for ln in lines)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "step"


def test_loss_curves_linear_and_object_with_records():
    class History:
        records = _history()

    fig = plot.loss_curves(History(), terms="style", log=False)
    ax = fig.axes[0]
    assert len(_data_lines(ax)) == 1 and ax.get_yscale() == "linear"


def test_loss_curves_skips_non_positive_values_on_log_axis():
    hist = _history(5)
    hist[2]["total"] = 0.0
    hist[3]["total"] = float("nan")
    fig = plot.loss_curves(hist, terms=("total",))
    ys = _data_lines(fig.axes[0])[0].get_ydata()
    assert np.isnan(ys[2]) and np.isnan(ys[3]) and np.all(ys[[0, 1, 4]] > 0)
    fig.canvas.draw()


def test_loss_curves_per_layer_panel():
    fig = plot.loss_curves(_history(), per_layer=True)
    assert len(fig.axes) == 2
    layer_ax = fig.axes[1]
    lines = _data_lines(layer_ax)
    labels = [ln.get_label() for ln in lines]
    assert len(lines) == 6
    assert labels[:5] == [f"style relu{k}_1" for k in range(1, 6)]
    assert labels[5] == "content relu4_2"
    assert lines[5].get_linestyle() == "--"
    assert all(ln.get_linestyle() == "-" for ln in lines[:5])
    assert layer_ax.get_yscale() == "log"


def test_loss_curves_against_time():
    fig = plot.loss_curves(_history(), x="time")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (s)"
    np.testing.assert_allclose(_data_lines(ax)[0].get_xdata(), 0.05 * np.arange(20))
    with pytest.raises(SettingsError):
        plot.loss_curves(_history(with_time=False), x="time")
    with pytest.raises(SettingsError):
        plot.loss_curves(_history(), x="epoch")


def test_loss_curves_into_given_axes_and_errors():
    fig = Figure()
    ax = fig.subplots()
    assert plot.loss_curves(_history(), ax=ax, title="run 1") is fig
    assert ax.get_title() == "run 1"
    with pytest.raises(SettingsError):
        plot.loss_curves(_history(), per_layer=True, ax=ax)  # needs two axes
    with pytest.raises(SettingsError):
        plot.loss_curves([])
    with pytest.raises(SettingsError):
        plot.loss_curves(_history(), terms=("nonsense",))


def test_compare_curves():
    slow = _history(20)
    fast = _history(10)
    fig = plot.compare_curves({"L-BFGS": fast, "Adam": slow}, x="time", title="optimisers")
    ax = fig.axes[0]
    lines = _data_lines(ax)
    assert [ln.get_label() for ln in lines] == ["L-BFGS", "Adam"]
    assert [len(ln.get_xdata()) for ln in lines] == [10, 20]
    assert ax.get_yscale() == "log" and ax.get_title() == "optimisers"
    fig = plot.compare_curves({"a": slow}, term="style", log=False)
    assert fig.axes[0].get_yscale() == "linear"
    with pytest.raises(SettingsError):
        plot.compare_curves({})
    with pytest.raises(SettingsError):
        plot.compare_curves({"a": slow}, term="nonsense")


# ----------------------------------------------------------------------------- files


def test_save_gif_frame_count(tmp_path):
    frames = [_tensor(16, 24, seed=i) for i in range(4)]
    frames.append(Image.fromarray(np.zeros((16, 24, 3), dtype=np.uint8)))
    frames.append(np.ones((16, 24, 3), dtype=np.float32))
    out = plot.save_gif(frames, tmp_path / "sub" / "run.gif", duration=0.05)
    assert out == tmp_path / "sub" / "run.gif"
    with Image.open(out) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(frames)
        assert gif.size == (24, 16)
        assert gif.info.get("loop") == 0
        assert gif.info.get("duration") == 50
    assert sorted(p.name for p in out.parent.iterdir()) == ["run.gif"]


def test_save_gif_resizes_longest_side(tmp_path):
    frames = [_tensor(20, 40, seed=i) for i in range(3)]
    out = plot.save_gif(frames, tmp_path / "small.gif", size=10)
    with Image.open(out) as gif:
        assert gif.size == (10, 5) and gif.n_frames == 3


def test_save_gif_rejects_bad_input(tmp_path):
    with pytest.raises(SettingsError):
        plot.save_gif([], tmp_path / "empty.gif")
    with pytest.raises(SettingsError):
        plot.save_gif([_tensor()], tmp_path / "x.gif", duration=0)
    assert list(tmp_path.iterdir()) == []


def test_save_figure_is_atomic_png(tmp_path):
    fig = plot.image_grid([[_tensor(), _tensor(seed=1)]], row_titles=["r"], col_titles=["a", "b"])
    out = plot.save_figure(fig, tmp_path / "figs" / "grid.png", dpi=50)
    assert out.exists()
    with Image.open(out) as im:
        assert im.format == "PNG"
    assert sorted(p.name for p in out.parent.iterdir()) == ["grid.png"]
    # overwriting an existing file works and leaves no temporary file either
    plot.save_figure(plot.loss_curves(_history()), out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["grid.png"]


def test_save_figure_gets_the_usual_file_mode(tmp_path):
    """A lesson's figures on a shared server: 0666 less the umask, as any new file, not mkstemp's 0600."""
    old = os.umask(0o022)
    try:
        out = plot.save_figure(plot.loss_curves(_history()), tmp_path / "curves.png", dpi=30)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_save_figure_failure_leaves_no_temp_file(tmp_path):
    fig = Figure()
    fig.subplots().plot([1, 2], [1, 2])

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    fig.savefig = boom
    with pytest.raises(RuntimeError):
        plot.save_figure(fig, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
