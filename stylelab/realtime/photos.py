"""The photographs of the real-time lessons (16-17): what Johnson et al.'s feed-forward style
networks (2016) and AdaIN (Huang & Belongie, 2017) are trained and judged on.

The photographs come inside the wheels of scikit-image and scikit-learn (``pip install
"stylelab[realtime]"``), so they install offline and are never copied into this repository;
the kit's own sample photograph ``tubingen`` (:mod:`stylelab.data`) joins them. Each is a
:class:`Photo` in :data:`PHOTOS`, read from the registry ``data/photos.json`` (bundled into
the package when it is built, like ``data/samples.json``), with its role:

- ``"train"``: the training set, cut into random crops by :class:`Crops`;
- ``"held_out"``: never trained on, only judged: how a trained network does on a photograph
  it has not seen;
- ``"texture"``: greyscale textures, extra styles for AdaIN (loaded as RGB).

:func:`path` finds a photograph's file in its installed package without importing the
package, and checks it against its sha256 (once per process).

>>> from stylelab.realtime import photos
>>> photos.names("train")                        # doctest: +SKIP
['astronaut', 'coffee', 'rocket', 'motorcycle_left', 'china', 'flower']
>>> crops = photos.Crops(photos.load_all("train", size=256).values(), crop=128, seed=0)  # doctest: +SKIP
>>> crops.batch(4).shape                         # doctest: +SKIP
torch.Size([4, 3, 128, 128])
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
import difflib
import hashlib
import importlib.util
import json
import math
from pathlib import Path, PurePosixPath
import re

import torch

from .. import _locations
from .. import data as _data
from .. import image as _image
from ..errors import DataError, SettingsError

#: The registry's file name: ``data/photos.json`` in a source checkout, bundled into the package when built.
REGISTRY = "data/photos.json"
#: Where the photographs come from: the packages that ship them, and the kit itself.
PACKAGES = ("skimage", "sklearn", "stylelab")
#: What a photograph is for (see the module's docstring).
ROLES = ("train", "held_out", "texture")
#: The install command that brings the photographs' packages.
INSTALL = 'pip install "stylelab[realtime]"'
#: The distributions (pip names) of the packages.
_DISTRIBUTIONS = {"skimage": "scikit-image", "sklearn": "scikit-learn"}


@dataclass(frozen=True)
class Photo:
    """One photograph: where it is, its sha256, who made it, its licence and its role."""

    name: str
    """Short name, e.g. ``"astronaut"``."""
    package: str
    """``"skimage"``, ``"sklearn"`` (the file ships in that package) or ``"stylelab"`` (a sample image)."""
    path: str
    """The file inside the installed package (``"data/astronaut.png"``); for ``"stylelab"`` the sample's name."""
    sha256: str
    """Hex sha256 of the file's bytes."""
    title: str
    author: str
    licence: str
    credit: str
    """One-line credit for captions, README and notebooks."""
    size: tuple[int, int]
    """(width, height) in pixels of the file."""
    role: str
    """``"train"``, ``"held_out"`` or ``"texture"``."""
    source: str
    """The web address the package's documentation gives for it."""
    note: str = ""
    """Anything a reader should know (e.g. a slip in the package's own credits)."""


def _registry_file() -> Path:
    """The registry file this stylelab reads (see :mod:`stylelab._locations`)."""
    found = _locations.shipped(REGISTRY)
    if found is None:
        raise DataError(f"the photograph registry {REGISTRY} is missing: neither a source checkout nor "
                        f"the installed package ({_locations.BUNDLED}) has it; reinstall stylelab")
    return found


def _parse_registry(text: str, where: str = REGISTRY) -> dict[str, Photo]:
    """The photographs of a registry file's text, by name; :class:`DataError` naming ``where``
    and the entry if it is not valid JSON, lacks a field, has an unknown one or a bad value."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{where} is not valid JSON ({exc})") from exc
    entries = raw.get("photos") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DataError(f"{where} must be an object with a non-empty list \"photos\"")
    fields = {f.name: f for f in dataclasses.fields(Photo)}
    required = {name for name, f in fields.items() if f.default is dataclasses.MISSING}
    photos: dict[str, Photo] = {}
    for i, entry in enumerate(entries):
        shown = entry.get("name", "?") if isinstance(entry, dict) else repr(entry)
        label = f"{where}, photo {i + 1} ({shown})"
        if not isinstance(entry, dict):
            raise DataError(f"{label}: each photo must be an object")
        if missing := sorted(required - set(entry)):
            raise DataError(f"{label}: missing {', '.join(missing)}")
        if unknown := sorted(set(entry) - set(fields)):
            raise DataError(f"{label}: unknown field(s) {', '.join(unknown)}; the fields are {', '.join(fields)}")
        for name, value in entry.items():
            if name != "size" and not isinstance(value, str):
                raise DataError(f"{label}: {name} must be a string, got {value!r}")
        size = entry["size"]
        if not (isinstance(size, list) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
            raise DataError(f"{label}: size must be [width, height] in pixels, got {size!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
            raise DataError(f"{label}: sha256 must be 64 lower-case hex digits, got {entry['sha256']!r}")
        if entry["role"] not in ROLES:
            raise DataError(f"{label}: role must be one of {', '.join(ROLES)}, got {entry['role']!r}")
        if entry["package"] not in PACKAGES:
            raise DataError(f"{label}: package must be one of {', '.join(PACKAGES)}, got {entry['package']!r}")
        if not entry["name"]:
            raise DataError(f"{label}: name must not be empty")
        where_in = PurePosixPath(entry["path"])
        if entry["package"] == "stylelab":
            sample = _data.SAMPLES.get(entry["path"])
            if sample is None:
                raise DataError(f"{label}: path must name a sample image of {_data.REGISTRY} for package "
                                f"stylelab ({', '.join(_data.SAMPLES)}), got {entry['path']!r}")
            if sample.sha256 != entry["sha256"]:
                raise DataError(f"{label}: sha256 differs from the one of {sample.name!r} in {_data.REGISTRY}")
        elif not entry["path"] or where_in.is_absolute() or ".." in where_in.parts or "\\" in entry["path"]:
            raise DataError(f"{label}: path must be a file inside the package (e.g. data/astronaut.png), "
                            f"got {entry['path']!r}")
        if entry["name"] in photos:
            raise DataError(f"{label}: the name {entry['name']!r} is used twice")
        photos[entry["name"]] = Photo(**{**entry, "size": tuple(size)})
    return photos


def _load_registry() -> dict[str, Photo]:
    """The photographs of the registry file (:data:`REGISTRY`), by name, in the file's order."""
    file = _registry_file()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read the photograph registry {file}: {exc.strerror or exc}") from exc
    return _parse_registry(text, str(file))


#: The photographs, by name, in the order of ``data/photos.json``.
PHOTOS: dict[str, Photo] = _load_registry()


# --------------------------------------------------------------------------- lookup


def _check_role(role: str | None) -> None:
    if role is not None and role not in ROLES:
        raise DataError(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")


def names(role: str | None = None) -> list[str]:
    """The photographs' names (those of ``role`` only, if given), in the registry's order."""
    _check_role(role)
    return [p.name for p in PHOTOS.values() if role is None or p.role == role]


def info(name: str) -> Photo:
    """The :class:`Photo` called ``name``; :class:`DataError` listing the known names otherwise."""
    photo = PHOTOS.get(name) if isinstance(name, str) else None
    if photo is None:
        close = difflib.get_close_matches(name, list(PHOTOS), n=1) if isinstance(name, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataError(f"unknown photograph {name!r}{hint}; choose one of: {', '.join(PHOTOS)}")
    return photo


# --------------------------------------------------------------------------- files

# sha256 of files already hashed in this process, by (path, mtime_ns, size).
_hash_cache: dict[tuple[str, int, int], str] = {}


def _sha256(file: Path) -> str:
    """Hex sha256 of a file, remembered per (path, mtime, size) for this process."""
    stat = file.stat()
    key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    digest = _hash_cache.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        digest = _hash_cache[key] = h.hexdigest()
    return digest


def _package_folders(package: str) -> list[Path]:
    """The folders of an installed package, found without importing it (importing scikit-image
    takes seconds); :class:`DataError` with the install command if it is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise DataError(f"the photographs of the real-time lessons need {_DISTRIBUTIONS[package]} "
                        f"(package {package!r}), which is not installed: {INSTALL}")
    return [Path(f) for f in folders]


def path(name: str) -> Path:
    """The path of the photograph ``name``, checked against its sha256.

    For ``"skimage"`` and ``"sklearn"`` the file inside the installed package (never
    imported): :class:`DataError` if the package is missing (with the install command), if
    the file is missing, or if its bytes differ from the registry's sha256. For
    ``"stylelab"``: :func:`stylelab.data.path` of the sample image.
    """
    photo = info(name)
    if photo.package == "stylelab":
        return _data.path(photo.path)
    folders = _package_folders(photo.package)
    candidates = [folder.joinpath(*PurePosixPath(photo.path).parts) for folder in folders]
    file = next((c for c in candidates if c.is_file()), None)
    if file is None:
        raise DataError(f"{photo.path} is missing from the installed {_DISTRIBUTIONS[photo.package]} "
                        f"({candidates[0]}); reinstall it: {INSTALL}")
    try:
        actual = _sha256(file)
    except OSError as exc:
        raise DataError(f"cannot read {file}: {exc.strerror or exc}") from exc
    if actual != photo.sha256:
        raise DataError(f"{file} does not match its sha256 (expected {photo.sha256}, got {actual}): "
                        f"it is damaged or another version of the photograph {name!r}; reinstall "
                        f"{_DISTRIBUTIONS[photo.package]}: {INSTALL}")
    return file


def load(name: str, size: int | None = None) -> torch.Tensor:
    """The photograph ``name`` as a ``(1, 3, H, W)`` float tensor of RGB in ``[0, 1]``, its longest
    side ``size`` if given (see :func:`stylelab.image.load_image`; greyscale becomes RGB)."""
    return _image.load_image(path(name), size=size)


def load_all(role: str, size: int | None = None) -> dict[str, torch.Tensor]:
    """Every photograph of ``role``, ``{name: (1, 3, H, W) tensor}`` in the registry's order."""
    if role is None:
        raise DataError(f"load_all needs a role: one of {', '.join(ROLES)}")
    return {name: load(name, size) for name in names(role)}


def credits(role: str | None = None) -> str:
    """One line per photograph (of ``role``, if given): ``name: credit``."""
    return "".join(f"{name}: {PHOTOS[name].credit}\n" for name in names(role))


# --------------------------------------------------------------------------- training crops


def _whole(value: object, what: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SettingsError(f"{what} must be a whole number of at least {least}, got {value!r}")
    return value


class Crops:
    """Random square crops of some images, for training: :meth:`batch` gives ``n`` of them.

    Each crop picks an image at random, a random ``crop`` x ``crop`` window of it, and flips
    it horizontally with probability 1/2. An image whose shorter side is below ``crop`` is
    first upscaled (bicubic, clamped to ``[0, 1]``) so that its shorter side is ``crop``.
    Every random choice comes from a ``torch.Generator`` seeded with ``seed``: the same
    images, crop and seed give the same batches.
    """

    def __init__(self, images: Sequence[torch.Tensor], crop: int, seed: int = 0):
        self.crop = _whole(crop, "crop", 16)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SettingsError(f"seed must be a whole number, got {seed!r}")
        self.seed = seed
        try:
            images = list(images)
        except TypeError:
            raise SettingsError(f"images must be a sequence of image tensors, got {type(images).__name__}") from None
        if not images:
            raise SettingsError("Crops needs at least one image")
        self.images: list[torch.Tensor] = [self._prepared(im, i) for i, im in enumerate(images)]
        self._generator = torch.Generator().manual_seed(seed)

    def _prepared(self, image: torch.Tensor, index: int) -> torch.Tensor:
        """``image`` as a (3, H, W) float tensor whose shorter side is at least :attr:`crop`."""
        if not isinstance(image, torch.Tensor) or not (
                (image.dim() == 4 and image.shape[0] == 1 and image.shape[1] == 3)
                or (image.dim() == 3 and image.shape[0] == 3)):
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise SettingsError(f"image {index + 1} must be a (1, 3, H, W) or (3, H, W) tensor, got {shape}")
        image = image.reshape(3, *image.shape[-2:]).float()
        h, w = image.shape[-2:]
        if min(h, w) < self.crop:
            scale = self.crop / min(h, w)
            shape = (max(self.crop, math.ceil(h * scale - 1e-9)), max(self.crop, math.ceil(w * scale - 1e-9)))
            image = _image.resize_to(image, shape, mode="bicubic").clamp_(0, 1)
        return image

    def batch(self, n: int) -> torch.Tensor:
        """``n`` random crops as an ``(n, 3, crop, crop)`` tensor."""
        n = _whole(n, "n", 1)
        g, c = self._generator, self.crop
        out = []
        for _ in range(n):
            image = self.images[int(torch.randint(len(self.images), (), generator=g))]
            h, w = image.shape[-2:]
            top = int(torch.randint(h - c + 1, (), generator=g))
            left = int(torch.randint(w - c + 1, (), generator=g))
            piece = image[:, top:top + c, left:left + c]
            if int(torch.randint(2, (), generator=g)):
                piece = piece.flip(-1)
            out.append(piece)
        return torch.stack(out).contiguous()

    def state(self) -> torch.Tensor:
        """The random generator's state (a copy): :meth:`set_state` takes the batches on from there."""
        return self._generator.get_state().clone()

    def set_state(self, state: torch.Tensor) -> None:
        """Go back to a state saved by :meth:`state` (to resume a training run)."""
        self._generator.set_state(state.clone())

    def __repr__(self) -> str:
        return f"Crops({len(self.images)} images, crop={self.crop}, seed={self.seed})"
