"""Tests for stylelab.control.colour: YIQ, luminance and colour histogram matching (Gatys et al.
2017, section 5), and the transfer with ``preserve_colour`` on tiny random networks."""

from __future__ import annotations

import importlib
import json

import pytest
import torch

from stylelab import colour, metrics
from stylelab.errors import ImageError, SettingsError
from stylelab.control.transfer import run, transfer

engine = importlib.import_module("stylelab.method.transfer")
SIZE = 32


def _photo(h=SIZE, w=SIZE, seed=1) -> torch.Tensor:
    """A smooth coloured image, mostly well inside the RGB cube (a blue-ish sky over a
    warm ground, with some noise): its colours are not those of :func:`_painting`."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, h).view(1, 1, h, 1).expand(1, 1, h, w)
    sky = torch.tensor([0.35, 0.5, 0.75]).view(1, 3, 1, 1)
    ground = torch.tensor([0.6, 0.45, 0.3]).view(1, 3, 1, 1)
    img = sky * (1 - t) + ground * t + 0.05 * torch.randn(1, 3, h, w, generator=g)
    return img.clamp(0, 1)


def _painting(h=SIZE, w=SIZE, seed=2) -> torch.Tensor:
    """Strongly coloured, channels correlated: red and yellow patches, dark blue strokes."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 1, h, w, generator=g)
    img = torch.cat([0.9 * base + 0.1, 0.6 * base ** 2, 0.3 * (1 - base) ** 3], 1)
    return (img + 0.03 * torch.randn(1, 3, h, w, generator=g)).clamp(0, 1)


# --------------------------------------------------------------------------------------
# YIQ


def test_yiq_round_trip_and_known_values(tiny_image):
    x = tiny_image(16, 20, seed=3)
    yiq = colour.rgb_to_yiq(x)
    assert yiq.shape == x.shape and yiq.dtype == x.dtype
    assert torch.allclose(colour.yiq_to_rgb(yiq), x, atol=1e-6)
    assert torch.allclose(colour.rgb_to_yiq(x[0]), yiq[0])  # (3, H, W) too
    # Y is Rec. 601 luma, the same as metrics.luminance
    assert torch.allclose(colour.luminance(x)[0, 0], metrics.luminance(x), atol=1e-6)
    # grey has no chroma; white has Y = 1; pure red is positive I
    grey = torch.full((1, 3, 2, 2), 0.4)
    assert torch.allclose(colour.chroma(grey), torch.zeros(1, 2, 2, 2), atol=1e-6)
    white = torch.ones(1, 3, 1, 1)
    assert torch.allclose(colour.rgb_to_yiq(white).flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-3)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert colour.chroma(red).flatten().tolist() == pytest.approx([0.5959, 0.2115], abs=1e-6)


def test_grey_and_combine():
    y = colour.luminance(_photo())
    g = colour.grey(y)
    assert g.shape == (1, 3, SIZE, SIZE) and torch.equal(g[:, 0], g[:, 2])
    assert torch.allclose(colour.luminance(g), y, atol=1e-6)  # R = G = B = Y has luminance Y
    # a new luminance with the photograph's chroma: Y is the new one, I and Q the photograph's
    new_y = colour.luminance(_painting()) * 0.5 + 0.25
    out = colour.combine(new_y, _photo())
    assert out.min() >= 0 and out.max() <= 1
    inside = ((colour.yiq_to_rgb(torch.cat([new_y, colour.chroma(_photo())], 1)) - out).abs() < 1e-6).all(1)
    assert 0.9 < inside.float().mean() < 1  # a few pixels leave the RGB cube and are clamped
    assert torch.allclose(colour.luminance(out)[:, 0][inside], new_y[:, 0][inside], atol=1e-5)
    assert torch.allclose(colour.chroma(out).permute(1, 0, 2, 3)[:, inside],
                          colour.chroma(_photo()).permute(1, 0, 2, 3)[:, inside], atol=1e-5)
    with pytest.raises(ImageError, match="luminance must have shape"):
        colour.grey(torch.rand(1, 3, 4, 4))


# --------------------------------------------------------------------------------------
# Matching the statistics


@pytest.mark.parametrize("method", colour.HISTOGRAM_METHODS)
def test_histogram_matching_gives_the_contents_mean_and_covariance(method):
    style, content = _painting(), _photo(24, 40)
    mu_s, cov_s = colour.colour_statistics(style)
    mu_c, cov_c = colour.colour_statistics(content)
    assert (mu_s - mu_c).abs().max() > 0.1 and (cov_s - cov_c).abs().max() > 0.01  # they differ to start with
    out = colour.match_histogram(style, content, method)
    assert out.shape == style.shape
    mu, cov = colour.colour_statistics(out)
    assert torch.allclose(mu, mu_c, atol=1e-6)
    assert torch.allclose(cov, cov_c, atol=1e-6, rtol=1e-4)
    a, b = colour.histogram_transform(style, content, method)
    assert torch.allclose(a @ (cov_s + colour.COVARIANCE_EPS * torch.eye(3, dtype=torch.float64)) @ a.T, cov_c,
                          atol=1e-10)
    assert torch.allclose(a @ mu_s + b, mu_c, atol=1e-10)
    # matched to its own statistics, an image stays as it is
    assert torch.allclose(colour.match_histogram(content, content, method), content, atol=1e-4)


def test_the_two_histogram_variants_are_different_maps():
    style, content = _painting(), _photo()
    a_chol, _ = colour.histogram_transform(style, content, "cholesky")
    a_pca, _ = colour.histogram_transform(style, content, "pca")
    assert torch.allclose(a_chol, torch.tril(a_chol))  # L_C L_S^-1 is lower triangular
    assert not torch.allclose(a_pca, torch.tril(a_pca), atol=1e-3)
    assert (a_chol - a_pca).abs().max() > 1e-2
    # Sigma_C^1/2 Sigma_S^-1/2: both factors symmetric
    _, cov_s = colour.colour_statistics(style)
    _, cov_c = colour.colour_statistics(content)
    root_c = colour._symmetric_sqrt(cov_c)
    assert torch.allclose(root_c, root_c.T) and torch.allclose(root_c @ root_c, cov_c, atol=1e-12)
    # clamp keeps the pixels in [0, 1]
    out = colour.match_histogram(style, content, clamp=True)
    assert out.min() >= 0 and out.max() <= 1


def test_the_monge_kantorovich_map_is_the_symmetric_one():
    """Issue 20: Sigma_C^1/2 Sigma_S^-1/2 ("pca") is not symmetric; the authors' code's third mode,
    the Monge-Kantorovich map ("mk"), is: symmetric, positive definite, A Sigma_S A = Sigma_C. It and
    "pca" do not depend on the channels' order, the Cholesky map does."""
    style, content = _painting(), _photo()
    a_mk, _ = colour.histogram_transform(style, content, "mk")
    a_pca, _ = colour.histogram_transform(style, content, "pca")
    assert torch.allclose(a_mk, a_mk.T, atol=1e-12)
    assert float(torch.linalg.eigvalsh(a_mk).min()) > 0
    assert not torch.allclose(a_pca, a_pca.T, atol=1e-3)
    assert (a_mk - a_pca).abs().max() > 1e-2
    for method, invariant in (("mk", True), ("pca", True), ("cholesky", False)):
        a, _ = colour.histogram_transform(style, content, method)
        a_bgr, _ = colour.histogram_transform(style.flip(1), content.flip(1), method)
        same = torch.allclose(a, a_bgr.flip(0).flip(1), atol=1e-8)
        assert same == invariant, method
    # of all A with A Sigma_S A^T = Sigma_C it moves the pixels least: E|A x - x|^2 over the style's pixels
    mu_s, cov_s = colour.colour_statistics(style)
    moved = {m: float(torch.trace((colour.histogram_transform(style, content, m)[0] - torch.eye(3, dtype=torch.float64))
                                  @ cov_s @ (colour.histogram_transform(style, content, m)[0]
                                             - torch.eye(3, dtype=torch.float64)).T)) for m in colour.HISTOGRAM_METHODS}
    assert moved["mk"] <= min(moved.values()) + 1e-12


def test_histogram_of_a_one_colour_style_is_the_contents_mean_colour():
    flat = torch.full((1, 3, 8, 8), 0.3)
    out = colour.match_histogram(flat, _photo())
    assert torch.isfinite(out).all()
    mu_c, _ = colour.colour_statistics(_photo())
    assert torch.allclose(out.mean((0, 2, 3)).double(), mu_c, atol=1e-5)


def test_luminance_matching():
    style, content = _painting(), _photo()
    matched = colour.match_luminance(style, content)
    assert matched.shape == (1, 1, SIZE, SIZE)
    lc = colour.luminance(content)
    assert float(matched.mean()) == pytest.approx(float(lc.mean()), abs=1e-5)
    assert float(matched.std(correction=0)) == pytest.approx(float(lc.std(correction=0)), rel=1e-4)
    # an affine function of the style's luminance, increasing: the same texture, rescaled
    ls = colour.luminance(style).flatten()
    slope = torch.linalg.lstsq(torch.stack([ls, torch.ones_like(ls)], 1), matched.flatten()[:, None]).solution
    assert float(slope[0]) > 0
    fitted = ls * slope[0] + slope[1]
    assert torch.allclose(fitted, matched.flatten(), atol=1e-5)
    with pytest.raises(ImageError, match="single brightness"):
        colour.match_luminance(torch.full((1, 3, 8, 8), 0.5), content)


# --------------------------------------------------------------------------------------
# The transfer with preserve_colour, on a tiny network


def test_luminance_transfer_keeps_the_contents_chroma(make_vgg):
    model = make_vgg()
    photo, painting = _photo(), _painting()
    seen = {}

    def callback(step, image, record):
        seen["image"] = image
        return False

    r = transfer(photo, painting, model=model, preserve_colour="luminance", steps=10, progress=False,
                 init="content", callback=callback, every=5)
    assert r.settings["preserve_colour"] == "luminance"
    assert r.image.shape == photo.shape and r.image.min() >= 0 and r.image.max() <= 1
    # the network saw grey images: the start and the images along the way
    start = r.init_image
    assert torch.allclose(start[:, 0], start[:, 1]) and torch.allclose(start[:, 1], start[:, 2])
    # (the optimisation moves each channel, so these drift a little from grey; only their Y is kept)
    mean_chroma = lambda x: float(colour.chroma(x).pow(2).sum(1).sqrt().mean())  # noqa: E731
    assert mean_chroma(seen["image"]) < 0.3 * mean_chroma(photo)
    # the result's chroma is the photograph's wherever the recombination stayed in the RGB cube
    unclipped = colour.yiq_to_rgb(torch.cat([colour.luminance(r.image), colour.chroma(photo)], 1))
    inside = ((unclipped >= 0) & (unclipped <= 1)).all(dim=1)
    assert inside.float().mean() > 0.9
    diff = (colour.chroma(r.image) - colour.chroma(photo)).abs().amax(dim=1)
    assert float(diff[inside].max()) < 1e-5
    assert metrics.chroma_distance(r.image, photo) < 0.01
    # ... and its luminance was optimised: it is no longer the photograph's
    assert float((colour.luminance(r.image) - colour.luminance(photo)).abs().mean()) > 1e-3


def test_luminance_transfer_matches_a_grey_optimisation(make_vgg):
    """The recoloured result's luminance is the result of run() on the grey images."""
    model = make_vgg()
    photo, painting = _photo(), _painting()
    kw = dict(model=model, steps=6, progress=False, seed=3)
    r = transfer(photo, painting, preserve_colour="luminance", **kw)
    grey = run(colour.grey(colour.luminance(photo)), colour.grey(colour.match_luminance(painting, photo)), **kw)
    expected = colour.combine(colour.luminance(grey.image), photo)
    assert torch.allclose(r.image, expected, atol=1e-6)
    assert r.losses["total"] == pytest.approx(grey.losses["total"])


def test_luminance_transfer_that_diverges_keeps_its_best_image_in_colour(make_vgg, monkeypatch):
    from stylelab.errors import NonFiniteLossError

    photo = _photo()

    def diverge(objective, init, **kw):
        raise NonFiniteLossError("the loss became nan", result=engine.Result(init.clone(), [], {}))

    monkeypatch.setattr(engine, "optimize", diverge)
    with pytest.raises(NonFiniteLossError) as info:
        transfer(photo, _painting(), model=make_vgg(), preserve_colour="luminance", steps=2, progress=False,
                 init="content")
    r = info.value.result
    assert r.settings["preserve_colour"] == "luminance"
    assert metrics.chroma_distance(r.image, photo) < 0.01  # the grey start, with the photograph's chroma
    assert torch.allclose(colour.luminance(r.image), colour.luminance(photo), atol=0.02)


@pytest.mark.parametrize("name, method", [("histogram", "pca"), ("histogram-pca", "pca"),
                                          ("histogram-cholesky", "cholesky")])
def test_histogram_transfer_recolours_the_style_first(make_vgg, monkeypatch, name, method):
    model = make_vgg()
    photo, painting = _photo(), _painting()
    handed = {}
    real_run = engine.run

    def spy(content, styles, **kw):
        handed["styles"] = styles
        return real_run(content, styles, **kw)

    monkeypatch.setattr(engine, "run", spy)
    r = transfer(photo, [painting, _painting(seed=5)], model=model, preserve_colour=name, steps=4,
                 progress=False, blend=[0.5, 0.5])
    assert r.settings["preserve_colour"] == f"histogram-{method}"
    assert len(r.settings["colour_transform"]) == 2
    a, b = colour.histogram_transform(painting, photo, method)
    assert torch.allclose(torch.tensor(r.settings["colour_transform"][0]["A"], dtype=torch.float64), a)
    json.dumps(r.settings)  # JSON-able, for Result.save
    mu_c, cov_c = colour.colour_statistics(photo)
    for s in handed["styles"]:
        assert s.min() >= 0 and s.max() <= 1
        mu, cov = colour.colour_statistics(s)  # clamped, so close to the photograph's, not exact
        assert torch.allclose(mu, mu_c, atol=0.02) and torch.allclose(cov, cov_c, atol=0.005)
    assert torch.allclose(handed["styles"][0], colour.match_histogram(painting, photo, method, clamp=True))


def test_without_preserve_colour_transfer_is_unchanged(make_vgg):
    model = make_vgg()
    photo, painting = _photo(), _painting()
    a = transfer(photo, painting, model=model, steps=4, progress=False)
    b = run(photo, painting, model=model, steps=4, progress=False)
    assert torch.equal(a.image, b.image) and "preserve_colour" not in a.settings


@pytest.mark.parametrize("value", ["colour", "Luminance", "histogram-lab", "", 1, True])
def test_unknown_preserve_colour_is_a_clear_error_before_any_work(make_vgg, monkeypatch, value):
    monkeypatch.setattr(engine, "run", lambda *a, **k: pytest.fail("the engine ran"))
    with pytest.raises(SettingsError, match="unknown preserve_colour .*luminance.*histogram-cholesky"):
        transfer(_photo(), _painting(), model=make_vgg(), preserve_colour=value, steps=2, progress=False)


def test_preserve_colour_needs_both_images(make_vgg, monkeypatch):
    monkeypatch.setattr(engine, "run", lambda *a, **k: pytest.fail("the engine ran"))
    with pytest.raises(SettingsError, match="needs a content image"):
        transfer(None, _painting(), preserve_colour="luminance", model=make_vgg())
    with pytest.raises(SettingsError, match="needs a style image"):
        transfer(_photo(), [], preserve_colour="histogram", model=make_vgg())
    with pytest.raises(ImageError, match="RGB image"):
        transfer(_photo()[:, :2], _painting(), preserve_colour="histogram", model=make_vgg())
    with pytest.raises(SettingsError, match="unknown colour histogram matching"):
        colour.match_histogram(_painting(), _photo(), "lab")


# --------------------------------------------------------------------------------------
# The command line: --preserve-colour


@pytest.fixture
def cli_setup(tmp_path, monkeypatch, make_vgg):
    """A tiny network in place of the real one, and two small pictures as files."""
    from PIL import Image

    from stylelab import config, weights

    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(weights, "load_vgg", lambda *a, **k: make_vgg())
    paths = {}
    for name, img in (("content", _photo(24, 32)), ("style", _painting(24, 32))):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray((img[0].permute(1, 2, 0) * 255).round().byte().numpy()).save(paths[name])
    return paths


def test_cli_preserve_colour_reaches_the_engine(cli_setup, tmp_path, capsys):
    from stylelab.cli import command as cli
    from stylelab.cli import common as cli_common
    from stylelab.image import load_image

    assert set(cli_common.PRESERVE_COLOUR) == set(colour.PRESERVE_COLOUR)
    out = tmp_path / "lum.png"
    code = cli.main(["transfer", str(cli_setup["content"]), str(cli_setup["style"]), "-o", str(out),
                     "--size", "32", "--steps", "3", "--quiet", "--preserve-colour", "luminance"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["preserve_colour"] == "luminance"
    result, photo = load_image(out), load_image(cli_setup["content"])
    assert metrics.chroma_distance(result, photo) < 0.02  # 8-bit files: chroma equal up to rounding
    out = tmp_path / "hist.png"
    assert cli.main(["transfer", str(cli_setup["content"]), str(cli_setup["style"]), "-o", str(out),
                     "--size", "32", "--steps", "3", "--quiet", "--preserve-colour", "histogram-cholesky"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["preserve_colour"] == "histogram-cholesky"
    plain = tmp_path / "plain.png"
    assert cli.main(["transfer", str(cli_setup["content"]), str(cli_setup["style"]), "-o", str(plain),
                     "--size", "32", "--steps", "3", "--quiet"]) == 0
    assert "preserve_colour" not in json.loads(plain.with_suffix(".json").read_text())["settings"]


def test_cli_unknown_preserve_colour_is_a_usage_error(cli_setup, tmp_path, capsys):
    from stylelab.cli import command as cli

    out = tmp_path / "x.png"
    code = cli.main(["transfer", str(cli_setup["content"]), str(cli_setup["style"]), "-o", str(out),
                     "--size", "32", "--steps", "3", "--preserve-colour", "lab"])
    err = capsys.readouterr().err
    assert code == 2 and "--preserve-colour" in err and "invalid choice" in err and "Traceback" not in err
    assert not out.exists()


# --------------------------------------------------------------------------------------
# The explorer's "keep colours" control


def test_explorer_keep_colours(make_vgg, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from stylelab import paper
    from stylelab.explorer.app import NONE, Explorer

    photo = _photo(24, 32)
    e = Explorer(model=make_vgg(), images={"tubingen": photo, "starry_night": _painting(24, 32)}, samples=False,
                 size=32, steps=3, every=3, stages=1, tol=False, output_dir=tmp_path / "out")
    try:
        assert e.preserve_colour.value == "" and e.settings()["preserve_colour"] is None
        e.preserve_colour.value = "luminance"
        assert e.settings()["preserve_colour"] == "luminance"
        run_ = e.run(wait=True)
        assert run_ is not None and run_.status == "finished", e.message.value
        assert run_.result.settings["preserve_colour"] == "luminance"
        assert run_.result.settings["explorer"]["preserve_colour"] == "luminance"
        assert metrics.chroma_distance(run_.result.image, photo) < 0.01
        e.preserve_colour.value = "histogram-cholesky"
        run_ = e.run(wait=True)
        assert run_.result.settings["preserve_colour"] == "histogram-cholesky"
        # a texture has no content whose colours could be kept: one line, nothing run
        e.content.value = NONE
        assert e.run(wait=True) is None and "keep colours needs a content image" in e.message.value
        assert len(e.runs) == 2
        # a figure preset restores the paper's method: no colour preservation
        e.apply_preset(next(n for n in paper.presets() if n.startswith("Fig. 2C")))
        assert e.preserve_colour.value == "" and e.settings()["preserve_colour"] is None
    finally:
        e.stop()
        assert e.wait(30)
