"""Spatial control (stylelab.control.masks, stylelab.control.segment): reading masks, carrying them to the
layers, guided Gram matrices and the engine's ``regions=`` on tiny random networks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import masks, segment
from stylelab.errors import ImageError, SettingsError

from stylelab.control import transfer as controlled
from stylelab import image
LAYERS = ["relu1_1", "relu2_1", "relu3_1"]


def _half(h=32, w=48, rows=12):
    m = torch.zeros(h, w)
    m[:rows] = 1
    return m


# --------------------------------------------------------------------------------------
# Reading masks of every shape


def test_grey_png_white_is_inside(tmp_path):
    arr = np.zeros((20, 30), np.uint8)
    arr[:8] = 255
    arr[8:10] = 100  # grey below one half: outside
    Image.fromarray(arr).save(tmp_path / "m.png")
    m = masks.load_mask(tmp_path / "m.png")
    assert m.shape == (20, 30) and m.dtype == torch.float32
    assert m[:8].eq(1).all() and m[8:].eq(0).all()


def test_rgb_png_and_rgb_tensor(tmp_path):
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:, :10] = 255
    Image.fromarray(arr).save(tmp_path / "rgb.png")
    m = masks.load_mask(tmp_path / "rgb.png")
    assert m[:, :10].eq(1).all() and m[:, 10:].eq(0).all()
    t = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float() / 255
    assert torch.equal(masks.load_mask(t), m)


def test_bool_int_and_numpy_masks():
    b = torch.zeros(10, 12, dtype=torch.bool)
    b[2:5, 3:7] = True
    assert masks.load_mask(b).sum() == 12
    assert masks.load_mask(b.to(torch.uint8) * 255).sum() == 12
    assert masks.load_mask(b.numpy()).sum() == 12
    assert masks.load_mask(b.float().view(1, 1, 10, 12)).shape == (10, 12)


def test_label_map_integer_and_colours(tmp_path):
    labels = np.zeros((16, 24), np.uint8)
    labels[:, 8:16] = 1
    labels[:, 16:] = 2
    Image.fromarray(labels).save(tmp_path / "labels.png")
    m = masks.label_map(tmp_path / "labels.png")
    assert m.shape == (3, 16, 24)
    assert m.sum(0).eq(1).all() and [int(x) for x in m.flatten(1).sum(1)] == [128, 128, 128]
    colours = np.zeros((16, 24, 3), np.uint8)
    colours[:, :8] = (255, 0, 0)
    colours[:, 8:] = (0, 0, 255)
    Image.fromarray(colours).save(tmp_path / "colours.png")
    c = masks.as_masks(str(tmp_path / "colours.png"))  # a path: a label map
    assert c.shape == (2, 16, 24)
    assert c[0, :, 8:].eq(1).all() and c[1, :, :8].eq(1).all()  # ordered by (R, G, B): blue first


def test_label_map_of_a_photograph_is_refused(tmp_image_file=None):
    g = torch.Generator().manual_seed(0)
    noise = (torch.rand(20, 20, 3, generator=g) * 255).to(torch.uint8).numpy()
    with pytest.raises(ImageError, match="distinct values"):
        masks.label_map(Image.fromarray(noise))


def test_not_an_image_file(tmp_path):
    bad = tmp_path / "mask.png"
    bad.write_text("this is not a picture")
    with pytest.raises(ImageError, match="not an image"):
        masks.load_mask(bad)
    with pytest.raises(ImageError, match="no such file"):
        masks.load_mask(tmp_path / "missing.png")
    with pytest.raises(ImageError):
        masks.load_mask("not a mask" and 3.5)


def test_other_size_same_aspect_is_resized_with_a_warning():
    m = _half(64, 96, 24)
    with pytest.warns(masks.MaskResizedWarning, match="resized"):
        r = masks.load_mask(m, (32, 48))
    assert r.shape == (32, 48) and torch.equal(r, _half(32, 48, 12))


def test_other_shape_is_refused():
    with pytest.raises(ImageError, match="different shape"):
        masks.load_mask(torch.ones(32, 32), (32, 48))


def test_empty_region_is_refused():
    with pytest.raises(SettingsError, match="region 2 is empty"):
        masks.Regions([torch.ones(8, 8), torch.zeros(8, 8)])


def test_regions_must_match_the_styles():
    regions = masks.Regions([_half(), 1 - _half()])
    assert regions.style_index(2) == [0, 1]
    with pytest.raises(SettingsError, match="2 regions but 3 style"):
        regions.style_index(3)
    with pytest.raises(SettingsError, match="2 regions but 1 style"):
        regions.style_index(1)
    one_style = masks.Regions([_half(), 1 - _half()], style_masks=[_half(), 1 - _half()])
    assert one_style.style_index(1) == [0, 0]
    with pytest.raises(SettingsError, match="style masks for 2 regions"):
        masks.Regions([_half(), 1 - _half()], style_masks=[_half()])
    with pytest.raises(SettingsError, match="region weights"):
        masks.Regions([_half()], weights=[1, 2])
    with pytest.raises(SettingsError, match="mask method"):
        masks.Regions([_half()], method="blur")


# --------------------------------------------------------------------------------------
# Masks at the layers, guided Grams


def test_guided_gram_of_ones_is_the_plain_gram():
    from stylelab.method.losses import gram

    f = torch.randn(1, 5, 6, 7, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(masks.guided_gram(f, torch.ones(1, 6, 7)), gram(f), rtol=1e-5, atol=1e-5)


def test_guided_gram_sees_only_its_region():
    f = torch.randn(1, 4, 6, 8, generator=torch.Generator().manual_seed(2))
    m = torch.zeros(1, 6, 8)
    m[0, :, :4] = 1
    g = masks.guided_gram(f, m)[0]
    left = f[..., :4].reshape(4, -1)
    assert torch.allclose(g, left @ left.T * 2, rtol=1e-5, atol=1e-5)  # M / sum(T) = 48 / 24
    f2 = f.clone()
    f2[..., 4:] = 100  # outside the region: no effect
    assert torch.allclose(masks.guided_gram(f2, m)[0], g, rtol=1e-5, atol=1e-5)


def test_downsample_keeps_the_area():
    m = _half(32, 48, 12).unsqueeze(0)
    d = masks.downsample(m, (8, 12))
    assert d.shape == (1, 8, 12)
    assert abs(float(d.mean()) - float(m.mean())) < 1e-6


def test_erosion_by_the_receptive_field_shrinks_the_mask():
    from stylelab.networks.vgg import layers

    m = _half(64, 64, 32).unsqueeze(0)  # the top half
    by_name = {l.name: l for l in layers("vgg16")}
    inside = []
    for name in ("relu1_1", "relu2_1", "relu3_1"):
        l = by_name[name]
        shape = (64 // l.downsampling, 64 // l.downsampling)
        e = masks.erode(m, shape, l.receptive_field, l.downsampling)
        d = masks.downsample(m, shape)
        assert e.le(d + 1e-6).all(), "erosion never adds units"
        assert e.sum() < (d > 0.5).sum(), f"{name}: the eroded mask is smaller"
        # a kept unit's whole receptive field lies in the top half
        rows = torch.nonzero(e[0].any(dim=1)).flatten()
        last = int(rows.max()) if len(rows) else -1
        assert (last + 1) * l.downsampling + (l.receptive_field - l.downsampling) // 2 <= 32 + 1
        inside.append(float(e.mean()))
    assert inside[0] > inside[1] > inside[2], "deeper layers see more, keep less"


# --------------------------------------------------------------------------------------
# The engine


@pytest.fixture
def images(tiny_image):
    return tiny_image(32, 48, seed=0), tiny_image(32, 48, seed=1), tiny_image(40, 40, seed=2)


def test_one_region_of_ones_is_the_plain_run(make_vgg, images):
    content, s1, _ = images
    kw = dict(model=make_vgg(), steps=6, progress=False, style_layers=LAYERS)
    plain = controlled.run(content, [s1], **kw)
    guided = controlled.run(content, [s1], regions=[torch.ones(32, 48)], **kw)
    a = [r["total"] for r in plain.history]
    b = [r["total"] for r in guided.history]
    assert np.allclose(a, b, rtol=1e-4), (a, b)
    assert torch.allclose(plain.image, guided.image, atol=1e-3)
    assert guided.settings["regions"]["count"] == 1 and "regions" not in plain.settings


def test_each_region_follows_its_style(make_vgg, tiny_image):
    """Two flat-coloured styles: inside each region the result's statistics are the region's style's."""
    model = make_vgg()
    content = tiny_image(32, 32, seed=0)
    red = torch.zeros(1, 3, 32, 32)
    red[:, 0] = 0.9
    blue = torch.zeros(1, 3, 32, 32)
    blue[:, 2] = 0.9
    top = _half(32, 32, 16)
    r = controlled.run(content, [red, blue], regions=[top, 1 - top], model=model, steps=80, progress=False,
              style_layers=["relu1_1", "relu2_1"], content_layers=[], init="noise")
    from stylelab.metrics import masked_style_distance

    d = {(region, style): masked_style_distance(model, r.image, m, s, layers=["relu1_1", "relu2_1"])
         for region, m in (("top", top), ("bottom", 1 - top)) for style, s in (("red", red), ("blue", blue))}
    assert d["top", "red"] < d["top", "blue"], d
    assert d["bottom", "blue"] < d["bottom", "red"], d


def test_engine_variants_run(make_vgg, images):
    content, s1, s2 = images
    model = make_vgg()
    kw = dict(model=model, steps=3, progress=False, style_layers=LAYERS)
    top = _half()
    r = controlled.run(content, [s1, s2], regions=masks.Regions([top, 1 - top], method="erode"), **kw)
    assert r.settings["regions"]["method"] == "erode" and np.isfinite(r.losses["total"])
    sm = torch.zeros(32, 48)
    sm[:, :24] = 1
    r = controlled.run(content, [s1], regions=masks.Regions([top, 1 - top], style_masks=[sm, 1 - sm], weights="equal"), **kw)
    assert r.settings["regions"]["style_masks"] == [True, True]
    r = controlled.run(content, [s1, s2], regions=[top, 1 - top], scales=[24, 48], **kw)  # masks follow the stages
    assert [s["size"] for s in r.stages] == [[16, 24], [32, 48]]


def test_engine_errors(make_vgg, images):
    content, s1, s2 = images
    kw = dict(model=make_vgg(), steps=2, progress=False, style_layers=LAYERS)
    top = _half()
    with pytest.raises(SettingsError, match="2 regions but 1 style"):
        controlled.run(content, [s1], regions=[top, 1 - top], **kw)
    with pytest.raises(SettingsError, match="blend"):
        controlled.run(content, [s1, s2], regions=[top, 1 - top], blend=[1, 1], **kw)
    with pytest.raises(ImageError, match="different shape"):
        controlled.run(content, [s1, s2], regions=[torch.ones(32, 32), torch.ones(32, 32)], **kw)
    with pytest.raises(ImageError, match="style mask of region 1"):  # drawn on another size than its style
        controlled.run(content, [s1], regions=masks.Regions([top, 1 - top], style_masks=[torch.ones(8, 8), torch.ones(8, 8)]), **kw)


def test_guide_loss_matches_a_direct_computation(make_vgg, images):
    from stylelab.method.losses import style_factor

    content, s1, s2 = images
    model = make_vgg()
    top = _half()
    regions = masks.Regions([top, 1 - top], weights=[1, 3])
    guide = regions.guide(model, (32, 48), [s1, s2], ["relu2_1"])
    x = content
    f = model(x, ["relu2_1"])["relu2_1"]
    fs = [model(image.resize_to(s, (32, 48)), ["relu2_1"])["relu2_1"] for s in (s1, s2)]
    t = masks.downsample(torch.stack([top, 1 - top]), f.shape[-2:])
    n, m = f.shape[1], f.shape[-1] * f.shape[-2]
    expected = 0
    for k, lam in enumerate([0.25, 0.75]):
        g = masks.guided_gram(f, t[k:k + 1])
        a = masks.guided_gram(fs[k], torch.ones(1, *f.shape[-2:]))
        expected += lam * (g - a).pow(2).sum() / (4 * n * n * m * m) * style_factor("hw", n, m)
    assert torch.allclose(guide.layer_loss("relu2_1", f, "hw"), expected, rtol=1e-4)


# --------------------------------------------------------------------------------------
# Masks from the pictures (stylelab.control.segment)


def _landscape(h=48, w=64):
    """A synthetic photograph: smooth bright blue sky above, textured brown town below."""
    g = torch.Generator().manual_seed(0)
    img = torch.zeros(1, 3, h, w)
    img[:, :, : h // 3] = torch.tensor([0.45, 0.65, 0.95]).view(1, 3, 1, 1)
    town = torch.tensor([0.55, 0.35, 0.25]).view(1, 3, 1, 1) + 0.25 * torch.rand(1, 3, h - h // 3, w, generator=g)
    img[:, :, h // 3:] = town.clamp(0, 1)
    return img


def test_sky_mask_finds_the_sky():
    img = _landscape()
    sky = segment.sky_mask(img)
    truth = torch.zeros(48, 64)
    truth[:16] = 1
    assert float((sky == truth).float().mean()) > 0.9
    assert sky[:12].mean() > 0.95 and sky[24:].mean() < 0.05


def test_otsu_and_clean():
    v = torch.cat([torch.full((100,), 0.2), torch.full((100,), 0.8)])
    t = segment.otsu_threshold(v)
    assert 0.2 < t < 0.8
    m = torch.zeros(20, 20)
    m[5:15, 5:15] = 1
    m[1, 1] = 1  # a speck
    m[9, 9] = 0  # a hole
    c = segment.clean(m, 3)
    assert c[1, 1] == 0 and c[9, 9] == 1 and c[5:15, 5:15].mean() > 0.9


def test_line_drawing_and_foreground():
    img = torch.full((1, 3, 48, 64), 0.9)
    g = torch.Generator().manual_seed(3)
    for y in range(2, 46, 8):  # dark squares of random shades on the right half: a dense drawing there
        for x in range(34, 62, 8):
            img[:, :, y: y + 4, x: x + 4] = 0.4 * float(torch.rand(1, generator=g))
    d = segment.line_drawing(img)
    assert d.shape == (1, 3, 48, 64) and set(d.unique().tolist()) <= {0.0, 1.0}
    ink = 1 - d[0, 0]
    assert ink[:, 34:].mean() > 0.02 and ink[:, :28].sum() == 0
    fg = segment.foreground_mask(d)
    assert fg[:, 40:58].mean() > 0.8 and fg[:, :20].mean() < 0.1
    out = segment.overlay_lines(torch.full((1, 3, 48, 64), 0.5), d)
    assert torch.all(out[0, :, ink > 0] == 0) and torch.all(out[0, :, ink == 0] == 0.5)


def test_highlight_dims_outside():
    img = torch.full((1, 3, 8, 8), 0.8)
    m = torch.zeros(8, 8)
    m[:4] = 1
    h = segment.highlight(img, m, dim=0.5)
    assert torch.allclose(h[..., :4, :], img[..., :4, :]) and torch.allclose(h[..., 4:, :], img[..., 4:, :] * 0.5)
    with pytest.raises(SettingsError):
        segment.highlight(img, torch.ones(4, 4))


# --------------------------------------------------------------------------------------
# The command line: stylelab transfer ... --mask A.png --mask B.png


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """Tiny pictures and masks, and a tiny random network in place of the real one."""
    from stylelab import config, weights
    from stylelab.cli import command as cli
    from stylelab.networks.vgg import VGG

    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE):
        monkeypatch.delenv(var, raising=False)

    def fake_load_vgg(*args, **kwargs):
        torch.manual_seed(0)
        return VGG("vgg16", widths=(4, 8, 8, 16, 16))

    monkeypatch.setattr(weights, "load_vgg", fake_load_vgg)
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    folder.mkdir()
    files = {}
    for name, (w, h) in {"content": (48, 32), "a": (32, 32), "b": (40, 30)}.items():
        files[name] = folder / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(files[name])
    top = np.zeros((64, 96), np.uint8)  # twice the content's size: resized with it
    top[:24] = 255
    Image.fromarray(top).save(folder / "top.png")
    Image.fromarray(255 - top).save(folder / "bottom.png")
    Image.fromarray((top > 0).astype(np.uint8)).save(folder / "labels.png")
    Image.fromarray(np.zeros((64, 96), np.uint8)).save(folder / "empty.png")
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(folder / "square.png")
    (folder / "bad.png").write_text("not a picture")
    return cli, folder, files


def _cli(cli, argv):
    return cli.main([str(a) for a in argv])


def test_cli_masks_one_per_style(cli_env, tmp_path, capsys):
    import json

    cli, folder, f = cli_env
    out = tmp_path / "out" / "two.png"
    code = _cli(cli, ["transfer", f["content"], f["a"], f["b"], "--mask", folder / "top.png", "--mask",
                      folder / "bottom.png", "-o", out, "--size", "48", "--steps", "2", "-q"])
    assert code == 0, capsys.readouterr().err
    regions = json.loads(out.with_suffix(".json").read_text())["settings"]["regions"]
    assert regions["count"] == 2 and regions["names"] == ["top.png", "bottom.png"]
    assert regions["coverage"][0] == pytest.approx(24 / 64, abs=0.02)


def test_cli_label_map_and_style_masks(cli_env, tmp_path, capsys):
    cli, folder, f = cli_env
    out = tmp_path / "labels.png"
    assert _cli(cli, ["transfer", f["content"], f["a"], f["b"], "--mask", folder / "labels.png", "-o", out,
                      "--size", "48", "--steps", "2", "-q"]) == 0
    one = np.zeros((32, 32), np.uint8)
    one[:, :16] = 255
    Image.fromarray(one).save(folder / "a-left.png")
    Image.fromarray(255 - one).save(folder / "a-right.png")
    assert _cli(cli, ["transfer", f["content"], f["a"], "--mask", folder / "top.png", "--mask", folder / "bottom.png",
                      "--style-mask", folder / "a-left.png", "--style-mask", folder / "a-right.png",
                      "--mask-method", "erode", "-o", tmp_path / "parts.png", "--size", "48", "--steps", "2",
                      "-q"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("styles, extra, message", [
    (["a"], ["--mask", "bad.png"], "not an image"),
    (["a"], ["--mask", "empty.png"], "empty"),
    (["a"], ["--mask", "square.png"], "different shape"),
    (["a", "b"], ["--mask", "top.png", "--mask", "bottom.png", "--mask", "top.png"], "3 regions but 2 style"),
    (["a", "b"], ["--style-mask", "top.png"], "--style-mask needs --mask"),
])
def test_cli_mask_errors_write_nothing(cli_env, tmp_path, capsys, styles, extra, message):
    cli, folder, f = cli_env
    argv = ["transfer", f["content"], *[f[s] for s in styles], "-o", tmp_path / "out.png", "--size", "48",
            "--steps", "2", "-q", *[folder / x if x.endswith(".png") else x for x in extra]]
    before = set(tmp_path.rglob("*"))
    assert _cli(cli, argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert set(tmp_path.rglob("*")) == before


# --------------------------------------------------------------------------------------
# The guided sums (issue 20: the authors' code's other variant)


def test_guided_sums_hold_the_plain_gram_and_each_regions_feature_sums():
    f = torch.rand(1, 3, 4, 5)
    t = torch.zeros(2, 4, 5)
    t[0, :, :2] = 1
    t[1, :, 2:] = 1
    g = masks.guided_sums(f, t)[0]
    assert g.shape == (5, 5)
    flat = f.reshape(3, 20)
    assert torch.allclose(g[:3, :3], flat @ flat.T)  # the plain Gram (Eq. 3)
    assert torch.allclose(g[:3, 3], f[0, :, :, :2].sum((1, 2)))  # each feature summed over region 1
    assert torch.allclose(g[:3, 4], f[0, :, :, 2:].sum((1, 2)))
    assert torch.allclose(g[3:, 3:], torch.tensor([[8.0, 0.0], [0.0, 12.0]]))  # the regions' areas, no overlap
    with pytest.raises(SettingsError):
        masks.guided_sums(f, torch.ones(2, 3, 3))


def test_the_guided_sums_variant_in_the_engine(make_vgg, images):
    from stylelab.method.losses import style_factor

    content, s1, s2 = images
    model = make_vgg()
    top = _half()
    sm = torch.zeros(32, 48)
    sm[:, :24] = 1
    regions = masks.Regions([top, 1 - top], style_masks=[sm, 1 - sm], variant="sums")
    guide = regions.guide(model, (32, 48), [s1], ["relu2_1"])
    f = model(content, ["relu2_1"])["relu2_1"]
    fs = model(s1, ["relu2_1"])["relu2_1"]
    n, m = f.shape[1], f.shape[-1] * f.shape[-2]
    t = masks.downsample(torch.stack([top, 1 - top]), f.shape[-2:])
    ts = masks.downsample(torch.stack([sm, 1 - sm]), fs.shape[-2:])
    a = masks.guided_sums(fs, ts)
    expected = (masks.guided_sums(f, t) - a).pow(2).sum() / (4 * n * n * m * m) * style_factor("hw", n, m)
    assert torch.allclose(guide.layer_loss("relu2_1", f, "hw"), expected, rtol=1e-4)
    r = controlled.run(content, [s1], regions=regions, model=model, steps=3, progress=False, style_layers=LAYERS)
    assert r.settings["regions"]["variant"] == "sums" and np.isfinite(r.losses["total"])
    with pytest.raises(SettingsError, match="style mask for every region"):
        masks.Regions([top, 1 - top], variant="sums")
    with pytest.raises(SettingsError, match="one style image"):
        controlled.run(content, [s1, s2], regions=masks.Regions([top, 1 - top], style_masks=[sm, 1 - sm], variant="sums"),
              model=model, steps=1, progress=False, style_layers=LAYERS)
    with pytest.raises(SettingsError, match="unknown guided variant"):
        masks.Regions([top, 1 - top], variant="gram-sums")
