"""The explorer's films of a run (issue 11; a part of :class:`stylelab.explorer.app.Explorer`).

Tick **record a film** and the next Run records the image x as it forms under the
optimisation of Eq. 7 (L_total = alpha L_content + beta L_style, Gatys, Ecker & Bethge
2015/2016), with the step and the loss terms drawn on each frame and the loss curves
beside it: a :class:`stylelab.video.film.Film` rides along with the explorer's own callback
(``Film(frames, callback=live_view)``, as ``stylelab transfer --film`` chains its
snapshots). A run without the box ticked gets the explorer's callback alone: no frame is
copied, nothing is slower.

Memory is bounded twice: the recorder keeps at most **frames** frames however many steps
run (:class:`~stylelab.video.film.Film` halves its rate when full), and once the run ends the
film is encoded and only the file's bytes are kept with the run (:class:`RunFilm`), the
frames dropped. The format is chosen as :mod:`stylelab.video.film` chooses it: MP4 where the
optional ``imageio-ffmpeg`` is installed (``pip install "stylelab[film]"``), else an
animated GIF; WebP and GIF can always be chosen.

The film plays inline under the curves (an HTML5 video for MP4, an image for GIF and
WebP), with a **download** link and **Save film** (``output_dir/run-NNN.mp4``); the
history card's **Save** writes it too, beside the PNG. :meth:`ExplorerFilm.save_film`
does the same from Python. A film that cannot be made is one red line; the run is kept.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
import html
import logging
import os
from pathlib import Path
import tempfile
from typing import Any, Callable, Mapping

import ipywidgets as widgets

from ..video import film as _film
from .common import _GREEN, _GREY, Run


W = widgets
log = logging.getLogger(__name__)
#: How wide the film is shown (px on screen; the film itself is at least 256 px plus its curves).
FILM_WIDTH = 420
MIME = {"mp4": "video/mp4", "gif": "image/gif", "webp": "image/webp"}


def formats() -> list[str]:
    """The film formats this machine can write, the default first (MP4 needs imageio-ffmpeg)."""
    return (["mp4"] if _film.has_mp4() else []) + ["gif", "webp"]


@dataclass(frozen=True)
class RunFilm:
    """A run's film, encoded: the file's bytes, its format, how many frames of how many
    steps it shows (``stride``: one frame every that many steps, the first and last kept)."""

    data: bytes
    format: str  # "mp4" | "gif" | "webp"
    frames: int
    steps: int
    stride: int

    @property
    def suffix(self) -> str:
        return "." + self.format

    def describe(self) -> str:
        every = f", one every {self.stride} steps" if self.stride > 1 else ""
        size = f"{len(self.data) / 1e3:.0f} kB"
        return f"{self.frames} frames of {self.steps} steps{every} · {self.format.upper()} · {size}"


def encode(recorder: _film.Film, result, fmt: str) -> RunFilm:
    """Render a recorder's frames (with ``result``'s alpha, beta and loss history) into a film
    file of format ``fmt`` (:meth:`stylelab.video.film.Film.save`) and return its bytes."""
    with tempfile.TemporaryDirectory(prefix="stylelab-film-") as folder:
        path = recorder.save(Path(folder) / f"film.{fmt}", result, fallback=False)
        data = path.read_bytes()
    return RunFilm(data, fmt, len(recorder), int(result.steps_done), recorder.stride)


class ExplorerFilm:
    """The film option and the film view. Uses the explorer's ``output_dir``, ``status``,
    ``_shown_run``, ``_run``, ``_message``, ``_report`` and ``_error``."""

    def _build_film(self) -> tuple[widgets.Widget, widgets.Widget]:
        """(the option row, shown under Run/Stop; the film view, shown under the curves)."""
        options = formats()
        self.film = W.Checkbox(value=False, description="record a film", indent=False,
                               layout=W.Layout(width="120px"),
                               tooltip="the next Run records the image as it forms, with the step and the loss "
                                       "terms on each frame (stylelab.video.film)")
        self.film_frames = W.BoundedIntText(value=_film.DEFAULT_FRAMES, min=2, max=1000, description="frames",
                                            style={"description_width": "46px"}, layout=W.Layout(width="120px"),
                                            disabled=True,
                                            tooltip="the most frames kept, whatever the steps (memory stays bounded)")
        self.film_format = W.Dropdown(options=[(f.upper(), f) for f in options], value=options[0], description="as",
                                      style={"description_width": "20px"}, layout=W.Layout(width="100px"),
                                      disabled=True)
        note = "" if _film.has_mp4() else "MP4 needs pip install \"stylelab[film]\""
        self.film_note = W.HTML(f"<span style='color:{_GREY};font-size:11px'>{html.escape(note)}</span>")
        self.film.observe(self._on_film, "value")
        self.film_view = W.VBox([], layout=W.Layout(display="none"))
        self.film_view.add_class("stylelab-film")
        row = W.HBox([self.film, self.film_frames, self.film_format, self.film_note],
                     layout=W.Layout(align_items="center"))
        return row, self.film_view

    def _on_film(self, change=None) -> None:
        self.film_frames.disabled = self.film_format.disabled = not self.film.value

    def _film_settings(self) -> dict:
        """This module's part of :meth:`~stylelab.explorer.app.Explorer.settings` (None: no film)."""
        if not self.film.value:
            return {"film": None}
        return {"film": {"frames": int(self.film_frames.value), "format": self.film_format.value}}

    def _film_recorder(self, s: Mapping[str, Any], callback: Callable) -> Callable:
        """The run's callback: ``callback`` itself, or a Film recording and calling it.
        The view no longer shows the film of the run before (the preview shows this run)."""
        self._show_film(None)
        if not s.get("film"):
            return callback
        return _film.Film(int(s["film"]["frames"]), callback=callback)

    def _film_finish(self, run: Run, recorder: Callable) -> None:
        """Encode the run's film (if it recorded one) and show it; an error is a message."""
        if not isinstance(recorder, _film.Film) or not len(recorder):
            return
        fmt = run.settings["film"]["format"]
        self.status.value = f"making the film: {len(recorder)} frames as {fmt.upper()}…"
        try:
            run.film = encode(recorder, run.result, fmt)
        except Exception as exc:  # noqa: BLE001  (the run is kept without its film)
            log.debug("explorer: the film failed", exc_info=exc)
            self._error(f"run #{run.number} is kept, but its film could not be made: {type(exc).__name__}: {exc}")
            return
        if self._shown_run is run:
            self._show_film(run)

    def _show_film(self, run: Run | None) -> None:
        """Show ``run``'s film under the curves (or hide the view when it has none)."""
        f = getattr(run, "film", None)
        if f is None:
            self.film_view.children = []
            self.film_view.layout.display = "none"
            return
        layout = W.Layout(width=f"{FILM_WIDTH}px")
        if f.format == "mp4":
            media = W.Video(value=f.data, format="mp4", autoplay=True, loop=True, controls=True, layout=layout)
        else:
            media = W.Image(value=f.data, format=f.format, layout=layout)
        media.add_class("stylelab-film-media")
        name = f"run-{run.number:03d}{f.suffix}"
        link = (f"<a download='{name}' href='data:{MIME[f.format]};base64,{base64.b64encode(f.data).decode()}'"
                f" class='stylelab-film-download' style='color:#1565c0;text-decoration:underline'>download {name}</a>")
        save = W.Button(description="Save film", layout=W.Layout(width="90px"),
                        tooltip=f"write {name} to {self.output_dir}")
        save.on_click(lambda _b, n=run.number: self.save_film(n))
        caption = W.HTML(f"<span style='font-size:12px'><b>film of run #{run.number}</b>: "
                         f"{html.escape(f.describe())} · {link}</span>")
        self.film_view.children = [W.HBox([caption, save], layout=W.Layout(align_items="center")), media]
        self.film_view.layout.display = None

    def save_film(self, run_index: int | Run = -1, path: str | os.PathLike | None = None) -> Path | None:
        """Write a run's film (``output_dir/run-NNN.mp4``, or ``path`` with the film's suffix).
        Returns the path, or None (and a message) when the run has no film or it cannot be written."""
        try:
            written = self._write_film(self._run(run_index), path)
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return None
        if written is None:
            self._error("this run has no film: tick 'record a film' and press Run")
            return None
        self._message(f"saved the film to {written}", _GREEN)
        return written

    def _write_film(self, run: Run, path: str | os.PathLike | None = None) -> Path | None:
        """Write ``run``'s film atomically; None when it has none."""
        f = getattr(run, "film", None)
        if f is None:
            return None
        target = Path(path) if path is not None else self.output_dir / f"run-{run.number:03d}{f.suffix}"
        target = target.with_suffix(f.suffix)
        _film._atomic(target, lambda tmp: tmp.write_bytes(f.data))
        return target
