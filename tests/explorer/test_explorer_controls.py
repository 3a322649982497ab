"""Tests of the explorer's 2017 controls (stylelab.explorer.controls): regions (spatial
control, stylelab.control.masks) and fine style (scale control, stylelab.control.scale), set from Python.

The engine functions are wrapped: each test records the call the explorer makes
(function, images, keywords) and then lets the real function run 3 steps on a tiny random
VGG-16, so the keywords are also checked by the engine itself.
"""

from __future__ import annotations

import io
import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from stylelab import masks, paper, scale, segment  # noqa: E402
from stylelab.control import transfer as controlled  # noqa: E402
from stylelab.explorer import app as ex_mod  # noqa: E402
from stylelab.explorer import common as explorer_common, controls as explorer_controls  # noqa: E402
from stylelab.explorer.app import NONE, UPLOAD_PREFIX, Explorer  # noqa: E402
from conftest import build_tiny_vgg  # noqa: E402

pytestmark = pytest.mark.timeout(60) if hasattr(pytest.mark, "timeout") else []


@pytest.fixture(scope="module")
def model():
    return build_tiny_vgg()  # conftest's tiny He-initialised VGG-16 (once per module)


def _photo() -> torch.Tensor:
    """A 'landscape': a smooth bright blue sky over a darker textured town."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, 24, 32, generator=g) * 0.6
    x[:, :, :10] = torch.tensor([0.5, 0.7, 0.95]).view(1, 3, 1, 1)
    return x


def _images():
    g = torch.Generator().manual_seed(1)
    return {"tubingen": _photo(), "starry_night": torch.rand(1, 3, 20, 32, generator=g),
            "the_scream": torch.rand(1, 3, 32, 24, generator=g), "shipwreck": torch.rand(1, 3, 22, 32, generator=g)}


@pytest.fixture
def ex(model, tmp_path):
    e = Explorer(model=model, images=_images(), samples=False, size=32, steps=3, every=3, stages=1, tol=False,
                 output_dir=tmp_path / "out")
    yield e
    e.stop()
    assert e.wait(30), "a run did not end"


@pytest.fixture
def calls(monkeypatch):
    """Record the engine calls (then run the real function)."""
    seen: list[dict] = []
    for module, name in ((controlled, "transfer"), (scale, "transfer")):
        real = getattr(module, name)

        def wrapped(*args, _real=real, _where=module.__name__, **kwargs):
            seen.append({"fn": f"{_where}.transfer", "args": args, "kwargs": kwargs})
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)
    return seen


def _error(e: Explorer) -> str:
    assert e.last_error, f"no error shown; message is {e.message.value!r}"
    visible = e.message.value.split("<details>")[0]
    assert "⚠" in visible and "Traceback" not in visible
    return visible


# ------------------------------------------------------------------------- widgets, settings


def test_controls_exist_with_the_papers_defaults(ex):
    assert ex.regions.value == "" and [v for _l, v in ex.regions.options] == ["", "sky-town"]
    assert ex.region_style.value == "the_scream" and ex.region_style.disabled
    assert ex.fine_style.value == NONE and NONE in ex.fine_style.options
    assert list(ex.split.options) == ["relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert ex.split.value == scale.DEFAULT_SPLIT and ex.split.disabled
    assert ex.scale_method.value == "paper" and ex.scale_method.disabled
    s = ex.settings()
    assert {k: s[k] for k in ("regions", "region_style", "fine_style", "split", "scale_method")} == dict.fromkeys(
        ("regions", "region_style", "fine_style", "split", "scale_method"))
    # the menus switch their companions on
    ex.regions.value = "sky-town"
    ex.fine_style.value = "shipwreck"
    assert not ex.region_style.disabled and not ex.split.disabled and not ex.scale_method.disabled
    ex.split.value, ex.scale_method.value = "relu4_1", "layers"
    s = ex.settings()
    assert (s["regions"], s["region_style"], s["fine_style"], s["split"], s["scale_method"]) == (
        "sky-town", "the_scream", "shipwreck", "relu4_1", "layers")
    json.dumps(s)  # JSON-able
    assert ex.preset.value == ""  # a change of a control makes the settings custom


def test_presets_reset_the_controls(ex):
    assert {k: explorer_common.PAPER_SETTINGS[k] for k in explorer_controls.DEFAULTS} == explorer_controls.DEFAULTS
    ex.regions.value, ex.fine_style.value, ex.split.value, ex.scale_method.value = "sky-town", "shipwreck", \
        "relu5_1", "layers"
    fig2 = next(n for n in paper.presets() if n.startswith("Fig. 2C"))
    assert ex.apply_preset(fig2), ex.message.value
    assert (ex.regions.value, ex.fine_style.value, ex.split.value, ex.scale_method.value) == (
        "", NONE, scale.DEFAULT_SPLIT, "paper")
    assert ex.region_style.disabled and ex.split.disabled and ex.settings()["preset"] == fig2


def test_an_upload_is_offered_in_the_control_menus(ex):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buf, format="PNG")
    name = ex.add_upload("style", "red.png", buf.getvalue())
    assert name == UPLOAD_PREFIX + "red.png"
    assert name in ex.region_style.options and name in ex.fine_style.options
    assert ex.region_style.value == "the_scream" and ex.fine_style.value == NONE  # kept


# ------------------------------------------------------------------------- runs


def test_plain_run_calls_the_papers_transfer(ex, calls):
    run = ex.run(wait=True)
    assert run is not None and run.status == "finished", ex.message.value
    (call,) = calls
    assert call["fn"] == "stylelab.control.transfer.transfer" and len(call["args"]) == 2
    assert "regions" not in call["kwargs"] and call["kwargs"]["preserve_colour"] is None


def test_sky_town_regions_run_a_guided_transfer(ex, calls, tmp_path):
    ex.regions.value = "sky-town"
    ex.preserve_colour.value = "luminance"  # both 2017 controls at once: the engine takes them
    run = ex.run(wait=True)
    assert run is not None and run.status == "finished", ex.message.value
    (call,) = calls
    content, styles = call["args"]
    assert call["fn"] == "stylelab.control.transfer.transfer" and len(styles) == 2
    assert torch.equal(styles[0], ex._load("starry_night", 32)) and torch.equal(styles[1], ex._load("the_scream", 32))
    regions = call["kwargs"]["regions"]
    assert isinstance(regions, masks.Regions) and regions.names == ["sky", "town"]
    sky = segment.sky_mask(content)
    assert torch.equal(regions.masks[0], sky) and torch.equal(regions.masks[1], 1 - sky)
    assert call["kwargs"]["preserve_colour"] == "luminance"
    assert run.result.settings["regions"]["names"] == ["sky", "town"]
    assert run.result.settings["preserve_colour"] == "luminance"
    # recorded: the settings JSON and the history card
    path = ex.save(run.number)
    saved = json.loads(path.with_suffix(".json").read_text())["settings"]["explorer"]
    assert (saved["regions"], saved["region_style"], saved["fine_style"]) == ("sky-town", "the_scream", None)
    caption = ex.history_box.children[0].children[1].value
    assert "sky starry night / town the scream" in caption and "keep colours: luminance" in caption


@pytest.mark.parametrize("method", ["paper", "layers"])
def test_fine_style_runs_the_scale_transfer(ex, calls, method):
    ex.fine_style.value = "shipwreck"
    ex.split.value = "relu4_1"
    ex.scale_method.value = method
    ex.preserve_colour.value = "histogram-pca"
    run = ex.run(wait=True)
    assert run is not None and run.status == "finished", ex.message.value
    call = calls[0]
    assert call["fn"] == "stylelab.control.scale.transfer"
    content, coarse, fine, split = call["args"]
    assert torch.equal(coarse, ex._load("starry_night", 32)) and torch.equal(fine, ex._load("shipwreck", 32))
    assert split == "relu4_1" and call["kwargs"]["method"] == method
    assert call["kwargs"]["preserve_colour"] == "histogram-pca"
    assert call["kwargs"].get("style_steps") == (3 if method == "paper" else None)
    info = run.result.settings["scale"]
    assert info["method"] == method and info["split"] == "relu4_1"
    assert info["fine_layers"] == ["relu1_1", "relu2_1", "relu3_1"] and info["coarse_layers"] == ["relu4_1", "relu5_1"]
    assert run.settings["fine_style"] == "shipwreck" and run.settings["split"] == "relu4_1"
    assert f"fine shipwreck before relu4_1 ({method})" in ex.history_box.children[0].children[1].value
    # the comparison lists the setting that differs
    ex.fine_style.value = NONE
    ex.run(wait=True)
    table = ex.compare_view.children[0].children[2].value
    assert "<td>fine_style</td>" in table and "<td>split</td>" in table


# ------------------------------------------------------------------------- combinations refused


@pytest.mark.parametrize("case, expected", [
    ("regions, no content", "regions sky / town are found in the content image"),
    ("regions, no town style", "regions sky / town need two styles"),
    ("fine style, no content", "fine style (scale control) needs a content image and a style image"),
    ("fine style, no style", "fine style (scale control) needs a content image and a style image"),
    ("fine style and regions", "regions and fine style do not combine"),
])
def test_bad_combinations_are_one_line_and_run_nothing(ex, calls, case, expected):
    if "regions" in case:
        ex.regions.value = "sky-town"
    if "fine style" in case:
        ex.fine_style.value = "shipwreck"
    if "no content" in case or "texture" in case:
        ex.content.value = NONE
    if "no town style" in case:
        ex.region_style.value = NONE
    if "no style" in case:
        ex.style.value = NONE
    assert ex.run(wait=True) is None
    assert expected in _error(ex) and not calls and not ex.runs
    assert not ex.running and not ex.run_button.disabled


def test_no_sky_found_is_a_message(ex, calls, monkeypatch):
    ex.regions.value = "sky-town"
    monkeypatch.setattr(segment, "sky_mask", lambda image: torch.zeros(image.shape[-2:]))
    assert ex.run(wait=True) is None
    assert "segment.sky_mask finds no sky in the content image tubingen" in _error(ex)
    assert not calls and not ex.runs and ex.status.value == "error"


def test_engine_call_maps_the_settings(monkeypatch):
    c, s, f = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    base = {"content": "c", "style": "s", "regions": None, "region_style": None, "fine_style": None, "split": None,
            "scale_method": None, "steps": 7}
    fn, args, extra = explorer_controls.engine_call(base, c, s, load=lambda n: pytest.fail("nothing to load"))
    assert fn is controlled.transfer and args == (c, s) and extra == {}
    fine = {**base, "fine_style": "f", "split": "relu2_1", "scale_method": "layers"}
    fn, args, extra = explorer_controls.engine_call(fine, c, s, load={"f": f}.__getitem__)
    assert fn is scale.transfer and args == (c, s, f, "relu2_1") and extra == {"method": "layers"}
    with pytest.raises(explorer_controls.SettingsError, match="unknown regions"):
        explorer_controls.engine_call({**base, "regions": "left-right"}, c, s, load=lambda n: f)


# ------------------------------------------------------------------------- the style statistic (Li et al. 2017)


def test_style_statistic_menu_offers_the_statistics_with_the_papers_gram_first(ex):
    from stylelab import statistics

    assert [v for _l, v in ex.style_statistic.options] == list(statistics.STATISTICS)
    assert ex.style_statistic.value == "gram" and ex.settings()["style_statistic"] == "gram"
    assert "(Eqs. 3-4)" in ex.statistic_note.value
    ex.style_statistic.value = "mmd_gauss"
    assert "exp(-||x - y||^2" in ex.statistic_note.value and ex.preset.value == ""
    ex.style.value = NONE
    assert "no style image" in ex.statistic_note.value


def test_a_gram_run_passes_no_statistic(ex, calls):
    assert ex.run(wait=True) is not None
    assert "style_statistic" not in calls[0]["kwargs"]


@pytest.mark.parametrize("stat", ["mean_std", "mmd_linear", "mmd_gauss"])
def test_style_statistic_goes_to_the_engine_and_is_recorded(ex, calls, stat):
    ex.style_statistic.value = stat
    run = ex.run(wait=True)
    assert run is not None and run.status == "finished", ex.message.value
    (call,) = calls
    assert call["fn"] == "stylelab.control.transfer.transfer" and call["kwargs"]["style_statistic"] == stat
    assert run.result.settings["style_statistic"] == stat and run.settings["style_statistic"] == stat
    assert f"style statistic {stat}" in ex.history_box.children[0].children[1].value
    ex.style_statistic.value = "gram"
    ex.run(wait=True)
    assert "<td>style_statistic</td>" in ex.compare_view.children[0].children[2].value


def test_style_statistic_with_a_texture_keep_colours_and_the_authors_scale_mix(ex, calls):
    ex.style_statistic.value = "mean_std"
    ex.content.value = NONE  # a texture
    run = ex.run(wait=True)
    assert run is not None and run.result.settings["style_statistic"] == "mean_std", ex.message.value
    ex.content.value = "tubingen"
    ex.preserve_colour.value = "luminance"
    ex.fine_style.value = "shipwreck"  # the authors' mix: a new style image (Grams), then the statistic
    run = ex.run(wait=True)
    assert run is not None and run.status == "finished", ex.message.value
    call = calls[1]  # (the texture's call, this one, then scale.transfer's own call of the engine)
    assert call["fn"] == "stylelab.control.scale.transfer" and call["kwargs"]["style_statistic"] == "mean_std"
    assert call["kwargs"]["method"] == "paper" and call["kwargs"]["preserve_colour"] == "luminance"
    assert run.result.settings["style_statistic"] == "mean_std"


def test_regions_and_a_statistic_disable_each_other_whichever_comes_first(ex):
    ex.style_statistic.value = "mean_std"
    assert ex.regions.disabled and "regions are off" in ex.statistic_note.value
    ex.style_statistic.value = "gram"
    assert not ex.regions.disabled and not ex.style_statistic.disabled
    ex.regions.value = "sky-town"
    assert ex.style_statistic.disabled and "only choice with regions" in ex.statistic_note.value
    ex.regions.value = ""
    assert not ex.style_statistic.disabled


@pytest.mark.parametrize("case, expected", [
    ("regions", "the regions match guided Gram matrices, one per region; the style statistic mmd_linear"),
    ("per-layer mix", "the per-layer mix matches two paintings' Gram matrices; the style statistic mmd_linear"),
])
def test_a_statistic_the_engine_refuses_is_explained_and_runs_nothing(ex, calls, case, expected):
    if case == "regions":  # both set from code: nothing is disabled, the note and Run say why
        ex.regions.value = "sky-town"
    else:
        ex.fine_style.value, ex.scale_method.value = "shipwreck", "layers"
    ex.style_statistic.value = "mmd_linear"
    assert explorer_common._RED in ex.statistic_note.value
    assert ex.run(wait=True) is None
    assert expected in html_unescape(_error(ex)) and not calls and not ex.runs


def test_presets_reset_the_style_statistic(ex):
    ex.style_statistic.value = "mmd_gauss"
    fig2 = next(n for n in paper.presets() if n.startswith("Fig. 2C"))
    assert ex.apply_preset(fig2), ex.message.value
    assert ex.style_statistic.value == "gram" and not ex.regions.disabled


def test_engine_call_adds_the_statistic(monkeypatch):
    c, s = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    base = {"content": "c", "style": "s", "regions": None, "region_style": None, "fine_style": None, "split": None,
            "scale_method": None, "steps": 7, "style_statistic": "mean_std"}
    fn, args, extra = explorer_controls.engine_call(base, c, s, load=lambda n: pytest.fail("nothing to load"))
    assert fn is controlled.transfer and args == (c, s) and extra == {"style_statistic": "mean_std"}
    fn, args, extra = explorer_controls.engine_call({**base, "style_statistic": "gram"}, c, s, load=None)
    assert extra == {}


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)
