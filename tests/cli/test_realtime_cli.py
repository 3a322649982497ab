"""``stylelab train``, ``stylelab stylise`` and ``stylelab video --network`` (issue 22), on tiny
networks: a tiny random VGG in place of the real loss network, tiny saved transformation networks
and decoders, pictures of 24-40 px."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import config, weights
from stylelab.cli import command as cli
from stylelab.cli import common as cli_common
from stylelab.cli import stylise as cli_stylise
from stylelab.cli import train as cli_train
from stylelab.cli import video as cli_video
from stylelab.realtime import adain, saved, training, transformer

from conftest import build_tiny_vgg


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE, cli_common.ENV_DEBUG):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def tiny_vgg(monkeypatch):
    """A tiny random VGG-16 for every load_vgg (relu4_1: 16 channels); returns the load calls."""
    calls = []

    def fake(*args, **kwargs):
        calls.append((args, kwargs))
        return build_tiny_vgg("vgg16")

    monkeypatch.setattr(weights, "load_vgg", fake)
    return calls


def _picture(path: Path, w: int = 40, h: int = 30, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    torch.manual_seed(0)
    johnson = saved.save(transformer.TransformNet(transformer.Architecture((4, 8, 8), 1, "instance")),
                         {"recipe": {}}, d / "johnson.pt")
    decoder = saved.save(adain.Decoder(adain.Architecture((8, 8, 8), 1), in_channels=16), {"recipe": {}},
                         d / "adain.pt")
    return {"johnson": johnson, "adain": decoder, "photo": _picture(d / "photo.png", 40, 30, 1),
            "painting": _picture(d / "painting.png", 32, 32, 2), "painting2": _picture(d / "painting2.jpg", 24, 32, 3)}


def _main(*argv) -> int:
    return cli.main([str(a) for a in argv])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("stylelab: warning:")]
    assert len(lines) == 1 and lines[0].startswith("stylelab: error: "), err
    assert "Traceback" not in err and "weights_only=False" not in err
    return lines[0]


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


# --------------------------------------------------------------------------------------
# the names written out without importing torch


def test_the_cli_constants_match_the_package():
    from stylelab.image import DEFAULT_MAX_SIZE

    assert cli_train.NETWORKS == training.NETWORKS
    assert set(cli_train.PROFILES) == {p for _, p in training.PROFILES}
    assert cli_train.NORMS == transformer.NORMS
    assert cli_stylise.DEFAULT_MAX_SIZE == DEFAULT_MAX_SIZE


# (`train --help` and `stylise --help` answer without torch: tests/test_layout.py::test_help_answers_at_once_without_torch)


# --------------------------------------------------------------------------------------
# stylise


def test_stylise_one_image_johnson(files, tmp_path, capsys):
    out = tmp_path / "out" / "result.png"
    assert _main("stylise", files["johnson"], files["photo"], "-o", out) == 0
    captured = capsys.readouterr()
    assert _size(out) == (40, 30)  # the input's own size
    assert captured.out.strip() == str(out) and " s -> " in captured.err
    assert _main("stylise", files["johnson"], files["photo"], "-o", tmp_path / "small.jpg", "--size", "20") == 0
    assert _size(tmp_path / "small.jpg") == (20, 15)


def test_stylise_a_folder_adain_with_a_mix(files, tiny_vgg, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    _picture(folder / "b.png", 40, 32, 4)
    _picture(folder / "a.jpg", 24, 32, 5)
    (folder / "notes.txt").write_text("not an image: left alone")
    out = tmp_path / "stylised"
    code = _main("stylise", files["adain"], folder, "-o", out, "--style", files["painting"], "--style",
                 files["painting2"], "--mix", "1,3", "--alpha", "0.5", "-q")
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.split() == [str(out / "a.jpg"), str(out / "b.png")]  # sorted
    assert _size(out / "a.jpg") == (24, 32) and _size(out / "b.png") == (40, 32)
    assert len(tiny_vgg) == 1


def test_adain_alpha_0_gives_back_what_the_decoder_makes_of_the_photograph(files, tiny_vgg, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for out, style in ((a, files["painting"]), (b, files["painting2"])):
        assert _main("stylise", files["adain"], files["photo"], "-o", out, "--style", style, "--alpha", "0", "-q") == 0
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_adain_needs_style_and_johnson_refuses_it(files, tiny_vgg, tmp_path, capsys):
    assert _main("stylise", files["adain"], files["photo"], "-o", tmp_path / "o.png") == 2
    assert "--style" in _one_line(capsys)
    assert _main("stylise", files["johnson"], files["photo"], "-o", tmp_path / "o.png", "--style", "x.png") == 2
    assert "johnson network" in _one_line(capsys)
    assert _main("stylise", files["johnson"], files["photo"], "-o", tmp_path / "o.png", "--alpha", "0.5") == 2
    assert "--alpha" in _one_line(capsys)
    assert _main("stylise", files["adain"], files["photo"], "-o", tmp_path / "o.png", "--style", files["painting"],
                 "--mix", "1,2") == 2
    assert "2 weights for 1" in _one_line(capsys)
    assert _main("stylise", files["adain"], files["photo"], "-o", tmp_path / "o.png", "--style", files["painting"],
                 "--alpha", "1.5") == 2
    assert "from 0 to 1" in _one_line(capsys)
    assert not (tmp_path / "o.png").exists() and not tiny_vgg


def test_a_decoder_for_another_encoder_is_one_line(tmp_path, tiny_vgg, capsys):
    net = saved.save(adain.Decoder(adain.Architecture((8, 8, 8), 1)), {"recipe": {}}, tmp_path / "d512.pt")
    photo = _picture(tmp_path / "p.png")
    assert _main("stylise", net, photo, "-o", tmp_path / "o.png", "--style", photo) == 2
    assert "512-channel" in _one_line(capsys)


def test_stylise_never_overwrites_an_input(files, tiny_vgg, tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(transformer, "stylise", lambda *a, **k: ran.append(1))
    for argv in ([files["johnson"], files["photo"], "-o", files["photo"]],
                 [files["adain"], files["photo"], "-o", files["painting"], "--style", files["painting"]]):
        before = {p: p.read_bytes() for p in files.values()}
        assert _main("stylise", *argv) == 2
        assert "refusing to overwrite" in _one_line(capsys)
        assert {p: p.read_bytes() for p in files.values()} == before
    # the output folder is the input folder: refused before any work
    assert _main("stylise", files["johnson"], tmp_path / "in", "-o", tmp_path / "in") == 2
    assert "input folder" in _one_line(capsys)
    # a folder of inputs with an output inside it named like an input
    assert _main("stylise", files["johnson"], files["photo"], files["painting"], "-o", tmp_path / "in" / ".." / "in") == 2
    assert "refusing to overwrite" in _one_line(capsys)
    assert not ran and not tiny_vgg


def test_stylise_output_kinds(files, tmp_path, capsys):
    assert _main("stylise", files["johnson"], files["photo"], files["painting"], "-o", tmp_path / "x.png") == 2
    assert "output folder" in _one_line(capsys)
    (tmp_path / "file").write_text("x")
    assert _main("stylise", files["johnson"], files["photo"], files["painting"], "-o", tmp_path / "file") == 2
    assert "is a file" in _one_line(capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _main("stylise", files["johnson"], empty, "-o", tmp_path / "o") == 2
    assert "no image files" in _one_line(capsys)
    # two inputs with one name: both kept
    other = tmp_path / "other"
    other.mkdir()
    _picture(other / "photo.png", 24, 24)
    assert _main("stylise", files["johnson"], files["photo"], other / "photo.png", "-o", tmp_path / "o", "-q") == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["photo-2.png", "photo.png"]


class _Payload:
    """Unpickling it would create the marker file (pickle's __reduce__ calls os.system)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("command", ["stylise", "video"])
def test_a_planted_pickle_is_refused_and_never_runs(files, tmp_path, capsys, command):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"format": "stylelab-realtime", "state_dict": _Payload(marker)}))
    torch.save({"format": "stylelab-realtime", "x": _Payload(marker)}, tmp_path / "evil2.pt")
    for path in (evil, tmp_path / "evil2.pt"):
        argv = (["stylise", path, files["photo"], "-o", tmp_path / "o.png"] if command == "stylise" else
                ["video", "tubingen", "-o", tmp_path / "o.gif", "--network", path, "--frames", "2"])
        assert _main(*argv) == 2
        line = _one_line(capsys)
        assert "refusing to load" in line or "damaged" in line or "not a PyTorch file" in line, line
    assert not marker.exists(), "the pickle's payload ran"
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.gif").exists()


def test_the_payload_does_run_when_unpickled_unsafely(tmp_path):
    """The planted pickle is a real one: pickle.loads runs it (so the test above means something)."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("which, expect", [
    ("truncated", "damaged"), ("foreign", "not a network saved by stylelab train"), ("empty", "not a PyTorch file"),
    ("folder", "folder"), ("missing", "not found"), ("text", "not a PyTorch file"),
])
def test_bad_network_files_are_one_line(files, tmp_path, capsys, which, expect):
    path = tmp_path / f"{which}.pt"
    if which == "truncated":
        path.write_bytes(files["johnson"].read_bytes()[:300])
    elif which == "foreign":
        torch.save(transformer.TransformNet(transformer.Architecture((4, 8, 8), 1)).state_dict(), path)
    elif which == "empty":
        path.write_bytes(b"")
    elif which == "folder":
        path.mkdir()
    elif which == "text":
        path.write_text("hello")
    assert _main("stylise", path, files["photo"], "-o", tmp_path / "o.png") == 2
    assert expect in _one_line(capsys)
    assert not (tmp_path / "o.png").exists()


# --------------------------------------------------------------------------------------
# train


@pytest.fixture
def fast_training(monkeypatch, tiny_vgg, files):
    """The training photographs: two small pictures (no scikit-image needed)."""
    from stylelab.realtime import photos

    pictures = {"p1": torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(1)),
                "p2": torch.rand(1, 3, 48, 40, generator=torch.Generator().manual_seed(2))}
    asked = []
    monkeypatch.setattr(photos, "load_all", lambda role, size=None: asked.append((role, size)) or dict(pictures))
    monkeypatch.setattr(photos, "load", lambda name, size=None: pictures["p1"].clone())
    return asked


def test_train_johnson_then_stylise(fast_training, files, tmp_path, capsys):
    net = tmp_path / "nets" / "j.pt"
    code = _main("train", files["painting"], "-o", net, "--profile", "quick", "--steps", "2", "--norm", "batch",
                 "--ratio", "1e-2", "--seed", "3", "--no-cache")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "trained 2 of 2 steps in" in captured.err and "final losses: content" in captured.err
    assert captured.out.strip() == str(net)
    assert fast_training == [("train", training.PROFILES[("johnson", "quick")]["size"])]
    loaded, report = saved.read(net)
    assert report["network"] == "johnson" and report["recipe"]["norm"] == "batch" and report["recipe"]["seed"] == 3
    assert report["recipe"]["ratio"] == 1e-2 and report["steps_done"] == 2 and report["command"].startswith("stylelab train")
    assert _main("stylise", net, files["photo"], "-o", tmp_path / "r.png", "-q") == 0
    assert _size(tmp_path / "r.png") == (40, 30)


def test_train_adain_default_styles(fast_training, files, tmp_path, monkeypatch, capsys):
    from stylelab import data
    from stylelab.realtime import photos

    loaded = []
    monkeypatch.setattr(data, "path", lambda name: loaded.append(name) or files["painting"])
    monkeypatch.setattr(photos, "names", lambda role=None: ["brick"] if role == "texture" else ["p1"])
    code = _main("train", "--network", "adain", "-o", tmp_path / "a.pt", "--profile", "quick", "--steps", "2", "-q")
    assert code == 0, capsys.readouterr().err
    _, report = saved.read(tmp_path / "a.pt")
    styles = report["recipe"]["styles"]
    assert "great_wave" not in styles and "tubingen" not in styles
    assert "starry_night" in styles and any(s.startswith("texture: ") for s in styles)  # training.training_images


def test_train_refuses_before_any_work(fast_training, files, tmp_path, capsys, tiny_vgg, monkeypatch):
    weights_file = tmp_path / "in" / "vgg.pt"
    torch.save({"conv1_1.weight": torch.zeros(1)}, weights_file)
    monkeypatch.setenv(config.ENV_WEIGHTS, f"vgg16:torch:{weights_file}")  # an input: never an output
    cases = [
        (["train", files["painting"], "-o", files["painting"].with_suffix(".pt"), "--weights", "x"], "."),
        (["train", files["painting"], files["painting2"], "-o", tmp_path / "n.pt"], "exactly one STYLE"),
        (["train", "-o", tmp_path / "n.pt"], "exactly one STYLE"),
        (["train", files["painting"], "-o", tmp_path / "n.png"], "suffix .pt"),
        (["train", files["painting"], "-o", tmp_path], "suffix .pt|folder"),
        (["train", files["painting"], "-o", weights_file], "refusing to overwrite"),
        (["train", "--network", "adain", files["painting"], "-o", tmp_path / "n.pt", "--norm", "batch"], "johnson"),
        (["train", tmp_path / "missing.png", "-o", tmp_path / "n.pt"], "no such file"),
    ]
    for argv, expect in cases:
        before = files["johnson"].read_bytes()
        assert _main(*argv, "--profile", "quick", "--steps", "1", "-q") == 2
        assert __import__("re").search(expect, _one_line(capsys))
        assert files["johnson"].read_bytes() == before
    assert not fast_training and not tiny_vgg and not (tmp_path / "n.pt").exists()


def test_train_ctrl_c_saves_the_network_so_far(fast_training, files, tmp_path, capsys):
    def interrupt(step, net, terms):
        if step == 2:
            raise KeyboardInterrupt

    real = training.johnson
    code = None
    try:
        training.johnson = lambda *a, **k: real(*a, **{**k, "callback": interrupt})
        code = _main("train", files["painting"], "-o", tmp_path / "n.pt", "--profile", "quick", "--steps", "5")
    finally:
        training.johnson = real
    err = capsys.readouterr().err
    assert code == cli_common.EXIT_INTERRUPTED, err
    assert "interrupted after 1 of 5 steps" in err
    _, report = saved.read(tmp_path / "n.pt")
    assert report["status"] == "interrupted" and report["steps_done"] == 1


def test_train_without_scikit_image_is_one_line(tiny_vgg, files, tmp_path, monkeypatch, capsys):
    from stylelab.realtime import photos

    real = photos.importlib.util.find_spec
    monkeypatch.setattr(photos.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("skimage", "sklearn") else real(name, *a))
    monkeypatch.setattr(photos, "_hash_cache", {})
    assert _main("train", files["painting"], "-o", tmp_path / "n.pt", "--profile", "quick", "--steps", "2") == 2
    assert "scikit-image" in _one_line(capsys) or "scikit-learn" in _one_line(capsys)
    assert not (tmp_path / "n.pt").exists()


# --------------------------------------------------------------------------------------
# video --network


def test_video_through_a_network_reports_speed_and_flicker(files, tmp_path, capsys, monkeypatch):
    from stylelab import data
    from stylelab.video import clip as C

    monkeypatch.setattr(data, "load", lambda name, size=None: torch.rand(1, 3, size * 2 // 3, size,
                                                                       generator=torch.Generator().manual_seed(0)))
    monkeypatch.setattr(data, "path", lambda name: files["photo"])
    out = tmp_path / "v.gif"
    code = _main("video", "tubingen", "-o", out, "--network", files["johnson"], "--frames", "3", "--size", "64")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "frames/s" in captured.err and "temporal error" in captured.err and "true flow" in captured.err
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["frames"] == 3 and len(meta["temporal_error"]) == 2 and meta["frames_per_second"] > 0
    assert len(C.read(out)) == 3


def test_video_adain_network_on_a_real_clip(files, tiny_vgg, tmp_path, capsys):
    from stylelab.video import clip as C

    clip = C.write(tmp_path / "in" / "clip.gif", [torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(k))
                                                  for k in range(3)], 4)
    out = tmp_path / "v.gif"
    code = _main("video", clip, files["painting"], "-o", out, "--network", files["adain"], "--alpha", "0.7", "-q")
    assert code == 0, capsys.readouterr().err
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["kind"] == "adain" and meta["frames"] == 3 and meta["alpha"] == 0.7


@pytest.mark.parametrize("extra, expect", [
    (["--steps", "3"], "optimisation"), (["--method", "independent"], "optimisation"),
    (["--seed", "1"], "optimisation"), (["--temporal-weight", "0"], "optimisation"),
])
def test_video_network_refuses_the_optimisations_options(files, tmp_path, capsys, extra, expect):
    assert _main("video", "tubingen", "-o", tmp_path / "v.gif", "--network", files["johnson"], *extra) == 2
    assert expect in _one_line(capsys)
    assert not (tmp_path / "v.gif").exists()


def test_video_network_style_rules(files, tmp_path, capsys):
    assert _main("video", "tubingen", "starry_night", "-o", tmp_path / "v.gif", "--network", files["johnson"]) == 2
    assert "own painting" in _one_line(capsys)
    assert _main("video", "tubingen", "-o", tmp_path / "v.gif", "--network", files["adain"]) == 2
    assert "--style" in _one_line(capsys)
    assert _main("video", "tubingen", "-o", tmp_path / "v.gif") == 2
    assert "STYLE" in _one_line(capsys)
    assert _main("video", "tubingen", "starry_night", "-o", tmp_path / "v.gif", "--alpha", "0.5") == 2
    assert "--network" in _one_line(capsys)


def test_video_optimisation_defaults_are_kept(monkeypatch, files, tmp_path):
    """Without --network the optimisation's defaults are the module's constants (the parser's are None)."""
    seen = {}

    def fake(args):
        seen.update(vars(args))
        return 0

    monkeypatch.setattr(cli_video, "run_optimisation", fake)
    assert _main("video", "tubingen", "starry_night", "-o", tmp_path / "v.gif") == 0
    assert (seen["method"], seen["steps_first"], seen["steps"], seen["ratio"], seen["temporal_weight"], seen["seed"]) == (
        "temporal", cli_video.DEFAULT_STEPS_FIRST, cli_video.DEFAULT_STEPS, 1e-3, cli_video.DEFAULT_TEMPORAL_WEIGHT, 0)
