"""The explorer's view of runs (a part of :class:`stylelab.explorer.app.Explorer`).

:class:`ExplorerHistory` draws a run into the large view (image, progress, loss
curves with the coarse-to-fine stage boundaries), keeps the history row of cards,
saves a run as PNG + JSON and compares two runs side by side.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import ipywidgets as widgets

from .. import plot
from ..errors import SettingsError, StylelabError
from .common import (
    _GREEN, _GREY, _RED, PREVIEW_WIDTH, THUMB_WIDTH, Run, _figure_png, _fmt, _guarded, _pretty, _thaw, n_stages,
    png_bytes, scales_text
)


#: Settings the comparison never lists (the profile and preset names, the redraw rate, the
#: film, which changes no image; ``stages`` is shown as ``scales``, the sizes).
_NOT_COMPARED = ("preset", "every", "profile", "stages", "film")
#: How the comparison shows a few settings (the others: :func:`~stylelab.explorer.common._fmt`).
_COMPARE_FORMAT = {
    "scales": lambda v: scales_text(v),
    "tol": lambda v: "off" if v is None else f"{v:.2g}",
}


def stage_starts(records: list[dict]) -> list[tuple[int, dict]]:
    """(index, record) of the first record of each coarse-to-fine stage; [] for a
    single-stage run (its records carry no ``stage``)."""
    if not records or "stage" not in records[0]:
        return []
    return [(i, r) for i, r in enumerate(records) if i == 0 or r["stage"] != records[i - 1]["stage"]]


class ExplorerHistory:
    """The large view, the history cards, Save and the comparison. Uses the explorer's
    ``runs``, ``output_dir``, ``history_size``, widgets and message methods."""

    # ------------------------------------------------------------------ the large view

    def _draw_curves(self, records: list[dict]) -> None:
        if not records:
            return
        from matplotlib.figure import Figure

        per_layer = bool(self.per_layer.value)
        # A fixed layout: constrained layout would cost a third of the drawing time, every k steps.
        fig = Figure(figsize=(5.4, 5.6 if per_layer else 3.0))
        axes = fig.subplots(2 if per_layer else 1, 1, squeeze=False)[:, 0]
        plot.loss_curves(records, terms=("total", "content", "style", "tv", "l2"), per_layer=per_layer,
                         ax=list(axes) if per_layer else axes[0])
        # Coarse-to-fine: a faint line where each stage starts, with its size (the loss jumps there:
        # the new stage's targets are computed at its own size).
        for i, r in stage_starts(records):
            for ax in axes:
                if i:
                    ax.axvline(r["step"] - 0.5, color="0.7", lw=0.8, ls="--", zorder=0)
            size = r.get("size")
            if size:
                axes[0].text(r["step"], 0.98, f" {max(size)} px", transform=axes[0].get_xaxis_transform(),
                             fontsize=8, color="0.45", va="top", ha="left")
        if per_layer:
            fig.subplots_adjust(left=0.14, right=0.97, top=0.95, bottom=0.08, hspace=0.35)
        else:
            fig.subplots_adjust(left=0.14, right=0.97, top=0.9, bottom=0.16)
        self.curves.value = _figure_png(fig)
        self.curves.layout.display = None

    def _show(self, run: Run) -> None:
        """Show a run's image, progress and curves in the preview."""
        self._shown_run = run
        s, r = run.settings, run.result
        self.progress.max = max(1, s["steps"] * n_stages(s))
        if run.status == "finished":  # every stage ran to its cap or converged
            self.progress.value = self.progress.max
        elif r.stages:
            last = r.stages[-1]
            self.progress.value = last["stage"] * s["steps"] + last["steps_done"]
        else:
            self.progress.value = r.steps_done
        self._draw_curves(r.history)
        self.preview.value = png_bytes(r.image, PREVIEW_WIDTH // 2)
        self._show_film(run)  # stylelab.explorer.film; hidden if the run has no film

    def show(self, run_index: int | Run = -1) -> None:
        """Show a run of the history in the preview (what a card's Show button does)."""
        if self._busy:
            self._info("a run is in progress: its image is the one shown")
            return
        try:
            run = self._run(run_index)
            self._show(run)
            self.progress.bar_style = {"finished": "success", "stopped": "warning"}.get(run.status, "danger")
            self.status.value = f"#{run.number} {run.status}"
            self._info(f"showing run #{run.number}: {run.result.status}")
        except Exception as exc:  # noqa: BLE001
            self._report(exc)

    @_guarded
    def _on_per_layer(self, change) -> None:
        records = self._live_records
        if records is None and self._shown_run is not None:
            records = self._shown_run.result.history
        if records:
            self._draw_curves(list(records))

    # ------------------------------------------------------------------ history cards

    def _caption(self, run: Run) -> str:
        s, r = run.settings, run.result
        layers = r.settings.get("style_layers", s["style_layers"] if s["style"] else ())  # the network's own, if mapped
        stages = n_stages(s)
        steps = (f"{r.steps_done}/{s['steps']} steps" if stages == 1
                 else f"{stages} stages, ≤ {s['steps']} steps each")
        rows = [
            f"<b>#{run.number}</b> {html.escape(_pretty(s['content']))} × {html.escape(_pretty(s['style']))}",
            (f"α/β {s['ratio']:.3g}" if s["content"] and s["style"] else "")
            + (f" · content {s['content_layer']}" if s["content"] and s["content_layer"] else ""),
            f"style {len(layers)} layer{'s' if len(layers) != 1 else ''}"
            + (f" (to {layers[-1]})" if layers else "") + f" · {s['size']} px",
            f"{'L-BFGS' if s['optimizer'] == 'lbfgs' else 'Adam'} · {s['init']} · {s['pooling']} pool",
            f"network {html.escape(s['features'])}" if s.get("features") else "",  # stylelab.explorer.features
            html.escape(scales_text(s["scales"])) if stages > 1 else "",
            html.escape(self._control_caption(s)),  # keep colours, regions, fine style
            f"{steps} · {r.wall_time:.1f} s" + (f" · tol {s['tol']:.2g}" if s.get("tol") is not None else ""),
            f"<span style='color:{_GREEN if r.converged else _GREY}'>{html.escape(r.status)}</span>",
            f"loss {run.final_loss:.4g}" if run.final_loss is not None else "",
        ]
        if run.status != "finished":
            rows.append(f"<span style='color:{_RED}'>{run.status}</span>")
        return "<div style='font-size:11px;line-height:1.3'>" + "<br>".join(x for x in rows if x) + "</div>"

    def _add_card(self, run: Run) -> None:
        W = widgets
        thumb = W.Image(value=png_bytes(run.result.image, THUMB_WIDTH // 2), format="png",
                        layout=W.Layout(width=f"{THUMB_WIDTH}px"))
        save = W.Button(description="Save", layout=W.Layout(width="66px"),
                        tooltip=f"write run-{run.number:03d}.png and .json to {self.output_dir}")
        show = W.Button(description="Show", layout=W.Layout(width="66px"),
                        tooltip="show this run's image and curves above")
        save.on_click(lambda _b, n=run.number: self.save(n))
        show.on_click(lambda _b, r=run: self.show(r))
        card = W.VBox([thumb, W.HTML(self._caption(run)), W.HBox([save, show])],
                      layout=W.Layout(width=f"{THUMB_WIDTH + 12}px", margin="0 6px 0 0", padding="4px",
                                      border="1px solid #ddd", flex="0 0 auto"))
        card.add_class("stylelab-history-card")
        self._cards[run.number] = card
        newest = sorted(self._cards, reverse=True)[: self.history_size]
        self.history_box.children = [self._cards[n] for n in newest]
        # The comparison menus: the newest run against the one before it.
        options = [(r.label, r.number) for r in reversed(self.runs)]
        self._comparing += 1
        try:
            self.compare_a.options = options
            self.compare_b.options = options
        finally:
            self._comparing -= 1
        if len(self.runs) >= 2:
            self.compare(self.runs[-2].number, self.runs[-1].number)

    def _run(self, number: int | Run) -> Run:
        if isinstance(number, Run):
            return number
        if not self.runs:
            raise SettingsError("no runs yet: press Run first")
        if isinstance(number, bool) or not isinstance(number, int):
            raise SettingsError(f"a run is given by its number (#3 -> 3), got {number!r}")
        if number < 0:
            if -number > len(self.runs):
                raise SettingsError(f"there are only {len(self.runs)} runs")
            return self.runs[number]
        for r in self.runs:
            if r.number == number:
                return r
        raise SettingsError(f"no run #{number}; the runs are " + ", ".join(f"#{r.number}" for r in self.runs))

    def save(self, run_index: int | Run = -1, path: str | os.PathLike | None = None) -> Path | None:
        """Save a run's image as PNG (or JPEG by suffix) with its settings, final losses
        and loss history as JSON beside it, and its film (if it recorded one) with the same
        name and the film's suffix. ``run_index``: the run's number as shown
        (``#3`` -> 3), or negative to count from the newest (-1). ``path`` defaults to
        ``output_dir/run-NNN.png``. Returns the path, or None (and a message) on failure."""
        try:
            run = self._run(run_index)
            target = Path(path) if path is not None else self.output_dir / f"run-{run.number:03d}.png"
            written = run.result.save(target)
            film = self._write_film(run, written)  # stylelab.explorer.film; None: no film
        except Exception as exc:  # noqa: BLE001
            self._report(exc)
            return None
        names = [str(written), written.with_suffix(".json").name] + ([film.name] if film is not None else [])
        self._message(f"saved run #{run.number} to {', '.join(names[:-1])} and {names[-1]}", _GREEN)
        return written

    # ------------------------------------------------------------------ comparison

    def compare(self, a: int | Run, b: int | Run) -> None:
        """Show two runs side by side: their images, the settings that differ, their
        final losses and their total loss curves."""
        try:
            ra, rb = self._run(a), self._run(b)
            self._comparing += 1
            try:
                self.compare_a.value = ra.number
                self.compare_b.value = rb.number
            finally:
                self._comparing -= 1
            self._render_compare(ra, rb)
        except Exception as exc:  # noqa: BLE001
            self._report(exc)

    @_guarded
    def _on_compare(self, change) -> None:
        if self._comparing or self.compare_a.value is None or self.compare_b.value is None:
            return
        self._render_compare(self._run(self.compare_a.value), self._run(self.compare_b.value))

    def _render_compare(self, ra: Run, rb: Run) -> None:
        W = widgets
        keys = [k for k in {**ra.settings, **rb.settings} if k not in _NOT_COMPARED]
        diff = [k for k in keys if _thaw(ra.settings.get(k)) != _thaw(rb.settings.get(k))]

        def cell(run: Run, k: str) -> str:
            value = _thaw(run.settings.get(k))
            return html.escape(_COMPARE_FORMAT.get(k, _fmt)(value))

        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{cell(ra, k)}</td><td>{cell(rb, k)}</td></tr>"
                       for k in diff)
        la, lb = ra.result.losses, rb.result.losses
        for term in ("total", "content", "style"):
            rows += (f"<tr><td><i>final {term} loss</i></td><td>{_fmt(la.get(term))}</td>"
                     f"<td>{_fmt(lb.get(term))}</td></tr>")
        rows += (f"<tr><td><i>convergence</i></td><td>{html.escape(ra.result.status)}</td>"
                 f"<td>{html.escape(rb.result.status)}</td></tr>")
        table = ("<table style='font-size:12px'><tr><th></th>"
                 f"<th>#{ra.number}</th><th>#{rb.number}</th></tr>{rows}</table>")
        if not diff:
            table = "<i>same settings</i><br>" + table
        try:
            fig = plot.compare_curves({f"#{ra.number}": ra.result.history, f"#{rb.number}": rb.result.history})
            fig.set_size_inches(4.6, 3.0)
            curves = [W.Image(value=_figure_png(fig), format="png", layout=W.Layout(width="360px"))]
        except StylelabError:
            curves = []
        images = [W.VBox([W.HTML(f"<b>#{r.number}</b>"),
                          W.Image(value=png_bytes(r.result.image, 128), format="png",
                                  layout=W.Layout(width="240px"))]) for r in (ra, rb)]
        self.compare_view.children = [W.HBox([*images, W.HTML(table, layout=W.Layout(margin="0 12px")),
                                              *curves])]
