"""Tests for stylelab.realtime.photos: the registry data/photos.json against the files installed
by scikit-image and scikit-learn, the hash checks, the install hint, the parser's refusals, and
the random training crops.

Nothing here imports scikit-image or scikit-learn (the files are read where they lie), and no
photograph but the small ones is decoded, so the whole file takes a few seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from stylelab import config, data
from stylelab.errors import DataError, SettingsError
from stylelab.realtime import photos

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "data" / "photos.json"
TRAIN = ["astronaut", "coffee", "rocket", "motorcycle_left", "china", "flower"]
HELD_OUT = ["chelsea", "tubingen"]
TEXTURES = ["brick", "grass", "gravel"]


def _installed(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.skip(f"{package} is not installed (pip install \"stylelab[realtime]\")")
    return Path(list(spec.submodule_search_locations)[0])


def _raw() -> dict:
    return json.loads(REGISTRY.read_text(encoding="utf-8"))


@pytest.fixture
def fresh_hashes(monkeypatch):
    """An empty hash cache, so that each test hashes what it reads."""
    monkeypatch.setattr(photos, "_hash_cache", {})


# --------------------------------------------------------------------------- the registry


def test_registry_is_what_photos_holds():
    assert photos._registry_file() == REGISTRY
    raw = _raw()
    assert "held_out" in raw["about"] and "sha256" in raw["about"]
    fields = [f.name for f in dataclasses.fields(photos.Photo)]
    assert [e["name"] for e in raw["photos"]] == list(photos.PHOTOS) == TRAIN + HELD_OUT + TEXTURES
    for entry in raw["photos"]:
        photo = photos.PHOTOS[entry["name"]]
        for name in fields:
            actual = getattr(photo, name)
            assert (list(actual) if name == "size" else actual) == entry.get(name, ""), (entry["name"], name)
        assert "\n" not in photo.credit and photo.title.split(" (")[0] in photo.credit, photo.name
        if photo.licence.startswith("CC"):
            assert photo.licence in photo.credit, photo.name
        assert photo.source.startswith(("https://", "http://")), photo.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        photos.info("coffee").sha256 = "0" * 64


def test_roles_are_as_the_lessons_need_them():
    assert photos.names("train") == TRAIN
    assert photos.names("held_out") == HELD_OUT
    assert photos.names("texture") == TEXTURES
    assert photos.names() == TRAIN + HELD_OUT + TEXTURES
    for role in photos.ROLES:
        assert photos.names(role), role
    assert not set(photos.names("held_out")) & set(photos.names("train"))
    # no photograph is in the training set twice under another name
    train_hashes = {photos.info(n).sha256 for n in TRAIN}
    assert len(train_hashes) == len(TRAIN)
    assert not train_hashes & {photos.info(n).sha256 for n in HELD_OUT + TEXTURES}
    with pytest.raises(DataError, match="train, held_out, texture"):
        photos.names("test")


def test_the_facts_of_the_packages_docs():
    assert photos.info("astronaut").licence == "public domain" and photos.info("astronaut").author == "NASA"
    assert photos.info("coffee").licence == "CC0" and "Rachel Michetti" in photos.info("coffee").credit
    assert "Pikolo" in photos.info("coffee").credit
    assert photos.info("rocket").source == "https://www.flickr.com/photos/spacexphotos/16511594820/"
    assert photos.info("china").licence == photos.info("flower").licence == "CC BY 2.0"
    assert photos.info("china").author == "danielbuechele" and photos.info("flower").author == "vultilion"
    assert "Scharstein" in photos.info("motorcycle_left").credit
    assert photos.info("chelsea").author == "Stefan van der Walt"
    for name in TEXTURES:
        assert photos.info(name).licence == "CC0" and photos.info(name).size == (512, 512)
    tubingen, sample = photos.info("tubingen"), data.info("tubingen")
    assert (tubingen.package, tubingen.path) == ("stylelab", "tubingen")
    assert (tubingen.sha256, tubingen.size, tubingen.credit, tubingen.licence) == (
        sample.sha256, sample.size, sample.credit, sample.licence)


@pytest.mark.parametrize("name", TRAIN + ["chelsea"] + TEXTURES)
def test_installed_files_match_the_registry(name, fresh_hashes):
    photo = photos.info(name)
    found = photos.path(name)
    assert found == _installed(photo.package) / photo.path
    assert hashlib.sha256(found.read_bytes()).hexdigest() == photo.sha256
    with Image.open(found) as im:
        assert im.size == photo.size
        assert (im.mode == "L") == (photo.role == "texture"), im.mode


def test_a_file_is_hashed_once_per_process(fresh_hashes, monkeypatch):
    photos.path("rocket")
    assert len(photos._hash_cache) == 1

    def no_reading(*args, **kwargs):
        raise AssertionError("hashed again")

    monkeypatch.setattr(photos.hashlib, "sha256", no_reading)
    assert photos.path("rocket").name == "rocket.jpg"


def test_info_names_the_known_photographs():
    with pytest.raises(DataError, match=r"unknown photograph 'astronot' \(did you mean 'astronaut'\?\).*coffee"):
        photos.info("astronot")
    with pytest.raises(DataError, match="choose one of: astronaut"):
        photos.info(3)


def test_credits_one_line_per_photo():
    lines = photos.credits().splitlines()
    assert len(lines) == len(photos.PHOTOS)
    assert lines[0].startswith("astronaut: ") and "Eileen Collins" in lines[0]
    assert photos.credits("texture").splitlines() == [f"{n}: {photos.info(n).credit}" for n in TEXTURES]


# --------------------------------------------------------------------------- the files


def _fake_package(root: Path, package: str, files: dict[str, bytes]) -> None:
    """A package folder ``root/package`` (never imported) holding ``files``."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    for rel, payload in files.items():
        (root / package / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / package / rel).write_bytes(payload)


def test_a_damaged_file_is_refused(tmp_path, monkeypatch, fresh_hashes):
    real = photos.path("astronaut").read_bytes()
    damaged = bytearray(real)
    damaged[len(damaged) // 2] ^= 0xFF
    _fake_package(tmp_path, "skimage", {"data/astronaut.png": bytes(damaged), "data/coffee.png": b""})
    monkeypatch.delitem(sys.modules, "skimage", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert photos._package_folders("skimage") == [tmp_path / "skimage"]
    with pytest.raises(DataError, match=r"astronaut.png does not match its sha256.*reinstall scikit-image"):
        photos.path("astronaut")
    with pytest.raises(DataError, match="coffee.png does not match"):
        photos.load("coffee")
    with pytest.raises(DataError, match=r"data/rocket.jpg is missing from the installed scikit-image"):
        photos.path("rocket")
    assert "skimage" not in sys.modules  # found, never imported (its __init__ would raise)


@pytest.mark.parametrize("package, name, pip", [("skimage", "astronaut", "scikit-image"),
                                                ("sklearn", "china", "scikit-learn")])
def test_a_missing_package_gives_the_install_command(monkeypatch, package, name, pip):
    monkeypatch.setitem(sys.modules, package, None)  # find_spec answers None: not installed
    with pytest.raises(DataError, match=rf"need {pip} .*not installed: pip install \"stylelab\[realtime\]\""):
        photos.path(name)
    with pytest.raises(DataError, match="stylelab\\[realtime\\]"):
        photos.load(name)


def test_tubingen_comes_from_the_sample_images(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_DATA_DIR, str(tmp_path))  # an empty offline folder: no download
    with pytest.raises(DataError, match="has no tubingen.jpg"):
        photos.path("tubingen")


@pytest.mark.skipif(not os.environ.get(config.ENV_DATA_DIR), reason=f"{config.ENV_DATA_DIR} is not set")
def test_load_held_out_with_the_real_sample():
    images = photos.load_all("held_out", size=64)
    assert list(images) == HELD_OUT
    assert tuple(images["tubingen"].shape) == (1, 3, 48, 64)
    assert tuple(images["chelsea"].shape) == (1, 3, 43, 64)


def test_load_gives_rgb_in_unit_range():
    brick = photos.load("brick", size=32)
    assert tuple(brick.shape) == (1, 3, 32, 32) and brick.dtype == torch.float32
    assert torch.equal(brick[:, 0], brick[:, 1]) and torch.equal(brick[:, 1], brick[:, 2])  # greyscale as RGB
    rocket = photos.load("rocket", size=64)
    assert tuple(rocket.shape) == (1, 3, 43, 64)
    assert 0 <= float(rocket.min()) and float(rocket.max()) <= 1 and float(rocket.std()) > 0.05
    assert not torch.equal(rocket[:, 0], rocket[:, 2])  # colour
    assert tuple(photos.load("chelsea").shape) == (1, 3, 300, 451)


# --------------------------------------------------------------------------- the parser


def _entry(**change) -> dict:
    entry = dict(_raw()["photos"][0])
    entry.update(change)
    return {k: v for k, v in entry.items() if v is not None}


@pytest.mark.parametrize("entries, message", [
    ([_entry(role=None)], r"photo 1 \(astronaut\): missing role"),
    ([_entry(artist="NASA")], r"photo 1 \(astronaut\): unknown field\(s\) artist"),
    ([_entry(role="training")], r"photo 1 \(astronaut\): role must be one of train, held_out, texture"),
    ([_entry(), _entry(path="data/coffee.png")], r"photo 2 \(astronaut\): the name 'astronaut' is used twice"),
    ([_entry(sha256="ABC")], r"photo 1 \(astronaut\): sha256 must be 64 lower-case hex digits"),
    ([_entry(sha256="8" * 63 + "G")], r"sha256 must be 64"),
    ([_entry(package="torchvision")], r"package must be one of skimage, sklearn, stylelab"),
    ([_entry(size=[512])], r"size must be \[width, height\]"),
    ([_entry(size=[512, True])], r"size must be \[width, height\]"),
    ([_entry(title=None, credit=3)], r"missing title"),
    ([_entry(credit=3)], r"credit must be a string"),
    ([_entry(path="../../etc/passwd")], r"path must be a file inside the package"),
    ([_entry(path="/etc/passwd")], r"path must be a file inside the package"),
    ([_entry(package="stylelab", path="mona_lisa")], r"must name a sample image"),
    ([_entry(package="stylelab", path="tubingen")], r"sha256 differs from the one of 'tubingen'"),
    (["astronaut"], r"photo 1 \('astronaut'\): each photo must be an object"),
])
def test_a_bad_registry_names_its_entry(entries, message):
    with pytest.raises(DataError, match=message) as caught:
        photos._parse_registry(json.dumps({"about": "", "photos": entries}), "photos.json")
    assert str(caught.value).startswith("photos.json")


def test_a_broken_registry_file_is_refused():
    with pytest.raises(DataError, match="photos.json is not valid JSON"):
        photos._parse_registry("{", "photos.json")
    with pytest.raises(DataError, match="non-empty list \"photos\""):
        photos._parse_registry('{"photos": []}', "photos.json")
    assert photos._parse_registry(REGISTRY.read_text(encoding="utf-8")) == photos.PHOTOS


def test_a_missing_registry_is_refused(monkeypatch):
    monkeypatch.setattr(photos._locations, "shipped", lambda relative: None)
    with pytest.raises(DataError, match="registry data/photos.json is missing"):
        photos._load_registry()


# --------------------------------------------------------------------------- crops


def _images() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return [torch.rand(1, 3, 40, 60, generator=g), torch.rand(3, 50, 32, generator=g)]


def test_crops_are_deterministic_per_seed():
    a, b, c = (photos.Crops(_images(), crop=24, seed=s) for s in (0, 0, 1))
    first = a.batch(6)
    assert torch.equal(first, b.batch(6))
    assert not torch.equal(first, c.batch(6))
    assert not torch.equal(a.batch(6), first)  # the stream goes on
    state = a.state()
    again = a.batch(3)
    a.set_state(state)
    assert torch.equal(a.batch(3), again)
    assert "2 images, crop=24, seed=0" in repr(a)


def test_crops_shape_range_and_origin():
    images = _images()
    crops = photos.Crops(images, crop=16, seed=3)
    out = crops.batch(40)
    assert tuple(out.shape) == (40, 3, 16, 16) and out.dtype == torch.float32
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    sources = [images[0][0], images[1]]
    flipped = used = 0
    seen = set()
    for piece in out:
        hits = [(k, f) for k, im in enumerate(sources) for f in (False, True)
                if _contains(im, piece.flip(-1) if f else piece)]
        assert hits, "a crop that is no window of any image"
        k, f = hits[0]
        seen.add(k)
        flipped += f
        used += 1
    assert seen == {0, 1}, "both images are used"
    assert 5 < flipped < 35, f"{flipped} of {used} crops flipped"


def _contains(image: torch.Tensor, piece: torch.Tensor) -> bool:
    c = piece.shape[-1]
    windows = image.unfold(1, c, 1).unfold(2, c, 1)  # (3, H-c+1, W-c+1, c, c)
    return bool((windows == piece[:, None, None]).all(-1).all(-1).all(0).any())


def test_small_images_are_upscaled():
    small = torch.rand(1, 3, 10, 30, generator=torch.Generator().manual_seed(0))
    crops = photos.Crops([small], crop=20, seed=0)
    assert tuple(crops.images[0].shape) == (3, 20, 60)
    out = crops.batch(4)
    assert tuple(out.shape) == (4, 3, 20, 20)
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    bright = torch.ones(3, 8, 8)
    assert float(photos.Crops([bright], crop=16).batch(1).max()) <= 1  # bicubic overshoot clamped
    big = photos.Crops([torch.rand(3, 16, 100)], crop=16)
    assert tuple(big.images[0].shape) == (3, 16, 100)  # already large enough: kept as it is


@pytest.mark.parametrize("args, kwargs, message", [
    ((_images(), 15), {}, "crop must be a whole number of at least 16"),
    ((_images(), 24.0), {}, "crop must be"),
    (([], 24), {}, "at least one image"),
    ((None, 24), {}, "images must be a sequence"),
    (([torch.rand(1, 1, 32, 32)], 24), {}, r"image 1 must be a \(1, 3, H, W\)"),
    (([torch.rand(32, 32)], 24), {}, r"image 1 must be"),
    (([torch.rand(3, 32, 32), "photo.jpg"], 24), {}, r"image 2 must be"),
    ((_images(), 24), {"seed": 1.5}, "seed must be a whole number"),
])
def test_crops_refuse_bad_arguments(args, kwargs, message):
    with pytest.raises(SettingsError, match=message):
        photos.Crops(*args, **kwargs)


@pytest.mark.parametrize("n", [0, -1, 2.0, True])
def test_batch_refuses_a_bad_size(n):
    with pytest.raises(SettingsError, match="n must be a whole number of at least 1"):
        photos.Crops(_images(), crop=16).batch(n)
