"""Run the lesson notebooks and put their figures in one HTML gallery.

    from stylelab.teaching.reproduce import reproduce
    gallery = reproduce(profile="quick", only=["01", "03"], output_dir=Path("reproduce-out"))

Each numbered notebook (``notebooks/NN_*.ipynb`` in a checkout, the package's copy when
installed: :mod:`stylelab.teaching.lessons`) is executed with papermill, its
``parameters`` cell given ``profile`` and ``output_dir``. A lesson writes
``output_dir/<notebook>/figure.png`` and ``metrics.json`` (settings, metrics, the
checks' verdicts, run time: see :class:`stylelab.teaching.lesson.Lesson`); the executed copy
of the notebook goes to ``output_dir/executed/``. When all have run,
``output_dir/index.html`` shows each figure beside the paper's figure description and
settings, with this run's settings, metrics, checks and run time. It embeds the
images, so the one file can be mailed or archived.

A notebook that fails (an error, or a check that did not hold) does not stop the
others; after the gallery is written :class:`ReproduceFailed` is raised, naming the
failed notebooks and the gallery, so ``stylelab reproduce`` exits non-zero.

The notebooks run in a kernel of *this* Python interpreter (a temporary kernelspec
found first on ``JUPYTER_PATH``), whatever ``python3`` kernel Jupyter knows, so they
see the same stylelab and torch as the caller. Papermill runs in a child process, which
keeps the kernels' console chatter out of the progress display and lets a notebook that
runs past ``timeout`` be stopped.
"""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass, field
import datetime as _dt
import html
import json
import os
from pathlib import Path
import sys
import tempfile
import time
from typing import Iterable, Sequence

from . import paper
from .. import config
from ..errors import SettingsError, StylelabError
from .notebooks import (  # noqa: F401 (reproduce.select, as before)
    NOTEBOOK_PATTERN, find_notebooks, notebooks_folder, select
)


#: Numbered lesson notebooks: ``00_tour.ipynb``, ``01_content_reconstruction.ipynb``, ...
KERNEL_NAME = "stylelab-python"


class ReproduceFailed(StylelabError):
    """One or more notebooks failed (an error or a failed check); the gallery was still written."""

    def __init__(self, message: str, gallery: Path, failed: Sequence[str]):
        super().__init__(message)
        self.gallery = gallery
        self.failed = list(failed)


@dataclass
class Run:
    """What happened to one notebook."""

    key: str  # "01"
    stem: str  # "01_content_reconstruction"
    notebook: Path
    status: str = "pending"  # "passed", "failed" (a check did not hold), "error", "ran" (no checks recorded)
    error: str | None = None
    wall_s: float = 0.0  # including kernel start
    executed: Path | None = None
    metrics: dict | None = None
    figures: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "ran")


# --------------------------------------------------------------------------------------
# Executing


@contextlib.contextmanager
def current_kernel():
    """A kernelspec that runs this interpreter, first on ``JUPYTER_PATH`` while in use.

    Yields its name, for papermill's ``kernel_name``.
    """
    with tempfile.TemporaryDirectory(prefix="stylelab-kernel-") as tmp:
        kdir = Path(tmp) / "kernels" / KERNEL_NAME
        kdir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python ({sys.executable})",
            "language": "python",
            "metadata": {"debugger": False},
        }
        (kdir / "kernel.json").write_text(json.dumps(spec))
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = tmp + (os.pathsep + old if old else "")
        try:
            yield KERNEL_NAME
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


class NotebookFailed(StylelabError):
    """A notebook raised an exception (``ename``/``evalue`` of its first error), ran past
    its time limit, or its kernel died. ``executed`` is the executed copy, if written."""

    def __init__(self, message: str, ename: str | None = None, evalue: str | None = None,
                 executed: Path | None = None):
        super().__init__(message)
        self.ename, self.evalue, self.executed = ename, evalue, executed


def first_error(executed: str | os.PathLike) -> tuple[str, str] | None:
    """(ename, evalue) of the first error output in an executed notebook, if any."""
    try:
        nb = json.loads(Path(executed).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                return str(out.get("ename", "")), str(out.get("evalue", ""))
    return None


def execute(notebook: str | os.PathLike, executed: str | os.PathLike, parameters: dict | None = None, *,
            timeout: float | None = None, cwd: str | os.PathLike | None = None,
            cell_timeout: float | None = None) -> Path:
    """Execute one notebook with papermill, in a kernel of this interpreter.

    ``parameters`` go into its ``parameters`` cell. ``timeout``: the longest the whole
    notebook may run, in seconds (None: no limit); ``cell_timeout``: the longest one
    cell may. ``cwd``: the kernel's working folder (default: the notebook's). Papermill
    runs in a child process, so a notebook past its time limit is stopped (its kernel
    exits with it). The executed copy is written to ``executed`` as cells finish, also
    when one fails. Raises :class:`NotebookFailed` (with the error's ``ename`` and
    ``evalue``) if a cell raised, the kernel died or the time ran out.
    """
    import subprocess

    notebook, executed = Path(notebook), Path(executed)
    executed.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        executed.unlink()
    with current_kernel() as kernel:
        cmd = [sys.executable, "-m", "papermill", str(notebook), str(executed),
               "-y", json.dumps(dict(parameters or {})), "-k", kernel, "--cwd", str(cwd or notebook.parent),
               "--no-progress-bar"]
        if cell_timeout is not None:
            cmd += ["--execution-timeout", str(max(1, int(cell_timeout)))]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise NotebookFailed(f"stopped after {timeout:g} s, the time limit per notebook",
                                 "Timeout", f"more than {timeout:g} s", executed) from exc
    if proc.returncode != 0:
        error = first_error(executed)
        if error is not None:
            raise NotebookFailed(f"{error[0]}: {error[1]}", error[0], error[1], executed)
        tail = [line for line in (proc.stderr or "").strip().splitlines() if "WARNING" not in line][-6:]
        raise NotebookFailed("papermill failed: " + " | ".join(tail), "PapermillError", " | ".join(tail), executed)
    return executed


def _error_text(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    if ename:
        return f"{ename}: {getattr(exc, 'evalue', '')}".strip()
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_notebook(notebook: Path, output_dir: Path, profile: str = "quick", timeout: float | None = None,
                 parameters: dict | None = None) -> Run:
    """Execute one lesson notebook into ``output_dir`` and collect what it wrote."""
    key, stem = notebook.name[:2], notebook.stem
    run = Run(key, stem, notebook)
    lesson_dir = output_dir / stem
    if lesson_dir.is_dir():  # never show a previous run's results
        for stale in [lesson_dir / "metrics.json", *lesson_dir.glob("*.png")]:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    run.executed = output_dir / "executed" / notebook.name
    params = {"profile": profile, "output_dir": str(output_dir), **(parameters or {})}
    t0 = time.perf_counter()
    try:
        execute(notebook, run.executed, params, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded; the others go on
        run.error = _error_text(exc)
    run.wall_s = time.perf_counter() - t0
    metrics_file = lesson_dir / "metrics.json"
    if metrics_file.is_file():
        try:
            run.metrics = json.loads(metrics_file.read_text())
        except (OSError, ValueError) as exc:
            run.error = (run.error + "; " if run.error else "") + f"unreadable metrics.json ({exc})"
    if lesson_dir.is_dir():
        run.figures = sorted(lesson_dir.glob("*.png"), key=lambda p: (p.name != "figure.png", p.name))
    if run.metrics is not None and run.metrics.get("checks") and not run.metrics.get("passed", False):
        run.status = "failed"
    elif run.error:
        run.status = "error"
    elif run.metrics is not None:
        run.status = "passed" if run.metrics.get("checks") else "ran"
    else:
        run.status = "ran"
    return run


def reproduce(profile: str = "quick", only: Iterable[str] | str | None = None,
              output_dir: str | os.PathLike = Path("reproduce-out"), timeout: float | None = None,
              progress: bool = True, notebooks_dir: str | os.PathLike | None = None,
              parameters: dict | None = None, jpeg_dir: str | os.PathLike | None = None) -> Path:
    """Execute the lesson notebooks and write the gallery; returns ``output_dir/index.html``.

    profile: ``"quick"`` or ``"paper"`` (:data:`stylelab.teaching.paper.PROFILES`).
    only: notebook numbers or stems (``["01", "03"]`` or ``"01,03"``); None: all.
    timeout: the longest one notebook may run, in seconds (None: no limit); a notebook
    past it is stopped and reported as failed, and the next one runs.
    progress: a progress bar over the notebooks and one line per finished notebook.
    notebooks_dir: where the notebooks are (default: :func:`stylelab.teaching.lessons.folder`).
    parameters: more values for the notebooks' ``parameters`` cells (``size``, ``steps``,
    ``device``, ``weights``, ...).
    jpeg_dir: also write each figure as a compressed JPEG there (:func:`export_jpeg`; the
    README's gallery is made this way into ``docs/gallery``).

    Raises :class:`ReproduceFailed` after writing the gallery if any notebook failed.
    """
    paper.profile(profile)  # an unknown profile fails here, not in every notebook
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise SettingsError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    chosen = select(find_notebooks(notebooks_dir), only)
    output_dir = Path(output_dir).expanduser().resolve()
    output_dir.mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm

    started = _dt.datetime.now()
    runs: list[Run] = []
    bar = tqdm(chosen, desc="reproduce", unit="notebook", disable=not progress, dynamic_ncols=True)
    for i, nb in enumerate(bar, start=1):
        bar.set_description(f"{nb.stem}")
        run = run_notebook(nb, output_dir, profile, timeout, parameters)
        runs.append(run)
        if progress:
            checks = (run.metrics or {}).get("checks") or []
            passed = sum(bool(c.get("passed")) for c in checks)
            line = f"[{i}/{len(chosen)}] {run.stem}: {run.status} in {run.wall_s:.0f} s"
            if checks:
                line += f" ({passed}/{len(checks)} checks passed)"
            if run.error:
                line += f"\n    {run.error.splitlines()[0][:300]}"
            bar.write(line)
    bar.close()
    gallery = write_gallery(runs, output_dir, profile=profile, started=started)
    if jpeg_dir is not None:
        export_jpeg(runs, jpeg_dir)
    failed = [r.stem for r in runs if not r.ok]
    if failed:
        raise ReproduceFailed(f"{len(failed)} of {len(runs)} notebooks failed ({', '.join(failed)}); "
                              f"see {gallery}", gallery, failed)
    return gallery


def export_jpeg(runs: Sequence[Run], folder: str | os.PathLike, width: int = 1400, quality: int = 82) -> list[Path]:
    """Each finished notebook's ``figure.png`` as ``folder/<notebook>.jpg``: at most ``width``
    px wide, JPEG ``quality`` (about 150-300 kB a figure), written atomically."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for run in runs:
        figure = next((f for f in run.figures if f.name == "figure.png"), None)
        if figure is None or not figure.is_file():
            continue
        img = Image.open(figure).convert("RGB")
        if img.width > width:
            img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
        out = folder / f"{run.stem}.jpg"
        with config.atomic_file(out) as tmp:
            img.save(tmp, format="JPEG", quality=quality, optimize=True, progressive=True)
        written.append(out)
    return written


# --------------------------------------------------------------------------------------
# The gallery

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } .sub { color: #555; margin-top: 0; }
section { border-top: 2px solid #ddd; padding-top: 0.8em; margin-top: 1.6em; }
.status { display: inline-block; padding: 0.1em 0.6em; border-radius: 0.8em; color: white; font-size: 0.9em; }
.passed, .ran { background: #2e7d32; } .failed, .error { background: #c62828; } .pending { background: #777; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 1.2em; }
img.figure { max-width: 100%; max-height: 720px; border: 1px solid #ccc; }
img.extra { max-width: 100%; max-height: 420px; border: 1px solid #eee; margin: 0.4em 0; display: block; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.3em 0 0.8em; }
td, th { border: 1px solid #ddd; padding: 0.15em 0.5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } li.pass { color: #2e7d32; } li.fail { color: #c62828; }
pre.error { background: #fff0f0; border: 1px solid #e0b0b0; padding: 0.6em; white-space: pre-wrap; }
.toc td, .toc th { font-size: 1em; } .muted { color: #777; }
"""


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    if v is None:
        return "—"
    if isinstance(v, (list, tuple)) and all(not isinstance(x, (dict, list, tuple)) for x in v):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, (dict, list, tuple)):
        text = json.dumps(v, default=str)
        return text if len(text) <= 400 else text[:400] + " …"
    return str(v)


def _scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _kv_table(d: dict) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in d.items())
    return f"<table>{rows}</table>"


def _render(value) -> str:
    """A metric as compact HTML: a dict of dicts becomes a grid, a flat dict a row."""
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()) \
            and all(_scalar(x) for v in value.values() for x in v.values()):
        cols: list[str] = []
        for v in value.values():
            cols += [k for k in v if k not in cols]
        head = "<tr><th></th>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols) + "</tr>"
        body = "".join(
            f"<tr><th>{html.escape(str(r))}</th>" + "".join(f"<td>{html.escape(_fmt(v.get(c)))}</td>" for c in cols)
            + "</tr>" for r, v in value.items())
        return f"<table>{head}{body}</table>"
    if isinstance(value, dict) and value and all(_scalar(v) or isinstance(v, (list, tuple)) for v in value.values()):
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in value)
        body = "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in value.values())
        return f"<table><tr>{head}</tr><tr>{body}</tr></table>"
    return f"<code>{html.escape(_fmt(value))}</code>"


def _img(path: Path, cls: str) -> str:
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return f"<p class='muted'>(could not read {html.escape(path.name)})</p>"
    return f"<img class='{cls}' alt='{html.escape(path.name)}' src='data:image/png;base64,{data}'>"


def _section(run: Run, output_dir: Path) -> str:
    fig = paper.FIGURES.get(run.key)
    m = run.metrics or {}
    info = m.get("figure") or {}
    title = info.get("title") or (fig.title if fig else run.stem)
    figure = info.get("figure") or (fig.figure if fig else "")
    source = info.get("paper") or (fig.paper if fig else "")
    description = info.get("description") or (fig.description if fig else "")
    parts = [f"<section id='nb{html.escape(run.key)}'>",
             f"<h2>{html.escape(run.key)} · {html.escape(title)} "
             f"<span class='status {html.escape(run.status)}'>{html.escape(run.status)}</span></h2>",
             f"<p class='sub'>{html.escape(figure)} — {html.escape(source)}</p>"]
    if run.figures:
        parts.append(_img(run.figures[0], "figure"))
        for extra in run.figures[1:]:
            parts.append(_img(extra, "extra"))
    else:
        parts.append("<p class='muted'>no figure was written</p>")
    parts.append("<div class='cols'><div>")
    parts.append("<h3>The paper</h3>")
    parts.append(f"<p>{html.escape(description)} <span class='muted'>(paraphrased)</span></p>")
    if fig and fig.settings:
        parts.append(_kv_table(fig.settings))
    parts.append("<h3>This run</h3>")
    settings = dict(m.get("settings") or {})
    run_time = m.get("run_time_s")
    settings["run time"] = f"{run_time} s in the notebook, {run.wall_s:.0f} s with kernel start" \
        if run_time is not None else f"{run.wall_s:.0f} s"
    setup = m.get("setup") or {}
    if setup:
        settings["torch"] = setup.get("torch")
        if setup.get("cuda"):
            settings["gpu"] = setup.get("cuda")
    parts.append(_kv_table(settings))
    parts.append("</div><div>")
    checks = m.get("checks") or []
    parts.append("<h3>Checks</h3>")
    if checks:
        items = "".join(
            f"<li class='{'pass' if c.get('passed') else 'fail'}'>{'✔' if c.get('passed') else '✘'} "
            f"{html.escape(str(c.get('check')))}"
            + (f" <span class='muted'>({html.escape(str(c.get('detail')))})</span>" if c.get("detail") else "")
            + "</li>" for c in checks)
        parts.append(f"<ul>{items}</ul>")
    else:
        parts.append("<p class='muted'>no checks recorded</p>")
    if run.error:
        parts.append(f"<h3>Error</h3><pre class='error'>{html.escape(run.error)}</pre>")
    metrics = m.get("metrics") or {}
    if metrics:
        parts.append("<h3>Metrics</h3>")
        for k, v in metrics.items():
            parts.append(f"<h4>{html.escape(str(k))}</h4>{_render(v)}")
    if run.executed is not None:
        try:
            rel = run.executed.relative_to(output_dir).as_posix()
        except ValueError:
            rel = run.executed.as_posix()
        parts.append(f"<p><a href='{html.escape(rel)}'>the executed notebook</a></p>")
    parts.append("</div></div></section>")
    return "\n".join(parts)


def write_gallery(runs: Sequence[Run], output_dir: str | os.PathLike, profile: str = "quick",
                  started: _dt.datetime | None = None) -> Path:
    """Write ``output_dir/index.html`` for ``runs`` (atomically) and return its path."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    started = started or _dt.datetime.now()
    n_ok = sum(r.ok for r in runs)
    prof = paper.PROFILES.get(profile)
    toc = "".join(
        f"<tr><td><a href='#nb{html.escape(r.key)}'>{html.escape(r.stem)}</a></td>"
        f"<td><span class='status {html.escape(r.status)}'>{html.escape(r.status)}</span></td>"
        f"<td>{r.wall_s:.0f} s</td></tr>" for r in runs)
    doc = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>stylelab: Gatys et al. reproduced</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Gatys, Ecker &amp; Bethge, reproduced</h1>",
        f"<p class='sub'>profile <b>{html.escape(profile)}</b>"
        + (f" ({html.escape(prof.description)})" if prof else "")
        + f"; run {html.escape(started.strftime('%Y-%m-%d %H:%M'))}; "
        f"{n_ok} of {len(runs)} notebooks passed.</p>",
        f"<p class='sub'>{html.escape(paper.PAPER_2015)}<br>{html.escape(paper.PAPER_CVPR)}</p>",
        f"<table class='toc'><tr><th>notebook</th><th>result</th><th>time</th></tr>{toc}</table>",
    ]
    doc += [_section(r, output_dir) for r in runs]
    doc.append("</body></html>")
    file = output_dir / "index.html"
    with config.atomic_file(file) as tmp:
        tmp.write_text("\n".join(doc), encoding="utf-8")
    return file
