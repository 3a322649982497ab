"""Tests for the ``stylelab`` command (stylelab.cli.main).

Everything runs in-process through ``cli.main([...])`` on tiny images with a tiny
random network in place of the real weights (``stylelab.networks.weights.load_vgg`` is
patched), except the bad-weights tests, which must reach the real loader, and
one test that starts ``python -m stylelab`` to prove the entry point works.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import config, weights
from stylelab.cli import command as cli
from stylelab.cli import common as cli_common
from stylelab.cli import options as cli_options
from stylelab.errors import DataError
from stylelab.networks.vgg import VGG, layers

from stylelab.method import objective
from stylelab.method import optimise

SMALL = ["--size", "32", "--steps", "3", "--quiet"]


# --------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test sees the caller's weights, images, cache or device settings."""
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE, cli_common.ENV_DEBUG):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def tiny(monkeypatch):
    """Replace the real network by a tiny random VGG-16; returns the list of load calls."""
    calls = []

    def fake_load_vgg(*args, **kwargs):
        calls.append((args, kwargs))
        torch.manual_seed(0)
        return VGG("vgg16", widths=(4, 8, 8, 16, 16))

    monkeypatch.setattr(weights, "load_vgg", fake_load_vgg)
    return calls


def _picture(path: Path, width: int = 32, height: int = 24, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def images(tmp_path):
    """content.png and style.png (32x24) and a second style (24x32) in tmp_path/in."""
    folder = tmp_path / "in"
    folder.mkdir()
    return {
        "content": _picture(folder / "content.png", seed=1),
        "style": _picture(folder / "style.png", seed=2),
        "style2": _picture(folder / "style2.png", 24, 32, seed=3),
    }


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _one_error_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("stylelab: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _bad(argv, capsys, root: Path) -> str:
    """Run a command that must fail with exit 2, one stderr line and no new files."""
    before = _files(root)
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert out == ""
    assert _files(root) == before, "a failing command wrote files"
    return _one_error_line(err)


def _vgg16_state(tmp_path: Path, drop: int = 0, name: str = "vgg16.pth") -> Path:
    """A structurally valid VGG-16 state dict of a few KB (zero-stride tensors)."""
    state = {}
    for l in layers("vgg16"):
        if l.kind == "conv":
            state[f"features.{l.index}.weight"] = torch.zeros(1).expand(l.channels, l.in_channels, 3, 3)
            state[f"features.{l.index}.bias"] = torch.zeros(1).expand(l.channels)
    for key in list(state)[len(state) - drop:]:
        del state[key]
    path = tmp_path / name
    torch.save(state, path)
    return path


# --------------------------------------------------------------------------------------
# Help and the entry point


def test_help_in_process(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("transfer", "texture", "reconstruct", "weights", "data", "layers", "reproduce", "lessons"):
        assert command in out
    assert [c.__name__.rpartition(".")[2] for c in cli.COMMANDS] == cli._command_names(cli.build_parser())
    assert cli.main(["transfer", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Gatys" in out and "--ratio" in out and "Eq. 7" in out


def test_no_command_is_a_usage_error(capsys):
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert "choose a command: " + ", ".join(cli._command_names(cli.build_parser())) in err
    assert "reproduce" in err and "lessons" in err


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "stylelab", "--help"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "usage: stylelab" in proc.stdout and "transfer" in proc.stdout


# --------------------------------------------------------------------------------------
# transfer / texture / reconstruct


def test_transfer_writes_png_and_json_and_prints_path(tiny, images, tmp_path, capsys):
    out = tmp_path / "out" / "result.png"
    code = cli.main(["transfer", str(images["content"]), str(images["style"]), "-o", str(out),
                     "--size", "32", "--steps", "3"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert stdout.strip() == str(out)
    assert "Traceback" not in stderr and "3 steps" in stderr  # the summary (not --quiet)
    assert Image.open(out).size == (32, 24)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["steps_done"] == 3 and len(meta["history"]) == 3
    assert meta["settings"]["content_layers"] == ["relu4_2"]
    assert meta["settings"]["style_layers"] == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert meta["settings"]["inputs"]["content"] == str(images["content"])
    assert meta["settings"]["command"].startswith("stylelab transfer")
    assert "total" in meta["losses"]
    assert len(tiny) == 1 and tiny[0][1]["normalized"] is True and tiny[0][1]["pooling"] == "avg"
    assert isinstance(tiny[0][0][0], weights.WeightSet)  # run() passes the resolved set


def test_transfer_options_reach_the_engine(tiny, images, tmp_path, capsys):
    out = tmp_path / "r.jpg"
    code = cli.main(["transfer", str(images["content"]), str(images["style"]), str(images["style2"]),
                     "-o", str(out), *SMALL, "--ratio", "1e-2", "--layer-weights", "1,2,3,4,5",
                     "--blend", "1,3", "--optimizer", "adam", "--lr", "0.05", "--init", "content", "--tv", "0.5",
                     "--gamma", "0.1", "--convention", "paper", "--norm", "chw", "--seed", "7",
                     "--content-layers", "relu3_1", "--style-layers", "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
                     "--style-scale", "area", "--pooling", "max", "--raw-network"])
    assert code == 0, capsys.readouterr().err
    s = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert s["alpha"] == 1.0 and s["beta"] == pytest.approx(100.0)
    assert s["style_weights"]["relu5_1"] == 5.0
    assert s["blend"] == [1.0, 3.0] and s["style_scale"] == "area"
    assert s["optimizer"] == "adam" and s["lr"] == 0.05 and s["init"] == "content" and s["seed"] == 7
    assert s["tv_weight"] == 0.5 and s["gamma"] == 0.1
    assert s["convention"] == "paper" and s["norm"] == "chw"
    assert s["content_layers"] == ["relu3_1"]
    assert tiny[0][1]["pooling"] == "max" and tiny[0][1]["normalized"] is False
    assert Image.open(out).format == "JPEG"


def test_transfer_alpha_beta(tiny, images, tmp_path, capsys):
    out = tmp_path / "r.png"
    assert cli.main(["transfer", str(images["content"]), str(images["style"]), "-o", str(out), *SMALL,
                     "--alpha", "2", "--beta", "50"]) == 0
    s = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert (s["alpha"], s["beta"]) == (2.0, 50.0)


def test_transfer_init_from_an_image_file(tiny, images, tmp_path, capsys):
    init = _picture(tmp_path / "start.png", 64, 48, seed=9)
    out = tmp_path / "r.png"
    assert cli.main(["transfer", str(images["content"]), str(images["style"]), "-o", str(out), *SMALL,
                     "--init", str(init)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["init"] == "image"


def test_transfer_accepts_sample_names(tiny, images, tmp_path, monkeypatch, capsys):
    from stylelab import data

    asked = []

    def fake_path(name):
        asked.append(name)
        return images["content"] if name == "tubingen" else images["style"]

    monkeypatch.setattr(data, "path", fake_path)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.png"
    assert cli.main(["transfer", "tubingen", "starry-night", "-o", str(out), *SMALL]) == 0
    assert asked == ["tubingen", "starry_night"]
    assert out.is_file()


def test_save_every_writes_snapshots_and_a_gif(tiny, images, tmp_path, capsys):
    out = tmp_path / "anim" / "run.png"
    code = cli.main(["transfer", str(images["content"]), str(images["style"]), "-o", str(out),
                     "--size", "32", "--steps", "4", "--save-every", "2", "--quiet"])
    assert code == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["run-0002.png", "run-0004.png", "run.gif", "run.json", "run.png"]
    gif = Image.open(out.with_suffix(".gif"))
    assert gif.format == "GIF" and gif.size == (32, 24)


def test_texture(tiny, images, tmp_path, capsys):
    out = tmp_path / "tex.png"
    code = cli.main(["texture", str(images["style"]), "-o", str(out), "--size", "32", "--out-size", "40x36",
                     "--steps", "2", "-q"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert stdout.strip() == str(out)
    assert Image.open(out).size == (40, 36)
    s = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert s["content_layers"] == [] and s["alpha"] == 0.0 and len(s["style_layers"]) == 5


def test_reconstruct(tiny, images, tmp_path, capsys):
    out = tmp_path / "rec.png"
    code = cli.main(["reconstruct", str(images["content"]), "--layer", "relu2_2", "-o", str(out), *SMALL])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert stdout.strip() == str(out)
    s = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert s["content_layers"] == ["relu2_2"] and s["style_layers"] == [] and s["beta"] == 0.0


def test_ctrl_c_saves_the_best_image_and_exits_130(tiny, images, tmp_path, monkeypatch, capsys):
    original = objective.Objective.__call__
    calls = {"n": 0}

    def interrupting(self, image):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, image)

    monkeypatch.setattr(objective.Objective, "__call__", interrupting)
    out = tmp_path / "r.png"
    code = cli.main(["transfer", str(images["content"]), str(images["style"]), "-o", str(out),
                     "--size", "32", "--steps", "50", "--quiet"])
    stdout, stderr = capsys.readouterr()
    assert code == 130
    assert stdout.strip() == str(out) and out.is_file()
    assert "interrupted" in stderr and str(out) in stderr
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["interrupted"] is True and meta["steps_done"] == 2


def test_diverging_loss_is_exit_2_and_saves_nothing(tiny, images, tmp_path, monkeypatch, capsys):
    from stylelab import losses

    monkeypatch.setattr(losses, "total_loss", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    line = _bad(["transfer", images["content"], images["style"], "-o", tmp_path / "r.png", *SMALL],
                capsys, tmp_path)
    assert "nan" in line and "nothing was saved" in line


# --------------------------------------------------------------------------------------
# Bad input: exit 2, one line, no traceback, nothing written, no weights loaded


def _broken_inputs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a_folder").mkdir()
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is not a picture\n")
    data = _picture(folder / "whole.jpg", 64, 48).read_bytes()  # a JPEG (by its suffix)
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    return {"missing": folder / "missing.png", "folder": folder / "a_folder", "empty": folder / "empty.png",
            "text": folder / "notes.jpg", "truncated": folder / "truncated.jpg"}


@pytest.mark.parametrize("which, expect", [
    ("missing", "no such file"),
    ("folder", "folder"),
    ("empty", "empty"),
    ("text", "not an image"),
    ("truncated", "truncated"),
])
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_image_files(tiny, images, tmp_path, capsys, which, expect, role):
    bad = _broken_inputs(tmp_path)[which]
    content, style = (bad, images["style"]) if role == "content" else (images["content"], bad)
    line = _bad(["transfer", content, style, "-o", tmp_path / "out.png", *SMALL], capsys, tmp_path)
    assert expect in line and role in line
    assert tiny == []


@pytest.mark.parametrize("extra, expect", [
    (["--style-layers", "relu1_1,relu9_9"], "relu9_9"),
    (["--content-layers", "conv4_9"], "conv4_9"),
    (["--steps", "0"], "--steps"),
    (["--steps", "many"], "--steps"),
    (["--ratio=-1e-3"], "--ratio"),
    (["--ratio", "0"], "--ratio"),
    (["--beta", "nan"], "--beta"),
    (["--alpha", "inf"], "--alpha"),
    (["--alpha=-1"], "--alpha"),
    (["--tv", "nan"], "--tv"),
    (["--lr", "0"], "--lr"),
    (["--layer-weights", "1,nan,1,1,1"], "--layer-weights"),
    (["--layer-weights", "1,1"], "2 layer weights given for 5"),
    (["--layer-weights", "0,0,0,0,0"], "zero"),
    (["--blend", "1,1"], "--blend"),
    (["--alpha", "1", "--beta", "1", "--ratio", "1"], "not all three"),
    (["--size", "8"], "relu5_1 needs at least 16 px"),
    (["--style-scale", "own", "--style-size", "8"], "--style-size"),
    (["--init", "/no/such/start.png"], "--init"),
    (["--optimizer", "sgd"], "invalid choice"),
    (["--scales", "16,24"], "--scales must end at the output's size"),
    (["--scales", "32,16"], "increase"),
    (["--scales", "24,32", "--steps", "3,3,3"], "--steps has 3 counts for 2"),
    (["--steps", "3,3"], "without --scales"),
    (["--scales", "8,32"], "relu5_1 needs at least 16 px"),
    (["--scales", "16,x"], "--scales"),
    (["--tol", "-1"], "--tol"),
    (["--frobnicate"], "unrecognized arguments"),
    (["--weights", "vgg99"], "unknown weight set"),
    (["--weights", "/tmp/somewhere/w.pth"], "--arch"),
    (["--weights", "vgg16", "--arch", "vgg16"], "--arch"),
    (["--weights", "/no/such/w.pth", "--arch", "vgg16", "--input-convention", "caffe"], "not found"),
])
def test_bad_settings(tiny, images, tmp_path, capsys, extra, expect):
    line = _bad(["transfer", images["content"], images["style"], "-o", tmp_path / "out.png",
                 "--steps", "3", "--quiet", *(["--size", "32"] if "--size" not in extra else []), *extra],
                capsys, tmp_path)
    assert expect in line
    assert tiny == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device(tiny, images, tmp_path, capsys):
    line = _bad(["transfer", images["content"], images["style"], "-o", tmp_path / "o.png", *SMALL,
                 "--device", "cuda"], capsys, tmp_path)
    assert "CUDA is not available" in line
    assert tiny == []


def test_unknown_layer_lists_the_valid_names(tiny, images, tmp_path, capsys):
    line = _bad(["transfer", images["content"], images["style"], "-o", tmp_path / "o.png", *SMALL,
                 "--style-layers", "conv_99"], capsys, tmp_path)
    assert "valid names" in line and "relu4_2" in line and "pool5" in line


def test_unknown_sample_name_lists_the_samples(tiny, images, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = _bad(["transfer", "mona_lisa", images["style"], "-o", tmp_path / "o.png", *SMALL], capsys, tmp_path)
    assert "mona_lisa" in line and "starry_night" in line


@pytest.mark.parametrize("output, expect", [
    ("content", "refusing to overwrite"),
    ("out.gif", "unknown suffix"),
    ("out.txt", "unknown suffix"),
    ("out", "unknown suffix"),
    ("a_folder.png", "folder"),
])
def test_bad_output_paths(tiny, images, tmp_path, capsys, output, expect):
    (tmp_path / "a_folder.png").mkdir()
    target = images["content"] if output == "content" else tmp_path / output
    original = images["content"].read_bytes()
    line = _bad(["transfer", images["content"], images["style"], "-o", target, *SMALL], capsys, tmp_path)
    assert expect in line
    assert images["content"].read_bytes() == original
    assert tiny == []


def test_output_equal_to_an_input_by_another_name(tiny, images, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(images["style"].parent)
    line = _bad(["transfer", images["content"], "style.png", "-o", "./../in/style.png", *SMALL],
                capsys, tmp_path)
    assert "refusing to overwrite" in line


def test_texture_and_reconstruct_validate_too(tiny, images, tmp_path, capsys):
    out = tmp_path / "o.png"
    assert "relu5_1" in _bad(["texture", images["style"], "-o", out, "--size", "32", "--out-size", "8x8", "-q"],
                             capsys, tmp_path)
    assert "--out-size" in _bad(["texture", images["style"], "-o", out, "--out-size", "big"], capsys, tmp_path)
    assert "--init" in _bad(["texture", images["style"], "-o", out, "--init", "content", "-q"], capsys, tmp_path)
    assert "relu9_1" in _bad(["reconstruct", images["content"], "--layer", "relu9_1", "-o", out], capsys, tmp_path)
    assert "refusing" in _bad(["reconstruct", images["content"], "-o", images["content"]], capsys, tmp_path)
    assert tiny == []


def test_weights_file_with_missing_keys(images, tmp_path, capsys):
    wfile = _vgg16_state(tmp_path, drop=4, name="partial.pth")
    line = _bad(["transfer", images["content"], images["style"], "-o", tmp_path / "o.png", *SMALL,
                 "--weights", wfile, "--arch", "vgg16", "--input-convention", "caffe"], capsys, tmp_path)
    assert "missing keys" in line


class _Evil:
    """Unpickling this runs code that creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def test_the_evil_pickle_does_fire_when_unpickled_unsafely(tmp_path):
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Evil(marker)))
    assert marker.exists()  # so the next test means something


@pytest.mark.parametrize("fmt", ["torch.save", "raw pickle"])
def test_malicious_weights_file_is_refused_without_running_it(images, tmp_path, capsys, fmt):
    marker = tmp_path / "PWNED"
    wfile = tmp_path / "evil.pth"
    payload = {"features.0.weight": _Evil(marker)}
    if fmt == "torch.save":
        torch.save(payload, wfile)
    else:
        wfile.write_bytes(pickle.dumps(payload, protocol=2))
    line = _bad(["transfer", images["content"], images["style"], "-o", tmp_path / "o.png", *SMALL,
                 "--weights", wfile, "--arch", "vgg16", "--input-convention", "caffe"], capsys, tmp_path)
    assert "refusing to load" in line
    assert not marker.exists()


# --------------------------------------------------------------------------------------
# Unexpected errors


def test_unexpected_error_is_exit_1_without_traceback(images, tmp_path, monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(weights, "load_vgg", boom)
    argv = ["transfer", str(images["content"]), str(images["style"]), "-o", str(tmp_path / "o.png"), *SMALL]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "unexpected error: RuntimeError: boom" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv(cli_common.ENV_DEBUG, "1")
    assert cli.main(argv) == 1
    assert "Traceback" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


# --------------------------------------------------------------------------------------
# weights


def test_weights_list_shows_registry_and_override(tmp_path, monkeypatch, capsys):
    wfile = _vgg16_state(tmp_path)
    monkeypatch.setenv(config.ENV_WEIGHTS, f"vgg16:caffe:{wfile}")
    assert cli.main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for name, ws in weights.REGISTRY.items():
        assert name in out and ws.url in out
    assert "present" in out and " no " in out
    assert config.ENV_WEIGHTS in out and str(wfile) in out


def test_weights_list_with_a_malformed_override(monkeypatch, capsys):
    monkeypatch.setenv(config.ENV_WEIGHTS, "just-a-path.pth")
    assert cli.main(["weights", "list"]) == 2
    captured = capsys.readouterr()
    assert "vgg19" in captured.out
    assert "ARCH:CONVENTION:PATH" in _one_error_line(captured.err)


def test_weights_verify_the_override(tmp_path, monkeypatch, capsys):
    wfile = _vgg16_state(tmp_path)
    monkeypatch.setenv(config.ENV_WEIGHTS, f"vgg16:caffe:{wfile}")
    assert cli.main(["weights", "verify"]) == 0
    assert "ok" in capsys.readouterr().out
    assert cli.main(["weights", "verify", str(wfile), "--arch", "vgg16", "--input-convention", "caffe"]) == 0
    capsys.readouterr()


def test_weights_verify_a_broken_override(tmp_path, monkeypatch, capsys):
    wfile = _vgg16_state(tmp_path, drop=2)
    monkeypatch.setenv(config.ENV_WEIGHTS, f"vgg16:caffe:{wfile}")
    assert cli.main(["weights", "verify"]) == 2
    captured = capsys.readouterr()
    assert "BROKEN" in captured.out and "missing keys" in _one_error_line(captured.err)


def test_weights_verify_not_downloaded_is_exit_2(capsys):
    assert cli.main(["weights", "verify", "vgg19"]) == 2
    captured = capsys.readouterr()
    assert "missing" in captured.out
    assert "stylelab weights download vgg19" in _one_error_line(captured.err)
    assert cli.main(["weights", "verify"]) == 2  # the default (vgg19) is not downloaded either
    capsys.readouterr()


def test_weights_verify_bad_hash_is_exit_2(capsys):
    ws = weights.REGISTRY["vgg16"]
    path = weights.cache_path(ws)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the real weights")
    assert cli.main(["weights", "verify", "vgg16"]) == 2
    captured = capsys.readouterr()
    assert "BAD HASH" in captured.out and "sha256" in _one_error_line(captured.err)


def test_weights_download_errors(monkeypatch, capsys):
    assert cli.main(["weights", "download", "vgg99"]) == 2
    assert "unknown weight set" in _one_error_line(capsys.readouterr().err)

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    assert cli.main(["weights", "download", "vgg16", "-q"]) == 2
    assert "could not download" in _one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------------------
# data, layers, reproduce


def test_data_list(capsys):
    from stylelab import data

    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for s in data.SAMPLES.values():
        assert s.name in out and s.title in out and s.artist in out
    assert "cached" in out and "licence" in out


def test_data_fetch(monkeypatch, tmp_path, capsys):
    from stylelab import data

    monkeypatch.setattr(data, "path", lambda name: tmp_path / f"{name}.jpg")
    assert cli.main(["data", "fetch", "tubingen", "wave"]) == 0
    out = capsys.readouterr().out
    assert "tubingen" in out and "great_wave" in out
    assert cli.main(["data", "fetch", "mona_lisa"]) == 2
    assert "mona_lisa" in _one_error_line(capsys.readouterr().err)

    def broken(name):
        raise DataError("STYLELAB_DATA_DIR has no tubingen.jpg")

    monkeypatch.setattr(data, "path", broken)
    assert cli.main(["data", "fetch"]) == 2
    _one_error_line(capsys.readouterr().err)


def test_layers(capsys):
    assert cli.main(["layers"]) == 0
    out = capsys.readouterr().out
    for text in ("relu4_2", "conv5_4", "features.22", "conv_10", "block4_conv2", "64x64", "content", "style"):
        assert text in out
    assert cli.main(["layers", "--arch", "vgg16", "--size", "64x32"]) == 0
    out = capsys.readouterr().out
    assert "conv5_4" not in out and "conv5_3" in out and "2x4" in out  # pool4 of a 64x32 (WxH) input: H 2, W 4
    assert cli.main(["layers", "--arch", "vgg13"]) == 2
    _one_error_line(capsys.readouterr().err)


def test_reproduce_delegates(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_reproduce(**kwargs):
        seen.update(kwargs)
        return tmp_path / "gallery" / "index.html"

    module = types.ModuleType("stylelab.teaching.reproduce")
    module.reproduce = fake_reproduce
    monkeypatch.setitem(sys.modules, "stylelab.teaching.reproduce", module)
    code = cli.main(["reproduce", "--profile", "paper", "--only", "01,03", "-o", str(tmp_path / "gallery"),
                     "--timeout", "60"])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "gallery" / "index.html")
    assert seen == {"profile": "paper", "only": ["01", "03"], "output_dir": tmp_path / "gallery",
                    "timeout": 60.0, "progress": True, "jpeg_dir": None}

    seen.clear()
    assert cli.main(["reproduce", "-q"]) == 0
    assert seen == {"profile": "quick", "only": None, "output_dir": Path("reproduce-out"), "timeout": None,
                    "progress": False, "jpeg_dir": None}
    seen.clear()
    assert cli.main(["reproduce", "-q", "--profile", "student", "--jpeg", str(tmp_path / "docs")]) == 0
    assert seen["profile"] == "student" and seen["jpeg_dir"] == tmp_path / "docs"
    capsys.readouterr()
    assert cli.main(["reproduce", "--profile", "fast"]) == 2
    _one_error_line(capsys.readouterr().err)
    assert cli.main(["reproduce", "--timeout", "-5"]) == 2
    _one_error_line(capsys.readouterr().err)


def test_reproduce_missing_module(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "stylelab.teaching.reproduce", None)
    assert cli.main(["reproduce"]) == 1
    err = capsys.readouterr().err
    assert "reproduce" in err and "Traceback" not in err


def test_scales_tol_and_patience_reach_the_engine(tiny, images, tmp_path, capsys):
    out = tmp_path / "c2f" / "run.png"
    code = cli.main(["transfer", str(images["content"]), str(images["style"]), "-o", str(out), "--size", "32",
                     "--scales", "24,32", "--steps", "3,2", "--tol", "0.5", "--patience", "2",
                     "--save-every", "1"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["settings"]["scales"] == [24, 32] and meta["settings"]["steps"] == [3, 2]
    assert meta["settings"]["tol"] == 0.5 and meta["settings"]["patience"] == 2
    assert [s["size"] for s in meta["stages"]] == [[18, 24], [24, 32]]
    assert "converged" in meta["status"] and meta["status"] in stderr
    assert Image.open(out).size == (32, 24)
    gif = Image.open(out.with_suffix(".gif"))  # frames of both stages, at the output's size
    assert gif.size == (32, 24) and gif.n_frames >= 3


def test_stopping_rule_defaults_match_the_engine():
    assert cli_options._engine_defaults() == (optimise.DEFAULT_TOL, optimise.DEFAULT_PATIENCE)
