"""What `stylelab transfer` runs when nothing else is asked for, and the --precision and
--convention options: the CLI's defaults agree with the student profile and the engine's."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import config, paper, precision, weights
from stylelab.cli import command as cli
from stylelab.cli import common as cli_common
from stylelab.networks.vgg import VGG

from stylelab.method import conventions


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE, precision.ENV):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def tiny(monkeypatch):
    calls = []

    def fake_load_vgg(*args, **kwargs):
        calls.append(kwargs)
        torch.manual_seed(0)
        return VGG("vgg16", widths=(4, 8, 8, 16, 16))

    monkeypatch.setattr(weights, "load_vgg", fake_load_vgg)
    return calls


def _picture(path, width, height, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def _transfer(tmp_path, capsys, *extra, width=96, height=72):
    content = _picture(tmp_path / "content.png", width, height, 1)
    style = _picture(tmp_path / "style.png", width, height, 2)
    out = tmp_path / "out.png"
    code = cli.main(["transfer", str(content), str(style), "-o", str(out), "--quiet", *map(str, extra)])
    _, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out.with_suffix(".json").read_text())


def test_cli_constants_match_the_package():
    assert cli_common.PRECISIONS == precision.PRECISIONS
    assert set(cli_common.LOSS_CONVENTIONS) == set(conventions.CONVENTIONS) and cli_common.LOSS_CONVENTIONS[0] == conventions.DEFAULT_CONVENTION
    student = paper.PROFILES["student"]
    assert cli_common.TRANSFER_DEFAULTS == {"stages": student.stages, "steps": student.steps, "tol": student.tol,
                                     "tv": student.tv, "chroma_tv": student.chroma_tv}


def test_default_transfer_is_the_student_profile(tmp_path, capsys, tiny):
    meta = _transfer(tmp_path, capsys, "--size", "96", "--steps", "2")
    s = meta["settings"]
    assert s["convention"] == "calibrated" and s["content_scale"] == conventions.CALIBRATION
    assert s["scales"] == paper.stage_scales(96, 3) == [24, 48, 96]
    assert s["tol"] == paper.PROFILES["student"].tol
    assert s["tv_weight"] == paper.TV_WEIGHT
    assert s["extra_term_weights"] == {"chroma_tv": paper.CHROMA_TV_WEIGHT}
    assert s["precision"] in ("fp32", "bf16") and s["precision_reason"]
    assert tiny[-1]["normalized"] is True  # the calibrated convention's network


def test_default_stages_that_do_not_fit_the_deepest_layer_are_left_out(tmp_path, capsys, tiny):
    s = _transfer(tmp_path, capsys, "--size", "40", "--steps", "2", width=40, height=30)["settings"]
    assert s["scales"] is None  # 40 px: a 20 px stage would be 20 x 15, too small for relu5_1 (16 px)
    s = _transfer(tmp_path, capsys, "--size", "64", "--steps", "2", width=64, height=48)["settings"]
    assert s["scales"] == [32, 64]  # 16 x 12 would be too small; two stages fit


def test_explicit_options_override_the_defaults(tmp_path, capsys, tiny):
    s = _transfer(tmp_path, capsys, "--size", "96", "--steps", "2", "--stages", "1", "--tv", "0", "--tol", "0",
                  "--precision", "fp32", "--convention", "gatys_code")["settings"]
    assert s["scales"] is None and s["tv_weight"] == 0 and s["tol"] == 0 and s["precision"] == "fp32"
    assert s["convention"] == "gatys_code" and tiny[-1]["normalized"] is False
    assert "extra_terms" in s  # --tv 0 leaves the chroma prior on; --chroma-tv 0 turns it off
    s = _transfer(tmp_path, capsys, "--size", "96", "--steps", "2", "--chroma-tv", "0")["settings"]
    assert "extra_terms" not in s
    s = _transfer(tmp_path, capsys, "--size", "96", "--steps", "2", "--scales", "48,96",
                  "--precision", "bf16", "--raw-network")["settings"]
    assert s["scales"] == [48, 96] and s["precision"] == "bf16" and tiny[-1]["normalized"] is False


def test_bad_precision_is_a_usage_error(tmp_path, capsys, tiny):
    content = _picture(tmp_path / "c.png", 32, 24, 1)
    code = cli.main(["transfer", str(content), str(content), "-o", str(tmp_path / "o.png"), "--precision", "half"])
    assert code == 2 and "invalid choice" in capsys.readouterr().err
