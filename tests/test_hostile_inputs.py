"""Every input surface of the CLI and the Python API, and the hostile inputs tried on each
(issue 19: "nothing lost, nothing leaked").

The table :data:`CASES` lists, per surface (a CLI argument such as ``transfer --mask`` or an
API entry point such as ``exercises.check_gram``), the inputs an attacker or a careless
student would try: missing, a folder, empty, not a picture, truncated, decompression bombs
(crafted here, small on disk), an output that would replace an input, an output folder that
cannot be written, malformed caches, answers that cheat. Every CLI case must end with exit
2, one line on stderr, no traceback and no file written; every API case with the stylelab
error named. :func:`test_every_cli_file_argument_is_a_listed_surface` and
:func:`test_every_api_surface_has_cases` fail when a new argument or entry point that reads
files appears without cases here: add its cases to :data:`CASES` (or, for an argument that
names no input, to :data:`NOT_INPUTS` with the reason).

After the table: one test per defect of issue 19 (each failed before the fix), and the
peak memory of every crafted bomb, measured in a subprocess (``ru_maxrss``; under 1 GB).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import stat
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import clip as C, colour, course, exercises, features, flow, image, lessons, losses, masks, patchnet, \
    statistics, weights
from stylelab.cli import command as cli
from stylelab.errors import ImageError, SettingsError, StylelabError, WeightsError
from stylelab.teaching.exercises import ExerciseError

ROOT = Path(__file__).resolve().parent.parent
GB = 1 << 30
HAS_PROC = Path("/proc/self").is_dir()
UNWRITABLE = "/proc/stylelab-nowhere"  # a folder nobody, not even root, can create files in


# --------------------------------------------------------------------------------------
# Crafted files: small on disk, huge once decoded


def png(path: Path, w: int, h: int, *, depth: int = 8, rows: int | None = None) -> Path:
    """A greyscale PNG of w x h zeros (``depth`` bits). ``rows``: only that many rows of pixel
    data (a header that promises more than it holds: enough to be refused on the header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(math.ceil(w * depth / 8))
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(h if rows is None else rows)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def gif_bomb(path: Path, w: int = 10000, h: int = 10000, frames: int = 2) -> Path:
    """An animated GIF of a w x h canvas with ``frames`` frames of one pixel each (66 bytes)."""
    data = b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    for _ in range(frames):
        data += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 0.1 s
        data += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"  # a 1x1 frame
    path.write_bytes(data + b"\x3b")
    return path


def mp4_bomb(path: Path, side: int = 8192, frames: int = 3) -> Path:
    """An MP4 of ``frames`` grey side x side frames (about 200 KB at 8192 px)."""
    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=gray:s={side}x{side}:r=10:d={frames / 10}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(path)], check=True, capture_output=True, timeout=120)
    return path


def evil_pickle(path: Path) -> Path:
    """A torch file whose unpickling would run code (the safe loader must refuse it)."""
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, path)
    return path


def picture(path: Path, w: int, h: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def grey(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


# --------------------------------------------------------------------------------------
# The environment: tiny pictures and masks, a tiny network in place of the real one


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Files under tmp_path/in (content 48x36, two styles, masks 64x48, a label map...),
    STYLELAB_CACHE in tmp_path/cache, and a tiny random VGG for every load_vgg."""
    from stylelab import config
    from stylelab.networks.vgg import VGG

    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    for var in (config.ENV_WEIGHTS, config.ENV_DATA_DIR, config.ENV_DEVICE):
        monkeypatch.delenv(var, raising=False)

    def tiny(*args, **kwargs):
        torch.manual_seed(0)
        return VGG("vgg16", widths=(4, 8, 8, 16, 16))

    monkeypatch.setattr(weights, "load_vgg", tiny)
    d = tmp_path / "in"
    d.mkdir()
    f = {"content": picture(d / "content.png", 48, 36), "a": picture(d / "a.png", 32, 32, 1),
         "b": picture(d / "b.png", 40, 30, 2)}
    top = np.zeros((48, 64), np.uint8)
    top[:20] = 255
    f["top"], f["bottom"] = grey(d / "top.png", top), grey(d / "bottom.png", 255 - top)
    Image.fromarray(top).save(d / "top.gif")
    f["top_gif"] = d / "top.gif"
    four = np.repeat(np.array([0, 85, 170, 255], np.uint8), 16)[None, :].repeat(48, 0)
    f["four"] = grey(d / "four.png", four)
    f["text"] = d / "notes.png"
    f["text"].write_text("not a picture")
    f["empty"] = d / "empty.png"
    f["empty"].write_bytes(b"")
    f["truncated"] = d / "truncated.png"
    f["truncated"].write_bytes(f["content"].read_bytes()[:60])
    f["folder"] = d / "folder.png"
    f["folder"].mkdir()
    f["black"] = grey(d / "black.png", np.zeros((48, 64)))
    f["square"] = grey(d / "square.png", np.zeros((50, 50)))
    return d, f


def _main(argv) -> int:
    return cli.main([str(a) for a in argv])


def _files(root: Path) -> dict[Path, tuple]:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class Case:
    """One hostile input on one surface. ``make(tmp, files)`` returns the CLI's argv (exit 2,
    one line matching ``expect``, no file written or changed) or a function to call (raises
    ``error`` matching ``expect``)."""

    surface: str  # "transfer content", "video CLIP", "api masks.load_mask", "api exercises.check_gram", ...
    hostile: str
    make: Callable
    expect: str
    error: type = StylelabError

    @property
    def id(self) -> str:
        return f"{self.surface} | {self.hostile}"


TAIL = ["--size", "48", "--scales", "48", "--steps", "2", "-q"]  # one stage, whatever the default


def bomb_png(tmp, f, w=40000, h=30000):
    return png(tmp / "in" / f"bomb{w}.png", w, h, depth=1, rows=2)  # refused on its header


CASES: list[Case] = []


# -- the images of a run: content, styles, --init, --fine-style (the first surfaces)
for surface, build in {
    "transfer content": lambda x: ["transfer", x, "a"],
    "transfer STYLE": lambda x: ["transfer", "content", x],
    "texture STYLE": lambda x: ["texture", x],
    "reconstruct content": lambda x: ["reconstruct", x],
    "transfer --init": lambda x: ["transfer", "content", "a", "--init", x],
    "transfer --fine-style": lambda x: ["transfer", "content", "a", "--fine-style", x],
    "video STYLE": lambda x: ["video", "clip_gif", x],
}.items():
    for hostile, which, expect in (("missing file", "missing", "no such file|not a sample"),
                                   ("a folder", "folder", "folder"), ("empty file", "empty", "empty"),
                                   ("not a picture", "text", "not an image"), ("truncated", "truncated", "truncated"),
                                   ("decompression bomb 40000x30000 (refused on its header)", "bomb", "limit")):
        def make(tmp, f, build=build, which=which, surface=surface):
            if which == "bomb":
                f = {**f, "bomb": bomb_png(tmp, f)}
            if which == "missing":
                f = {**f, "missing": tmp / "in" / "missing.png"}
            if surface.startswith("video"):
                f = {**f, "clip_gif": C.write(tmp / "in" / "clip.gif", [torch.rand(1, 3, 24, 32)] * 2, 4)}
            argv = [f.get(x, x) if isinstance(x, str) else x for x in build(which)]
            out = tmp / ("out.gif" if surface.startswith("video") else "out.png")
            return argv + ["-o", out, "--size", "48", "-q"] + ([] if surface.startswith("video") else
                                                             ["--steps", "2", "--scales", "48"])
        CASES.append(Case(surface, hostile, make, expect))

# -- masks (--mask, --style-mask)
MASK_CASES = [
    ("not a picture", lambda tmp, f: f["text"], "not an image"),
    ("empty file", lambda tmp, f: f["empty"], "empty"),
    ("a folder", lambda tmp, f: f["folder"], "folder"),
    ("truncated", lambda tmp, f: f["truncated"], "truncated|corrupt"),
    ("all black: an empty region", lambda tmp, f: f["black"], "empty"),
    ("another shape", lambda tmp, f: f["square"], "different shape"),
    ("decompression bomb 40000x30000 (over the pixel limit)", bomb_png, "limit"),
    ("decompression bomb 24000x12000 of another shape (refused on its header)",
     lambda tmp, f: png(tmp / "in" / "big.png", 24000, 12000, depth=1, rows=2), "different shape"),
]
for hostile, mk, expect in MASK_CASES:
    CASES.append(Case("transfer --mask", hostile, lambda tmp, f, mk=mk: ["transfer", f["content"], f["a"], "--mask",
                                                                        mk(tmp, f), "-o", tmp / "out.png"] + TAIL,
                      expect))
for hostile, mk, expect in MASK_CASES[:4] + MASK_CASES[6:7]:
    CASES.append(Case("transfer --style-mask", hostile, lambda tmp, f, mk=mk: [
        "transfer", f["content"], f["a"], "--mask", f["top"], "--mask", f["bottom"], "--style-mask", mk(tmp, f),
        "--style-mask", mk(tmp, f), "-o", tmp / "out.png"] + TAIL, expect))

# -- outputs that would replace an input (every input is protected from every output)
OVERWRITE = [
    ("-o is the content", lambda tmp, f: ["transfer", f["content"], f["a"], "-o", f["content"]] + TAIL),
    ("-o is a mask", lambda tmp, f: ["transfer", f["content"], f["a"], "--mask", f["top"], "-o", f["top"]] + TAIL),
    ("--film is a mask", lambda tmp, f: ["transfer", f["content"], f["a"], "--mask", f["top_gif"], "--film",
                                         f["top_gif"], "-o", tmp / "out.png"] + TAIL),
    ("--save-every's GIF is a mask", lambda tmp, f: ["transfer", f["content"], f["a"], "--mask", f["top_gif"],
                                                     "--save-every", "1", "-o", f["top_gif"].with_suffix(".png")]
     + TAIL),
    ("--save-every's snapshot is a --style-mask", lambda tmp, f: [
        "transfer", f["content"], f["a"], "--mask", f["top"], "--mask", f["bottom"], "--style-mask",
        grey(tmp / "in" / "out-0001.png", np.full((32, 32), 255)), "--style-mask", f["a"], "--save-every", "1",
        "-o", tmp / "in" / "out.png"] + TAIL),
    ("--film is the --init image", lambda tmp, f: ["transfer", f["content"], f["a"], "--init",
                                                   picture(tmp / "in" / "init.gif", 48, 36), "--film",
                                                   tmp / "in" / "init.gif", "-o", tmp / "out.png"] + TAIL),
    ("--film is the weights file", lambda tmp, f: ["transfer", f["content"], f["a"], "--weights",
                                                   _weights_file(tmp / "in" / "net.gif"), "--arch", "vgg16",
                                                   "--input-convention", "torch", "--film", tmp / "in" / "net.gif",
                                                   "-o", tmp / "out.png"] + TAIL),
    ("video -o is the clip", lambda tmp, f: ["video", _clip(tmp), f["a"], "-o", _clip(tmp), "--size", "32", "-q"]),
]
for hostile, make in OVERWRITE:
    CASES.append(Case("outputs vs inputs", hostile, make, "refusing to overwrite|would overwrite"))


def _weights_file(path: Path) -> Path:
    torch.save({"conv1_1.weight": torch.zeros(1)}, path)
    return path


def _clip(tmp: Path) -> Path:
    path = tmp / "in" / "clip.gif"
    if not path.exists():
        C.write(path, [torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(k)) for k in range(2)], 4)
    return path


# -- output locations that cannot be written: found before the first step
if HAS_PROC:
    for hostile, make in [
        ("-o in /proc", lambda tmp, f: ["transfer", f["content"], f["a"], "-o", f"{UNWRITABLE}/out.png"] + TAIL),
        ("--film in /proc", lambda tmp, f: ["transfer", f["content"], f["a"], "--film", f"{UNWRITABLE}/film.gif",
                                            "-o", tmp / "out.png"] + TAIL),
        ("texture -o in /proc", lambda tmp, f: ["texture", f["a"], "-o", f"{UNWRITABLE}/t.png"] + TAIL),
        ("video -o in /proc", lambda tmp, f: ["video", _clip(tmp), f["a"], "-o", f"{UNWRITABLE}/v.gif", "-q"]),
        ("lessons -o in /proc", lambda tmp, f: ["lessons", "-o", f"{UNWRITABLE}/lessons"]),
        ("course build -o in /proc", lambda tmp, f: ["course", "build", "01", "-o", f"{UNWRITABLE}/course"]),
    ]:
        CASES.append(Case("unwritable outputs", hostile, make, "not writable|cannot"))

# -- the clip of `stylelab video`
for hostile, make, expect in [
    ("missing", lambda tmp, f: tmp / "in" / "missing.mp4", "no such clip"),
    ("not a video", lambda tmp, f: f["text"].rename(tmp / "in" / "notes.gif"), "not a readable|corrupt"),
    ("empty MP4", lambda tmp, f: _write(tmp / "in" / "e.mp4", b""), "empty"),
    ("text named .mp4", lambda tmp, f: _write(tmp / "in" / "t.mp4", b"hello"), "not a readable video"),
    ("GIF bomb: 10000x10000 canvas, 2 frames, 66 bytes", lambda tmp, f: gif_bomb(tmp / "in" / "bomb.gif"), "limit"),
    ("GIF of 600 frames", lambda tmp, f: gif_bomb(tmp / "in" / "long.gif", 8, 8, 600), "more than the limit"),
    ("folder with a bomb frame", lambda tmp, f: _bomb_folder(tmp), "limit"),
    ("folder of no frames", lambda tmp, f: (tmp / "in" / "none").mkdir() or tmp / "in" / "none", "no frames"),
]:
    CASES.append(Case("video CLIP", hostile, lambda tmp, f, make=make: [
        "video", make(tmp, f), f["a"], "-o", tmp / "out.gif", "--size", "32", "-q"], expect))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _bomb_folder(tmp: Path) -> Path:
    folder = tmp / "in" / "frames"
    folder.mkdir()
    picture(folder / "000.png", 32, 24)
    png(folder / "001.png", 20000, 15000, depth=1, rows=2)
    return folder


# -- network files: --weights PATH and `weights verify`
for hostile, make, expect in [
    ("a pickle that runs code", lambda tmp, f: evil_pickle(tmp / "in" / "evil.pth"), "refusing to load"),
    ("not a torch file", lambda tmp, f: f["text"], "cannot read weights"),
    ("empty", lambda tmp, f: f["empty"], "empty"),
    ("a folder", lambda tmp, f: f["folder"], "directory|not found"),
]:
    CASES.append(Case("weights verify FILE", hostile, lambda tmp, f, make=make: [
        "weights", "verify", make(tmp, f), "--arch", "vgg16", "--input-convention", "torch"], expect))

# -- lessons and course editions
CASES += [
    Case("lessons -o", "a file", lambda tmp, f: ["lessons", "-o", f["content"]], "is a file"),
    Case("course build -o", "a file, both editions", lambda tmp, f: ["course", "build", "01", "-o", f["content"]],
         "not a folder"),
    Case("course build -o", "a file, one edition", lambda tmp, f: ["course", "build", "01", "--edition", "student",
                                                                    "-o", f["content"]], "not a folder"),
    Case("course build -o", "a file on the path", lambda tmp, f: ["course", "build", "01", "-o", f["content"] / "x"],
         "not a folder"),
    Case("course build --from", "not notebooks", lambda tmp, f: ["course", "build", "--from", _garbage_notebooks(tmp),
                                                                 "-o", tmp / "c"], "cannot read notebook"),
    Case("course build -o", "foreign file in instructor/", lambda tmp, f: ["course", "build", "01", "-o",
                                                                           _clash(tmp)], "not overwriting"),
    Case("course sync-colab FOLDER", "a file", lambda tmp, f: ["course", "sync-colab", f["content"]],
         "notebook folder not found"),
    Case("course sync-colab FOLDER", "not notebooks", lambda tmp, f: ["course", "sync-colab", _garbage_notebooks(tmp)],
         "cannot read notebook"),
]


def _garbage_notebooks(tmp: Path) -> Path:
    folder = tmp / "in" / "nbs"
    folder.mkdir()
    (folder / "01_x.ipynb").write_text("{ not json")
    return folder


def _clash(tmp: Path) -> Path:
    out = tmp / "in" / "handout"
    (out / "instructor").mkdir(parents=True)
    name = next(p.name for p in lessons.notebooks() if p.name.startswith("01_"))
    (out / "instructor" / name).write_text("my own notes")
    return out


# -- real-time networks (issue 22): NET.pt of `stylise` and `video --network`, the images of `stylise` and `train`
def _tiny_net(tmp: Path, kind: str = "johnson") -> Path:
    from stylelab.realtime import adain, saved, transformer

    net = (transformer.TransformNet(transformer.Architecture((4, 8, 8), 1)) if kind == "johnson" else
           adain.Decoder(adain.Architecture((8, 8, 8), 1), in_channels=16))
    return saved.save(net, {"recipe": {}}, tmp / "in" / f"{kind}.pt")


def _foreign_net(tmp: Path) -> Path:
    torch.save({"conv.weight": torch.zeros(2, 2)}, tmp / "in" / "foreign.pt")
    return tmp / "in" / "foreign.pt"


def _truncated_net(tmp: Path) -> Path:
    path = _tiny_net(tmp)
    path.write_bytes(path.read_bytes()[:200])
    return path


NET_CASES = [
    ("a pickle that runs code", lambda tmp, f: evil_pickle(tmp / "in" / "evil.pt"), "refusing to load"),
    ("truncated", lambda tmp, f: _truncated_net(tmp), "damaged"),
    ("a plain state dict", lambda tmp, f: _foreign_net(tmp), "not a network saved by stylelab train"),
    ("not a torch file", lambda tmp, f: f["text"], "not a PyTorch file"),
    ("empty", lambda tmp, f: f["empty"], "not a PyTorch file"),
    ("a folder", lambda tmp, f: f["folder"], "folder"),
    ("missing", lambda tmp, f: tmp / "in" / "missing.pt", "not found"),
]
for hostile, mk, expect in NET_CASES:
    CASES.append(Case("stylise NET", hostile, lambda tmp, f, mk=mk: [
        "stylise", mk(tmp, f), f["content"], "-o", tmp / "out.png", "-q"], expect))
    CASES.append(Case("video --network", hostile, lambda tmp, f, mk=mk: [
        "video", _clip(tmp), "-o", tmp / "out.gif", "--network", mk(tmp, f), "-q"], expect))
for surface, build in {
    "stylise INPUT": lambda tmp, x: ["stylise", _tiny_net(tmp), x, "-o", tmp / "out.png"],
    "stylise --style": lambda tmp, x: ["stylise", _tiny_net(tmp, "adain"), "content", "-o", tmp / "out.png",
                                       "--style", x],
    "video --style": lambda tmp, x: ["video", _clip(tmp), "-o", tmp / "out.gif", "--network", _tiny_net(tmp, "adain"),
                                     "--style", x],
    "train STYLE": lambda tmp, x: ["train", x, "-o", tmp / "out.pt", "--profile", "quick", "--steps", "1"],
}.items():
    for hostile, which, expect in (("missing file", "missing", "no such file|not a sample"),
                                   ("a folder", "folder", "folder"), ("empty file", "empty", "empty"),
                                   ("not a picture", "text", "not an image"), ("truncated", "truncated", "truncated"),
                                   ("decompression bomb 40000x30000 (refused on its header)", "bomb", "limit")):
        if surface == "train STYLE" and which in ("empty", "text", "truncated", "bomb"):
            continue  # read after the photographs (scikit-image): the same _load as transfer's, listed there
        if surface == "stylise INPUT" and which == "folder":
            which, expect = "empty_folder", "no image files"

        def make(tmp, f, build=build, which=which):
            f = {**f, "bomb": bomb_png(tmp, f) if which == "bomb" else None, "missing": tmp / "in" / "missing.png",
                 "empty_folder": (tmp / "in" / "nothing").mkdir() or tmp / "in" / "nothing"}
            return [f.get(x, x) if isinstance(x, str) else x for x in build(tmp, which)] + ["-q"]
        CASES.append(Case(surface, hostile, make, expect))
CASES += [
    Case("outputs vs inputs", "stylise -o is the input image", lambda tmp, f: [
        "stylise", _tiny_net(tmp), f["content"], "-o", f["content"], "-q"], "refusing to overwrite"),
    Case("outputs vs inputs", "stylise -o is the --style painting", lambda tmp, f: [
        "stylise", _tiny_net(tmp, "adain"), f["content"], "-o", f["a"], "--style", f["a"], "-q"],
         "refusing to overwrite"),
    Case("outputs vs inputs", "stylise -o is the input folder", lambda tmp, f: [
        "stylise", _tiny_net(tmp), tmp / "in", "-o", tmp / "in", "-q"], "input folder"),
    Case("outputs vs inputs", "stylise -o folder holds an input of the same name", lambda tmp, f: [
        "stylise", _tiny_net(tmp), f["content"], f["a"], "-o", tmp / "in", "-q"], "refusing to overwrite"),
    Case("outputs vs inputs", "video --network -o is the clip", lambda tmp, f: [
        "video", _clip(tmp), "-o", _clip(tmp), "--network", _tiny_net(tmp), "-q"], "refusing to overwrite"),
    Case("outputs vs inputs", "train -o is the weights file", lambda tmp, f: [
        "train", f["a"], "-o", _weights_file(tmp / "in" / "vgg.pt"), "--weights", tmp / "in" / "vgg.pt", "--profile",
        "quick", "--steps", "1", "-q"], "refusing to overwrite|--arch|convention"),
]
if HAS_PROC:
    CASES += [
        Case("unwritable outputs", "stylise -o in /proc", lambda tmp, f: [
            "stylise", _tiny_net(tmp), f["content"], "-o", f"{UNWRITABLE}/s.png", "-q"], "not writable|cannot"),
        Case("unwritable outputs", "stylise -o folder in /proc", lambda tmp, f: [
            "stylise", _tiny_net(tmp), f["content"], f["a"], "-o", f"{UNWRITABLE}/s", "-q"], "not writable|cannot"),
        Case("unwritable outputs", "train -o in /proc", lambda tmp, f: [
            "train", f["a"], "-o", f"{UNWRITABLE}/n.pt", "--profile", "quick", "--steps", "1", "-q"],
             "not writable|cannot"),
        Case("unwritable outputs", "video --network -o in /proc", lambda tmp, f: [
            "video", _clip(tmp), "-o", f"{UNWRITABLE}/v.gif", "--network", _tiny_net(tmp), "-q"],
             "not writable|cannot"),
    ]


# -- API surfaces: image readers, masks, clips, weights, caches, editions, checkers
CASES += [
    Case("api image.load_image", "bomb 40000x30000", lambda tmp, f: lambda: image.load_image(bomb_png(tmp, f), 32),
         "limit", ImageError),
    Case("api masks.load_mask", "bomb 40000x30000", lambda tmp, f: lambda: masks.load_mask(bomb_png(tmp, f), (36, 48)),
         "limit", ImageError),
    Case("api masks.load_mask", "bomb, no size", lambda tmp, f: lambda: masks.load_mask(bomb_png(tmp, f)),
         "limit", ImageError),
    Case("api masks.label_map", "bomb 40000x30000", lambda tmp, f: lambda: masks.label_map(bomb_png(tmp, f), (36, 48)),
         "limit", ImageError),
    Case("api masks.label_map", "a photograph", lambda tmp, f: lambda: masks.label_map(f["content"]),
         "distinct values", ImageError),
    Case("api masks.as_masks", "not a picture", lambda tmp, f: lambda: masks.as_masks([f["text"]]),
         "not an image", ImageError),
    Case("api clip.read", "GIF bomb", lambda tmp, f: lambda: C.read(gif_bomb(tmp / "in" / "b.gif"), size=32),
         "limit", ImageError),
    Case("api clip.read", "GIF bomb, no size", lambda tmp, f: lambda: C.read(gif_bomb(tmp / "in" / "b.gif")),
         "limit", ImageError),
    Case("api clip.read", "long GIF, no size: too much to keep", lambda tmp, f: lambda: C.read(
        gif_bomb(tmp / "in" / "l.gif", 2000, 2000, 20)), "limit|size=", ImageError),
    Case("api weights.read_state_dict", "a pickle that runs code",
         lambda tmp, f: lambda: weights.read_state_dict(evil_pickle(tmp / "in" / "e.pth")), "refusing", WeightsError),
    Case("api patchnet.read", "a pickle that runs code, with its sidecar",
         lambda tmp, f: lambda: patchnet.read(_with_sidecar(evil_pickle(tmp / "in" / "n.pt"))), "retrained",
         WeightsError),
    Case("api patchnet.read", "no sidecar", lambda tmp, f: lambda: patchnet.read(evil_pickle(tmp / "in" / "m.pt")),
         "sidecar", WeightsError),
    Case("api patchnet.read", "garbage with its sidecar",
         lambda tmp, f: lambda: patchnet.read(_with_sidecar(f["text"])), "retrained|not a network", WeightsError),
    Case("api lessons.copy_lessons", "instructor edition without a checkout",
         lambda tmp, f: lambda: _no_checkout(lambda: lessons.copy_lessons(tmp / "l", edition="instructor")),
         "not installed with the package", SettingsError),
    Case("api course.build", "instructor edition of the shipped student edition",
         lambda tmp, f: lambda: course.build("instructor", tmp / "c", source=_student_folder(tmp)), "checkout",
         course.CourseError),
]


def _with_sidecar(path: Path) -> Path:
    patchnet.sidecar(path).write_text(f"{patchnet._sha256(path)}  {path.name}\n")
    return path


def _no_checkout(fn):
    from stylelab import _locations

    saved = _locations.checkout_root
    _locations.checkout_root = lambda: None
    try:
        return fn()
    finally:
        _locations.checkout_root = saved


def _student_folder(tmp: Path) -> Path:
    folder = tmp / "in" / "student"
    folder.mkdir()
    nb = next(p for p in lessons.notebooks() if p.name.startswith("01_"))
    (folder / nb.name).write_bytes(course.student_bytes(nb))
    return folder


# -- the exercise checkers: what a careless student (or one who cheats) hands in
def _read_the_expected_value(*args):
    """Walks up the calling frames for the checker's expected value."""
    frame = sys._getframe(1)
    while frame is not None:
        for key in ("want", "expected"):
            if key in frame.f_locals:
                return frame.f_locals[key]
        frame = frame.f_back
    return torch.zeros(())


def _endless(*args):
    while True:
        pass


CHECKERS = {  # checker -> (the reference a student must not hand in, the right shape of an answer)
    "check_content_loss": (losses.content_loss, lambda F, P: 0.5 * (F - P.detach()).pow(2).sum()),
    "check_gram": (losses.gram, None),
    "check_style_layer_loss": (losses.style_layer_loss, None),
    "check_tv_loss": (losses.tv_loss, None),
    "check_total_loss": (None, None),
    "check_closure": (None, None),
    "check_style_layers": (None, None),
    "check_layer_weights": (None, None),
    "check_luminance_match": (colour.match_luminance, None),
    "check_histogram_matrix": (colour.histogram_transform, None),
    "check_guided_gram": (masks.guided_gram, None),
    "check_new_style_objective": (losses.style_loss, None),
    "check_blended_target": (None, None),
    "check_temporal_loss": (flow.temporal_loss, None),
    "check_random_filter_features": (features.RandomFilters.forward, None),
    "check_gram_mmd": (statistics.gram_mmd_identity, None),
}
for name, (reference, _) in CHECKERS.items():
    check = getattr(exercises, name)
    hostile = [("None", lambda *a: None, "."), ("a string", lambda *a: "loss", "."),
               ("an endless loop", _endless, "did not finish"),
               ("raises", lambda *a: 1 / 0, "ZeroDivisionError")]
    if reference is not None:
        hostile += [("stylelab's own function", reference, "stylelab's own"),
                    ("a lambda around stylelab's own", lambda *a, r=reference: r(*a), "stylelab's own"),
                    ("reads the expected value from the caller's frame", _read_the_expected_value, "."),
                    ("NaN", lambda *a: torch.tensor(float("nan")), "NaN")]
    for what, fn, expect in hostile:
        CASES.append(Case(f"api exercises.{name}", what, lambda tmp, f, c=check, fn=fn: lambda: c(fn), expect,
                          ExerciseError))
CASES += [
    Case("api exercises.check_gram", "a NaN Gram matrix", lambda tmp, f: lambda: exercises.check_gram(
        lambda F: torch.full((F.shape[0], F.shape[1], F.shape[1]), float("nan"))), "NaN", ExerciseError),
    Case("api exercises.check_layer_weights", "weights that are None",
         lambda tmp, f: lambda: exercises.check_layer_weights(lambda layers: {l: None for l in layers}),
         "must be a number", ExerciseError),
    Case("api exercises.check_layer_weights", "weights that are strings",
         lambda tmp, f: lambda: exercises.check_layer_weights(lambda layers: {l: "1/5" for l in layers}),
         "must be a number", ExerciseError),
    Case("api exercises.check_closure", "a closure returning a string", lambda tmp, f: lambda: exercises.check_closure(
        _closure_returning("loss")), "returns str", ExerciseError),
    Case("api exercises.check_closure", "an endless closure", lambda tmp, f: lambda: exercises.check_closure(
        lambda opt, x, loss_fn: _endless), "did not finish", ExerciseError),
    Case("api exercises.check_style_layers", "a list of numbers", lambda tmp, f: lambda: exercises.check_style_layers(
        lambda k: list(range(k))), "strings", ExerciseError),
]



def _lessons_16_17_checker_cases() -> list:
    """Lessons 16-17's checkers (instance normalisation, AdaIN): the same hostile answers."""
    from stylelab.realtime import adain as own
    cases = []
    for name, reference in (("check_instance_norm", None), ("check_adain", own.adain)):
        check = getattr(exercises, name)
        hostile = [("None", lambda *a: None, "."), ("a string", lambda *a: "loss", "."),
                   ("an endless loop", _endless, "did not finish"), ("raises", lambda *a: 1 / 0, "ZeroDivisionError"),
                   ("NaN", lambda *a: torch.full_like(a[0], float("nan")), "NaN"),
                   ("reads the expected value from the caller's frame", _read_the_expected_value, ".")]
        if reference is not None:
            hostile += [("stylelab's own function", reference, "stylelab's own"),
                        ("a lambda around stylelab's own", lambda *a, r=reference: r(*a), "stylelab's own")]
        cases += [Case(f"api exercises.{name}", what, lambda tmp, f, c=check, fn=fn: lambda: c(fn), expect,
                       ExerciseError) for what, fn, expect in hostile]
    return cases


CASES += _lessons_16_17_checker_cases()

def _closure_returning(value):
    def make(optimizer, x, loss_fn):
        def closure():
            optimizer.zero_grad()
            loss = loss_fn(x)
            loss.backward()
            return value
        return closure
    return make


# The caches are not rejected but repaired: their cases are the defect tests below
# (test_defect_7_*, test_defect_10_*), listed here so that the surface count is complete.
CACHE_SURFACES = {"api weights.normalize (normalisation cache)": "test_defect_7_the_normalisation_cache_is_checked",
                  "api patchnet.load (trained-network cache)": "test_defect_10_a_refused_cached_network_says_delete_it"}


@pytest.fixture(autouse=True)
def _short_time_limit(monkeypatch):
    monkeypatch.setattr(exercises, "TIME_LIMIT", 1.0, raising=False)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_surface_refuses_hostile_input(case, env, tmp_path, capsys):
    folder, f = env
    made = case.make(tmp_path, f)
    if callable(made):
        with pytest.raises(case.error) as info:
            made()
        message = str(info.value)
        assert "\n" not in message.strip(), f"one line: {message!r}"
        assert __import__("re").search(case.expect, message), message
        return
    before = _files(tmp_path)
    code = _main(made)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("stylelab: warning:")]
    assert len(lines) == 1 and lines[0].startswith("stylelab: error: "), err
    assert "Traceback" not in err and "weights_only=False" not in err
    assert __import__("re").search(case.expect, lines[0]), lines[0]
    assert _files(tmp_path) == before, "a refused run wrote or changed files"


# --------------------------------------------------------------------------------------
# Every surface is listed


#: CLI arguments that name no input file, with the reason (the rest must have cases above).
NOT_INPUTS = {
    ("reproduce", "--output"): "an output folder of generated notebooks (stylelab reproduce)",
    ("reproduce", "--jpeg"): "an output folder of JPEG figures",
    ("weights download", "names"): "registered names, not paths",
    ("data fetch", "names"): "sample names, not paths",
    ("transfer", "--output"): "an output: see 'unwritable outputs' and 'outputs vs inputs'",
    ("texture", "--output"): "an output: see 'unwritable outputs'",
    ("reconstruct", "--output"): "an output: same checks as transfer's (_check_output)",
    ("video", "--output"): "an output: see 'unwritable outputs' and 'outputs vs inputs'",
    ("transfer", "--film"): "an output: see 'unwritable outputs' and 'outputs vs inputs'",
    ("texture", "--film"): "an output: same code as transfer's (_film)",
    ("reconstruct", "--film"): "an output: same code as transfer's (_film)",
    ("texture", "--init"): "the same code as transfer --init (_common)",
    ("reconstruct", "--init"): "the same code as transfer --init (_common)",
    ("texture", "--weights"): "the same code as transfer --weights (_weight_set, _check_file, read_state_dict)",
    ("reconstruct", "--weights"): "the same code as transfer --weights",
    ("transfer", "--weights"): "weights verify FILE and 'outputs vs inputs' (--film is the weights file)",
    ("video", "--weights"): "registered names or $STYLELAB_WEIGHTS (weights.resolve); files as transfer's",
    ("weights verify", "names"): "see 'weights verify FILE'",
    ("course build", "notebooks"): "numbers or names of the shipped lessons, or .ipynb files: see --from",
    ("train", "--output"): "an output: see 'unwritable outputs' and 'outputs vs inputs' (train -o)",
    ("train", "--weights"): "registered names or $STYLELAB_WEIGHTS (weights.resolve), as video --weights",
    ("stylise", "--output"): "an output: see 'unwritable outputs' and 'outputs vs inputs' (stylise -o)",
    ("stylise", "--weights"): "registered names or $STYLELAB_WEIGHTS (weights.resolve), as video --weights",
}
#: (command, argument) -> the surface name its cases use in CASES.
SURFACE_OF = {
    ("transfer", "content"): "transfer content", ("transfer", "styles"): "transfer STYLE",
    ("texture", "styles"): "texture STYLE", ("reconstruct", "content"): "reconstruct content",
    ("transfer", "--init"): "transfer --init", ("transfer", "--fine-style"): "transfer --fine-style",
    ("transfer", "--mask"): "transfer --mask", ("transfer", "--style-mask"): "transfer --style-mask",
    ("video", "clip"): "video CLIP", ("video", "style"): "video STYLE", ("lessons", "--output"): "lessons -o",
    ("course build", "--output"): "course build -o", ("course build", "--from"): "course build --from",
    ("course sync-colab", "folder"): "course sync-colab FOLDER",
    ("stylise", "network"): "stylise NET", ("stylise", "inputs"): "stylise INPUT", ("stylise", "--style"): "stylise --style",
    ("video", "--network"): "video --network", ("video", "--style"): "video --style", ("train", "styles"): "train STYLE",
}
#: An argument takes a path when its metavar says so, or a positional's help does.
PATHY_METAVAR = __import__("re").compile(r"\b(PATH|PNG|FILE|DIR|FOLDER|CLIP|OUT|CONTENT|STYLE|FINE|NOTEBOOK|FILM|NET)\b"
                                         r"|\.mp4")
PATHY_HELP = __import__("re").compile(r"\b(file|files|folder|image|video|clip)\b")


def _arguments(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _arguments(sub, f"{prefix} {name}".strip())
        elif prefix and not isinstance(action, (argparse._HelpAction, argparse._StoreTrueAction,
                                                argparse._VersionAction)) and action.choices is None:
            metavar = action.metavar if isinstance(action.metavar, str) else ""
            positional = not action.option_strings
            if action.type is None and (PATHY_METAVAR.search(metavar) or
                                        (positional and PATHY_HELP.search((action.help or "").split(":")[0]))):
                key = action.option_strings[-1] if action.option_strings else action.dest
                yield prefix, (action.option_strings[0] if action.option_strings and
                               action.option_strings[0].startswith("--") else key)


def test_every_cli_file_argument_is_a_listed_surface():
    """A new argument that takes a path (a new surface) fails here until it has cases in
    CASES (via SURFACE_OF) or a reason in NOT_INPUTS."""
    surfaces = {c.surface for c in CASES}
    missing = []
    for command, arg in _arguments(cli.build_parser()):
        if (command, arg) in NOT_INPUTS:
            continue
        surface = SURFACE_OF.get((command, arg))
        if surface is None or surface not in surfaces:
            missing.append(f"{command} {arg}")
    assert not missing, f"input surfaces without hostile cases: {missing}"


def test_every_api_surface_has_cases():
    surfaces = {c.surface for c in CASES} | set(CACHE_SURFACES)
    for name in [n for n in exercises.__all__ if n.startswith("check_")]:
        assert f"api exercises.{name}" in surfaces, f"exercises.{name} has no hostile cases"
    for api in ("image.load_image", "masks.load_mask", "masks.label_map", "masks.as_masks", "clip.read",
                "weights.read_state_dict", "patchnet.read", "lessons.copy_lessons", "course.build"):
        assert f"api {api}" in surfaces, api


# ======================================================================================
# Issue 19, one test per defect (each failed before the fix)


def _run_python(code: str, limit: int = 3 * GB, timeout: float = 180) -> tuple[int, str, float]:
    """Run ``code`` in a fresh Python (address space capped at ``limit``); (exit code, its
    output, its peak resident memory in MB, ffmpeg's included)."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    # The child's own peak is VmHWM, the high-water mark of its address space since exec: Linux's
    # ru_maxrss (RUSAGE_SELF) also keeps that of the memory copied at fork, i.e. of this pytest
    # process, which grows with every test run before this one.
    wrapped = (code + "\nimport resource, sys\nsys.stdout.flush()\n"
               "hwm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
               "own = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
               "print('MAXRSS', max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n")
    proc = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=cap, cwd=ROOT)
    rss = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("MAXRSS")]
    return proc.returncode, proc.stdout + proc.stderr, (int(rss[0]) / 1024 if rss else float("inf"))


TINY_CLI = textwrap.dedent("""
    import sys, torch
    from stylelab import weights
    from stylelab.cli import command as cli
    from stylelab.networks.vgg import VGG
    weights.load_vgg = lambda *a, **k: VGG("vgg16", widths=(4, 8, 8, 16, 16))
    code = cli.main({argv!r})
    print("EXIT", code)
""")


def _cli_in_subprocess(argv) -> tuple[int, str, float]:
    rc, out, mb = _run_python(TINY_CLI.format(argv=[str(a) for a in argv]))
    exits = [line.split()[1] for line in out.splitlines() if line.startswith("EXIT")]
    return (int(exits[0]) if exits else rc), out, mb


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """The crafted files of issue 19, each small on disk."""
    d = tmp_path_factory.mktemp("bombs")
    out = {"gif": gif_bomb(d / "bomb.gif"), "mask_big": png(d / "mask-20000x15000.png", 20000, 15000, depth=1),
           "mask_dense": png(d / "mask-12000x9000.png", 12000, 9000)}
    picture(d / "content.png", 64, 48)  # 4:3, as the masks
    picture(d / "style.png", 32, 32, 1)
    try:
        out["mp4"] = mp4_bomb(d / "bomb.mp4")
    except pytest.skip.Exception:
        pass
    return out


MEMORY: dict[str, float] = {}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("which", ["gif", "mp4", "mask_big", "mask_dense"])
def test_defect_1_2_bombs_stay_under_1gb_and_exit_2_or_shrink(bombs, which):
    """1. a GIF of a 10000x10000 canvas and an 8192x8192 MP4 (200 KB) are refused on their
    headers; 2. a 20000x15000 and a 12000x9000 PNG mask are decoded once and shrunk at once.
    Peak memory (ru_maxrss of the whole run, ffmpeg included) stays under 1 GB."""
    if which not in bombs:
        pytest.skip("needs imageio-ffmpeg")
    d = bombs[which].parent
    path = bombs[which]
    sizes = {"gif": 66, "mp4": 250_000, "mask_big": 100_000, "mask_dense": 150_000}
    assert path.stat().st_size <= sizes[which], f"{path.name} is {path.stat().st_size} bytes on disk"
    if which in ("gif", "mp4"):
        code, out, mb = _cli_in_subprocess(["video", path, d / "style.png", "-o", d / f"out-{which}.gif",
                                            "--size", "32", "--steps-first", "2", "--steps", "2", "-q"])
        assert code == 2 and "pixels per frame" in out, out[-2000:]
        assert not (d / f"out-{which}.gif").exists()
    else:
        code, out, mb = _cli_in_subprocess(["transfer", d / "content.png", d / "style.png", "--mask", path,
                                            "-o", d / f"out-{which}.png", "--size", "32", "--scales", "32",
                                            "--steps", "2", "-q"])
        # the mask is all black: an empty region, said in one line after it was read and shrunk
        assert code == 2 and "empty" in out and "DecompressionBomb" not in out, out[-2000:]
    MEMORY[which] = mb
    print(f"peak memory {which} ({path.name}, {path.stat().st_size} bytes): {mb:.0f} MB")
    assert mb < 1024, f"{which}: {mb:.0f} MB"


def test_defect_1_frames_are_shrunk_as_they_are_read(tmp_path, monkeypatch):
    """A clip within the limits is read frame by frame and each frame shrunk before the next
    is decoded: no full-size float tensor is ever made."""
    frames = [Image.fromarray(np.full((600, 800, 3), 40 * k, np.uint8)) for k in range(3)]
    frames[0].save(tmp_path / "c.gif", save_all=True, append_images=frames[1:], duration=100)
    biggest = []
    real = C.to_tensor

    def spy(pil):
        biggest.append(pil.size[0] * pil.size[1])
        return real(pil)

    monkeypatch.setattr(C, "to_tensor", spy)
    clip = C.read(tmp_path / "c.gif", size=32)
    assert len(clip) == 3 and clip.size == (24, 32)
    assert max(biggest) <= 32 * 24, "a frame was turned into a tensor at full size"


def test_defect_1_the_budget_is_checked_before_decoding(tmp_path, monkeypatch):
    """Frame size x frames is checked on the header: a GIF over MAX_CLIP_PIXELS is refused
    before its first frame is decoded."""
    path = gif_bomb(tmp_path / "g.gif", 1000, 1000, 5)
    monkeypatch.setattr(C, "MAX_CLIP_PIXELS", 4_000_000)
    decoded = []
    monkeypatch.setattr(C, "_fit", lambda pil, size: decoded.append(1) or torch.zeros(1, 3, 32, 32))
    with pytest.raises(ImageError, match="pixels to decode"):
        C.read(path, size=32)
    assert not decoded
    C.read(path, size=32, frames=3)  # three frames fit the budget: decoded
    assert len(decoded) == 3


def test_defect_2_mask_bomb_is_one_line_exit_2(env, tmp_path, capsys):
    _, f = env
    bomb = png(tmp_path / "in" / "m.png", 40000, 30000, depth=1, rows=2)  # 1.2 Gpx: over MAX_PIXELS
    assert _main(["transfer", f["content"], f["a"], "--mask", bomb, "-o", tmp_path / "o.png"] + TAIL) == 2
    err = capsys.readouterr().err
    assert "DecompressionBomb" not in err and "limit" in err and len(err.strip().splitlines()) == 1


def test_defect_2_a_big_mask_is_shrunk_as_it_is_read(tmp_path, monkeypatch):
    """A 6000x4500 mask (a label map too) for a 48x36 image: shrunk right after decoding to
    4 x the image's size (no full-size copy, conversion or tensor), then area-averaged; the
    warning names the size in the file."""
    arr = np.zeros((4500, 6000), np.uint8)
    arr[:1500] = 255
    Image.fromarray(arr).save(tmp_path / "m.png")
    seen = []
    real = masks._from_pil
    monkeypatch.setattr(masks, "_from_pil", lambda im: seen.append(im.size) or real(im))
    with pytest.warns(masks.MaskResizedWarning, match="6000x4500"):
        m = masks.load_mask(tmp_path / "m.png", (36, 48))
    assert m.shape == (36, 48) and m[:11].eq(1).all() and m[13:].eq(0).all()
    assert seen == [(4 * 48, 4 * 36)], f"the mask reached a tensor at {seen}"
    unique = []
    real_unique = np.unique
    monkeypatch.setattr(np, "unique", lambda a, **k: unique.append(a.size) or real_unique(a, **k))
    labels = masks.label_map(tmp_path / "m.png", (36, 48))
    assert labels.shape == (2, 36, 48) and max(unique) <= 16 * 48 * 36 * 3


def test_defect_3_inputs_are_never_overwritten(env, tmp_path, capsys):
    """--film and --save-every's outputs over a --mask (and the weights file) are refused before
    anything runs; the files are unchanged."""
    _, f = env
    before = f["top_gif"].read_bytes()
    for argv in ([f["content"], f["a"], "--mask", f["top_gif"], "--film", f["top_gif"], "-o", tmp_path / "o.png"],
                 [f["content"], f["a"], "--mask", f["top_gif"], "--save-every", "1",
                  "-o", f["top_gif"].with_suffix(".png")]):
        assert _main(["transfer", *argv, *TAIL]) == 2
        assert "refusing to overwrite" in capsys.readouterr().err
        assert f["top_gif"].read_bytes() == before
    assert not (tmp_path / "o.png").exists()


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc (a folder nobody can write)")
def test_defect_4_unwritable_outputs_are_found_before_the_first_step(env, tmp_path, capsys, monkeypatch):
    from stylelab.video import temporal as video

    _, f = env
    ran = []
    monkeypatch.setattr(video, "stylise", lambda *a, **k: ran.append("video"))
    assert _main(["video", _clip(tmp_path), f["a"], "-o", f"{UNWRITABLE}/v.gif", "-q"]) == 2
    assert "not writable" in capsys.readouterr().err and not ran
    controlled = __import__("importlib").import_module("stylelab.control.transfer")
    monkeypatch.setattr(controlled, "transfer", lambda *a, **k: ran.append("transfer"))
    assert _main(["transfer", f["content"], f["a"], "--film", f"{UNWRITABLE}/film.gif",
                  "-o", tmp_path / "o.png"] + TAIL) == 2
    assert "not writable" in capsys.readouterr().err and not ran
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.json").exists()


def test_defect_5_solutions_are_out_of_reach():
    # the package's own function is not an answer; nor is calling it, nor reading the checker's frame
    with pytest.raises(ExerciseError, match="stylelab's own"):
        exercises.check_gram(losses.gram)
    with pytest.raises(ExerciseError, match="stylelab's own"):
        exercises.check_gram(lambda F: losses.gram(F))
    with pytest.raises(ExerciseError):
        exercises.check_gram(_read_the_expected_value)
    with pytest.raises(ExerciseError):
        exercises.check_content_loss(_read_the_expected_value)


def test_defect_5_lessons_hand_out_the_student_edition(tmp_path, capsys):
    assert _main(["lessons", "-o", tmp_path / "mine"]) == 0
    copied = sorted((tmp_path / "mine").glob("*.ipynb"))
    assert copied and not any("BEGIN SOLUTION" in p.read_text() for p in copied)
    assert any("NotImplementedError" in p.read_text() for p in copied)
    assert not any(c.get("metadata", {}).get("tags", []) and "solution" in c["metadata"]["tags"]
                   for p in copied for c in json.loads(p.read_text())["cells"])


def test_defect_6_handouts_are_readable_on_a_shared_server(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert _main(["course", "build", "01", "-o", tmp_path / "handout"]) == 0
        assert _main(["lessons", "-o", tmp_path / "lessons"]) == 0
    finally:
        os.umask(old)
    written = list((tmp_path / "handout").rglob("*.ipynb")) + list((tmp_path / "lessons").glob("*.ipynb"))
    written += list((tmp_path / "handout").rglob(course.MANIFEST))
    assert written
    for p in written:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, f"{p}: {oct(stat.S_IMODE(p.stat().st_mode))}"


@pytest.mark.parametrize("cached", ["a string", "NaN values", "a missing layer", "a wrong shape", "negative values"])
def test_defect_7_the_normalisation_cache_is_checked(tmp_path, monkeypatch, make_vgg, cached):
    from stylelab import config

    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setattr(weights, "_sample_images",
                        lambda size: [torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))])
    (tmp_path / "w.pth").write_bytes(b"weights")
    ws = weights.local(tmp_path / "w.pth", "vgg16", "torch")
    fresh = weights.normalize(make_vgg(), ws, cache=False)
    good = weights.normalisation_scales(make_vgg(), weights._sample_images(32))
    key = weights._normalisation_key(ws, "avg", 256)
    file = config.cache_dir("normalisation") / f"vgg16-avg-{key}.pt"
    file.parent.mkdir(parents=True, exist_ok=True)
    bad = {"a string": "poison", "NaN values": {k: torch.full_like(v, float("nan")) for k, v in good.items()},
           "a missing layer": {k: v for k, v in list(good.items())[1:]},
           "a wrong shape": {k: torch.ones(3) for k in good}, "negative values": {k: -v for k, v in good.items()}}
    torch.save(bad[cached], file)
    with pytest.warns(UserWarning, match="recomputing"):
        model = weights.normalize(make_vgg(), ws)
    for name, conv in model.convs.items():
        assert torch.isfinite(conv.weight).all()
        assert torch.allclose(conv.weight, fresh.convs[name].weight, rtol=1e-4, atol=1e-6)
    assert weights._valid_means(torch.load(file, weights_only=True), model), "the cache was rewritten"


def test_defect_8_course_builds_check_every_folder_first(tmp_path, capsys):
    file = tmp_path / "a-file"
    file.write_text("x")
    assert _main(["course", "build", "-o", file]) == 2
    err = capsys.readouterr().err
    assert "NotADirectoryError" not in err and "not a folder" in err
    out = _clash(tmp_path)
    assert _main(["course", "build", "01", "-o", out]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert not (out / "student").exists(), "student/ was written before instructor/'s clash was found"


def test_defect_9_checker_messages(monkeypatch):
    with pytest.raises(ExerciseError, match="NaN") as info:
        exercises.check_gram(lambda F: torch.full((2, 3, 3), float("nan")))
    assert "symmetric" not in str(info.value)
    for weights_of in (lambda layers: {l: None for l in layers}, lambda layers: {l: "x" for l in layers}):
        with pytest.raises(ExerciseError, match="must be a number"):
            exercises.check_layer_weights(weights_of)
    with pytest.raises(ExerciseError, match="returns str"):
        exercises.check_closure(_closure_returning("the loss"))
    monkeypatch.setattr(exercises, "TIME_LIMIT", 0.3, raising=False)
    start = time.monotonic()
    with pytest.raises(ExerciseError, match="did not finish within 0.3 s"):
        exercises.check_tv_loss(_endless)
    assert time.monotonic() - start < 5
    # off the main thread (no SIGALRM there): the helper-thread fallback
    errors = []
    worker = threading.Thread(target=lambda: _catch(errors, lambda: exercises.check_gram(_endless)))
    worker.start()
    worker.join(10)
    assert errors and "did not finish" in str(errors[0])
    assert "keeps running" not in str(errors[0])
    # and the student's loop is stopped, not left spinning (it held the GIL against the rest of
    # the test run: CI timed out at 90 minutes)
    deadline = time.monotonic() + 5
    while any(t.name.startswith("stylelab-check-") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("stylelab-check-")]
    # a right answer still passes, and the alarm and its handler are left as they were
    import signal

    handler = signal.getsignal(signal.SIGALRM)
    exercises.check_gram(lambda F: F.reshape(*F.shape[:2], -1) @ F.reshape(*F.shape[:2], -1).transpose(1, 2))
    assert signal.getsignal(signal.SIGALRM) is handler


def _catch(errors, fn):
    try:
        fn()
    except ExerciseError as exc:
        errors.append(exc)


def test_defect_10_a_refused_cached_network_says_delete_it(tmp_path, monkeypatch):
    from stylelab import config

    monkeypatch.setenv(config.ENV_CACHE, str(tmp_path / "cache"))
    path = patchnet.cache_path(patchnet.Recipe("patch-cnn").check())
    path.parent.mkdir(parents=True, exist_ok=True)
    _with_sidecar(evil_pickle(path))
    with pytest.raises(WeightsError) as info:
        patchnet.load("patch-cnn", device="cpu", progress=False)
    message = str(info.value)
    assert "delete it" in message and "retrained" in message
    for advice in ("weights_only=False", "will likely succeed", "can still be loaded", "trust"):
        assert advice not in message, message
    with pytest.raises(WeightsError) as info:
        weights.read_state_dict(evil_pickle(tmp_path / "w.pth"))
    assert "will likely succeed" not in str(info.value) and "can still be loaded" not in str(info.value)


def test_defect_11_ambiguous_masks_are_said_how_they_were_read(env, tmp_path, capsys):
    _, f = env
    assert _main(["transfer", f["content"], f["a"], "--mask", f["four"], "-o", tmp_path / "one.png"] + TAIL) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "4 grey levels" in err and "ONE region" in err
    assert _main(["transfer", f["content"], f["a"], f["b"], "--mask", f["top"], "-o", tmp_path / "two.png"]
                 + TAIL) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "label map of 2 regions" in err and "black" in err
