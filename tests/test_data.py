"""Tests for stylelab.data: the sample registry, offline folder, hash checks, downloads.

No test here touches the network: downloads are replaced by a fake ``pooch.retrieve``.
The last test checks the real files when ``STYLELAB_DATA_DIR`` is set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pooch
import pytest
import requests
import torch
from PIL import Image

from stylelab import config, data
from stylelab.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "data" / "samples.json"
REAL_DATA_DIR = os.environ.get(config.ENV_DATA_DIR, "")
_checkout_root = data._locations.checkout_root  # the real one (the tests replace it)
EXPECTED_NAMES = ["tubingen", "shipwreck", "starry_night", "the_scream",
                  "woman_with_hat", "composition_vii", "great_wave"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No test uses the real cache, the caller's STYLELAB_DATA_DIR, or the network."""
    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.delenv(config.ENV_DATA_DIR, raising=False)
    monkeypatch.setattr(data, "_hash_cache", {})
    # downloads go to the cache, as in an installed package (not into this checkout's data/)
    monkeypatch.setattr(data._locations, "checkout_root", lambda: None)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to download something")

    monkeypatch.setattr(pooch, "retrieve", no_network)


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> tuple[data.Sample, bytes]:
    """A made-up sample ``tiny`` (a 40x30 JPEG) registered in SAMPLES; returns it and its bytes."""
    source = tmp_path / "made" / "tiny.jpg"
    source.parent.mkdir()
    Image.new("RGB", (40, 30), (200, 100, 50)).save(source, quality=95)
    payload = source.read_bytes()
    sample = dataclasses.replace(
        data.SAMPLES["tubingen"], name="tiny", filename="tiny.jpg",
        url="https://example.invalid/tiny.jpg", sha256=hashlib.sha256(payload).hexdigest(),
        size=(40, 30),
    )
    monkeypatch.setitem(data.SAMPLES, "tiny", sample)
    return sample, payload


@pytest.fixture
def offline_dir(tmp_path, monkeypatch) -> Path:
    """An empty folder set as STYLELAB_DATA_DIR."""
    folder = tmp_path / "offline"
    folder.mkdir()
    monkeypatch.setenv(config.ENV_DATA_DIR, str(folder))
    return folder


# --------------------------------------------------------------------------- registry


def test_registry_has_the_seven_samples():
    assert data.names() == EXPECTED_NAMES
    assert list(data.SAMPLES) == EXPECTED_NAMES
    filenames = [s.filename for s in data.SAMPLES.values()]
    assert len(set(filenames)) == 7
    for name, sample in data.SAMPLES.items():
        assert sample.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", sample.sha256), name
        assert sample.url.startswith("https://raw.githubusercontent.com/")
        assert sample.url.endswith("/" + sample.filename)
        assert re.search(r"/[0-9a-f]{40}/", sample.url), "URLs are pinned to a commit"
        assert sample.title and sample.artist and sample.licence
        assert sample.artist in sample.credit and sample.title in sample.credit
        width, height = sample.size
        assert 500 <= width <= 1300 and 500 <= height <= 1600
    assert len({s.sha256 for s in data.SAMPLES.values()}) == 7


def test_registry_facts():
    assert data.info("tubingen").licence == "CC BY 3.0"
    assert "Fig. 2" in data.info("tubingen").figure
    assert data.info("woman_with_hat").filename == "woman-with-hat-matisse.jpg"
    assert "Picasso" in data.info("woman_with_hat").figure + data.info("woman_with_hat").note
    assert data.info("great_wave").filename == "wave.jpg"
    for name, panel in zip(EXPECTED_NAMES[1:6], "BCDEF"):
        assert f"Fig. 2 {panel}" in data.info(name).figure
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.info("tubingen").sha256 = "0" * 64


def test_registry_file_and_sample_fields_agree():
    """data/samples.json is what SAMPLES holds, field for field."""
    assert _checkout_root() == ROOT
    assert data._locations.shipped("data/samples.json") is None  # (the tests' fake: not a checkout)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data._locations, "checkout_root", _checkout_root)
        assert data._registry_file() == REGISTRY, "a checkout reads its own data/samples.json"
    raw = json.loads(REGISTRY.read_text(encoding="utf-8"))
    fields = [f.name for f in dataclasses.fields(data.Sample)]
    required = [f.name for f in dataclasses.fields(data.Sample) if f.default is dataclasses.MISSING]
    assert [entry["name"] for entry in raw["samples"]] == EXPECTED_NAMES
    for entry in raw["samples"]:
        assert set(required) <= set(entry) <= set(fields), entry["name"]
        sample = data.SAMPLES[entry["name"]]
        for name in fields:
            expected = entry.get(name, "")  # note: optional, "" when absent
            actual = getattr(sample, name)
            assert (list(actual) if name == "size" else actual) == expected, (entry["name"], name)
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]), entry["name"]
        assert entry["url"].startswith("https://") and entry["url"].endswith("/" + entry["filename"])
        assert isinstance(entry["size"], list) and len(entry["size"]) == 2
        assert all(isinstance(v, int) and v > 0 for v in entry["size"])
        assert entry["year"] is None or re.fullmatch(r"(c\. )?\d{4}", entry["year"]), entry["year"]
        assert entry["figure"] is None or "Fig." in entry["figure"]
    assert data._parse_registry(REGISTRY.read_text(encoding="utf-8")) == data.SAMPLES


@pytest.mark.parametrize("change,message", [
    (lambda e: e.pop("sha256"), "missing sha256"),
    (lambda e: e.update(painter="Turner"), "unknown field.*painter"),
    (lambda e: e.update(sha256="ABC"), "sha256 must be 64 lower-case hex"),
    (lambda e: e.update(size=[1024]), "size must be \\[width, height\\]"),
    (lambda e: e.update(title=None), "title must be a string"),
    (lambda e: e.update(name="shipwreck"), "used twice"),
])
def test_a_bad_registry_is_refused_with_the_entry_named(change, message):
    raw = json.loads(REGISTRY.read_text(encoding="utf-8"))
    change(raw["samples"][0])
    with pytest.raises(DataError, match=message) as caught:
        data._parse_registry(json.dumps(raw), "samples.json")
    assert re.match(r"samples\.json, sample [12] \('\w+'\): ", str(caught.value)), "names the entry"
    with pytest.raises(DataError, match="not valid JSON"):
        data._parse_registry("{", "samples.json")
    with pytest.raises(DataError, match="non-empty list"):
        data._parse_registry('{"samples": []}', "samples.json")


def test_git_keeps_the_registry_and_ignores_downloads():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/tubingen.jpg"], cwd=ROOT).returncode
    kept = subprocess.run(["git", "check-ignore", "-q", "data/samples.json"], cwd=ROOT).returncode
    assert (ignored, kept) == (0, 1), "data/ images must be ignored by git, data/samples.json not"


@pytest.mark.parametrize("alias,name", [
    ("wave", "great_wave"),
    ("woman-with-hat-matisse", "woman_with_hat"),
    ("Starry-Night", "starry_night"),
    ("tubingen.jpg", "tubingen"),
    (" composition_vii ", "composition_vii"),
])
def test_aliases(alias, name):
    assert data.info(alias).name == name


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(DataError) as caught:
        data.info("mona_lisa")
    message = str(caught.value)
    assert "'mona_lisa'" in message
    assert all(name in message for name in EXPECTED_NAMES)
    with pytest.raises(DataError, match="did you mean 'starry_night'"):
        data.path("stary_night")
    with pytest.raises(DataError, match="choose one of"):
        data.info(3)
    with pytest.raises(DataError, match="mona_lisa"):
        data.fetch(["tubingen", "mona_lisa"])


def test_credits_is_a_markdown_table():
    table = data.credits()
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 7
    assert all(row.count("|") == rows[0].count("|") for row in rows)
    for sample in data.SAMPLES.values():
        assert sample.title in table and sample.artist in table and sample.url in table
    assert "CC BY 3.0" in table and "public domain" in table


# --------------------------------------------------------------------------- STYLELAB_DATA_DIR


def test_data_dir_with_a_correct_file(tiny, offline_dir):
    sample, payload = tiny
    (offline_dir / "tiny.jpg").write_bytes(payload)
    assert data.path("tiny") == offline_dir / "tiny.jpg"
    t = data.load("tiny")
    assert t.shape == (1, 3, 30, 40) and t.dtype == torch.float32
    assert data.load("tiny", size=20).shape == (1, 3, 15, 20)
    assert data.fetch("tiny") == {"tiny": offline_dir / "tiny.jpg"}
    assert data.verify(["tiny"]) == {"tiny": True}


def test_data_dir_with_a_wrong_file(tiny, offline_dir):
    sample, payload = tiny
    (offline_dir / "tiny.jpg").write_bytes(payload[:-10] + b"0123456789")
    actual = hashlib.sha256((offline_dir / "tiny.jpg").read_bytes()).hexdigest()
    with pytest.raises(DataError) as caught:
        data.path("tiny")
    message = str(caught.value)
    assert "tiny.jpg does not match its sha256" in message
    assert sample.sha256 in message and actual in message
    assert data.verify("tiny") == {"tiny": False}


def test_data_dir_without_the_file(tiny, offline_dir):
    with pytest.raises(DataError, match=f"STYLELAB_DATA_DIR={re.escape(str(offline_dir))} has no tiny.jpg"):
        data.path("tiny")
    with pytest.raises(DataError, match="has no tubingen.jpg"):
        data.load("tubingen")
    assert data.verify()["tubingen"] is False


def test_data_dir_that_is_not_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(config.ENV_DATA_DIR, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="is not a folder"):
        data.path("tubingen")


def test_hash_is_computed_once_per_file_version(tiny, offline_dir, monkeypatch):
    sample, payload = tiny
    file = offline_dir / "tiny.jpg"
    file.write_bytes(payload)
    calls = []
    real_sha256 = hashlib.sha256

    def counting_sha256(*args):
        calls.append(1)
        return real_sha256(*args)

    monkeypatch.setattr(data.hashlib, "sha256", counting_sha256)
    for _ in range(3):
        data.path("tiny")
    assert len(calls) == 1
    # the file changes (new size and mtime): it is hashed again, and fails
    file.write_bytes(payload + b"extra")
    os.utime(file, ns=(1, 1))
    with pytest.raises(DataError, match="does not match"):
        data.path("tiny")
    assert len(calls) == 2


# --------------------------------------------------------------------------- downloads


def test_download_uses_pooch_with_the_known_hash(tiny, monkeypatch):
    sample, payload = tiny
    calls = []

    def fake_retrieve(url, known_hash=None, fname=None, path=None, progressbar=False, **kwargs):
        calls.append(dict(url=url, known_hash=known_hash, fname=fname, path=Path(path)))
        target = Path(path) / fname
        target.write_bytes(payload)
        return str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    cache = config.cache_dir("images")
    assert data.path("tiny") == cache / "tiny.jpg"
    assert calls == [dict(url=sample.url, known_hash=f"sha256:{sample.sha256}",
                          fname="tiny.jpg", path=cache)]
    assert data.path("tiny") == cache / "tiny.jpg"
    assert len(calls) == 1, "a verified cached copy is not fetched again"
    assert data.verify("tiny") == {"tiny": True}


def test_a_checkout_downloads_into_its_data_folder(tiny, tmp_path, monkeypatch):
    sample, payload = tiny
    repo = tmp_path / "checkout"
    repo.mkdir()
    monkeypatch.setattr(data._locations, "checkout_root", lambda: repo)
    seen = []

    def fake_retrieve(url, known_hash=None, fname=None, path=None, progressbar=False, **kwargs):
        seen.append(Path(path))
        (Path(path) / fname).write_bytes(payload)
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    assert data.verify("tiny") == {"tiny": False}
    assert data.path("tiny") == repo / "data" / "tiny.jpg"
    assert seen == [repo / "data"]
    assert data.verify("tiny") == {"tiny": True}
    assert not (config.cache_dir("images") / "tiny.jpg").exists()
    # STYLELAB_DATA_DIR still overrides the checkout's folder
    monkeypatch.setenv(config.ENV_DATA_DIR, str(tmp_path / "elsewhere"))
    assert data.verify("tiny") == {"tiny": False}


def test_network_error_suggests_the_offline_folder(tiny, monkeypatch):
    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Name or service not known")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataError, match="could not download tiny.jpg .*STYLELAB_DATA_DIR"):
        data.path("tiny")


def test_download_with_a_wrong_hash(tiny, monkeypatch):
    def wrong(*args, **kwargs):
        raise ValueError("SHA256 hash of downloaded file (tiny.jpg) does not match the known hash")

    monkeypatch.setattr(pooch, "retrieve", wrong)
    with pytest.raises(DataError, match="does not match its sha256"):
        data.fetch(["tiny"])


def test_verify_never_downloads(tiny):
    # pooch.retrieve raises AssertionError here (see _isolated); verify must not call it
    assert data.verify() == {name: False for name in EXPECTED_NAMES + ["tiny"]}


# --------------------------------------------------------------------------- the real files


@pytest.mark.skipif(not REAL_DATA_DIR, reason="set STYLELAB_DATA_DIR to a folder with the sample images")
def test_real_sample_files(monkeypatch):
    monkeypatch.setenv(config.ENV_DATA_DIR, REAL_DATA_DIR)
    assert data.verify() == {name: True for name in EXPECTED_NAMES}
    for name, sample in data.SAMPLES.items():
        assert data.path(name) == Path(REAL_DATA_DIR).expanduser() / sample.filename
        width, height = sample.size
        t = data.load(name)
        assert t.shape == (1, 3, height, width), name
        assert t.dtype == torch.float32 and 0 <= float(t.min()) and float(t.max()) <= 1
        assert data.load(name, size=256).shape[-2:] == (
            (round(256 * height / width), 256) if width >= height else (256, round(256 * width / height))
        )
