"""stylelab.teaching.reproduce: choosing notebooks, the kernel, the gallery, failures (fast, with a
fake executor), and one real run of the tour (``notebook``)."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from stylelab import reproduce as rp
from stylelab.errors import SettingsError, StylelabError

REPO = Path(__file__).resolve().parents[2]


def _png(path: Path, colour=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), colour).save(path)
    return path


def _metrics(key: str, passed: bool = True, checks=None) -> dict:
    checks = checks if checks is not None else [
        {"check": "distance rises", "passed": True, "detail": "0.02 < 0.2"},
        {"check": "conv1_1 is near-exact", "passed": passed, "detail": "0.021"},
    ]
    return {
        "figure": {"key": key, "title": "Content reconstructions", "paper": "Gatys 2015",
                   "figure": "Fig. 1 (2015), content row", "description": "the photograph from white noise"},
        "settings": {"profile": "quick", "size": 128, "steps": 80, "weights": "local:vgg16.pth", "arch": "vgg16"},
        "setup": {"torch": "2.13.0", "cuda": None},
        "metrics": {"per_layer": {"conv1_1": {"pixel distance": 0.0213, "time (s)": 3.0},
                                  "conv5_1": {"pixel distance": 0.2371, "time (s)": 20.0}},
                    "flat": {"a": 1.5, "b": [1, 2]}, "scalar": 3.25},
        "checks": checks, "passed": all(c["passed"] for c in checks), "run_time_s": 42.0,
    }


def _fake_notebooks(folder: Path, names=("00_tour", "01_content_reconstruction", "03_neckarfront")) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        p = folder / f"{n}.ipynb"
        p.write_text("{}")
        out.append(p)
    (folder / "scratch.ipynb").write_text("{}")  # not numbered: ignored
    return out


# --------------------------------------------------------------------------------------
# Finding and choosing notebooks


def test_find_notebooks_in_the_repository():
    found = rp.find_notebooks()
    assert found[0].name == "00_tour.ipynb"
    assert all(rp.NOTEBOOK_PATTERN.match(p.name) for p in found)


def test_find_notebooks_errors(tmp_path):
    with pytest.raises(SettingsError, match="not found"):
        rp.find_notebooks(tmp_path / "missing")
    with pytest.raises(SettingsError, match="no numbered notebooks"):
        rp.find_notebooks(tmp_path)


def test_select(tmp_path):
    nbs = _fake_notebooks(tmp_path)
    assert rp.select(nbs, None) == nbs
    assert [p.stem for p in rp.select(nbs, ["03", "0"])] == ["00_tour", "03_neckarfront"]
    assert [p.stem for p in rp.select(nbs, "1, 03")] == ["01_content_reconstruction", "03_neckarfront"]
    assert [p.stem for p in rp.select(nbs, ["content_reconstruction"])] == ["01_content_reconstruction"]
    assert [p.stem for p in rp.select(nbs, ["00_tour", "00"])] == ["00_tour"]
    with pytest.raises(SettingsError, match="no notebook '07'"):
        rp.select(nbs, ["07"])
    with pytest.raises(SettingsError):
        rp.select(nbs, " , ")


def test_current_kernel_runs_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    before = os.environ.get("JUPYTER_PATH")
    with rp.current_kernel() as name:
        spec = KernelSpecManager().get_kernel_spec(name)
        assert spec.argv[0] == sys.executable
    assert os.environ.get("JUPYTER_PATH") == before


# --------------------------------------------------------------------------------------
# The gallery


def test_gallery_shows_figures_settings_metrics_checks_and_errors(tmp_path):
    out = tmp_path / "out"
    ok = rp.Run("01", "01_content_reconstruction", Path("01_content_reconstruction.ipynb"), status="passed",
                wall_s=51.0, executed=out / "executed" / "01_content_reconstruction.ipynb",
                metrics=_metrics("01"), figures=[_png(out / "01" / "figure.png"), _png(out / "01" / "extra.png")])
    bad = rp.Run("03", "03_neckarfront", Path("03_neckarfront.ipynb"), status="failed", wall_s=80.0,
                 metrics=_metrics("03", passed=False), error="CheckFailed: <b>conv1_1</b> (0.9)",
                 figures=[_png(out / "03" / "figure.png", (0, 0, 255))])
    broken = rp.Run("02", "02_style_reconstruction", Path("02_style_reconstruction.ipynb"), status="error",
                    error="WeightsError: weights file not found")
    page = rp.write_gallery([ok, bad, broken], out, profile="quick").read_text()
    assert (out / "index.html").is_file()
    # each figure embedded; the paper's description and settings from paper.FIGURES
    assert page.count("data:image/png;base64,") == 3
    assert "Fig. 1 (2015), content row" in page and "the photograph from white noise" in page
    assert "tubingen" in page  # the paper's settings of lesson 01 (stylelab.teaching.paper.FIGURES)
    # this run's settings and run time, compact metrics, verdicts
    assert "local:vgg16.pth" in page and "42.0 s in the notebook" in page
    assert "pixel distance" in page and "0.0213" in page and "0.237" in page
    assert page.count("class='pass'") == 3 and page.count("class='fail'") == 1
    assert "status failed" in page and "status error" in page and "status passed" in page
    assert "WeightsError: weights file not found" in page and "no figure was written" in page
    assert "&lt;b&gt;conv1_1&lt;/b&gt;" in page and "<b>conv1_1</b>" not in page
    assert "executed/01_content_reconstruction.ipynb" in page
    assert "1 of 3 notebooks passed" in page
    # the embedded image decodes to the PNG written
    data = page.split("data:image/png;base64,")[1].split("'")[0]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (8, 6)


def test_run_notebook_reads_what_the_lesson_wrote(tmp_path, monkeypatch):
    nb = _fake_notebooks(tmp_path / "nbs")[1]
    out = tmp_path / "out"
    stale = _png(out / nb.stem / "figure.png")
    (out / nb.stem / "metrics.json").write_text(json.dumps(_metrics("01")))

    def fake_execute(notebook, executed, parameters, **kw):
        assert parameters == {"profile": "paper", "output_dir": str(out), "size": 64}
        assert not stale.exists(), "a previous run's figure must not be shown"
        raise RuntimeError("kernel died")

    monkeypatch.setattr(rp, "execute", fake_execute)
    run = rp.run_notebook(nb, out, "paper", parameters={"size": 64})
    assert run.status == "error" and run.error == "RuntimeError: kernel died" and run.metrics is None


def test_reproduce_keeps_going_and_raises_after_the_gallery(tmp_path, monkeypatch):
    nbs = _fake_notebooks(tmp_path / "nbs")
    seen = []

    def fake_execute(notebook, executed, parameters, **kw):
        stem = Path(notebook).stem
        seen.append(stem)
        lesson_dir = Path(parameters["output_dir"]) / stem
        _png(lesson_dir / "figure.png")
        passed = stem != "01_content_reconstruction"
        (lesson_dir / "metrics.json").write_text(json.dumps(_metrics(stem[:2], passed=passed)))
        if not passed:
            err = RuntimeError("check failed")
            err.ename, err.evalue = "CheckFailed", "conv1_1 is near-exact (0.5)"
            raise err

    monkeypatch.setattr(rp, "execute", fake_execute)
    with pytest.raises(rp.ReproduceFailed) as info:
        rp.reproduce(output_dir=tmp_path / "out", notebooks_dir=tmp_path / "nbs", progress=False)
    assert isinstance(info.value, StylelabError)
    assert seen == [p.stem for p in nbs]  # the failure did not stop the notebooks after it
    assert info.value.failed == ["01_content_reconstruction"]
    gallery = info.value.gallery
    assert gallery == (tmp_path / "out" / "index.html").resolve() and gallery.is_file()
    assert str(gallery) in str(info.value)
    assert "CheckFailed: conv1_1 is near-exact (0.5)" in gallery.read_text()

    seen.clear()
    path = rp.reproduce(only=["03"], output_dir=tmp_path / "out2", notebooks_dir=tmp_path / "nbs", progress=False)
    assert seen == ["03_neckarfront"] and path.name == "index.html"


def test_reproduce_progress_lines(tmp_path, monkeypatch, capsys):
    _fake_notebooks(tmp_path / "nbs", names=("00_tour",))

    def fake_execute(notebook, executed, parameters, **kw):
        d = Path(parameters["output_dir"]) / "00_tour"
        _png(d / "figure.png")
        (d / "metrics.json").write_text(json.dumps(_metrics("00")))

    monkeypatch.setattr(rp, "execute", fake_execute)
    rp.reproduce(output_dir=tmp_path / "out", notebooks_dir=tmp_path / "nbs", progress=True)
    err_out = capsys.readouterr()
    text = err_out.out + err_out.err
    assert "[1/1] 00_tour: passed in" in text and "(2/2 checks passed)" in text


def test_reproduce_checks_its_arguments(tmp_path):
    with pytest.raises(SettingsError, match="profile"):
        rp.reproduce(profile="fast", output_dir=tmp_path)
    with pytest.raises(SettingsError, match="timeout"):
        rp.reproduce(timeout=-1, output_dir=tmp_path)


# --------------------------------------------------------------------------------------
# A real run


@pytest.mark.notebook
@pytest.mark.weights
def test_reproduce_the_tour(tmp_path, monkeypatch):
    from conftest import skip_or_fail

    from stylelab import data
    from stylelab.errors import DataError

    try:
        data.fetch()
    except DataError as exc:
        skip_or_fail(f"the notebooks need the sample images: {exc}")
    if not os.environ.get("OMP_NUM_THREADS"):
        monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("STYLELAB_TEST_THREADS", "1"))
    gallery = rp.reproduce(profile="quick", only=["00"], output_dir=tmp_path / "out", timeout=600, progress=False)
    page = gallery.read_text()
    assert "00 · The network and its names" in page and "status passed" in page
    assert "class='fail'" not in page and page.count("data:image/png;base64,") >= 2
    assert (tmp_path / "out" / "executed" / "00_tour.ipynb").is_file()
    report = json.loads((tmp_path / "out" / "00_tour" / "metrics.json").read_text())
    assert report["passed"] and report["settings"]["profile"] == "quick"


def test_export_jpeg_writes_each_figure_small(tmp_path):
    out = tmp_path / "out"
    big = out / "03" / "figure.png"
    big.parent.mkdir(parents=True)
    Image.new("RGB", (2000, 1000), (10, 120, 200)).save(big)
    runs = [rp.Run("03", "03_neckarfront", Path("03_neckarfront.ipynb"), status="passed",
                   figures=[big, _png(out / "03" / "extra.png")]),
            rp.Run("02", "02_style_reconstruction", Path("02_style_reconstruction.ipynb"), status="error")]
    written = rp.export_jpeg(runs, tmp_path / "docs" / "gallery", width=1000)
    assert written == [tmp_path / "docs" / "gallery" / "03_neckarfront.jpg"]
    img = Image.open(written[0])
    assert img.format == "JPEG" and img.size == (1000, 500)
    assert sorted(p.name for p in (tmp_path / "docs" / "gallery").iterdir()) == ["03_neckarfront.jpg"]
