"""Tests of the explorer's film of a run (stylelab.explorer.film): recorded only when asked
for, with a bounded number of frames, encoded as MP4 / GIF / WebP, shown inline, offered
as a download and saved; on a tiny random VGG-16, set and clicked from Python."""

from __future__ import annotations

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from stylelab import film  # noqa: E402
from stylelab.explorer import film as explorer_film  # noqa: E402
from stylelab.explorer.app import Explorer  # noqa: E402

pytestmark = pytest.mark.timeout(90) if hasattr(pytest.mark, "timeout") else []


@pytest.fixture
def model(make_vgg):
    return make_vgg()  # conftest's tiny He-initialised VGG-16


def _images():
    g = torch.Generator().manual_seed(1)
    return {"tubingen": torch.rand(1, 3, 24, 32, generator=g), "starry_night": torch.rand(1, 3, 20, 32, generator=g)}


@pytest.fixture
def ex(model, tmp_path):
    e = Explorer(model=model, images=_images(), samples=False, size=32, steps=10, every=5, stages=1, tol=False,
                 output_dir=tmp_path / "out")
    yield e
    e.stop()
    assert e.wait(30), "a run did not end"


def _frames(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as im:
        return getattr(im, "n_frames", 1)


def _record(ex, frames=4, fmt="gif"):
    ex.film.value = True
    ex.film_frames.value = frames
    ex.film_format.value = fmt
    run = ex.run(wait=True)
    assert run is not None and run.status == "finished", ex.message.value
    return run


def test_no_film_unless_asked_and_the_run_gets_the_explorers_callback(ex, monkeypatch):
    assert ex.film.value is False and ex.film_frames.disabled and ex.film_format.disabled
    assert ex.settings()["film"] is None
    seen = []
    real = Explorer._film_recorder

    def spy(self, s, callback):
        out = real(self, s, callback)
        seen.append(out is callback)
        return out

    monkeypatch.setattr(Explorer, "_film_recorder", spy)
    monkeypatch.setattr(film, "Film", lambda *a, **k: pytest.fail("a Film was made for a run without one"))
    run = ex.run(wait=True)
    assert run is not None and run.film is None and seen == [True]
    assert ex.film_view.children == () and ex.film_view.layout.display == "none"
    assert "no film" in (ex.save_film(run.number) or ex.last_error)


@pytest.mark.parametrize("fmt", explorer_film.formats())
def test_a_recorded_run_has_a_bounded_film_shown_downloadable_and_saved(ex, fmt, tmp_path):
    ex.film.value = True
    assert not ex.film_frames.disabled and not ex.film_format.disabled
    run = _record(ex, frames=4, fmt=fmt)
    f = run.film
    assert isinstance(f, explorer_film.RunFilm) and f.format == fmt and f.steps == 10
    assert f.frames == 4 and f.stride == 4  # 10 steps into 4 frames: every 4th step, and the last
    assert run.settings["film"] == {"frames": 4, "format": fmt}
    if fmt == "mp4":
        assert f.data[4:8] == b"ftyp"  # an MP4 file's first box
    else:
        assert _frames(f.data) == 4  # memory and the file are bounded by the frames, not the steps
    # the live view still worked with the film riding along
    assert ex.progress.value == ex.progress.max == 10 and ex.curves.value
    # shown inline under the curves: a video for MP4, an animated image else, with a download link
    header, media = ex.film_view.children
    assert ex.film_view.layout.display is None
    assert isinstance(media, widgets.Video if fmt == "mp4" else widgets.Image) and media.value == f.data
    caption = header.children[0].value
    assert f"film of run #{run.number}" in caption and "4 frames of 10 steps" in caption
    href = re.search(r"download='run-001\.(\w+)' href='data:([\w/]+);base64,([^']+)'", caption)
    assert href and href[1] == fmt and href[2] == explorer_film.MIME[fmt]
    assert base64.b64decode(href[3]) == f.data
    # Save film (the button), the card's Save, and save_film(path)
    header.children[1].click()
    assert (ex.output_dir / f"run-001.{fmt}").read_bytes() == f.data and "saved the film" in ex.message.value
    png = ex.save(run.number, tmp_path / "card" / "mine.png")
    assert png.with_suffix(f".{fmt}").read_bytes() == f.data and f"mine.{fmt}" in ex.message.value
    assert ex.save_film(run.number, tmp_path / "x.mp4") == (tmp_path / f"x.{fmt}")


def test_many_steps_keep_at_most_the_frames_asked_for(ex):
    ex.steps.value = 40
    run = _record(ex, frames=6)
    assert run.film.frames <= 6 and _frames(run.film.data) == run.film.frames
    assert run.film.stride >= 40 // 6


def test_a_new_run_hides_the_old_film_and_show_brings_it_back(ex):
    first = _record(ex)
    ex.film.value = False
    second = ex.run(wait=True)
    assert second.film is None and ex.film_view.layout.display == "none"
    ex.show(first.number)
    assert ex.film_view.layout.display is None and ex.film_view.children[1].value == first.film.data
    # the film is not a setting the comparison lists: it changes no image
    ex.compare(first.number, second.number)
    assert "<td>film</td>" not in ex.compare_view.children[0].children[2].value


def test_a_film_that_cannot_be_made_is_a_message_and_the_run_is_kept(ex, monkeypatch):
    def broken(recorder, result, fmt):
        raise OSError("disk full")

    monkeypatch.setattr(explorer_film, "encode", broken)
    ex.film.value = True
    run = ex.run(wait=True)
    assert run is not None and run.film is None and ex.runs == [run] and len(ex.history_box.children) == 1
    assert "run #1 is kept, but its film could not be made: OSError: disk full" in ex.message.value
    assert ex.status.value == "finished" and not ex.running


def test_without_imageio_ffmpeg_mp4_is_not_offered(model, tmp_path, monkeypatch):
    monkeypatch.setattr(film, "has_mp4", lambda: False)
    e = Explorer(model=model, images=_images(), samples=False, size=32, steps=3, stages=1, tol=False,
                 output_dir=tmp_path)
    assert [v for _l, v in e.film_format.options] == ["gif", "webp"] and e.film_format.value == "gif"
    assert 'stylelab[film]' in e.film_note.value


def test_a_coarse_to_fine_film_shows_every_stage_at_the_final_size(ex):
    ex.size.value, ex.stages.value, ex.steps.value = 64, 2, 4
    run = _record(ex, frames=9, fmt="gif")
    assert [st["size"] for st in run.result.stages] == [[24, 32], [48, 64]]
    assert (run.film.frames, run.film.steps, run.film.stride) == (8, 8, 1)  # both stages, a frame per step
    with Image.open(io.BytesIO(run.film.data)) as im:
        size = im.size
        im.seek(0)
        first = im.convert("RGB")
    assert size == first.size  # the coarse stage's frames are scaled to the film's one size
    assert size[0] >= film.MIN_SIDE  # a 64 px run: its image enlarged to at least MIN_SIDE, curves beside it
