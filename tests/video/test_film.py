"""Tests for stylelab.video.film: the optimisation as a film (bounded frames, coarse-to-fine
frame sizes, captions and curves drawn, GIF/WebP/MP4 written atomically and readable
back, clear errors) and the ``--film`` option of the ``stylelab`` command."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import stylelab as sl
from stylelab import config, film, weights
from stylelab.cli import command as cli
from stylelab.cli import common as cli_common
from stylelab.errors import ImageError, SettingsError
from stylelab.networks.vgg import VGG


def _img(h=8, w=8, value=0.5):
    return torch.full((1, 3, h, w), float(value))


def _rec(step, stage=None, size=None):
    r = {"step": step, "total": 10.0 / step, "content": 4.0 / step, "style": 6.0 / step}
    if stage is not None:
        r.update(stage=stage, size=list(size))
    return r


def _film_of(n_steps: int, frames: int = 6, h: int = 24, w: int = 32) -> film.Film:
    """A film fed by hand: a grey ramp over ``n_steps`` steps."""
    f = film.Film(frames=frames)
    for step in range(1, n_steps + 1):
        f(step, _img(h, w, step / n_steps), _rec(step))
    return f


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------ recording


@pytest.mark.parametrize("frames", [2, 3, 7, 120])
def test_frames_stay_bounded_first_and_last_kept(frames):
    f = film.Film(frames=frames)
    peak = 0
    for step in range(1, 10_001):
        f(step, _img(4, 4), _rec(step))
        peak = max(peak, len(f._kept) + 1)
    steps = [fr.step for fr in f.frames]
    assert len(steps) <= frames and peak <= frames
    assert steps[0] == 1 and steps[-1] == 10_000
    assert steps == sorted(set(steps))
    if frames >= 7:  # the kept ones are evenly spaced (every stride-th call) and fill at least half the film
        gaps = np.diff(steps[:-1])
        assert len(set(gaps)) == 1 and gaps[0] == f.stride
        assert len(steps) >= frames // 2


def test_a_short_run_keeps_every_step():
    f = _film_of(5, frames=10)
    assert [fr.step for fr in f.frames] == [1, 2, 3, 4, 5] and f.stride == 1 and len(f) == 5


def test_the_film_is_the_engines_callback_and_passes_on_another(make_vgg, tiny_image):
    seen = []

    def other(step, image, record):
        seen.append(step)
        return step >= 4  # stops the run

    f = film.Film(frames=5, callback=other)
    assert bool(film.Film())  # an empty film is still a callback (the engine tests `if callback`)
    r = sl.texture(tiny_image(24), model=make_vgg(), steps=10, callback=f, every=1, progress=False)
    assert r.stopped and seen == [1, 2, 3, 4]
    assert [fr.step for fr in f.frames] == [1, 2, 3, 4]
    assert f.frames[-1].losses["style"] == pytest.approx(r.history[3]["style"])


def test_frames_take_the_final_size_across_coarse_to_fine_stages(make_vgg, tiny_image):
    f = film.Film(frames=8)
    r = sl.transfer(tiny_image(24, 32, seed=1), tiny_image(24, 32, seed=2), model=make_vgg(), steps=6,
                    scales=(24, 32), callback=f, every=1, progress=False)
    stored = {fr.image.shape[:2] for fr in f.frames}
    assert stored == {(18, 24), (24, 32)}  # both stages are in the film, each at its own size
    assert {fr.losses["stage"] for fr in f.frames} == {0, 1}
    pictures = f.render(r, size=64, curves=False, caption=False)
    assert {p.size for p in pictures} == {(64, 48)}  # (W, H): the final size, scaled to 64
    last = np.asarray(pictures[-1])[:48, :64]
    want = np.asarray(Image.fromarray(f.frames[-1].image).resize((64, 48), Image.Resampling.NEAREST))
    assert np.array_equal(last, want)
    # with the result, the caption gives alpha L_content and beta L_style (beta = 1e3 here), not the raw terms
    weighted, raw = f.render(r, size=64, curves=False)[-1], f.render(size=64, curves=False)[-1]
    assert np.array_equal(np.asarray(weighted)[:48], np.asarray(raw)[:48])
    assert not np.array_equal(np.asarray(weighted)[48:], np.asarray(raw)[48:])
    assert film._loss_weights(r) == (r.settings["alpha"], r.settings["beta"]) and film._loss_weights(None) is None


def test_bad_settings():
    for bad in (1, 0, 2.5, True, "10"):
        with pytest.raises(SettingsError, match="at least 2 frames"):
            film.Film(frames=bad)
    with pytest.raises(SettingsError, match="callback"):
        film.Film(callback=3)
    with pytest.raises(SettingsError, match="no frames"):
        film.Film().render()
    with pytest.raises(SettingsError, match="RGB"):
        film.Film()(1, torch.zeros(1, 1, 8, 8), {})
    f = _film_of(3)
    with pytest.raises(SettingsError, match="resample"):
        f.render(resample="lanczos5")
    with pytest.raises(SettingsError, match="size"):
        f.render(size=4)


# ------------------------------------------------------------------------ rendering


def test_captions_are_drawn_under_the_unchanged_image():
    f = _film_of(4, h=24, w=32)
    plain = f.render(size=64, curves=False, caption=False)
    captioned = f.render(size=64, curves=False, caption=True)
    for p, c, fr in zip(plain, captioned, f.frames):
        a, b = np.asarray(p), np.asarray(c)
        want = np.asarray(Image.fromarray(fr.image).resize((64, 48), Image.Resampling.NEAREST))
        assert np.array_equal(a[:48, :64], want) and np.array_equal(b[:48, :64], want)  # the image untouched
        strip = b[48:].astype(int)
        assert b.shape[0] > a.shape[0] and (strip.sum(axis=2) < 300).sum() > 50  # dark text under it
        coloured = np.abs(strip[..., 2] - strip[..., 0]) > 80  # L_content (blue) and L_style (red)
        assert coloured.sum() > 20
    # each frame's caption is its own (the step and losses differ)
    assert not np.array_equal(np.asarray(captioned[0])[48:], np.asarray(captioned[1])[48:])


def test_the_curve_panel_grows_with_the_step():
    f = _film_of(30, frames=4)
    pics = f.render(size=64, curves=True, caption=False)
    assert all(p.size == pics[0].size for p in pics) and pics[0].size[0] > 64
    panels = [np.asarray(p)[:64, 64:].astype(int) for p in pics]
    strong = [int(((np.abs(pn[..., 0] - pn[..., 2]) > 120)).sum()) for pn in panels]  # full-colour curve pixels
    assert strong[0] > 0 and strong == sorted(strong) and strong[-1] > strong[0]


def test_default_size_scales_a_small_run_up_to_min_side():
    f = _film_of(2, h=24, w=32)
    img = f.render(curves=False, caption=False)[0]
    assert img.size == (film.MIN_SIDE, film.MIN_SIDE * 3 // 4)  # 32 px x 8


# ------------------------------------------------------------------------ writing


def test_gif_and_webp_are_written_and_read_back(tmp_path):
    f = _film_of(40, frames=9)
    for suffix, fmt in ((".gif", "GIF"), (".webp", "WEBP")):
        path = f.save(tmp_path / "out" / f"run{suffix}", fps=10, hold=1.0)
        assert path == tmp_path / "out" / f"run{suffix}"
        with Image.open(path) as im:
            assert im.format == fmt and im.n_frames == len(f) == 6  # calls 1, 9, 17, 25, 33 and the last, 40
            assert im.size == f.render()[0].size
            im.seek(im.n_frames - 1)
            im.load()
            assert im.info["duration"] == 1000  # the last frame is held
    assert _files(tmp_path / "out") == ["run.gif", "run.webp"]  # no temporary files left


@pytest.mark.skipif(not film.has_mp4(), reason="MP4 needs imageio-ffmpeg (pip install 'stylelab[film]'; "
                                               "in CI it comes with .[dev])")
def test_mp4_is_written_and_read_back(tmp_path):
    import imageio_ffmpeg

    f = _film_of(12, frames=6)
    path = f.save(tmp_path / "run.mp4", fps=10, hold=0.5)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    frames = list(reader)
    w, h = f.render()[0].size
    assert tuple(meta["size"]) == (w, h) and meta["fps"] == pytest.approx(10)
    assert len(frames) == len(f) + 4  # the last frame held 0.5 s at 10 fps: 4 more
    first = np.frombuffer(frames[0], np.uint8).reshape(h, w, 3).astype(int)
    want = np.asarray(f.render()[0]).astype(int)
    assert np.abs(first - want).mean() < 12  # lossy, but the same picture
    html = film.show(path).data
    assert html.startswith("<video") and "data:video/mp4;base64," in html


def test_mp4_without_the_encoder_falls_back_to_gif_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(film, "has_mp4", lambda: False)
    f = _film_of(3)
    with pytest.warns(film.FilmFallbackWarning, match=r"stylelab\[film\].*run\.gif"):
        path = f.save(tmp_path / "run.mp4")
    assert path == tmp_path / "run.gif" and _files(tmp_path) == ["run.gif"]
    with pytest.raises(SettingsError, match="imageio-ffmpeg"):
        f.save(tmp_path / "strict.mp4", fallback=False)
    assert _files(tmp_path) == ["run.gif"]


def test_a_failing_writer_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    f = _film_of(3)

    def broken(tmp, pictures, fps, hold, quality):
        tmp.write_bytes(b"GIF89a half a film")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(film, "_write_gif", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        f.save(tmp_path / "new.gif")
    assert _files(tmp_path) == []
    (tmp_path / "old.gif").write_bytes(b"the previous film")
    with pytest.raises(RuntimeError):
        f.save(tmp_path / "old.gif")
    assert _files(tmp_path) == ["old.gif"] and (tmp_path / "old.gif").read_bytes() == b"the previous film"


def test_bad_paths_and_settings_write_nothing(tmp_path):
    f = _film_of(3)
    (tmp_path / "folder.gif").mkdir()
    (tmp_path / "afile").write_text("x")
    for path, match in ((tmp_path / "run.avi", "unknown suffix '.avi'"), (tmp_path / "run", "unknown suffix"),
                        (tmp_path / "folder.gif", "it is a folder"), (tmp_path / "afile" / "run.gif", "not a folder")):
        with pytest.raises(ImageError, match=match):
            f.save(path)
    for kw, match in (({"fps": 0}, "fps"), ({"fps": float("nan")}, "fps"), ({"hold": -1}, "hold"),
                      ({"quality": 0}, "quality")):
        with pytest.raises(SettingsError, match=match):
            f.save(tmp_path / "run.gif", **kw)
    with pytest.raises(ImageError, match="cannot read"):
        film.show(tmp_path / "missing.gif")
    assert _files(tmp_path) == ["afile", "folder.gif"]


def test_show_embeds_a_gif(tmp_path):
    path = _film_of(3).save(tmp_path / "run.gif")
    html = film.show(path, width=200).data
    assert html.startswith("<img") and 'width="200"' in html and "data:image/gif;base64,R0lG" in html


# ------------------------------------------------------------------------ the command line


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A tiny random VGG-16 instead of the real weights; no user settings (as in test_cli)."""
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE, cli_common.ENV_DEBUG):
        monkeypatch.delenv(var, raising=False)
    calls = []

    def fake_load_vgg(*args, **kwargs):
        calls.append(args)
        torch.manual_seed(0)
        return VGG("vgg16", widths=(4, 8, 8, 16, 16))

    monkeypatch.setattr(weights, "load_vgg", fake_load_vgg)
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("content", "style"):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    return {"calls": calls, "content": folder / "content.png", "style": folder / "style.png"}


def test_cli_film_end_to_end(tiny, tmp_path, capsys):
    out = tmp_path / "o" / "run.png"
    code = cli.main(["transfer", str(tiny["content"]), str(tiny["style"]), "-o", str(out), "--size", "32",
                     "--steps", "6", "--film", str(tmp_path / "o" / "film.gif"), "--film-frames", "4"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "film.gif" in err
    assert _files(out.parent) == ["film.gif", "run.json", "run.png"]
    with Image.open(out.parent / "film.gif") as im:
        assert im.n_frames == 4 and im.size[0] >= film.MIN_SIDE
    # texture and reconstruct take it too, with the snapshots of --save-every riding along
    for cmd in (["texture", str(tiny["style"])], ["reconstruct", str(tiny["content"])]):
        o = tmp_path / cmd[0] / "r.png"
        code = cli.main(cmd + ["-o", str(o), "--size", "32", "--steps", "4", "-q", "--save-every", "2",
                               "--film", str(o.with_name("f.webp"))])
        assert code == 0, capsys.readouterr().err
        assert _files(o.parent) == ["f.webp", "r-0002.png", "r-0004.png", "r.gif", "r.json", "r.png"]
        with Image.open(o.with_name("f.webp")) as im:
            assert im.n_frames == 2  # every --save-every steps


@pytest.mark.parametrize("extra, expect", [
    (["--film", "film.avi"], "unknown suffix"),
    (["--film", "in/content.png"], "unknown suffix"),
    (["--film-frames", "5"], "--film-frames needs --film"),
    (["--film", "f.gif", "--film-frames", "1"], ">= 2"),
    (["--film", "o.gif", "--save-every", "2"], "would overwrite another output"),
])
def test_cli_bad_film_options(tiny, tmp_path, capsys, monkeypatch, extra, expect):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["transfer", str(tiny["content"]), str(tiny["style"]), "-o", "o.png", "--size", "32",
                     "--steps", "2", "-q", *extra])
    err = capsys.readouterr().err
    assert code == 2 and expect in err, err
    assert tiny["calls"] == [] and set(_files(tmp_path)) <= {"cache", "in"}


def test_cli_mp4_without_the_encoder_writes_the_gif_with_a_warning(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(film, "has_mp4", lambda: False)
    out = tmp_path / "run.png"
    with warnings.catch_warnings():
        code = cli.main(["reconstruct", str(tiny["content"]), "-o", str(out), "--size", "32", "--steps", "2",
                         "-q", "--film", str(tmp_path / "run.mp4")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "warning" in err and "stylelab[film]" in err and "run.gif" in err
    assert _files(tmp_path) == ["in", "run.gif", "run.json", "run.png"]
