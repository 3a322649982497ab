"""The figures of the kit: image grids laid out like the paper's figures, loss
curves, run comparisons, animated GIFs of an optimisation.

Matplotlib only, through its object API: figures are built with
:class:`matplotlib.figure.Figure` (never through ``pyplot``), so nothing here calls
``plt.show``, nothing depends on the active backend (it works headless with Agg),
figures are not kept alive by pyplot's registry when made in a loop, and in
Jupyter a returned figure is displayed exactly once (by the inline backend's
formatter for ``Figure``). Pass ``ax=`` to draw into axes of your own instead.

Images may be float tensors ``(1, 3, H, W)`` or ``(3, H, W)`` RGB in ``[0, 1]`` (the
kit's convention), PIL images, or ``H x W x 3`` numpy arrays (float in ``[0, 1]`` or
``uint8``); grey images (``H x W``, ``(1, H, W)``, ``(1, 1, H, W)``) are accepted too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
import os
from pathlib import Path
from typing import Any

from PIL import Image
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
import numpy as np

from stylelab import config
from stylelab.errors import ImageError, SettingsError


__all__ = [
    "image_grid",
    "loss_curves",
    "compare_curves",
    "save_gif",
    "save_figure",
    "show_image",
    "network_input",
    "feature_maps",
    "with_inset",
    "panels",
    "sweep",
    "per_layer",
]

# Colours of the usual loss terms, so that a term has the same colour in every figure.
_TERM_COLOURS = {
    "total": "black",
    "content": "tab:blue",
    "style": "tab:red",
    "tv": "tab:green",
    "l2": "tab:purple",
}
_X_LABELS = {"step": "step", "time": "time (s)"}


# --------------------------------------------------------------------------- images


def _as_array(img: Any) -> np.ndarray:
    """Any accepted image as a float32 ``H x W x 3`` numpy array in ``[0, 1]``.

    Accepts torch tensors ``(1, 3, H, W)``, ``(3, H, W)`` (also one channel, and
    ``(H, W)``), PIL images (any mode, converted to RGB) and numpy arrays
    ``H x W x 3`` / ``H x W x 4`` (alpha dropped) / ``H x W`` / ``3 x H x W``.
    Integer arrays are read as 8-bit (divided by 255); floats are clipped to
    ``[0, 1]``, NaN shown as black. Raises :class:`~stylelab.errors.ImageError`
    for anything else.
    """
    if isinstance(img, Image.Image):
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        return arr
    if hasattr(img, "detach") and hasattr(img, "cpu"):  # a torch tensor (no torch import needed)
        t = img.detach().cpu()
        if t.is_complex():
            raise ImageError("a complex tensor is not an image")
        shape = tuple(t.shape)
        if t.ndim == 4:
            if shape[0] != 1:
                raise ImageError(
                    f"expected one image of shape (1, 3, H, W), got a batch of shape {shape}; "
                    "pass the images one by one (e.g. list(batch))"
                )
            t = t[0]
        if t.ndim == 3:
            if t.shape[0] not in (1, 3, 4):
                raise ImageError(f"expected a (3, H, W) RGB image tensor, got shape {shape}")
            t = t.permute(1, 2, 0)
        elif t.ndim != 2:
            raise ImageError(f"expected an image tensor (1, 3, H, W) or (3, H, W), got shape {shape}")
        arr = t.float().numpy()
        return _normalise_hwc(arr, integer=not img.is_floating_point(), shape=shape)
    if isinstance(img, np.ndarray):
        arr = img
        shape = arr.shape
        if arr.ndim == 4 and shape[0] == 1:
            arr = arr[0]
        if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4) and arr.shape[0] in (1, 3):
            arr = np.moveaxis(arr, 0, -1)  # channels-first array
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)):
            raise ImageError(f"expected an H x W x 3 image array, got shape {shape}")
        if arr.dtype == bool:
            arr = arr.astype(np.float32)
        elif not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ImageError(f"expected a numeric image array, got dtype {arr.dtype}")
        integer = np.issubdtype(arr.dtype, np.integer)
        return _normalise_hwc(arr.astype(np.float32), integer=integer, shape=shape)
    raise ImageError(
        f"cannot show an object of type {type(img).__name__} as an image: expected a "
        "tensor (1, 3, H, W) / (3, H, W), a PIL image or an H x W x 3 numpy array"
    )


def _normalise_hwc(arr: np.ndarray, *, integer: bool, shape: tuple) -> np.ndarray:
    """``H x W`` / ``H x W x C`` float array -> ``H x W x 3`` float32 in ``[0, 1]``."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[-1] == 4:
        arr = arr[:, :, :3]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"the image is empty (shape {shape})")
    if integer:
        arr = arr / 255.0
    arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0), dtype=np.float32)


def _to_pil(img: Any) -> Image.Image:
    arr = _as_array(img)
    return Image.fromarray(np.round(arr * 255.0).astype(np.uint8), mode="RGB")


def _is_batch(obj: Any) -> bool:
    """A 4-d tensor / array holding more than one image."""
    shape = getattr(obj, "shape", None)
    return shape is not None and len(shape) == 4 and shape[0] > 1 and not isinstance(obj, Image.Image)


def _clean_axes(ax: Axes) -> None:
    """No ticks, no frame, transparent background: the panel is just its image."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_facecolor("none")


def _draw(ax: Axes, arr: np.ndarray) -> None:
    ax.imshow(arr, interpolation="antialiased", vmin=0.0, vmax=1.0)
    _clean_axes(ax)


def _grid_cells(images: Any, ncols: int | None) -> tuple[list[list[Any]], bool]:
    """Images as rows of cells (padded with None), and whether the input was flat."""
    if _is_batch(images):
        images = list(images)
    if not isinstance(images, (list, tuple)):
        images = [images]
    if len(images) == 0:
        raise SettingsError("image_grid needs at least one image (got an empty list)")
    nested = any(isinstance(item, (list, tuple)) for item in images)
    if nested:
        rows = [list(item) if isinstance(item, (list, tuple)) else [item] for item in images]
        flat = False
    else:
        n = len(images)
        if ncols is None:
            ncols = n
        if not isinstance(ncols, int) or ncols < 1:
            raise SettingsError(f"ncols must be a whole number >= 1, got {ncols!r}")
        rows = [list(images[i : i + ncols]) for i in range(0, n, ncols)]
        flat = True
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        raise SettingsError("image_grid needs at least one image (got only empty rows)")
    rows = [r + [None] * (width - len(r)) for r in rows]
    return rows, flat


def _title_cells(titles: Any, shape: tuple[int, int], flat_images: bool, ncols: int | None) -> list[list[Any]]:
    nrows, width = shape
    if not isinstance(titles, (list, tuple)):
        raise SettingsError("titles must be a list with the same shape as images")
    nested = any(isinstance(t, (list, tuple)) for t in titles)
    if nested:
        rows = [list(t) if isinstance(t, (list, tuple)) else [t] for t in titles]
    elif flat_images:
        step = width if ncols is None else ncols
        rows = [list(titles[i : i + step]) for i in range(0, len(titles), step)]
    else:
        raise SettingsError(
            "titles must have the same nested shape as images (a list of rows of titles)"
        )
    if len(rows) > nrows or any(len(r) > width for r in rows):
        raise SettingsError(
            f"there are more titles than panels: the grid has {nrows} row(s) of {width} panel(s)"
        )
    return [r + [None] * (width - len(r)) for r in rows] + [[None] * width] * (nrows - len(rows))


def image_grid(
    images: Any,
    *,
    row_titles: Sequence[str | None] | None = None,
    col_titles: Sequence[str | None] | None = None,
    titles: Sequence[Any] | None = None,
    suptitle: str | None = None,
    panel_size: float = 2.5,
    ncols: int | None = None,
    fontsize: float = 10,
) -> Figure:
    """A grid of images laid out like the figures of Gatys et al. (2016).

    ``images`` is a list of rows (a list of lists) or a flat list, laid out then in
    ``ncols`` columns (default: all in one row); a 4-d batch tensor counts as a flat
    list. ``None`` leaves a cell blank; rows shorter than the widest are padded.

    ``row_titles`` (one per row) are written vertically on the left of each row, as
    the y-label of its first panel; ``col_titles`` (one per column) above the top
    row, as its panels' titles; ``titles`` are per-panel titles, in the same shape as
    ``images`` (``None`` entries allowed). A top-row panel that has both a column
    title and a panel title shows them on two lines.

    Every panel is ``panel_size`` inches high; a column is as wide as its widest
    image at that height, so panels may have different aspect ratios (narrower
    images in a column are centred). No ticks, no frames, little whitespace
    (constrained layout). Returns the :class:`~matplotlib.figure.Figure`.
    """
    if not (isinstance(panel_size, (int, float)) and math.isfinite(panel_size) and panel_size > 0):
        raise SettingsError(f"panel_size must be a positive number of inches, got {panel_size!r}")
    if not (isinstance(fontsize, (int, float)) and math.isfinite(fontsize) and fontsize > 0):
        raise SettingsError(f"fontsize must be a positive number, got {fontsize!r}")
    cells, flat = _grid_cells(images, ncols)
    nrows, width = len(cells), len(cells[0])
    arrays = [[None if img is None else _as_array(img) for img in row] for row in cells]

    if row_titles is not None:
        row_titles = list(row_titles)
        if len(row_titles) != nrows:
            raise SettingsError(f"got {len(row_titles)} row title(s) for a grid of {nrows} row(s)")
    if col_titles is not None:
        col_titles = list(col_titles)
        if len(col_titles) > width:
            raise SettingsError(f"got {len(col_titles)} column title(s) for a grid of {width} column(s)")
        col_titles += [None] * (width - len(col_titles))
    panel_titles = _title_cells(titles, (nrows, width), flat, ncols) if titles is not None else None

    # Column widths in units of panel height: the widest aspect ratio (w / h) in each column.
    col_w = []
    for c in range(width):
        aspects = [a.shape[1] / a.shape[0] for a in (row[c] for row in arrays) if a is not None]
        col_w.append(max(aspects) if aspects else 1.0)

    # Room for the labels, so that constrained layout need not shrink the images much.
    line = fontsize / 72.0 * 1.5  # inches per line of text
    top_lines = _lines(col_titles) if col_titles else 0
    if panel_titles:
        top_lines += _lines(panel_titles[0])
        extra_rows = sum(_lines(r) for r in panel_titles[1:])
    else:
        extra_rows = 0
    fig_w = panel_size * sum(col_w) + (line * _lines(row_titles) + 0.1 if row_titles else 0.0) + 0.1
    fig_h = panel_size * nrows + line * (top_lines + extra_rows) + 0.1
    if suptitle:
        fig_h += line * 1.2 * (str(suptitle).count("\n") + 1)

    fig = Figure(figsize=(fig_w, fig_h), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.01, hspace=0.01)
    axes = fig.subplots(nrows, width, squeeze=False, gridspec_kw={"width_ratios": col_w})
    for r in range(nrows):
        for c in range(width):
            ax = axes[r][c]
            arr = arrays[r][c]
            if arr is None:
                _clean_axes(ax)
            else:
                _draw(ax, arr)
            lines = []
            if r == 0 and col_titles and col_titles[c] is not None:
                lines.append(str(col_titles[c]))
            if panel_titles and panel_titles[r][c] is not None:
                lines.append(str(panel_titles[r][c]))
            if lines:
                ax.set_title("\n".join(lines), fontsize=fontsize, pad=3)
        if row_titles and row_titles[r] is not None:
            axes[r][0].set_ylabel(str(row_titles[r]), fontsize=fontsize, labelpad=3)
    if suptitle:
        fig.suptitle(str(suptitle), fontsize=fontsize * 1.2)
    return fig


def _lines(texts: Sequence[Any] | None) -> int:
    """The number of text lines the tallest of ``texts`` needs (0 if none)."""
    if not texts:
        return 0
    return max((str(t).count("\n") + 1 for t in texts if t is not None), default=0)


def show_image(img: Any, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Show one image without ticks or frame, in ``ax`` or in a new figure.

    Returns the figure (``ax.figure`` when ``ax`` is given).
    """
    arr = _as_array(img)
    if ax is None:
        h, w = arr.shape[:2]
        scale = 4.0 / max(h, w)
        fig = Figure(figsize=(max(w * scale, 1.0), max(h * scale, 1.0) + (0.3 if title else 0.0)), layout="constrained")
        fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02)
        ax = fig.subplots()
    _draw(ax, arr)
    if title is not None:
        ax.set_title(str(title))
    return ax.figure


# --------------------------------------------------------------------------- curves


def _records(history: Any) -> list[Mapping[str, Any]]:
    """The list of record dicts of a history (a list, or an object with ``.records``)."""
    if hasattr(history, "records"):
        records = history.records
    elif not isinstance(history, (list, tuple)) and hasattr(history, "history"):
        return _records(history.history)  # a transfer result holding its history
    else:
        records = history
    if isinstance(records, Mapping) or not isinstance(records, Sequence) or isinstance(records, str):
        raise SettingsError(
            "a history must be a list of records (dicts) or an object with a .records list, "
            f"got {type(history).__name__}"
        )
    records = list(records)
    if not records:
        raise SettingsError("the history is empty: there is nothing to plot")
    for rec in records:
        if not isinstance(rec, Mapping):
            raise SettingsError(f"each history record must be a dict, got {type(rec).__name__}")
    return records


def _x_values(records: list[Mapping[str, Any]], x: str) -> np.ndarray:
    if x not in _X_LABELS:
        raise SettingsError(f"x must be 'step' or 'time', got {x!r}")
    if x == "step":
        return np.array([float(r.get("step", i)) for i, r in enumerate(records)], dtype=float)
    if any("time" not in r or r["time"] is None for r in records):
        raise SettingsError("x='time' needs a 'time' (seconds since start) in every history record")
    return np.array([float(r["time"]) for r in records], dtype=float)


def _values(raw: Sequence[Any], log: bool) -> np.ndarray | None:
    """Values as floats, with missing / non-finite (and, for a log axis, non-positive)
    ones set to NaN (a gap in the line); None if nothing non-zero is left to plot."""
    ys = np.array([np.nan if v is None else float(v) for v in raw], dtype=float)
    ys[~np.isfinite(ys)] = np.nan
    if not np.any(np.isfinite(ys) & (ys != 0)):
        return None
    if log:
        ys[ys <= 0] = np.nan
        if not np.any(np.isfinite(ys)):
            return None
    return ys


def _plot_line(ax: Axes, xs: np.ndarray, ys: np.ndarray, **kwargs: Any) -> None:
    if np.count_nonzero(np.isfinite(ys)) == 1:
        kwargs.setdefault("marker", "o")  # a lone point would be invisible as a line
    ax.plot(xs, ys, **kwargs)


def _finish_axes(ax: Axes, x: str, log: bool, title: str | None, ylabel: str) -> None:
    ax.set_xlabel(_X_LABELS[x])
    ax.set_ylabel(ylabel)
    if x == "step":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(title)
    if ax.get_lines():
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize="small", ncols=2 if len(ax.get_lines()) > 6 else 1)
        ax.grid(True, which="major", alpha=0.3)
    else:
        ax.text(0.5, 0.5, "nothing to plot\n(all values zero or missing)", ha="center",
                va="center", transform=ax.transAxes, color="grey")


def _new_axes(n: int, ax: Any, per_layer_msg: str) -> tuple[Figure, list[Axes]]:
    if ax is None:
        fig = Figure(figsize=(5.5 * n, 4.0), layout="constrained")
        return fig, list(fig.subplots(1, n, squeeze=False)[0])
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        raise SettingsError(per_layer_msg)
    return axes[0].figure, axes


def loss_curves(
    history: Any,
    *,
    terms: Sequence[str] | str = ("total", "content", "style"),
    per_layer: bool = False,
    x: str = "step",
    log: bool = True,
    ax: Axes | Sequence[Axes] | None = None,
    title: str | None = None,
) -> Figure:
    """The loss terms of one run against the step (or wall time, ``x="time"``).

    ``history`` is a list of records (or an object with a ``.records`` list), each a
    dict with ``step``, ``time`` (seconds since start), the weighted terms
    ``total`` / ``content`` / ``style`` / ``tv`` / ``l2`` (Eq. 7 and the
    regularisers) and the unweighted per-layer losses ``content_layers`` and
    ``style_layers`` (dicts layer name -> value, Eq. 1 and Eq. 4).

    Plots those of ``terms`` that occur in the history and are non-zero somewhere,
    on a log y-axis by default (non-positive and non-finite values are left out as
    gaps). With ``per_layer=True`` a second panel shows one line per style layer
    (solid, shallow to deep in viridis colours) and per content layer (dashed).
    ``ax``: an Axes to draw into (two, a pair, with ``per_layer=True``).
    Raises :class:`~stylelab.errors.SettingsError` for an empty history, an unknown
    ``x`` or when none of ``terms`` occurs in the history.
    """
    records = _records(history)
    xs = _x_values(records, x)
    if isinstance(terms, str):
        terms = (terms,)
    present = [t for t in terms if any(t in r for r in records)]
    if not present:
        keys = sorted({k for r in records for k, v in r.items() if isinstance(v, (int, float)) and k not in ("step", "time")})
        raise SettingsError(f"none of the terms {list(terms)} is in the history; it has {keys}")
    fig, axes = _new_axes(
        2 if per_layer else 1, ax,
        "with per_layer=True pass ax as a pair of Axes (or leave it out)" if per_layer
        else "ax must be one matplotlib Axes",
    )

    main = axes[0]
    for i, term in enumerate(present):
        ys = _values([r.get(term) for r in records], log)
        if ys is None:
            continue
        colour = _TERM_COLOURS.get(term, f"C{(i + 5) % 10}")
        _plot_line(main, xs, ys, label=term, color=colour, lw=2.0 if term == "total" else 1.5)
    _finish_axes(main, x, log, title if title is not None else "loss", "loss")

    if per_layer:
        layer_ax = axes[1]
        for key, style, label in (("style_layers", "-", "style"), ("content_layers", "--", "content")):
            names: list[str] = []
            for r in records:
                for name in r.get(key) or {}:
                    if name not in names:
                        names.append(name)
            if key == "style_layers":
                colours = [_viridis(k, len(names)) for k in range(len(names))]
            else:
                colours = ["black", "dimgrey", "darkgrey", "silver"]
            for k, name in enumerate(names):
                ys = _values([(r.get(key) or {}).get(name) for r in records], log)
                if ys is None:
                    continue
                _plot_line(layer_ax, xs, ys, ls=style, color=colours[k % len(colours)],
                           label=f"{label} {name}")
        _finish_axes(layer_ax, x, log, "per-layer losses (unweighted)", "loss")
    return fig


def _viridis(k: int, n: int) -> Any:
    from matplotlib import colormaps

    return colormaps["viridis"](0.9 * k / max(n - 1, 1))


def compare_curves(
    histories: Mapping[str, Any],
    *,
    term: str = "total",
    x: str = "step",
    log: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """One line per labelled run: ``term`` of each history against the step (or wall
    time, ``x="time"``), e.g. ``compare_curves({"L-BFGS": h1, "Adam": h2}, x="time")``.

    Runs without ``term`` (or with no positive value on a log axis) are left out.
    Raises :class:`~stylelab.errors.SettingsError` for no runs, an empty history, an
    unknown ``x`` or a ``term`` that no run has.
    """
    if not isinstance(histories, Mapping) or not histories:
        raise SettingsError("compare_curves needs a dict {label: history} with at least one run")
    if x not in _X_LABELS:
        raise SettingsError(f"x must be 'step' or 'time', got {x!r}")
    runs = {str(label): _records(h) for label, h in histories.items()}
    if not any(term in r for recs in runs.values() for r in recs):
        raise SettingsError(f"no run has the term {term!r} in its history")
    fig, (axis,) = _new_axes(1, ax, "ax must be one matplotlib Axes")
    for label, recs in runs.items():
        ys = _values([r.get(term) for r in recs], log)
        if ys is None:
            continue
        _plot_line(axis, _x_values(recs, x), ys, label=label, lw=1.5)
    _finish_axes(axis, x, log, title if title is not None else f"{term} loss", f"{term} loss")
    return fig


# --------------------------------------------------------------------------- files


def _atomic_write(path: str | os.PathLike, suffix: str, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary sibling of ``path``, then move it in place
    (:func:`stylelab.config.atomic_file`: the usual file mode, nothing left on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with config.atomic_file(path, suffix) as tmp:
        write(tmp)
    return path


def save_gif(
    frames: Sequence[Any],
    path: str | os.PathLike,
    *,
    duration: float = 0.1,
    loop: int = 0,
    size: int | None = None,
) -> Path:
    """Write ``frames`` (tensors / PIL images / arrays) as an animated GIF, atomically.

    ``duration`` is the time each frame is shown, in seconds; ``loop=0`` repeats
    for ever (``n`` plays it ``n`` more times). ``size`` resizes every frame so that
    its longest side is ``size`` pixels; frames of a size other than the first's
    are resized to the first's. Each frame gets its own 256-colour palette.
    As GIF encoders do, Pillow merges a frame identical to the one before it into
    that one (adding up their durations). Returns the path written.
    """
    frames = list(frames)
    if not frames:
        raise SettingsError("save_gif needs at least one frame (got an empty list)")
    if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise SettingsError(f"duration must be a positive number of seconds, got {duration!r}")
    if not isinstance(loop, int) or isinstance(loop, bool) or loop < 0:
        raise SettingsError(f"loop must be a whole number >= 0 (0: for ever), got {loop!r}")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise SettingsError(f"size must be a whole number of pixels >= 1, got {size!r}")

    images = [_to_pil(f) for f in frames]
    w, h = images[0].size
    if size is not None:
        scale = size / max(w, h)
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
    images = [im if im.size == (w, h) else im.resize((w, h), Image.Resampling.LANCZOS) for im in images]
    palettised = [
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
        for im in images
    ]
    ms = max(1, round(duration * 1000))

    def write(tmp: str) -> None:
        palettised[0].save(
            tmp, format="GIF", save_all=True, append_images=palettised[1:],
            duration=ms, loop=loop, disposal=1, optimize=False,
        )

    return _atomic_write(path, ".gif", write)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: float = 100) -> Path:
    """Save a matplotlib figure as a PNG, atomically, creating the parent folders.

    The figure is cropped to its contents (``bbox_inches="tight"``). Returns the path.
    """
    if not isinstance(fig, Figure):
        raise SettingsError(f"save_figure needs a matplotlib Figure, got {type(fig).__name__}")
    if not (isinstance(dpi, (int, float)) and math.isfinite(dpi) and dpi > 0):
        raise SettingsError(f"dpi must be a positive number, got {dpi!r}")
    return _atomic_write(
        path, ".png",
        lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.05),
    )


# --------------------------------------------------------------------------- the network's view


_CHANNEL_FORMULA = {
    "torch": ("(R - 0.485) / 0.229", "(G - 0.456) / 0.224", "(B - 0.406) / 0.225"),
    "caffe": ("255 B - 103.94", "255 G - 116.78", "255 R - 123.68"),
}


def network_input(model: Any, image: Any, panel_size: float = 2.2) -> Figure:
    """What the network receives for ``image`` (RGB ``(1, 3, H, W)`` in [0, 1]).

    Panels: the image as we see it; the three input channels as the network's input
    convention makes them (grey, on the channel's full possible range, with the
    formula above); and the image with its colour channels reversed, which is what a
    network trained on BGR input would "see" if it were given RGB (or vice versa).
    """
    import torch

    dev = next(model.parameters()).device
    with torch.no_grad():
        x = model.preprocess(image.detach().to(dev, torch.float32)).cpu()[0]
        lo = model.preprocess(torch.zeros(1, 3, 1, 1, device=dev)).cpu().flatten()
        hi = model.preprocess(torch.ones(1, 3, 1, 1, device=dev)).cpu().flatten()
    formulas = _CHANNEL_FORMULA.get(model.convention, ("channel 0", "channel 1", "channel 2"))
    arr = _as_array(image)
    h, w = arr.shape[:2]
    pw = panel_size * w / h
    fig = Figure(figsize=(5 * pw + 0.6, panel_size + 0.9), layout="constrained")
    axes = fig.subplots(1, 5)
    _draw(axes[0], arr)
    axes[0].set_title("the image (RGB)", fontsize=9)
    for k in range(3):
        ax = axes[k + 1]
        ax.imshow(x[k].numpy(), cmap="gray", vmin=float(lo[k]), vmax=float(hi[k]), interpolation="antialiased")
        _clean_axes(ax)
        ax.set_title(f"input channel {k}\n{formulas[k]}", fontsize=9)
        ax.set_xlabel(f"{float(x[k].min()):.1f} ... {float(x[k].max()):.1f}", fontsize=8)
    _draw(axes[4], arr[:, :, ::-1])
    axes[4].set_title("channels in the wrong order\n(RGB <-> BGR)", fontsize=9)
    fig.suptitle(f"{getattr(model, 'arch', 'network')}, input convention '{model.convention}'", fontsize=10)
    return fig


def feature_maps(model: Any, image: Any, layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                 n: int = 4, panel_size: float = 1.6) -> Figure:
    """A few feature maps of ``image`` at each of ``layers`` (one row per layer), the
    ``n`` filters with the highest mean response, each scaled to its own maximum and
    shown at its own resolution: the maps get fewer pixels and more numerous with depth."""
    import torch

    if not (isinstance(n, int) and n >= 1):
        raise SettingsError(f"n must be a whole number >= 1, got {n!r}")
    dev = next(model.parameters()).device
    with torch.no_grad():
        feats = model(image.detach().to(dev, torch.float32), list(layers))
    rows, titles = [], []
    for name, f in feats.items():
        f = f[0].float().cpu()
        top = f.mean(dim=(1, 2)).argsort(descending=True)[:n]
        maps = [(f[k] / f[k].max().clamp_min(1e-12)).clamp(0, 1).numpy() for k in top.tolist()]
        rows.append(maps)
        titles.append(f"{name.replace('relu', 'conv')}\n{f.shape[0]} maps\n{f.shape[1]} x {f.shape[2]}")
    return image_grid(rows, row_titles=titles, panel_size=panel_size, fontsize=8)


def with_inset(image: Any, inset: Any, fraction: float = 0.3, border: int = 1) -> "Any":
    """``image`` (a ``(1, 3, H, W)`` tensor) with ``inset`` shrunk into its lower-left
    corner behind a thin white border, as the paintings are shown in Gatys et al.'s Fig. 2."""
    import torch

    if not (0 < fraction <= 1):
        raise SettingsError(f"fraction must be in (0, 1], got {fraction!r}")
    from .image import resize_to

    out = image.detach().float().cpu().clone()
    h, w = out.shape[-2:]
    ins = inset.detach().float().cpu()
    ih, iw = ins.shape[-2:]
    scale = fraction * min(h / ih, w / iw)
    th, tw = max(1, round(ih * scale)), max(1, round(iw * scale))
    small = resize_to(ins, (th, tw)).clamp(0, 1)
    b = int(border)
    out[..., h - th - b:h, 0:tw + b] = 1.0
    out[..., h - th:h, 0:tw] = small
    return out


# --------------------------------------------------------------------------- lessons 04-07


def panels(ncols: int, *, width: float = 4.5, height: float = 3.5, nrows: int = 1) -> tuple[Figure, list[Axes]]:
    """A new figure of ``nrows`` x ``ncols`` empty axes (a flat list, row by row), for
    drawing several curve plots side by side with the ``ax=`` argument of
    :func:`loss_curves`, :func:`compare_curves` and :func:`sweep`."""
    for name, v in (("ncols", ncols), ("nrows", nrows)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise SettingsError(f"{name} must be a whole number >= 1, got {v!r}")
    for name, v in (("width", width), ("height", height)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise SettingsError(f"{name} must be a positive number of inches, got {v!r}")
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [a for row in axes for a in row]


def sweep(
    values: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "parameter",
    ylabel: str = "value",
    logx: bool = True,
    logy: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
    markers: bool = True,
) -> Figure:
    """Results of a parameter sweep: one line per entry of ``series`` (label -> one value
    per entry of ``values``), e.g. the final content and style losses against beta.
    Loss terms named like :func:`loss_curves`' terms get the same colours. Non-finite
    values (and non-positive ones on a log axis) are left out as gaps."""
    xs = np.array([float(v) for v in values], dtype=float)
    if xs.size == 0:
        raise SettingsError("sweep needs at least one parameter value")
    if not isinstance(series, Mapping) or not series:
        raise SettingsError("sweep needs a dict {label: values} with at least one series")
    fig, (axis,) = _new_axes(1, ax, "ax must be one matplotlib Axes")
    for i, (label, ys) in enumerate(series.items()):
        ys = list(ys)
        if len(ys) != xs.size:
            raise SettingsError(f"series {label!r} has {len(ys)} values for {xs.size} parameter values")
        arr = _values(ys, logy)
        if arr is None:
            continue
        colour = _TERM_COLOURS.get(str(label).split()[0], f"C{i % 10}")
        axis.plot(xs, arr, marker="o" if markers else None, label=str(label), color=colour, lw=1.5)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    if logx:
        axis.set_xscale("log")
    if title:
        axis.set_title(title)
    if axis.get_lines():
        if logy:
            axis.set_yscale("log")
        axis.legend(fontsize="small")
        axis.grid(True, which="major", alpha=0.3)
    else:
        axis.text(0.5, 0.5, "nothing to plot", ha="center", va="center", transform=axis.transAxes, color="grey")
    return fig


def per_layer(values: Mapping[str, Mapping[str, float]], *, ylabel: str = "loss", title: str | None = None,
              log: bool = True, ax: Axes | None = None, xlabels: Mapping[str, str] | None = None) -> Figure:
    """One line per row of ``values`` across its columns, e.g. the style loss at every
    layer (columns) of textures made with growing layer sets (rows). ``xlabels`` renames
    the columns on the axis; rows are coloured shallow to deep in viridis."""
    if not values:
        raise SettingsError("per_layer needs at least one row of values")
    if ax is None:
        fig = Figure(figsize=(6.0, 3.6), layout="constrained")
        ax = fig.subplots()
    cols: list[str] = []
    for row in values.values():
        cols += [c for c in row if c not in cols]
    x = list(range(len(cols)))
    n = len(values)
    for k, (label, row) in enumerate(values.items()):
        ys = [row.get(c, float("nan")) for c in cols]
        if log:
            ys = [y if (y is not None and y > 0) else float("nan") for y in ys]
        ax.plot(x, ys, marker="o", label=str(label), color=_viridis(k, n))
    ax.set_xticks(x, [(xlabels or {}).get(c, c) for c in cols])
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax.figure
