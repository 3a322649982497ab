"""Tests for stylelab.method.transfer on tiny random networks: targets, the optimisation
loop (L-BFGS / Adam, callbacks, stopping, Ctrl-C, NaN), results and settings."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch

from stylelab import losses
from stylelab.errors import ImageError, LayerError, NonFiniteLossError, SettingsError
from stylelab.image import load_image, resize_to
from stylelab.method.conventions import CALIBRATION, CONVENTIONS, layer_weights
from stylelab.method.optimise import NOISE_STD, Result, initial_image, optimize
from stylelab.method.objective import Objective
from stylelab.method.targets import make_targets
from stylelab.method.transfer import reconstruct, run, texture, transfer
from stylelab.networks.vgg import PAPER_STYLE_LAYERS

SIZE = 32
RECORD_KEYS = {"step", "time", "total", "content", "style", "tv", "l2", "content_layers", "style_layers"}


@pytest.fixture
def model(make_vgg):
    return make_vgg()


@pytest.fixture
def content(tiny_image):
    return tiny_image(SIZE, seed=1)


@pytest.fixture
def style(tiny_image):
    return tiny_image(SIZE, seed=2)


def _run(model, content, style, **kw):
    kw.setdefault("steps", 8)
    kw.setdefault("progress", False)
    return run(content, style, model=model, **kw)


def _objective(model, content, style, c_layers=("relu4_2",), s_layers=PAPER_STYLE_LAYERS, **kw):
    targets = make_targets(model, tuple(content.shape[-2:]), content, list(c_layers), [style], list(s_layers))
    return Objective(model, targets, list(c_layers), layer_weights(list(s_layers)), **kw)


# --------------------------------------------------------------------------------------
# The optimiser lowers the loss


@pytest.mark.parametrize("optimizer, lr, steps", [("lbfgs", None, 20), ("adam", 0.05, 30)])
def test_optimizer_lowers_the_loss(model, content, style, optimizer, lr, steps):
    result = _run(model, content, style, optimizer=optimizer, lr=lr, steps=steps, ratio=1e-2)
    first, best = result.history[0]["total"], result.losses["total"]
    assert best < 0.5 * first
    assert result.history[-1]["total"] < first
    assert result.losses is result.history[result.best_step - 1]
    assert best == min(r["total"] for r in result.history)
    assert result.steps_done == steps == len(result.history)
    assert result.settings["optimizer"] == optimizer


def test_one_evaluation_per_step_and_best_image_matches_its_loss(model, content, style):
    result = _run(model, content, style, steps=6)
    assert [r["step"] for r in result.history] == [1, 2, 3, 4, 5, 6]
    s = result.settings
    targets = make_targets(model, (SIZE, SIZE), content, s["content_layers"], [style], s["style_layers"])
    objective = Objective(model, targets, s["content_layers"], s["style_weights"], s["alpha"] * s["content_scale"],
                          s["beta"], norm=s["norm"])
    # the returned image is the evaluated image with the lowest loss
    again = objective.evaluate(result.image)
    assert again["total"] == pytest.approx(result.losses["total"], rel=1e-4)
    # the first evaluation is of the start image
    assert objective.evaluate(result.init_image)["total"] == pytest.approx(result.history[0]["total"], rel=1e-4)


def test_objective_breakdown(model, content, style):
    obj = _objective(model, content, style, alpha=2.0, beta=10.0, tv_weight=0.5, gamma=0.25)
    rec = obj.evaluate(style)
    assert set(rec) == RECORD_KEYS
    assert set(rec["content_layers"]) == {"relu4_2"}
    assert set(rec["style_layers"]) == set(PAPER_STYLE_LAYERS)
    assert rec["content"] == pytest.approx(sum(rec["content_layers"].values()))
    assert rec["style"] == pytest.approx(sum(0.2 * v for v in rec["style_layers"].values()))
    assert rec["tv"] == pytest.approx(float(losses.tv_loss(style)))
    assert rec["l2"] == pytest.approx(float(losses.l2_loss(style)))
    assert rec["total"] == pytest.approx(2 * rec["content"] + 10 * rec["style"] + 0.5 * rec["tv"] + 0.25 * rec["l2"])
    assert obj.evaluate(content)["content"] == 0.0
    assert obj.evaluate(style)["style"] == pytest.approx(0.0, abs=1e-10)
    assert obj.evaluate(content)["style"] > 0


# --------------------------------------------------------------------------------------
# Start images


def test_noise_init_is_seeded():
    a = initial_image("noise", (SIZE, 24), seed=3)
    b = initial_image("noise", (SIZE, 24), seed=3)
    c = initial_image("noise", (SIZE, 24), seed=4)
    assert a.shape == (1, 3, SIZE, 24)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    mean = torch.tensor(losses.IMAGE_MEAN).view(1, 3, 1, 1)
    assert float((a - mean).abs().max()) < 8 * NOISE_STD
    assert float((a - mean).std()) == pytest.approx(NOISE_STD, rel=0.2)
    # the global RNG is not used: drawing from it in between changes nothing
    torch.rand(100)
    assert torch.equal(initial_image("noise", (SIZE, 24), seed=3), a)


def test_content_style_and_tensor_inits(content, style, tiny_image):
    assert torch.equal(initial_image("content", (SIZE, SIZE), content, style), content)
    assert torch.equal(initial_image("style", (SIZE, SIZE), content, style), style)
    assert torch.equal(initial_image("style", (16, 24), content, style), resize_to(style, (16, 24)))
    start = initial_image("content", (SIZE, SIZE), content)
    start += 1  # a copy, not the caller's tensor
    assert content.max() <= 1
    img = tiny_image(SIZE, seed=9)
    out = initial_image(img, (SIZE, SIZE))
    assert torch.equal(out, img) and out.data_ptr() != img.data_ptr()
    assert torch.equal(initial_image(img[0], (SIZE, SIZE)), img)  # (3, H, W) accepted
    assert initial_image(img, (16, 20)).shape == (1, 3, 16, 20)
    assert initial_image(img * 3 - 1, (SIZE, SIZE)).min() >= 0  # clamped to [0, 1]


def test_init_errors(content):
    with pytest.raises(SettingsError):
        initial_image("content", (8, 8))
    with pytest.raises(SettingsError):
        initial_image("style", (8, 8), content)
    with pytest.raises(SettingsError, match="unknown init"):
        initial_image("zeros", (8, 8))


@pytest.mark.parametrize("init", ["noise", "content", "style", "tensor"])
def test_run_starts_from_the_init(model, content, style, tiny_image, init):
    start = tiny_image(SIZE, seed=5) if init == "tensor" else init
    result = _run(model, content, style, init=start, seed=11, steps=2)
    expected = {"noise": initial_image("noise", (SIZE, SIZE), seed=11), "content": content, "style": style,
                "tensor": start}[init]
    assert torch.equal(result.init_image, expected)
    assert result.settings["init"] == ("image" if init == "tensor" else init)


# --------------------------------------------------------------------------------------
# Determinism


def test_same_seed_gives_bitwise_identical_images(model, content, style):
    a = _run(model, content, style, seed=7, steps=6)
    b = _run(model, content, style, seed=7, steps=6)
    c = _run(model, content, style, seed=8, steps=6)
    assert torch.equal(a.image, b.image)
    assert [r["total"] for r in a.history] == [r["total"] for r in b.history]
    assert not torch.equal(a.image, c.image)


# --------------------------------------------------------------------------------------
# Callbacks, stopping, Ctrl-C, NaN


def test_callback_every_k_steps(model, content, style):
    calls = []

    def cb(step, image, record):
        calls.append((step, image.clone(), record))

    result = _run(model, content, style, steps=10, every=3, callback=cb)
    assert [c[0] for c in calls] == [3, 6, 9, 10]  # and after the last step
    for step, image, record in calls:
        assert image.shape == (1, 3, SIZE, SIZE) and image.device.type == "cpu"
        assert record is result.history[step - 1]
        assert record["step"] == step
    assert torch.equal(calls[-1][1], result.image)  # the best image so far
    assert not result.stopped and not result.interrupted


def test_callback_returning_true_stops(model, content, style):
    result = _run(model, content, style, steps=20, every=2, callback=lambda s, i, r: s >= 6)
    assert result.stopped and not result.interrupted
    assert result.steps_done == 6


def test_stop_event(model, content, style):
    event = threading.Event()

    def cb(step, image, record):
        if step == 2:
            event.set()

    result = _run(model, content, style, steps=20, every=1, callback=cb, stop=event)
    assert result.stopped
    assert result.steps_done == 2  # checked before every step

    event.set()
    result = _run(model, content, style, steps=20, stop=event, seed=3)
    assert result.stopped and result.steps_done == 0
    assert torch.equal(result.image, initial_image("noise", (SIZE, SIZE), seed=3))
    assert result.losses == {}


def test_stop_function(model, content, style):
    n = {"calls": 0}

    def stop():
        n["calls"] += 1
        return n["calls"] > 4

    result = _run(model, content, style, steps=20, stop=stop)
    assert result.stopped and result.steps_done == 4


def test_ctrl_c_returns_the_best_image(model, content, style):
    def cb(step, image, record):
        if step == 3:
            raise KeyboardInterrupt

    result = _run(model, content, style, steps=20, every=1, callback=cb)
    assert result.interrupted and not result.stopped
    assert len(result.history) == 3
    assert math.isfinite(result.losses["total"])
    assert 1 <= result.best_step <= 3
    assert torch.isfinite(result.image).all()


class _NaNFrom:
    """An objective whose loss becomes NaN from evaluation ``n`` on."""

    def __init__(self, objective, n):
        self.objective, self.model, self.n, self.calls = objective, objective.model, n, 0

    def __call__(self, image):
        self.calls += 1
        total, parts = self.objective(image)
        return (total * float("nan") if self.calls >= self.n else total), parts


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_non_finite_loss_raises_with_the_best_image(model, content, style, optimizer):
    objective = _NaNFrom(_objective(model, content, style), 4)
    init = initial_image("noise", (SIZE, SIZE))
    with pytest.raises(NonFiniteLossError, match="step 4") as info:
        optimize(objective, init, steps=10, optimizer=optimizer, progress=False)
    result = info.value.result
    assert isinstance(result, Result)
    assert len(result.history) == 4
    assert math.isnan(result.history[-1]["total"])
    assert 1 <= result.best_step <= 3
    assert math.isfinite(result.losses["total"])
    assert torch.isfinite(result.image).all() and result.image.shape == init.shape


def test_absurd_weights_overflow_to_inf(model, content, style):
    with pytest.raises(NonFiniteLossError) as info:
        _run(model, content, style, alpha=1e300, beta=1e300, steps=5)
    result = info.value.result
    assert result.best_step == 0 and len(result.history) == 1
    assert torch.equal(result.image, result.init_image)


def test_pixels_stay_in_the_unit_interval(model, content, style):
    seen = []
    inner = _objective(model, content, style)

    class Spy:
        model = inner.model

        def __call__(self, image):
            seen.append((float(image.detach().min()), float(image.detach().max())))
            return inner(image)

    result = optimize(Spy(), initial_image("noise", (SIZE, SIZE)), steps=15, optimizer="adam", lr=0.5,
                      progress=False)
    assert len(seen) == 15
    assert all(lo >= 0 and hi <= 1 for lo, hi in seen)
    assert any(lo == 0 for lo, _ in seen) and any(hi == 1 for _, hi in seen)  # it did hit the bounds
    assert result.image.min() >= 0 and result.image.max() <= 1


# --------------------------------------------------------------------------------------
# History, settings, saving


def test_history_records(model, content, style):
    result = _run(model, content, style, steps=5, tv_weight=0.1, gamma=0.1)
    for rec in result.history:
        assert set(rec) == RECORD_KEYS
        assert all(isinstance(rec[k], float) for k in ("time", "total", "content", "style", "tv", "l2"))
        assert rec["tv"] > 0 and rec["l2"] > 0
        assert set(rec["content_layers"]) == {"relu4_2"}
        assert set(rec["style_layers"]) == set(PAPER_STYLE_LAYERS)
    times = [r["time"] for r in result.history]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert 0 < times[-1] <= result.wall_time


def test_settings_are_json_and_complete(model, content, style):
    result = _run(model, content, style, steps=2, ratio=1e-3, blend=None)
    s = json.loads(json.dumps(result.settings))
    assert s["arch"] == "vgg16" and s["input_convention"] == "torch" and s["pooling"] == "avg"
    assert s["convention"] == "calibrated" and s["norm"] == "hw" and s["content_scale"] == CALIBRATION
    assert s["alpha"] == 1.0 and s["beta"] == pytest.approx(1e3) and s["ratio"] == pytest.approx(1e-3)
    assert s["precision"] in ("fp32", "bf16") and s["precision_reason"]
    assert s["content_layers"] == ["relu4_2"] and s["style_layers"] == list(PAPER_STYLE_LAYERS)
    assert s["size"] == [SIZE, SIZE] and s["steps"] == 2 and s["lr"] == 1.0 and s["seed"] == 0
    assert s["device"] == "cpu" and s["torch"] == torch.__version__
    json.dumps(result.summary())


def test_result_save(model, content, style, tmp_path):
    result = _run(model, content, style, steps=3)
    out = result.save(tmp_path / "sub" / "out.png")
    assert out == tmp_path / "sub" / "out.png" and out.is_file()
    saved = load_image(out)
    assert saved.shape == result.image.shape
    assert float((saved - result.image).abs().max()) <= 0.5 / 255 + 1e-6
    meta = json.loads((tmp_path / "sub" / "out.json").read_text())
    assert meta["settings"]["steps"] == 3
    assert len(meta["history"]) == 3 and meta["best_step"] == result.best_step
    assert meta["losses"]["total"] == result.losses["total"]
    result.save(tmp_path / "short.png", history=False)
    assert "history" not in json.loads((tmp_path / "short.json").read_text())
    assert not list(tmp_path.rglob("*.tmp"))


def test_result_save_refuses_protected_path(model, content, style, tmp_path):
    result = _run(model, content, style, steps=2)
    victim = tmp_path / "content.png"
    victim.write_bytes(b"precious")
    with pytest.raises(ImageError, match="refusing"):
        result.save(victim, protect=[victim])
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "content.json").exists()


# --------------------------------------------------------------------------------------
# Bad settings


@pytest.mark.parametrize("kwargs", [
    {"steps": 0}, {"steps": 1.5}, {"steps": -3}, {"steps": True}, {"steps": "10"}, {"every": 0},
    {"alpha": -1.0}, {"alpha": float("nan")}, {"alpha": float("inf")}, {"alpha": "one"},
    {"beta": -1.0}, {"beta": float("nan")}, {"beta": float("inf")},
    {"ratio": -1e-3}, {"ratio": 0}, {"ratio": float("nan")}, {"ratio": float("inf")},
    {"alpha": 1.0, "beta": 2.0, "ratio": 1e-3}, {"alpha": 0.0, "beta": 0.0},
    {"style_weights": [1, 1, 1, 1, -1]}, {"style_weights": [1, 1, 1, 1, float("nan")]},
    {"style_weights": [1, 1, 1, 1, float("inf")]}, {"style_weights": [1, 1]}, {"style_weights": [0] * 5},
    {"style_weights": {"relu1_1": 1.0}}, {"style_weights": "squares"},
    {"tv_weight": -1.0}, {"tv_weight": float("nan")}, {"gamma": -0.1}, {"gamma": float("inf")},
    {"lr": 0}, {"lr": -1.0}, {"lr": float("nan")}, {"lr": float("inf")},
    {"optimizer": "sgd"}, {"init": "zeros"}, {"convention": "keras"}, {"norm": "l1"},
    {"style_scale": "big"}, {"blend": [1.0, 2.0]}, {"blend": [-1.0]}, {"blend": [0.0]}, {"blend": [float("nan")]},
    {"content_layers": [], "style_layers": []},
])
def test_bad_settings(model, content, style, kwargs):
    with pytest.raises(SettingsError):
        _run(model, content, style, **kwargs)


def test_bad_settings_more(model, content, style):
    with pytest.raises(SettingsError, match="content image, a style image"):
        run(None, None, model=model, progress=False)
    with pytest.raises(SettingsError):
        run(None, [], model=model, progress=False)
    with pytest.raises(SettingsError):  # no style layers: nothing to match in a texture
        texture(style, model=model, style_layers=(), steps=2, progress=False)
    with pytest.raises(SettingsError):
        texture(style, model=model, content_layers=["relu4_2"], steps=2, progress=False)
    with pytest.raises(SettingsError):
        texture(style, model=model, ratio=1e-3, steps=2, progress=False)
    with pytest.raises(SettingsError):
        reconstruct(content, model=model, beta=1.0, steps=2, progress=False)
    with pytest.raises(SettingsError):
        reconstruct(content, model=model, style_layers=["relu1_1"], steps=2, progress=False)
    with pytest.raises(SettingsError):  # blend weights for two images, one image given
        _run(model, content, [style, style], blend=[1.0])


def test_layer_errors_come_before_any_work(model, content, style):
    from stylelab.errors import LayerError

    with pytest.raises(LayerError):
        _run(model, content, style, content_layers=["conv9_9"])
    with pytest.raises(LayerError, match="16 px"):
        _run(model, content[..., :12, :12], style)


# --------------------------------------------------------------------------------------
# Weights: alpha, beta, ratio; layer weights


def test_alpha_beta_ratio(model, content, style):
    s = _run(model, content, style, steps=1, ratio=1e-4).settings
    assert (s["alpha"], s["beta"]) == (1.0, pytest.approx(1e4))
    s = _run(model, content, style, steps=1, ratio=1e-3, alpha=2.0).settings
    assert (s["alpha"], s["beta"]) == (2.0, pytest.approx(2e3))
    s = _run(model, content, style, steps=1, ratio=1e-2, beta=10.0).settings
    assert (s["alpha"], s["beta"]) == (pytest.approx(0.1), 10.0)
    s = _run(model, content, style, steps=1, alpha=3.0, beta=4.0).settings
    assert (s["alpha"], s["beta"], s["ratio"]) == (3.0, 4.0, 0.75)
    s = _run(model, content, style, steps=1).settings
    assert (s["alpha"], s["beta"]) == (1.0, 1e3)


def test_layer_weight_presets(model):
    names = list(PAPER_STYLE_LAYERS)
    channels = {l.name: l.channels for l in model.layers}
    assert layer_weights(names) == {n: 0.2 for n in names}
    assert layer_weights(names, "equal") == {n: 0.2 for n in names}
    assert layer_weights(names, "gatys_code", channels) == {n: 1.0 / channels[n] ** 2 for n in names}
    assert layer_weights(["relu1_1", "relu2_1"], [1, 3]) == {"relu1_1": 1.0, "relu2_1": 3.0}
    assert layer_weights(["relu1_1", "relu2_1"], {"relu2_1": 2, "relu1_1": 0.5, "x": 9}) == {
        "relu1_1": 0.5, "relu2_1": 2.0}
    with pytest.raises(SettingsError):
        layer_weights(names, "gatys_code")  # needs the channel counts
    with pytest.raises(SettingsError):
        layer_weights([], "equal")


def test_conventions_choose_norm_and_layer_weights(model, content, style):
    channels = {l.name: l.channels for l in model.layers}
    s = _run(model, content, style, steps=1).settings  # default: calibrated, w_l = 1/5, alpha x CALIBRATION
    assert s["convention"] == "calibrated" and s["norm"] == CONVENTIONS["calibrated"]["norm"] == "hw"
    assert s["style_weights"] == {n: 0.2 for n in PAPER_STYLE_LAYERS} and s["content_scale"] == CALIBRATION
    s = _run(model, content, style, steps=1, convention="gatys_code").settings  # the authors' code
    assert s["norm"] == CONVENTIONS["gatys_code"]["norm"] == "hw" and s["content_scale"] == 1.0
    assert s["style_weights"] == {n: pytest.approx(1.0 / channels[n] ** 2) for n in PAPER_STYLE_LAYERS}
    s = _run(model, content, style, steps=1, convention="paper").settings
    assert s["norm"] == "paper" and s["content_scale"] == 1.0
    assert s["style_weights"] == {n: 0.2 for n in PAPER_STYLE_LAYERS}
    s = _run(model, content, style, steps=1, convention="paper", norm="chw", style_weights="gatys_code").settings
    assert s["norm"] == "chw" and s["style_weights"]["relu1_1"] == pytest.approx(1 / 16)


# --------------------------------------------------------------------------------------
# Targets: blends and style scales


def test_content_targets_are_the_content_responses(model, content):
    t = make_targets(model, (SIZE, SIZE), content, ["relu4_2", "relu2_1"], [], [])
    f = model(content, ["relu4_2", "relu2_1"])
    assert set(t.content) == {"relu4_2", "relu2_1"} and t.grams == {}
    for k in f:
        torch.testing.assert_close(t.content[k], f[k])
    assert not t.content["relu4_2"].requires_grad


def test_style_blend_is_the_weighted_mean_of_grams(model, tiny_image):
    s1, s2 = tiny_image(SIZE, seed=3), tiny_image(SIZE, seed=4)
    layers_ = ["relu1_1", "relu3_1", "relu5_1"]
    t = make_targets(model, (SIZE, SIZE), None, [], [s1, s2], layers_, blend=[1.0, 3.0])
    f1, f2 = model(s1, layers_), model(s2, layers_)
    for name in layers_:
        expected = 0.25 * losses.gram(f1[name]) + 0.75 * losses.gram(f2[name])
        torch.testing.assert_close(t.grams[name], expected)
    even = make_targets(model, (SIZE, SIZE), None, [], [s1, s2], layers_)  # default: equal blend
    torch.testing.assert_close(even.grams["relu3_1"],
                               0.5 * (losses.gram(f1["relu3_1"]) + losses.gram(f2["relu3_1"])))
    single = make_targets(model, (SIZE, SIZE), None, [], [s1, s2], layers_, blend=[1.0, 0.0])
    torch.testing.assert_close(single.grams["relu5_1"], losses.gram(f1["relu5_1"]))


def test_style_scale_content_resizes_the_style(model, tiny_image):
    s = tiny_image(48, 40, seed=3)
    layers_ = ["relu1_1", "relu3_1", "relu5_1"]
    t = make_targets(model, (SIZE, SIZE), None, [], [s], layers_, style_scale="content")
    f = model(resize_to(s, (SIZE, SIZE)), layers_)
    for name in layers_:
        torch.testing.assert_close(t.grams[name], losses.gram(f[name]))


@pytest.mark.parametrize("style_hw", [(40, 40), (48, 24), (SIZE, SIZE), (64, 72)])
def test_style_scale_own_scales_grams_by_positions(model, tiny_image, style_hw):
    """At its own scale the style's Gram (a sum over M_s positions) is scaled by M_x / M_s."""
    s = tiny_image(*style_hw, seed=3)
    layers_ = ["relu1_1", "relu3_1", "relu5_1"]
    t = make_targets(model, (SIZE, SIZE), None, [], [s], layers_, style_scale="own")
    f = model(s, layers_)
    for name, ds in (("relu1_1", 1), ("relu3_1", 4), ("relu5_1", 16)):
        m_s = f[name].shape[-2] * f[name].shape[-1]
        m_x = (SIZE // ds) ** 2  # positions of the generated image's layer
        torch.testing.assert_close(t.grams[name], losses.gram(f[name]) * (m_x / m_s))


def test_style_scale_area_keeps_the_aspect_ratio(model, tiny_image):
    s = tiny_image(SIZE, 4 * SIZE, seed=3)  # 4x the generated image's area
    layers_ = ["relu1_1", "relu5_1"]
    t = make_targets(model, (SIZE, SIZE), None, [], [s], layers_, style_scale="area")
    small = resize_to(s, (SIZE // 2, 2 * SIZE))  # same area as 32 x 32, same aspect as the style
    f = model(small, layers_)
    for name, ds in (("relu1_1", 1), ("relu5_1", 16)):
        m_s = f[name].shape[-2] * f[name].shape[-1]
        torch.testing.assert_close(t.grams[name], losses.gram(f[name]) * ((SIZE // ds) ** 2 / m_s))


def test_style_scale_own_tiled_style_gives_the_same_target(model):
    """A periodic style tiled 2 x 2 has the statistics of one tile: at its own scale it gives
    (up to the zero-padded borders) the same Gram target, not one 4x as large."""
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    tile = torch.stack([0.5 + 0.4 * torch.sin(2 * math.pi * (xx / 16 + c / 3)) * torch.cos(2 * math.pi * yy / 8)
                        for c in range(3)])[None]
    tiled = tile.repeat(1, 1, 2, 2)
    layers_ = ["relu1_1", "relu2_1"]
    one = make_targets(model, (32, 32), None, [], [tile], layers_, style_scale="own")
    four = make_targets(model, (32, 32), None, [], [tiled], layers_, style_scale="own")
    for name in layers_:
        ratio = float(four.grams[name].sum() / one.grams[name].sum())
        assert ratio == pytest.approx(1.0, abs=0.1), name
        rel = float((four.grams[name] - one.grams[name]).norm() / one.grams[name].norm())
        assert rel < 0.1, name


# --------------------------------------------------------------------------------------
# The three uses


def test_texture_has_no_content_terms(model, style):
    result = texture(style, model=model, steps=5, progress=False)
    s = result.settings
    assert s["content_layers"] == [] and s["alpha"] == 0.0 and s["beta"] == 1e3
    assert s["style_layers"] == list(PAPER_STYLE_LAYERS)
    assert s["size"] == [SIZE, SIZE] and s["init"] == "noise"
    for rec in result.history:
        assert rec["content"] == 0.0 and rec["content_layers"] == {}
        assert rec["style"] > 0
    assert result.losses["total"] < result.history[0]["total"]
    other = texture(style, model=model, steps=2, size=(16, 24), style_layers=["relu1_1"], progress=False)
    assert other.image.shape == (1, 3, 16, 24)


def test_reconstruct_has_no_style_terms(model, content):
    result = reconstruct(content, model=model, layer="block3_conv1", steps=5, progress=False)
    s = result.settings
    assert s["style_layers"] == [] and s["beta"] == 0.0 and s["alpha"] == 1.0
    assert s["content_layers"] == ["relu3_1"]
    for rec in result.history:
        assert rec["style"] == 0.0 and rec["style_layers"] == {}
        assert set(rec["content_layers"]) == {"relu3_1"}
    assert result.losses["total"] < result.history[0]["total"]
    both = reconstruct(content, model=model, layer=["relu1_1", "relu2_1"], steps=2, progress=False)
    assert set(both.history[0]["content_layers"]) == {"relu1_1", "relu2_1"}


def test_transfer_defaults_are_the_paper(model, content, style):
    result = transfer(content, style, model=model, steps=2, progress=False)
    s = result.settings
    assert s["content_layers"] == ["relu4_2"] and s["style_layers"] == list(PAPER_STYLE_LAYERS)
    assert s["optimizer"] == "lbfgs" and s["init"] == "noise" and s["ratio"] == pytest.approx(1e-3)
    assert s["style_scale"] == "content" and s["tv_weight"] == 0.0 and s["gamma"] == 0.0


def test_transfer_output_size_and_style_of_another_size(model, content, tiny_image):
    style = tiny_image(48, 40, seed=6)
    result = transfer(content[..., :, :24], style, model=model, steps=2, progress=False)
    assert result.image.shape == (1, 3, SIZE, 24)
    assert result.settings["size"] == [SIZE, 24]
    # a size other than the content's: the content is resized for its targets too
    result = transfer(content, style, model=model, steps=2, size=(16, 16), init="content", progress=False)
    assert result.image.shape == (1, 3, 16, 16)
    t = make_targets(model, (16, 16), content, ["relu2_1"], [], [])
    torch.testing.assert_close(t.content["relu2_1"], model(resize_to(content, (16, 16)), ["relu2_1"])["relu2_1"])


# --------------------------------------------------------------------------------------
# Coarse-to-fine (scales) and the stopping rule (tol, patience)


def test_one_scale_equals_the_plain_run(model, content, style):
    plain = _run(model, content, style, steps=6)
    staged = _run(model, content, style, steps=6, scales=[SIZE])
    assert torch.equal(plain.image, staged.image)
    assert [r["total"] for r in plain.history] == [r["total"] for r in staged.history]
    assert staged.stages == [] and staged.settings["scales"] == [SIZE]


def test_scales_run_each_stage_at_its_size(model, tiny_image, style):
    content = tiny_image(64, seed=1)
    seen = []
    result = run(content, style, model=model, scales=[32, 48, 64], steps=[3, 2, 4], progress=False,
                 callback=lambda step, img, rec: seen.append((step, tuple(img.shape[-2:]), rec["stage"])), every=1)
    assert tuple(result.image.shape[-2:]) == (64, 64)
    assert [s["size"] for s in result.stages] == [[32, 32], [48, 48], [64, 64]]
    assert [s["steps_done"] for s in result.stages] == [3, 2, 4]
    assert [r["step"] for r in result.history] == list(range(1, 10))  # one count across stages
    assert [r["stage"] for r in result.history] == [0] * 3 + [1] * 2 + [2] * 4
    assert seen[0] == (1, (32, 32), 0) and seen[-1] == (9, (64, 64), 2)
    times = [r["time"] for r in result.history]
    assert times == sorted(times)
    assert result.best_step > 5  # the final image is the last stage's best
    assert result.losses["stage"] == 2
    assert json.loads(json.dumps(result.settings))["scales"] == [32, 48, 64]


def test_scales_keep_the_aspect_ratio(model, tiny_image, style):
    content = resize_to(tiny_image(64, seed=1), (48, 64))
    result = run(content, style, model=model, scales=[32, 64], steps=2, progress=False)
    assert [s["size"] for s in result.stages] == [[24, 32], [48, 64]]
    assert tuple(result.image.shape[-2:]) == (48, 64)


def test_the_next_stage_starts_from_the_previous_result_upsampled(model, tiny_image, style):
    content = tiny_image(64, seed=1)
    starts = []
    import sys

    engine = sys.modules["stylelab.method.coarse_to_fine"]  # where the stages call the optimiser
    original = engine.optimize

    def spy(objective, init, **kw):
        starts.append(init.clone())
        return original(objective, init, **kw)

    engine.optimize = spy
    try:
        for detail in (None, "content"):
            starts.clear()
            result = run(content, style, model=model, scales=[32, 64], steps=3, progress=False, detail=detail)
            first = run(content, style, model=model, size=(32, 32), steps=3, progress=False)
            up = resize_to(first.image, (64, 64))
            if detail is None:
                assert torch.allclose(starts[1], up)
            else:
                band = resize_to(content, (64, 64)) - resize_to(resize_to(content, (32, 32)), (64, 64))
                assert torch.allclose(starts[1], (up + band).clamp(0, 1), atol=1e-6)
            assert result.settings["detail"] == detail
    finally:
        engine.optimize = original


def test_texture_scales_add_no_content_detail(model, style):
    result = texture(style, model=model, scales=[16, 32], steps=2, progress=False)
    assert result.settings["detail"] is None and tuple(result.image.shape[-2:]) == (32, 32)


@pytest.mark.parametrize("kwargs, message", [
    ({"scales": [32, 16]}, "increase"),
    ({"scales": [32, 32]}, "increase"),
    ({"scales": []}, "empty"),
    ({"scales": "32,64"}, "list"),
    ({"scales": [16, 0]}, ">= 1"),
    ({"scales": [16, 24], "size": (32, 32)}, "longest side"),
    ({"scales": [2, 32]}, "too small"),
    ({"scales": [16, 32], "steps": [3]}, "1 step counts given for 2 scales"),
    ({"scales": [16, 32], "detail": "style"}, "unknown detail"),
    ({"tol": -1}, "tol"),
    ({"tol": 1e-3, "patience": 0}, "patience"),
])
def test_bad_schedules(model, content, style, kwargs, message):
    with pytest.raises((SettingsError, LayerError), match=message):
        _run(model, content, style, **kwargs)


def test_the_rule_stops_a_run_whose_loss_is_flat(model, content, style):
    # A loss that cannot fall: a content reconstruction that starts at its minimum (the content itself).
    flat = reconstruct(content, model=model, init=content, steps=50, tol=1e-3, patience=5, progress=False)
    assert flat.converged and flat.converged_step == 6 and flat.steps_done == 6
    assert flat.status == "converged after 6 steps"
    free = _run(model, content, style, steps=12, tol=None)
    assert not free.converged and free.converged_step is None and free.steps_done == 12
    assert free.status == "not converged after 12 steps"
    summary = json.loads(json.dumps(flat.summary()))
    assert summary["converged"] and summary["status"] == "converged after 6 steps"


def test_the_rule_does_not_stop_a_falling_loss(model, content, style):
    result = _run(model, content, style, steps=15, tol=1e-12, patience=3, ratio=1e-2)
    lowest = [min(r["total"] for r in result.history[: i + 1]) for i in range(result.steps_done)]
    k = 3
    fired = [i for i in range(k, len(lowest)) if lowest[i - k] - lowest[i] <= 1e-12 * lowest[i - k]]
    assert result.converged == bool(fired)
    if fired:
        assert result.converged_step == fired[0] + 1
    else:
        assert result.steps_done == 15


def test_the_rule_in_the_last_stage_marks_the_run_converged(model, tiny_image):
    content = tiny_image(64, seed=1)
    result = reconstruct(content, model=model, init=content, scales=[32, 64], steps=40, tol=1e-3, patience=4,
                         detail="content",  # the band restores the content exactly: a flat second stage
                         progress=False)
    assert [s["converged"] for s in result.stages] == [True, True]
    assert result.converged and result.converged_step == result.steps_done


def test_auto_detail_is_for_style_transfer_only(model, content, style):
    recon = reconstruct(content, model=model, scales=[16, 32], steps=2, progress=False)
    both = _run(model, content, style, scales=[16, 32], steps=2)
    assert recon.settings["detail"] is None and both.settings["detail"] == "content"


def test_nan_in_a_later_stage_keeps_the_earlier_stages(model, content, style, monkeypatch):
    import sys

    engine = sys.modules["stylelab.method.transfer"]
    calls = {"n": 0}

    class NaNAtFullSize(engine.Objective):
        def __call__(self, image):
            total, parts = super().__call__(image)
            if image.shape[-1] == SIZE:
                calls["n"] += 1
                if calls["n"] >= 3:
                    total = total * float("nan")
            return total, parts

    monkeypatch.setattr(engine, "Objective", NaNAtFullSize)
    with pytest.raises(NonFiniteLossError) as info:
        _run(model, content, style, scales=[16, SIZE], steps=5)
    result = info.value.result
    assert [s["size"] for s in result.stages] == [[16, 16], [SIZE, SIZE]]
    assert [r["stage"] for r in result.history] == [0] * 5 + [1] * 3
    assert tuple(result.image.shape[-2:]) == (SIZE, SIZE) and torch.isfinite(result.image).all()
    assert 6 <= result.best_step <= 7


def test_calibration_scales_alpha_and_nothing_else(model, content, style):
    """The calibrated convention is the hw loss with w_l = 1/5 and alpha x CALIBRATION: the same
    image as that loss given the effective ratio directly."""
    a = _run(model, content, style, steps=4, ratio=1e-3)
    b = _run(model, content, style, steps=4, ratio=1e-3 * CALIBRATION, convention="paper", norm="hw")
    assert b.settings["style_weights"] == a.settings["style_weights"]
    assert torch.allclose(a.image, b.image, atol=1e-5)


def test_convention_chooses_the_network_it_was_made_for(monkeypatch, content, style, make_vgg):
    """Without a model, gatys_code loads the network as trained, calibrated and paper the normalised one."""
    import stylelab.networks.weights as W

    asked = []

    def fake_load_vgg(weights=None, *, pooling="avg", normalized=True, device=None, **kw):
        asked.append(normalized)
        return make_vgg()

    monkeypatch.setattr(W, "load_vgg", fake_load_vgg)
    for convention, normalized in (("calibrated", True), ("gatys_code", False), ("paper", True)):
        run(content, style, steps=1, progress=False, convention=convention)
        assert asked[-1] is normalized
    run(content, style, steps=1, progress=False, convention="gatys_code", normalized=True)
    assert asked[-1] is True
