"""Tests of stylelab.explorer.app without a browser: widgets set and clicked from Python.

A tiny random VGG-16 (4..16 channels) and small generated images stand in for the
real network and the sample images, so nothing is downloaded and each run takes a
fraction of a second (drawing the loss curves costs more than optimising).
"""

from __future__ import annotations

import datetime
import io
import json
import threading
import warnings

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from stylelab.explorer import app as ex_mod  # noqa: E402
from stylelab.method import optimise, transfer as engine  # noqa: E402
from stylelab import paper  # noqa: E402
from stylelab.errors import NonFiniteLossError  # noqa: E402
from stylelab.explorer.app import NONE, UPLOAD_PREFIX, Explorer  # noqa: E402
from conftest import build_tiny_vgg  # noqa: E402
from stylelab.networks.vgg import PAPER_STYLE_LAYERS  # noqa: E402

pytestmark = pytest.mark.timeout(60) if hasattr(pytest.mark, "timeout") else []

NOTEBOOK = __import__("pathlib").Path(__file__).resolve().parents[2] / "notebooks" / "08_explorer.ipynb"


@pytest.fixture(scope="module")
def model():
    return build_tiny_vgg()  # conftest's tiny He-initialised VGG-16 (once per module)


def _images():
    g = torch.Generator().manual_seed(1)
    return {
        "tubingen": torch.rand(1, 3, 24, 32, generator=g),
        "starry_night": torch.rand(1, 3, 20, 32, generator=g),
        "composition_vii": torch.rand(1, 3, 32, 32, generator=g),
        "shipwreck": torch.rand(1, 3, 22, 32, generator=g),
    }


@pytest.fixture
def ex(model, tmp_path):
    # one size, every step: the paper's procedure (the profile's stages and stopping rule are tested below)
    e = Explorer(model=model, images=_images(), samples=False, size=32, steps=6, every=3, stages=1, tol=False,
                 output_dir=tmp_path / "out")
    yield e
    e.stop()
    assert e.wait(30), "a run did not end"


def _png(w=40, h=30, colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="PNG")
    return buf.getvalue()


def _upload_value(name: str, content: bytes):
    return ({"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
             "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def _error_text(e: Explorer) -> str:
    assert e.last_error, f"no error shown; message is {e.message.value!r}"
    visible = e.message.value.split("<details>")[0]  # a traceback, if any, is folded away
    assert "⚠" in visible and "Traceback" not in visible
    return e.message.value


def _idle(e: Explorer) -> None:
    assert not e.running
    assert not e.run_button.disabled and e.stop_button.disabled


# ------------------------------------------------------------------------- a run


def test_run_updates_preview_curves_progress_and_history(ex):
    # The preview shows the best image so far: Adam lowers the loss at every step here, where
    # L-BFGS's first long step overshoots on the tiny network and the best image stays put.
    ex.optimizer.value = "adam"
    previews, curves = [], []  # the step at which each was redrawn
    ex.preview.observe(lambda c: previews.append(ex.progress.value), "value")
    ex.curves.observe(lambda c: curves.append(ex.progress.value), "value")
    placeholder = bytes(ex.preview.value)
    assert bytes(ex.curves.value) == b""

    run = ex.run(wait=True)

    assert run is not None and run.status == "finished", ex.message.value
    assert run.result.steps_done == 6 and not run.result.stopped
    # every=3 of 6 steps: the preview and the curves were drawn during the run and at its end
    assert previews[:2] == [3, 6] and curves[:2] == [3, 6]
    assert run.result.losses["total"] < run.result.history[0]["total"]  # the image did change
    assert bytes(ex.preview.value) != placeholder and bytes(ex.preview.value).startswith(b"\x89PNG")
    assert bytes(ex.curves.value).startswith(b"\x89PNG") and ex.curves.layout.display is None
    assert ex.progress.max == 6 and ex.progress.value == 6
    assert ex.status.value == "finished" and "finished" in ex.message.value
    _idle(ex)
    # the history: one card, and the run's settings
    assert len(ex.runs) == 1 and len(ex.history_box.children) == 1
    assert run.settings["content"] == "tubingen" and run.settings["style"] == "starry_night"
    assert list(run.settings["style_layers"]) == list(PAPER_STYLE_LAYERS)
    assert run.result.settings["explorer"]["ratio"] == pytest.approx(1e-3)
    assert run.result.settings["ratio"] == pytest.approx(1e-3)


def test_per_layer_curves_redraw_the_shown_run(ex):
    ex.run(wait=True)
    before = bytes(ex.curves.value)
    ex.per_layer.value = True
    assert bytes(ex.curves.value) != before
    assert Image.open(io.BytesIO(ex.curves.value)).height > Image.open(io.BytesIO(before)).height


def test_stop_ends_the_run_within_one_step_and_keeps_its_result(ex):
    ex.steps.value = 500
    ex.every.value = 1000  # no drawing: each step is fast, only Stop can end the run early

    def press_stop(change):  # runs in the optimisation thread, right after step 3
        if change["new"] == 3:
            ex.stop_button.click()

    ex.progress.observe(press_stop, "value")
    run = ex.run(wait=True, timeout=30)

    assert run is not None and run.status == "stopped"
    assert run.result.stopped and run.result.steps_done == 3  # not one more step
    assert run.result.image.shape == (1, 3, 24, 32)
    assert ex.status.value == "stopped" and "stopped after 3 of 500 steps" in ex.message.value
    assert len(ex.history_box.children) == 1  # a stopped run is kept
    _idle(ex)


def test_changing_widgets_during_a_run_does_not_change_it(ex):
    reached, proceed = threading.Event(), threading.Event()

    def pause(change):  # the optimisation thread waits here while the test changes widgets
        if change["new"] == 2:
            reached.set()
            proceed.wait(20)

    ex.progress.observe(pause, "value")
    assert ex.run() is None  # returns at once
    assert reached.wait(20)
    assert ex.running and ex.run_button.disabled
    assert ex.run() is None and "in progress" in ex.message.value  # no second run meanwhile
    ex.ratio.value = 1.0
    ex.steps.value = 3
    ex.size.value = 64
    ex.optimizer.value = "adam"
    for name in ("relu3_1", "relu4_1", "relu5_1"):
        ex.style_layers[name].value = False
    ex.layer_weights["relu1_1"].value = 7.0
    ex.style.value = "shipwreck"
    proceed.set()
    assert ex.wait(30)
    ex.progress.unobserve(pause, "value")

    run = ex.runs[-1]
    s, rs = run.settings, run.result.settings
    assert s["ratio"] == pytest.approx(1e-3) and rs["ratio"] == pytest.approx(1e-3)
    assert s["steps"] == 6 and run.result.steps_done == 6
    assert s["size"] == 32 and rs["size"] == [24, 32]
    assert s["optimizer"] == "lbfgs" == rs["optimizer"]
    assert list(s["style_layers"]) == list(PAPER_STYLE_LAYERS) == rs["style_layers"]
    assert s["layer_weights"]["relu1_1"] == 1.0 and s["style"] == "starry_night"
    with pytest.raises(TypeError):
        s["ratio"] = 5  # the snapshot is read-only

    # ... and the next run uses the new values
    nxt = ex.run(wait=True)
    assert nxt.settings["ratio"] == 1.0 and nxt.result.steps_done == 3
    assert nxt.settings["style"] == "shipwreck" and nxt.result.settings["optimizer"] == "adam"
    assert nxt.result.settings["style_layers"] == ["relu1_1", "relu2_1"]


def test_layer_weights_scale_the_conventions_w_l(ex, model):
    for name in PAPER_STYLE_LAYERS[2:]:
        ex.style_layers[name].value = False
    ex.layer_weights["relu2_1"].value = 3.0
    ex.steps.value = 1
    run = ex.run(wait=True)
    channels = {l.name: l.channels for l in model.layers}
    w = run.result.settings["style_weights"]
    assert w == pytest.approx({"relu1_1": 0.5, "relu2_1": 1.5})  # calibrated (default): w_l = 1/L
    ex.convention.value = "gatys_code"
    w = ex.run(wait=True).result.settings["style_weights"]
    assert w["relu1_1"] == pytest.approx(1 / channels["relu1_1"] ** 2)  # gatys_code: 1/N_l^2
    assert w["relu2_1"] == pytest.approx(3 / channels["relu2_1"] ** 2)
    ex.convention.value = "paper"
    run = ex.run(wait=True)
    assert run.result.settings["style_weights"] == pytest.approx({"relu1_1": 0.5, "relu2_1": 1.5})


def test_pooling_switch_uses_a_copy_of_a_given_model(ex, model):
    ex.pooling.value = "max"
    ex.steps.value = 1
    run = ex.run(wait=True)
    assert run.result.settings["pooling"] == "max"
    assert model.pooling == "avg"  # the model passed in is not changed


def test_texture_and_reconstruction_without_the_other_image(ex):
    ex.steps.value = 2
    ex.content.value = NONE
    run = ex.run(wait=True)
    assert run.result.settings["content_layers"] == [] and run.result.settings["alpha"] == 0
    ex.content.value = "tubingen"
    ex.style.value = NONE
    run = ex.run(wait=True)
    assert run.result.settings["style_layers"] == [] and run.result.settings["beta"] == 0


# ------------------------------------------------------------------------- coarse to fine, the stopping rule


def test_coarse_to_fine_run_ends_at_the_final_size_and_records_its_stages(ex):
    ex.size.value = 64
    ex.stages.value = 2
    assert "32 → 64 px" in ex.stage_sizes.value
    statuses, progress, previews = [], [], []
    ex.status.observe(lambda c: statuses.append(c["new"]), "value")
    ex.progress.observe(lambda c: progress.append(c["new"]), "value")
    ex.preview.observe(lambda c: previews.append(Image.open(io.BytesIO(c["new"])).size), "value")

    run = ex.run(wait=True)

    assert run is not None and run.status == "finished", ex.message.value
    r = run.result
    assert r.image.shape == (1, 3, 48, 64)  # the final size (tubingen is 24 x 32)
    assert [st["size"] for st in r.stages] == [[24, 32], [48, 64]]
    assert [h["stage"] for h in r.history] == [0] * 6 + [1] * 6 and r.steps_done == 12
    assert run.settings["stages"] == 2 and list(run.settings["scales"]) == [32, 64]
    assert r.settings["scales"] == [32, 64] and r.settings["tol"] is None
    # progress and status run on across the stages: 6 steps per stage, 12 in all
    assert progress[:12] == list(range(1, 13)) and ex.progress.max == 12 and ex.progress.value == 12
    assert any(x.startswith("stage 1/2 · 32 px · step 3/6 · ") for x in statuses)
    assert any(x.startswith("stage 2/2 · 64 px · step 6/6 · ") for x in statuses)
    # the preview shows the smaller image of the coarse stage, then the final one
    assert len(set(previews)) == 2
    assert bytes(ex.curves.value).startswith(b"\x89PNG")
    assert "finished (2 stages, 32 → 64 px): not converged after 12 steps" in ex.message.value
    caption = ex.history_box.children[0].children[1].value
    assert "32 → 64 px" in caption and "not converged after 12 steps" in caption
    _idle(ex)


def test_stopping_rule_ends_a_flat_run_and_says_converged(ex):
    ex.optimizer.value, ex.lr.value = "adam", 1e-6  # the loss hardly moves
    ex.steps.value = 100
    ex.stop_early.value = True
    assert ex.tol.value == pytest.approx(optimise.DEFAULT_TOL) and not ex.tol.disabled
    run = ex.run(wait=True)
    assert run is not None and run.status == "finished", ex.message.value
    r = run.result
    assert r.converged and r.steps_done < 100
    assert run.settings["tol"] == pytest.approx(optimise.DEFAULT_TOL) == r.settings["tol"]
    assert f"finished: converged after {r.steps_done} steps" in ex.message.value
    assert f"converged after {r.steps_done} steps" in ex.history_box.children[0].children[1].value
    assert ex.progress.value == ex.progress.max == 100  # done: the cap was not needed


def test_first_stage_too_small_for_the_deepest_layer_is_a_message(ex, monkeypatch):
    ex.stages.value = 3  # 8 -> 16 -> 32 px; relu5_1 needs 16 px
    assert "too small for relu5_1" in ex.stage_sizes.value
    ex.run_button.click()
    text = _error_text(ex)
    assert "3 stages are too many for 32 px" in text and "relu5_1" in text and "at least 16 px" in text
    assert "<br>" not in text and ex.runs == [] and ex._thread is None
    _idle(ex)
    ex.stages.value = 2  # 16 px on the longer side, but tubingen's first stage is 16 x 12
    assert ex.run() is None and "the first stage (16×12 px)" in _error_text(ex)
    # an image whose shape is not known before Run (a sample not loaded yet): the run says so
    monkeypatch.setattr(ex, "_known_shape", lambda s: None)
    assert ex.run(wait=True) is None and "the first stage (16×12 px)" in _error_text(ex)
    assert ex.status.value == "error"
    _idle(ex)
    # the widget keeps working: shallower style layers fit
    ex.style_layers["relu5_1"].value = False
    ex.steps.value = 2
    run = ex.run(wait=True)
    assert run is not None and run.status == "finished" and run.result.image.shape == (1, 3, 24, 32)


def test_stages_and_tol_go_into_the_settings_the_json_and_the_comparison(ex):
    ex.size.value = 64
    ex.steps.value = 2
    ex.every.value = 100
    ex.run(wait=True)
    ex.stages.value = 2
    ex.stop_early.value, ex.tol.value = True, 1e-3
    second = ex.run(wait=True)
    assert second is not None and second.result.stages, ex.message.value
    row = ex.compare_view.children[0]
    table = next(w.value for w in row.children if isinstance(w, ex_mod.widgets.HTML))
    assert "<td>scales</td><td>one size</td><td>32 → 64 px</td>" in table
    assert "<td>tol</td><td>off</td><td>0.001</td>" in table and "<td>stages</td>" not in table

    meta = json.loads(ex.save(2).with_suffix(".json").read_text())
    assert meta["settings"]["scales"] == [32, 64] and meta["settings"]["tol"] == pytest.approx(1e-3)
    mine = meta["settings"]["explorer"]
    assert (mine["stages"], mine["scales"], mine["tol"]) == (2, [32, 64], pytest.approx(1e-3))
    assert [st["size"] for st in meta["stages"]] == [[24, 32], [48, 64]]
    assert {h["stage"] for h in meta["history"]} == {0, 1} and "status" in meta


# ------------------------------------------------------------------------- history, compare, save


def test_history_comparison_and_save(ex, tmp_path):
    ex.steps.value = 2
    ex.every.value = 100
    first = ex.run(wait=True)
    ex.ratio.value = 1e-2
    second = ex.run(wait=True)
    assert [r.number for r in ex.runs] == [1, 2]
    assert len(ex.history_box.children) == 2
    assert "#2" in ex.history_box.children[0].children[1].value  # newest first
    # the two newest are compared: images side by side and the setting that differs
    assert (ex.compare_a.value, ex.compare_b.value) == (1, 2)
    row = ex.compare_view.children[0]
    assert sum(isinstance(w, ex_mod.widgets.VBox) for w in row.children) == 2
    table = next(w.value for w in row.children if isinstance(w, ex_mod.widgets.HTML))
    assert "<td>ratio</td>" in table and "<td>steps</td>" not in table

    # save by number, to the default place
    path = ex.save(1)
    assert path == tmp_path / "out" / "run-001.png" and path.is_file()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["settings"]["explorer"]["ratio"] == pytest.approx(1e-3)
    assert meta["settings"]["ratio"] == pytest.approx(first.result.settings["ratio"])
    assert len(meta["history"]) == 2 and "saved run #1" in ex.message.value
    # the card's Save button; a path of one's own
    save_button = ex.history_box.children[0].children[2].children[0]
    save_button.click()
    assert (tmp_path / "out" / "run-002.png").is_file() and (tmp_path / "out" / "run-002.json").is_file()
    own = ex.save(-1, tmp_path / "mine" / "b.png")
    assert own.is_file() and json.loads(own.with_suffix(".json").read_text())["settings"]["explorer"][
        "ratio"] == pytest.approx(second.settings["ratio"])
    # a run that does not exist, a bad suffix: messages, no exception
    assert ex.save(7) is None and "no run #7" in _error_text(ex)
    assert ex.save(1, tmp_path / "x.gif") is None and "suffix" in _error_text(ex)
    # choosing another pair in the menus redraws the comparison
    ex.compare_b.value = 1
    assert "same settings" in ex.compare_view.children[0].children[2].value


def test_history_row_shows_the_newest_runs(model, tmp_path):
    e = Explorer(model=model, images=_images(), samples=False, size=32, steps=1, every=100, stages=1,
                 history_size=2, output_dir=tmp_path)
    for _ in range(3):
        e.run(wait=True)
    assert len(e.runs) == 3 and len(e.history_box.children) == 2
    assert "#3" in e.history_box.children[0].children[1].value


# ------------------------------------------------------------------------- errors in the UI


def test_no_style_layer_selected_is_a_message(ex):
    for cb in ex.style_layers.values():
        cb.value = False
    ex.run_button.click()
    assert "no style layer selected" in _error_text(ex)
    assert ex.runs == [] and ex._thread is None
    _idle(ex)


def test_unreadable_upload_is_a_message_and_a_good_one_is_used(ex):
    ex.content_upload.value = _upload_value("holiday.png", b"this is not a png")
    assert "cannot read the upload 'holiday.png'" in _error_text(ex).replace("&#x27;", "'")
    assert ex.content.value == "tubingen"  # unchanged
    assert ex.add_upload("style", "empty.jpg", b"") is None and "empty" in _error_text(ex)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a big upload is shrunk without a warning in the notebook
        ex.add_upload("content", "big.png", _png(2000, 1500))
    assert ex.content.value == UPLOAD_PREFIX + "big.png" and "2000" not in ex.message.value
    assert ex._images[UPLOAD_PREFIX + "big.png"].shape == (1, 3, 768, 1024)
    ex.content.value = "tubingen"

    ex.style_upload.value = _upload_value("red.png", _png())
    assert ex.style.value == UPLOAD_PREFIX + "red.png"
    assert UPLOAD_PREFIX + "red.png" in ex.content.options
    ex.steps.value = 1
    run = ex.run(wait=True)
    assert run is not None and run.settings["style"] == "upload: red.png"


@pytest.mark.parametrize("error", [
    lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    lambda: RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"),
    lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                         "memory: you tried to allocate 4398046511104 bytes. Error code 12"),
    lambda: MemoryError(),
], ids=["cuda-oom", "cuda-oom-runtime", "cpu-allocator", "memoryerror"])
def test_out_of_memory_is_a_message(ex, monkeypatch, error):
    def boom(*args, **kwargs):
        raise error()

    monkeypatch.setattr(engine, "run", boom)
    assert ex.run(wait=True) is None
    text = _error_text(ex)
    assert "out of memory at 32 px" in text and "smaller size" in text
    assert ex.status.value == "error" and ex.progress.bar_style == "danger"
    _idle(ex)


def test_unexpected_errors_and_divergence_are_messages(ex, monkeypatch):
    def bug(*args, **kwargs):
        raise ValueError("something odd")

    monkeypatch.setattr(engine, "run", bug)
    assert ex.run(wait=True) is None
    text = _error_text(ex)
    assert "unexpected error: ValueError: something odd" in text and "<details>" in text
    assert "Traceback" in ex.last_traceback
    _idle(ex)

    real_run = engine.optimize

    def diverge(*args, **kwargs):
        result = real_run(*args, **{**kwargs, "steps": 2})
        raise NonFiniteLossError("the loss became nan at step 3", result=result)

    monkeypatch.undo()
    monkeypatch.setattr(engine, "optimize", diverge)
    run = ex.run(wait=True)
    assert run is not None and run.status == "diverged" and run.result.steps_done == 2
    assert "loss became nan" in _error_text(ex) and "diverged" in ex.history_box.children[0].children[1].value
    _idle(ex)


def test_bad_settings_from_the_engine_are_messages(ex):
    for cb in ex.style_layers.values():
        cb.value = False
    ex.style_layers["relu1_1"].value = True
    ex.layer_weights["relu1_1"].value = 0.0
    assert ex.run(wait=True) is None and "zero" in _error_text(ex)
    ex.layer_weights["relu1_1"].value = 1.0
    ex.size.value = 32
    ex.content_layer.value = "relu5_3"
    ex.content.value = "starry_night"  # 20 x 32: too small for relu5_3 (needs 16 px, fine) ...
    ex.content_layer.value = "pool5"  # ... pool5 needs 32 px on each side
    assert ex.run(wait=True) is None and "pool5 needs at least 32 px" in _error_text(ex)
    ex.content.value = NONE
    ex.style.value = NONE
    assert ex.run() is None and "choose a content image, a style image" in _error_text(ex)
    ex.style.value = "starry_night"
    ex.init.value = "content"
    assert ex.run() is None and "needs a content image" in _error_text(ex)


# ------------------------------------------------------------------------- presets and profiles


def test_presets_set_the_widgets(ex):
    names = ex.presets()
    assert names == list(paper.presets())
    fig2 = next(n for n in names if n.startswith("Fig. 2C"))
    ex.convention.value, ex.tv_weight.value, ex.optimizer.value = "paper", 5.0, "adam"
    ex.lr.value, ex.layer_weights["relu1_1"].value, ex.pooling.value = 0.5, 3.0, "max"
    ex.preset.value = fig2  # choosing it in the menu applies it, with the paper's method
    assert (ex.convention.value, ex.optimizer.value) == ("calibrated", "lbfgs")
    assert ex.tv_weight.value == 5.0  # the TV weight is the profile's (or the user's), as size and steps
    assert (ex.lr.value, ex.layer_weights["relu1_1"].value, ex.pooling.value) == (1.0, 1.0, "avg")
    p = paper.presets()[fig2]
    assert ex.content.value == p["content"] and ex.style.value == p["style"]
    assert ex.ratio.value == pytest.approx(p["ratio"])
    assert [n for n, cb in ex.style_layers.items() if cb.value] == p["style_layers"]
    assert ex.settings()["preset"] == fig2

    row2 = next(n for n in names if n.startswith("Fig. 3 row 2") and "0.0001" in n)
    assert ex.apply_preset(row2)
    assert ex.style.value == "composition_vii" and ex.ratio.value == pytest.approx(1e-4)
    assert [n for n, cb in ex.style_layers.items() if cb.value] == ["relu1_1", "relu2_1"]
    # the profile switch keeps the preset; changing a setting makes it custom
    ex.profile.value = "paper"
    assert ex.preset.value == row2
    ex.ratio.value = 1e-2
    assert ex.preset.value == "" and ex.settings()["preset"] is None

    cvpr = next(n for n in names if n.startswith("Fig. 6 (CVPR) start from style"))
    assert ex.apply_preset(cvpr) and ex.init.value == "style" and ex.content_layer.value == "relu4_2"
    cvpr = next(n for n in names if n.startswith("Fig. 5 (CVPR) content at relu2_2"))
    assert ex.apply_preset(cvpr) and ex.init.value == "noise" and ex.content_layer.value == "relu2_2"

    texture = next(n for n in names if n.startswith("Fig. 1 style"))
    assert ex.apply_preset(texture)
    assert ex.content.value == NONE and ex.content_layer.value == NONE

    assert not ex.apply_preset("Fig. 99") and "unknown preset" in _error_text(ex)


def test_preset_needing_an_image_not_offered_is_a_message(model, tmp_path):
    e = Explorer(model=model, images={"tubingen": _images()["tubingen"]}, samples=False, output_dir=tmp_path)
    name = next(n for n in e.presets() if n.startswith("Fig. 2C"))
    assert not e.apply_preset(name)
    assert "starry_night" in _error_text(e)


def test_profile_switch_sets_size_steps_stages_and_the_stopping_rule(ex):
    for name in [n for n in paper.PROFILES if n != ex.profile.value] + [ex.profile.value]:
        ex.profile.value = name
        prof = paper.PROFILES[name]
        assert (ex.size.value, ex.steps.value, ex.stages.value) == (prof.size, prof.steps, prof.stages)
        assert ex.stop_early.value == (prof.tol is not None) and ex.tol.disabled == (prof.tol is None)
        s = ex.settings()
        assert s["stages"] == prof.stages and s["scales"] == prof.scales(prof.size)
        assert s["tol"] == (None if prof.tol is None else pytest.approx(prof.tol))
        assert s["tv_weight"] == pytest.approx(prof.tv_weight(prof.size))  # 0 in the paper profile
        assert s["chroma_tv"] == pytest.approx(prof.chroma_tv)  # the chroma prior: 0 in the paper profile
        if prof.scales():
            assert " → ".join(map(str, prof.scales())) + " px" in ex.stage_sizes.value
            assert f"{prof.stages} stages" in ex.message.value
    # the sizes beside the stages follow the size
    ex.stages.value, ex.size.value = 3, 512
    assert "128 → 256 → 512 px" in ex.stage_sizes.value
    ex.stages.value = 1
    assert "one size, 512 px" in ex.stage_sizes.value
    # a preset leaves them as they are, like size, steps and seed
    ex.stages.value, ex.stop_early.value, ex.tol.value = 3, True, 1e-4
    assert ex.apply_preset(next(n for n in ex.presets() if n.startswith("Fig. 2C")))
    assert (ex.stages.value, ex.stop_early.value, ex.tol.value) == (3, True, pytest.approx(1e-4))
    ex.stop_early.value = False
    assert ex.tol.disabled and ex.settings()["tol"] is None


def test_constructor_takes_the_profile_or_its_own_stages_and_tol(model, tmp_path):
    common = dict(model=model, images=_images(), samples=False, output_dir=tmp_path)
    student = paper.PROFILES["student"]
    e = Explorer(profile="student", **common)
    assert e.stages.value == student.stages and e.stop_early.value == (student.tol is not None)
    e = Explorer(profile="student", stages=2, tol=False, **common)
    assert e.stages.value == 2 and not e.stop_early.value and e.settings()["tol"] is None
    e = Explorer(profile="quick", tol=True, **common)
    assert e.settings()["tol"] == pytest.approx(optimise.DEFAULT_TOL)
    e = Explorer(profile="quick", stages=6, tol=3e-4, **common)  # more stages than the menu offers
    assert e.stages.value == 6 and e.settings()["tol"] == pytest.approx(3e-4)
    for bad in (dict(stages=0), dict(tol=-1.0)):
        with pytest.raises(ex_mod.SettingsError):
            Explorer(**common, **bad)


def test_optimizer_switch_sets_its_learning_rate(ex):
    ex.optimizer.value = "adam"
    assert ex.lr.value == pytest.approx(0.02)
    ex.optimizer.value = "lbfgs"
    assert ex.lr.value == pytest.approx(1.0)


def test_bad_weights_setting_is_shown_not_raised(monkeypatch, tmp_path):
    monkeypatch.setenv("STYLELAB_WEIGHTS", "nonsense")
    e = Explorer(samples=False, images=_images(), output_dir=tmp_path)
    assert "STYLELAB_WEIGHTS" in _error_text(e)
    e.steps.value = 1
    assert e.run(wait=True) is None and "STYLELAB_WEIGHTS" in _error_text(e)


# ------------------------------------------------------------------------- the notebook


def test_notebook_only_creates_and_shows_the_explorer(monkeypatch, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "colab" in nb.cells[0].metadata.get("tags", []) and nb.cells[1].cell_type == "markdown"
    code = code[1:]  # the Colab set-up (tests/teaching/test_course.py) installs stylelab in Colab, nothing else
    assert any("parameters" in c.metadata.get("tags", []) for c in code)
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None, "store the notebook without outputs"
    source = "\n".join(c.source for c in code)
    assert "from stylelab.explorer import Explorer" in source and ".display()" in source
    for call in ("transfer.run", "load_vgg", "optimize", "torch"):
        assert call not in source

    # Run it as papermill would (its parameters, then the rest): display only, no optimisation.
    shown = []
    monkeypatch.setattr(Explorer, "display", lambda self: shown.append(self))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for c in code:
        exec(compile(c.source, "08_explorer.ipynb", "exec"), namespace)  # noqa: S102
        if "parameters" in c.metadata.get("tags", []):
            namespace.update(profile="paper", output_dir=str(tmp_path / "o"), seed=3, unknown_extra=1)
    assert len(shown) == 1 and shown[0] is namespace["explorer"]
    e = shown[0]
    assert e.profile.value == "paper" and e.size.value == 512 and e.seed.value == 3
    assert e.output_dir == tmp_path / "o" / "08_explorer" and e.runs == [] and not e.running
