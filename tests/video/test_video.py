"""Video style transfer (stylelab.video.temporal, stylelab.video.clip) and the engine's extra_terms hook:
tiny networks for the mechanics, real weights (marked) for the finding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import stylelab as sl
from stylelab.cli import command as cli
from stylelab import clip as C
from stylelab.video import flow, temporal as video
from stylelab.errors import ImageError, SettingsError
from stylelab.control.transfer import run

pytest.importorskip("cv2")


def textured(h=48, w=64, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    out = torch.zeros(3, h, w)
    for c in range(3):
        for _ in range(5):
            fx, fy, ph = (torch.rand(3, generator=g) * torch.tensor([0.3, 0.3, 6.3])).tolist()
            out[c] += torch.sin(fx * xs + fy * ys + ph)
    return ((out - out.min()) / (out.max() - out.min())).unsqueeze(0)


# ------------------------------------------------------------------ the engine's hook


def test_extra_terms_enter_the_objective_and_the_history(make_vgg, tiny_image):
    model = make_vgg()
    content, style = tiny_image(32, seed=1), tiny_image(32, seed=2)
    target = torch.full_like(content, 0.5)
    term = lambda x: 1e5 * (x - target).pow(2).mean()  # noqa: E731
    kw = dict(model=model, steps=15, progress=False, seed=0)
    plain = run(content, style, **kw)
    pulled = run(content, style, extra_terms={"pull": term}, **kw)
    rec = pulled.history[0]
    assert "pull" in rec and "pull" not in plain.history[0]
    alpha = pulled.settings["alpha"] * pulled.settings["content_scale"]  # the convention's factor on alpha
    parts = rec["content"] * alpha + rec["style"] * pulled.settings["beta"] + rec["pull"]
    assert math.isclose(rec["total"], parts, rel_tol=1e-5)
    assert pulled.settings["extra_terms"] == ["pull"]
    assert float((pulled.image - target).pow(2).mean()) < 0.5 * float((plain.image - target).pow(2).mean())


def test_extra_terms_are_checked(make_vgg, tiny_image):
    img = tiny_image(32)
    for bad, match in (({"style": lambda x: x.sum()}, "new non-empty name"), ({"": lambda x: x.sum()}, "name"),
                       ({"t": 3}, "not callable"), ([lambda x: x], "dict")):
        with pytest.raises(SettingsError, match=match):
            run(img, img, model=make_vgg(), steps=1, progress=False, extra_terms=bad)


# ------------------------------------------------------------------ the three methods


@pytest.fixture
def small_clip():
    return C.synthetic(textured(120, 160, seed=4), frames=3, size=48, ball_speed=(-2, 1))


def test_the_three_methods_on_a_tiny_network(make_vgg, small_clip):
    model = make_vgg()
    style = textured(48, 48, seed=9)
    out = {}
    first = None
    for m in video.METHODS:
        r = video.stylise(small_clip, style, m, model=model, steps_first=12, steps=5, flow="true", first=first,
                          progress=False, temporal_weight=5 * video.DEFAULT_TEMPORAL_WEIGHT)
        first = r.frames[0]
        assert len(r.frames) == 3 and not r.interrupted
        assert r.frames[0].shape == (1, 3, 36, 48)
        out[m] = r
    assert out["independent"].steps == [12, 12, 12]
    assert out["prev_warped"].steps == [0, 5, 5] and out["temporal"].steps == [0, 5, 5]
    assert all("temporal" in rec for rec in out["temporal"].records[1:])
    assert not any("temporal" in rec for rec in out["prev_warped"].records)
    assert torch.equal(out["prev_warped"].frames[0], out["independent"].frames[0])
    err = {m: np.mean(video.temporal_error(r.frames, small_clip.flows, small_clip.masks)) for m, r in out.items()}
    assert err["temporal"] < err["prev_warped"] < err["independent"], err


def test_ctrl_c_keeps_the_frames_done(make_vgg, small_clip, monkeypatch):
    calls = {"n": 0}
    real = flow.estimate

    def interrupt_second(a, b, method="dis"):
        calls["n"] += 1
        if calls["n"] > 2:  # frame 2's flow: the user presses Ctrl-C
            raise KeyboardInterrupt
        return real(a, b, method)

    monkeypatch.setattr(flow, "estimate", interrupt_second)
    r = video.stylise(small_clip, textured(48, 48), "temporal", model=make_vgg(), steps_first=3, steps=2,
                      progress=False)
    assert r.interrupted and len(r.frames) == 2 and len(r.records) == 2


def test_bad_settings(make_vgg, small_clip):
    style = textured(48, 48)
    for kw, match in (({"method": "optical"}, "unknown video method"), ({"steps": 0}, "steps"),
                      ({"temporal_weight": -1}, "temporal_weight"), ({"flow": "magic"}, "unknown flow"),
                      ({"init": "noise"}, "sets init itself")):
        with pytest.raises(SettingsError, match=match):
            video.stylise(small_clip, style, model=make_vgg(), progress=False, **kw)
    with pytest.raises(SettingsError, match="needs a clip that knows its flow"):
        video.stylise(C.Clip(small_clip.frames, 8.0), style, "temporal", model=make_vgg(), flow="true",
                      steps_first=1, steps=1, progress=False)


def test_temporal_error_is_zero_for_the_true_motion_and_large_for_flicker(small_clip):
    # the source frames themselves follow their true flow up to interpolation
    src = video.temporal_error(small_clip.frames, small_clip.flows, small_clip.masks)
    noisy = [f + 0.1 * torch.randn_like(f) for f in small_clip.frames]
    flicker = video.temporal_error(noisy, small_clip.flows, small_clip.masks)
    assert max(src) < 0.02 and min(flicker) > 0.1


# ------------------------------------------------------------------ clips in and out


def test_write_and_read_back_gif_webp_and_a_folder(tmp_path, small_clip):
    for suffix in (".gif", ".webp"):
        path = C.write(tmp_path / f"c{suffix}", small_clip.frames, 8)
        back = C.read(path)
        assert len(back) == 3 and back.size == small_clip.size and abs(back.fps - 8) < 0.5
        assert float((back.frames[1] - small_clip.frames[1]).abs().mean()) < 0.05
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(small_clip.frames):
        sl.save_image(f, folder / f"{i:03d}.png")
    back = C.read(folder, size=24, fps=5)
    assert len(back) == 3 and max(back.size) == 24 and back.fps == 5
    assert len(C.read(folder, frames=2)) == 2


def test_mp4_round_trip_keeps_the_frame_rate(tmp_path, small_clip):
    pytest.importorskip("imageio_ffmpeg")
    path = C.write(tmp_path / "c.mp4", [torch.nn.functional.interpolate(f, size=(48, 64)) for f in small_clip.frames], 7)
    back = C.read(path)
    assert len(back) == 3 and back.size == (48, 64) and abs(back.fps - 7) < 0.01


def test_bad_clips_are_clear_errors_and_nothing_is_written(tmp_path, small_clip):
    with pytest.raises(ImageError, match="no such clip"):
        C.read(tmp_path / "missing.mp4")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ImageError, match="not a video"):
        C.read(text)
    fake = tmp_path / "fake.gif"
    fake.write_bytes(b"GIF89a not really")
    with pytest.raises(ImageError, match="corrupt"):
        C.read(fake)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageError, match="no frames"):
        C.read(empty)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(small_clip.frames):
        sl.save_image(f, folder / f"{i:03d}.png")
    with pytest.raises(ImageError, match="more than the limit of 2"):
        C.read(folder, limit=2)
    assert len(C.read(folder, frames=2, limit=2)) == 2
    (folder / "003.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageError, match="frame 003.png"):
        C.read(folder)
    gif = C.write(tmp_path / "long.gif", small_clip.frames, 8)
    with pytest.raises(ImageError, match="more than the limit of 2"):
        C.read(gif, limit=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "fake.gif", "frames", "long.gif", "notes.txt"]


# ------------------------------------------------------------------ the command


def _main(*argv) -> int:
    return cli.main([str(a) for a in argv])


def test_cli_rejects_bad_input_before_running(tmp_path, capsys):
    style = tmp_path / "style.png"
    sl.save_image(textured(32, 32), style)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    out = tmp_path / "out.gif"
    assert _main("video", text, style, "-o", out, "--weights", "vgg16") == 2
    assert "not a video" in capsys.readouterr().err
    assert _main("video", text, style, "-o", tmp_path / "out.avi") == 2
    assert "unknown suffix" in capsys.readouterr().err
    assert _main("video", tmp_path / "missing.mp4", style, "-o", out, "--weights", "vgg16") == 2
    assert "no such clip" in capsys.readouterr().err
    assert _main("video", text, style, "-o", out, "--method", "magic") == 2
    assert not out.exists()


@pytest.mark.weights
def test_cli_writes_the_clip_and_its_record(tmp_path, capsys):
    out = tmp_path / "pan.gif"
    code = _main("video", "tubingen", "starry_night", "-o", out, "--frames", "3", "--size", "64",
                 "--steps-first", "5", "--steps", "3", "--method", "all", "-q")
    assert code == 0, capsys.readouterr().err
    back = C.read(out)
    assert len(back) == 3 and back.size[1] > 3 * 64  # three clips side by side
    meta = json.loads(out.with_suffix(".json").read_text())
    assert set(meta["methods"]) == set(video.METHODS)
    assert len(meta["methods"]["temporal"]["temporal_error"]) == 2


@pytest.mark.weights
def test_real_weights_temporal_loss_and_warped_start_steady_the_clip():
    """Ruder et al.'s finding at 64 px: the warped start flickers less than independent frames,
    the temporal loss less again, and the style stays as close to the painting."""
    torch.manual_seed(0)
    model = sl.load_vgg(None)
    clip = C.synthetic("tubingen", frames=3, size=64)
    style = sl.data.load("starry_night", size=64)
    res, first = {}, None
    for m in video.METHODS:
        res[m] = video.stylise(clip, style, m, model=model, steps_first=40, steps=15, first=first, progress=False)
        first = res[m].frames[0]
    err = {m: float(np.mean(video.temporal_error(r.frames, clip.flows, clip.masks))) for m, r in res.items()}
    assert err["prev_warped"] < 0.6 * err["independent"], err
    assert err["temporal"] < 0.9 * err["prev_warped"], err
    dist = {m: np.mean([sl.metrics.style_distance(model, f, style) for f in r.frames[1:]]) for m, r in res.items()}
    assert dist["temporal"] < 1.3 * dist["independent"], dist


# ------------------------------------------------------------------ the long-term loss (issue 20)


def test_long_term_weights_count_each_pixel_against_the_nearest_frame_that_saw_it():
    c1 = torch.tensor([[1.0, 0.0, 0.0, 1.0]]).view(1, 1, 1, 4)
    c2 = torch.tensor([[1.0, 1.0, 0.0, 0.0]]).view(1, 1, 1, 4)
    c4 = torch.tensor([[1.0, 1.0, 1.0, 0.0]]).view(1, 1, 1, 4)
    w1, w2, w4 = video.long_term_weights([c1, c2, c4])
    assert w1.flatten().tolist() == [1, 0, 0, 1]
    assert w2.flatten().tolist() == [0, 1, 0, 0]  # seen by i-2 but not by i-1
    assert w4.flatten().tolist() == [0, 0, 1, 0]  # seen only by i-4
    # Ruder et al.: max(c_j - sum of the earlier c, 0), never negative
    assert all(float(w.min()) >= 0 for w in (w1, w2, w4))


def test_the_long_term_method_on_a_tiny_network(make_vgg, small_clip, monkeypatch):
    model = make_vgg()
    style = textured(48, 48, seed=9)
    clip4 = C.synthetic(textured(120, 160, seed=4), frames=4, size=48, ball_speed=(-2, 1))
    seen = []
    real = video.long_term_targets

    def spy(clip, frames, i, gaps, flow="dis", first=None):
        out = real(clip, frames, i, gaps, flow, first)
        seen.append((i, len(out)))
        return out

    monkeypatch.setattr(video, "long_term_targets", spy)
    r = video.stylise(clip4, style, "longterm", model=model, steps_first=6, steps=3, progress=False,
                      long_term=(1, 2))
    assert len(r.frames) == 4 and r.steps == [6, 3, 3, 3]
    assert seen == [(1, 1), (2, 2), (3, 2)]  # frame 1 has no frame i-2
    assert r.settings["long_term"] == [1, 2] and all("temporal" in rec for rec in r.records[1:])
    with pytest.raises(SettingsError, match="include 1"):
        video.stylise(clip4, style, "longterm", model=model, long_term=(2, 4), progress=False)
    with pytest.raises(SettingsError, match="estimated flows"):
        video.stylise(clip4, style, "longterm", model=model, flow="true", progress=False)


def test_the_long_term_loss_pulls_the_uncovered_trail_the_short_term_loss_leaves_free():
    """A pixel hidden in frame i-1 but seen in frame i-2 has c = 0 in the short-term loss (no
    gradient at all) and c_long = 1 in the long-term loss: only the latter pulls it."""
    x = torch.rand(1, 3, 6, 6, requires_grad=True)
    earlier = torch.rand(1, 3, 6, 6)
    c1 = torch.ones(1, 1, 6, 6)
    c1[..., 2:4, 2:4] = 0  # the trail: hidden in i-1
    c2 = torch.ones(1, 1, 6, 6)
    (short,) = torch.autograd.grad(flow.temporal_loss(x, earlier, c1), [x])
    w1, w2 = video.long_term_weights([c1, c2])
    (long,) = torch.autograd.grad(flow.temporal_loss(x, earlier, w1) + flow.temporal_loss(x, earlier, w2), [x])
    assert float(short[..., 2:4, 2:4].abs().max()) == 0
    assert float(long[..., 2:4, 2:4].abs().min()) > 0
    assert torch.equal(long[..., :2, :], short[..., :2, :])  # elsewhere each pixel counts once, as before


def test_disoccluded_error_measures_only_what_the_temporal_error_cannot(small_clip):
    clip5 = C.synthetic(textured(120, 160, seed=4), frames=5, size=48, ball_speed=(-6, 2))
    frames = [f.clone() for f in clip5.frames]
    base = video.disoccluded_error(frames, clip5, 2)
    assert base["frames"] == [2, 3, 4] and all(n > 0 for n in base["pixels"])
    # repaint, in the last frame only, the pixels frame i-1 did not show: the temporal error does not move
    noisy = [f.clone() for f in frames]
    hidden = 1 - clip5.masks[4]
    g = torch.Generator().manual_seed(0)
    noisy[4] = (noisy[4] + hidden * (torch.rand(noisy[4].shape, generator=g) - 0.5)).clamp(0, 1)
    te_before = video.temporal_error(frames, clip5.flows, clip5.masks)
    te_after = video.temporal_error(noisy, clip5.flows, clip5.masks)
    assert te_after == pytest.approx(te_before, abs=1e-6)
    after = video.disoccluded_error(noisy, clip5, 2)
    assert after["errors"][:2] == pytest.approx(base["errors"][:2])
    assert after["errors"][2] > 1.15 * base["errors"][2]


def test_cli_knows_the_video_defaults_without_torch():
    from stylelab.cli import video as cli_video

    assert cli_video.METHODS == video.METHODS
    assert cli_video.DEFAULT_TEMPORAL_WEIGHT == video.DEFAULT_TEMPORAL_WEIGHT
    assert (cli_video.DEFAULT_STEPS_FIRST, cli_video.DEFAULT_STEPS) == (video.DEFAULT_STEPS_FIRST, video.DEFAULT_STEPS)
    assert cli_video.FLOW_METHODS == flow.METHODS
